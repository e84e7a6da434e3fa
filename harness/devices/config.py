"""One schema per device kind: the [device] table of a profile, checked, as a frozen dataclass.

Each schema lists its keys with their TOML types and meaning (KEYS, which profiles.py checks
every profile against) and turns a table into a typed config with `from_table`, raising one
ProfileError that names the file, the key and the fix. Imports nothing but errors (and the lab's
key list from harness.lab.config, which imports no device code), so profiles.py and every device
can use it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ProfileError

KeySpec = dict[str, tuple[Any, str]]

# Keys every kind reads: key -> (TOML type(s), meaning).
COMMON_KEYS: KeySpec = {
    "name": (str, "a short name used in results"),
    "kind": (str, "local | ssh | adb | qemu"),
    "description": (str, "free text"),
    "cores": (list, "CPU cores to pin the jobs to, e.g. [2, 3]"),
    "python": (str, "python interpreter on the device"),
}


MAX_CORE_INDEX = 4095  # Linux's CONFIG_NR_CPUS ceiling; a larger index is a typo


def _cores(table: Mapping[str, Any]) -> tuple[int, ...] | None:
    """[device] cores: distinct CPU indices 0..MAX_CORE_INDEX (integers, not floats or booleans)."""
    cores = table.get("cores")
    if cores is None:
        return None
    ok = isinstance(cores, (list, tuple)) and all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= MAX_CORE_INDEX for c in cores)
    if not ok or len(set(cores)) != len(cores):
        raise ProfileError(f"device {table.get('name')!r}: [device] cores must be a list of distinct CPU "
                           f"numbers 0-{MAX_CORE_INDEX}, e.g. [2, 3], got {cores!r}")
    return tuple(cores) if cores else None


@dataclass(frozen=True)
class LocalConfig:
    """kind = "local": this machine, the runner in a fresh Python process."""

    KIND: ClassVar[str] = "local"
    KEYS: ClassVar[KeySpec] = {}

    name: str = "local"
    python: str | None = None
    cores: tuple[int, ...] | None = None

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str | None = None) -> LocalConfig:
        return cls(name=str(table.get("name", "local")), python=table.get("python") or None,
                   cores=_cores(table))


QEMU_DEFAULT_CPU = "cortex-a72"
QEMU_PYTHON = "python3.11"


@dataclass(frozen=True)
class QemuConfig:
    """kind = "qemu": the runner on emulated arm64 (see harness/setup/arm64.py)."""

    KIND: ClassVar[str] = "qemu"
    KEYS: ClassVar[KeySpec] = {
        "cpu": (str, "emulated CPU: cortex-a72 (Pi 4), cortex-a76 (Pi 5)"),
        "dir": (str, "setup-qemu folder (default ~/.cache/edgebench/arm64)"),
    }

    name: str = "qemu"
    cpu: str = QEMU_DEFAULT_CPU
    dir: str | None = None
    cores: tuple[int, ...] | None = None

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str | None = None) -> QemuConfig:
        name = str(table.get("name", "qemu"))
        if table.get("python"):
            raise ProfileError(f"{name}: [device] python does not apply to kind qemu (it runs the arm64 "
                               f"sysroot's {QEMU_PYTHON}); remove the key")
        return cls(name=name, cpu=str(table.get("cpu") or QEMU_DEFAULT_CPU), dir=table.get("dir"),
                   cores=_cores(table))


SSH_DEFAULT_WORKDIR = "~/edgebench"
SSH_DEFAULT_PYTHON = "python3"
SSH_DEFAULT_CONNECT_TIMEOUT_S = 10.0
MAX_CONNECT_TIMEOUT_S = 3600.0
# ssh -o options that make the ssh client run a command on this machine: a profile may use them only
# with allow_local_commands = true (a profile is then as trusted as code).
LOCAL_COMMAND_OPTIONS = ("proxycommand", "localcommand", "knownhostscommand", "permitlocalcommand",
                         "match")


def check_workdir(workdir: Any, where: str) -> str:
    """A workdir is a plain absolute or ~/ path without `..`; '/', '~' and empty are refused."""
    if not isinstance(workdir, str) or not workdir.strip():
        raise ProfileError(f"{where} workdir must be a folder path on the device, got {workdir!r}")
    if re.search(r"[\x00-\x1f\x7f]", workdir):
        raise ProfileError(f"{where} workdir must not hold control characters (NUL, newline, ...), got "
                           f"{workdir!r}")
    if not workdir.startswith(("/", "~/")):
        raise ProfileError(f"{where} workdir must be absolute or start with ~/ (e.g. ~/edgebench), "
                           f"got {workdir!r}")
    parts = [p for p in workdir.split("/") if p not in ("", "~")]
    if ".." in parts or not parts:
        raise ProfileError(f"{where} workdir {workdir!r} must name a dedicated folder without `..`, "
                           "e.g. ~/edgebench or /tmp/edgebench-pi")
    return workdir


@dataclass(frozen=True)
class SshConfig:
    """kind = "ssh": a board reached with the system OpenSSH client. `identity` and `ssh_config`
    are files on this machine (relative to the profile's folder); the rest is read by the device."""

    KIND: ClassVar[str] = "ssh"
    KEYS: ClassVar[KeySpec] = {
        "host": (str, "host name or ~/.ssh/config alias"),
        "user": (str, "login user"),
        "port": (int, "ssh port"),
        "identity": (str, "private key file"),
        "workdir": (str, "folder on the device"),
        "cleanup": (bool, "remove the workdir at the end"),
        "ssh_options": (list, "extra -o options, e.g. ['ProxyJump=gw']"),
        "connect_timeout": ((int, float), "seconds"),
        "ssh_config": (str, "ssh config file to use instead of ~/.ssh/config (ssh -F)"),
        "allow_local_commands": (bool, "let ssh_options run commands on this machine (ProxyCommand, ...)"),
    }

    host: str
    name: str
    user: str | None = None
    port: int | None = None
    identity: str | None = None
    ssh_config: str | None = None
    ssh_options: tuple[str, ...] = ()
    connect_timeout: float = SSH_DEFAULT_CONNECT_TIMEOUT_S
    python: str = SSH_DEFAULT_PYTHON
    workdir: str = SSH_DEFAULT_WORKDIR
    cleanup: bool = False
    cores: tuple[int, ...] | None = None

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str | Path | None = None) -> SshConfig:
        where = f"{source}: [device]" if source else f"device {table.get('name') or table.get('host')!r}:"
        host = table.get("host")
        if not isinstance(host, str) or not host or host.startswith("-") or re.search(r"\s", host):
            raise ProfileError(f"{where} host must be a host name, address or ~/.ssh/config alias "
                               f"(required for kind = \"ssh\"), got {host!r}")
        for key in ("name", "user", "python", "workdir"):
            if key in table and not isinstance(table[key], str):
                raise ProfileError(f"{where} {key} must be a string, got {table[key]!r}")
        user = table.get("user")
        if user is not None and (not user or user.startswith("-") or re.search(r"[\s@:]", user)):
            raise ProfileError(f"{where} user must be a plain login name, got {user!r}")
        port = table.get("port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            raise ProfileError(f"{where} port must be an integer 1-65535, got {port!r}")
        timeout = table.get("connect_timeout", SSH_DEFAULT_CONNECT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
                or not 0 < timeout <= MAX_CONNECT_TIMEOUT_S:
            raise ProfileError(f"{where} connect_timeout must be a number of seconds above 0 and at most "
                               f"{MAX_CONNECT_TIMEOUT_S:.0f}, got {timeout!r}")
        allow = table.get("allow_local_commands", False)
        if not isinstance(allow, bool):
            raise ProfileError(f"{where} allow_local_commands must be true or false, got {allow!r}")
        options = _ssh_options(table.get("ssh_options", []), where, allow)
        cleanup = table.get("cleanup", False)
        if not isinstance(cleanup, bool):
            raise ProfileError(f"{where} cleanup must be true or false, got {cleanup!r}")
        python = table.get("python") or SSH_DEFAULT_PYTHON
        if not python.strip() or "\n" in python:
            raise ProfileError(f"{where} python must be the device's Python command or path, got {python!r}")
        return cls(host=host, name=table.get("name") or host, user=user, port=port,
                   identity=_local_file(table, "identity", where, source),
                   ssh_config=_local_file(table, "ssh_config", where, source),
                   ssh_options=options, connect_timeout=float(timeout), python=python,
                   workdir=check_workdir(table.get("workdir", SSH_DEFAULT_WORKDIR), where),
                   cleanup=cleanup, cores=_cores(table))


def _ssh_options(options: Any, where: str, allow_local_commands: bool = False) -> tuple[str, ...]:
    if isinstance(options, str) or not isinstance(options, (list, tuple)):
        raise ProfileError(f"{where} ssh_options must be a list of 'Key=Value' strings, got {options!r}")
    for option in options:
        if not isinstance(option, str) or not re.match(r"^[A-Za-z][A-Za-z0-9]*\s*[= ]\s*\S", option) \
                or re.search(r"[\x00-\x1f\x7f]", option):
            raise ProfileError(f"{where} each ssh_options entry must look like 'Key=Value' (an ssh "
                               f"-o option, e.g. 'ProxyJump=gateway'), got {option!r}")
        key = re.match(r"^[A-Za-z0-9]+", option).group(0).lower()  # type: ignore[union-attr]
        if key in LOCAL_COMMAND_OPTIONS and not allow_local_commands:
            raise ProfileError(f"{where} ssh_options {option!r} makes ssh run a command on this machine; "
                               "use ProxyJump instead, or set allow_local_commands = true in [device] if "
                               "you trust this profile as you would code")
    return tuple(options)


def _local_file(table: Mapping[str, Any], key: str, where: str, source: str | Path | None) -> str | None:
    """A path on this machine (identity, ssh_config): `~` expanded, relative to the profile's folder."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ProfileError(f"{where} {key} must be a file path, got {value!r}")
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = (Path(source).parent if source else Path.cwd()) / path
    if not path.exists():
        raise ProfileError(f"{where} {key} = {value!r}: no such file ({path}); fix the path or remove the key")
    return str(path)


ADB_DEFAULT_WORKDIR = "/data/local/tmp/edgebench"
ADB_RUNNERS = ("python", "native")
NATIVE_TOOLS = ("benchmark_model", "onnxruntime_perf_test")


@dataclass(frozen=True)
class AdbConfig:
    """kind = "adb": an Android phone through the system `adb`. Device paths are strings, local
    ones Paths."""

    KIND: ClassVar[str] = "adb"
    KEYS: ClassVar[KeySpec] = {
        "serial": (str, "device serial (default: ANDROID_SERIAL)"),
        "adb": (str, "path of the adb command"),
        "adb_host": (str, "remote adb server host (-H)"),
        "adb_port": (int, "adb server port (-P)"),
        "runner": (str, "python | native"),
        "workdir": (str, "folder on the device"),
        "cleanup": (bool, "remove the workdir at the end"),
        "benchmark_model": (str, "path of benchmark_model (local file to push, or on the device)"),
        "onnxruntime_perf_test": (str, "path of onnxruntime_perf_test"),
    }

    name: str
    serial: str | None = None
    adb: str = "adb"
    adb_host: str | None = None
    adb_port: int | None = None
    runner: str = "python"
    workdir: str = ADB_DEFAULT_WORKDIR
    python: str = "python3"
    cleanup: bool = False
    # Per tool: a binary on this computer (pushed to <workdir>/bin) or a path/name on the phone.
    benchmark_model_local: Path | None = None
    benchmark_model: str | None = None
    onnxruntime_perf_test_local: Path | None = None
    onnxruntime_perf_test: str | None = None
    cores: tuple[int, ...] | None = None

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str | None = None) -> AdbConfig:
        where = f"{source}: " if source else ""
        known = (*COMMON_KEYS, *cls.KEYS)
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise ProfileError(f"{where}[device] unknown key(s) {', '.join(unknown)} for kind adb; "
                               f"known: {', '.join(known)}")

        def text(key: str, default: str | None = None) -> str | None:
            value = table.get(key, default)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ProfileError(f"{where}[device] {key} must be a non-empty string, got {value!r}")
            return value

        runner = text("runner", "python")
        if runner not in ADB_RUNNERS:
            raise ProfileError(f"{where}[device] runner = {runner!r}; use one of {', '.join(ADB_RUNNERS)}")
        port = table.get("adb_port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            raise ProfileError(f"{where}[device] adb_port must be an adb server port (1-65535), got {port!r}")
        workdir = text("workdir", ADB_DEFAULT_WORKDIR) or ADB_DEFAULT_WORKDIR
        if not workdir.startswith("/") or ".." in workdir.split("/") or workdir.rstrip("/") == "":
            raise ProfileError(f"{where}[device] workdir = {workdir!r}: use a dedicated absolute folder on "
                               f"the phone, e.g. {ADB_DEFAULT_WORKDIR}")
        cleanup = table.get("cleanup", False)
        if not isinstance(cleanup, bool):
            raise ProfileError(f"{where}[device] cleanup must be true or false")
        tools = {key: value for tool in NATIVE_TOOLS for key, value in _native_tool(tool, text(tool), where)}
        serial = text("serial") or os.environ.get("ANDROID_SERIAL") or None
        return cls(name=text("name") or serial or "android", serial=serial, adb=text("adb", "adb") or "adb",
                   adb_host=text("adb_host"), adb_port=port, runner=runner,
                   workdir=workdir.rstrip("/"), python=text("python", "python3") or "python3",
                   cleanup=cleanup, cores=_cores(table), **tools)


def _native_tool(tool: str, value: str | None, where: str) -> list[tuple[str, Any]]:
    """(field, value) for one native tool: a local file to push, or a path/name on the phone."""
    if value is None:
        return []
    local = Path(value).expanduser()
    if local.is_file():
        return [(f"{tool}_local", local)]
    if "/" in value and not value.startswith("/"):
        raise ProfileError(f"{where}[device] {tool} = {value!r} is not a file here, and not an "
                           f"absolute path on the phone: give an Android build of {tool} on this "
                           f"computer (it is pushed) or its absolute path on the phone")
    return [(tool, value)]


class LabgridConfig:
    """kind = "labgrid": a board or phone of the shared lab, locked for the run (harness/lab); it runs
    as kind ssh (or adb) with the keys below, host/port/user coming from the place. The lab keys are
    checked by harness.lab.LabConfig.from_table, the transport's by SshConfig or AdbConfig."""

    KIND: ClassVar[str] = "labgrid"
    KEYS: ClassVar[KeySpec] = {}  # filled below: the lab's keys, then the ssh and adb keys it passes on

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str | None = None) -> Any:
        from ..lab.config import LabConfig

        return LabConfig.from_table(table, source)


def _labgrid_keys() -> KeySpec:
    from ..lab.config import ADB_KEYS, LAB_KEYS, SSH_KEYS

    passed = {**{k: SshConfig.KEYS[k] for k in SSH_KEYS if k in SshConfig.KEYS},
              **{k: AdbConfig.KEYS[k] for k in (*ADB_KEYS, "adb_host", "adb_port", "serial") if k in AdbConfig.KEYS}}
    return {**LAB_KEYS, **passed}


LabgridConfig.KEYS = _labgrid_keys()

# kind -> its schema (the registry of device classes is registry.py)
SCHEMAS: dict[str, Any] = {c.KIND: c for c in (LocalConfig, SshConfig, AdbConfig, QemuConfig, LabgridConfig)}


def device_keys(kind: str) -> KeySpec:
    """Every [device] key a profile of this kind may use: the common ones, then the kind's."""
    return {**COMMON_KEYS, **SCHEMAS[kind].KEYS}
