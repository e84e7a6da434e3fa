"""The `ssh` device kind: a board (a Raspberry Pi, most often) reached with the system OpenSSH client.

Using `ssh` itself (not a Python SSH library) means an alias from ~/.ssh/config, an agent, a jump host
or a ControlMaster the user already set up just work. Every call is `ssh -T -o BatchMode=yes -o
ConnectTimeout=N ... -- HOST 'ONE QUOTED COMMAND'` with a subprocess timeout. The remote command is a
fixed `sh -c` script whose data (paths, python, limits) arrive as positional arguments joined with
shlex.join, so nothing from a profile or a file name is ever read as shell code by the device.

Files travel inside that same channel: a tar stream on stdin for uploads, `cat` on stdout for
downloads. scp/sftp are not used because their reading of remote paths differs between OpenSSH
versions (shell words in legacy scp, globs in sftp mode); a quoted argument means one thing everywhere.

Layout of the workdir on the device (default ~/edgebench):
    runner/harness/...        the runner bundle (PYTHONPATH for `python3 -m harness.runner`)
    runner/probe_script.py    the device probe (also run before/after each job for temperatures)
    files/...                 models and eval data (files/<repo-relative path>, or files/ext/<name>)
    jobs/<id>/                one job's job.json, out.json and temperature readings (removed after)
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import posixpath
import re
import shlex
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DeviceError, DeviceLost, ProfileError
from ..paths import REPO_ROOT
from . import probe as probe_mod
from . import ssh_remote as scripts
from .base import CommandResult, tail
from .ssh_check import MIN_FREE_BYTES, check_device, with_install_hint
from .ssh_remote import (
    EXIT_WORKDIR,
    check_workdir,
    confine,
    json_or_none,
    parse_df_free,
    parse_sha256sum,
    split_sections,
)

DEFAULT_WORKDIR = "~/edgebench"
DEFAULT_PYTHON = "python3"
DEFAULT_CONNECT_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 120.0          # short housekeeping calls (hashing, mkdir, probe)
MIN_TRANSFER_BYTES_PER_S = 256 * 1024  # a slow Wi-Fi link; sizes the transfer timeouts
JOB_MARGIN_S = 60.0                # runner start-up, temperature readings and the result's way back

RUNNER_DIR = "runner"
FILES_DIR = "files"
JOBS_DIR = "jobs"
PROBE_REL = "runner/probe_script.py"  # where the bundle puts the probe (added when it does not)

# Profile keys this kind reads from [device] (profiles.py validates the common ones).
PROFILE_KEYS = ("name", "kind", "host", "user", "port", "identity", "ssh_config", "ssh_options",
                "connect_timeout", "python", "workdir", "cleanup", "cores")


class SshError(DeviceError):
    """ssh itself failed. `reason`: unreachable | auth | hostkey | timeout (no answer within the
    connect timeout) | lost (mid-command) | command-timeout (a call ran past its limit) | client."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class SshLost(SshError, DeviceLost):
    """The device stopped answering (unreachable, lost mid-command, timed out): a retry may help."""


LOST_REASONS = ("unreachable", "timeout", "lost", "command-timeout")


def ssh_error(message: str, reason: str) -> SshError:
    return (SshLost if reason in LOST_REASONS else SshError)(message, reason)


@dataclass(frozen=True)
class PrepareReport:
    """What one prepare() sent: device paths relative to the workdir."""

    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    bytes_uploaded: int
    hashing: str  # "sha256sum", or "unavailable" when the device has no sha256sum (all uploaded)


@dataclass(frozen=True)
class _Upload:
    local: Path
    rel: str
    sha256: str
    size: int


class SshDevice:
    """A device reached with the system ssh client, built from a profile's [device] table.

    Reads: name, host (required), user, port, identity, ssh_config, ssh_options, connect_timeout,
    python, workdir, cleanup (see PROFILE_KEYS). `source` (the profile file) anchors relative
    identity/ssh_config paths and prefixes error messages; `bundle` replaces the runner bundle.
    """

    kind = "ssh"
    emulated = False

    def __init__(self, table: Mapping[str, Any], *, source: str | Path | None = None,
                 bundle: Sequence[tuple[Path, str]] | None = None):
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
        timeout = table.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ProfileError(f"{where} connect_timeout must be a positive number of seconds, got {timeout!r}")
        options = table.get("ssh_options", [])
        if isinstance(options, str) or not isinstance(options, (list, tuple)):
            raise ProfileError(f"{where} ssh_options must be a list of 'Key=Value' strings, got {options!r}")
        for option in options:
            if not isinstance(option, str) or not re.match(r"^[A-Za-z][A-Za-z0-9]*\s*[= ]\s*\S", option) \
                    or "\n" in option:
                raise ProfileError(f"{where} each ssh_options entry must look like 'Key=Value' (an ssh "
                                   f"-o option, e.g. 'ProxyJump=gateway'), got {option!r}")
        cleanup = table.get("cleanup", False)
        if not isinstance(cleanup, bool):
            raise ProfileError(f"{where} cleanup must be true or false, got {cleanup!r}")
        python = table.get("python") or DEFAULT_PYTHON
        if not python.strip() or "\n" in python:
            raise ProfileError(f"{where} python must be the device's Python command or path, got {python!r}")
        self.host: str = host
        self.name: str = table.get("name") or host
        self.user: str | None = user
        self.port: int | None = port
        self.identity = _local_file(table, "identity", where, source)
        self.ssh_config = _local_file(table, "ssh_config", where, source)
        self.ssh_options: tuple[str, ...] = tuple(options)
        self.connect_timeout = float(timeout)
        self.python: str = python
        self.workdir: str = check_workdir(table.get("workdir", DEFAULT_WORKDIR), where)
        self.cleanup_on_close: bool = cleanup
        self.cores = table.get("cores")
        self.bundle = bundle
        self.last_prepare: PrepareReport | None = None
        self.paths: dict[str, str] = {}  # local path (as given, and resolved) -> device path
        self._workdir_abs: str | None = None
        self._hash_cache: dict[tuple[str, int, int], str] = {}
        self._rel_of: dict[str, str] = {}
        self._active: subprocess.Popen | None = None
        self._active_job: str | None = None

    def __repr__(self) -> str:
        return f"SshDevice({self.label})"

    @property
    def destination(self) -> str:
        dest = f"{self.user}@{self.host}" if self.user else self.host
        return f"{dest}:{self.port}" if self.port else dest

    @property
    def label(self) -> str:
        """How errors name the device: 'rpi4 (pi@192.168.1.20)'."""
        return f"{self.name} ({self.destination})" if self.name != self.host else self.destination

    def _ssh_hint(self) -> str:
        parts = ["ssh"]
        if self.ssh_config:
            parts += ["-F", self.ssh_config]
        if self.port:
            parts += ["-p", str(self.port)]
        if self.identity:
            parts += ["-i", self.identity]
        parts.append(f"{self.user}@{self.host}" if self.user else self.host)
        return shlex.join(parts)

    def _copy_id_hint(self) -> str:
        parts = ["ssh-copy-id"] + (["-p", str(self.port)] if self.port else [])
        return shlex.join(parts + [f"{self.user}@{self.host}" if self.user else self.host])

    # transport -----------------------------------------------------------------------------------
    def ssh_argv(self, remote_command: str) -> list[str]:
        """The local argv: options first (BatchMode forced, the profile's next so they win over our
        defaults), then `--`, the host and the one remote command string."""
        argv = ["ssh", "-T"]
        if self.ssh_config:
            argv += ["-F", self.ssh_config]
        argv += ["-o", "BatchMode=yes"]
        for option in self.ssh_options:
            argv += ["-o", option]
        argv += ["-o", f"ConnectTimeout={max(1, math.ceil(self.connect_timeout))}",
                 "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3"]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.identity:
            argv += ["-i", self.identity]
        if self.user:
            argv += ["-l", self.user]
        return argv + ["--", self.host, remote_command]

    def call(self, script: str, args: Sequence[str], timeout: float, *, what: str,
             stdin: bytes | io.BufferedReader | None = None, stdout_file: Any = None) -> CommandResult:
        """Run `sh -c SCRIPT edgebench ARGS...` on the device. Raises SshError when ssh itself fails
        (exit 255 with a known message) or the call exceeds `timeout`."""
        remote = shlex.join(["sh", "-c", script, "edgebench", *[str(a) for a in args]])
        return self._ssh(remote, timeout, what=what, stdin=stdin, stdout_file=stdout_file)

    def _ssh(self, remote: str, timeout: float, *, what: str, stdin: Any = None,
             stdout_file: Any = None) -> CommandResult:
        argv = self.ssh_argv(remote)
        start = time.monotonic()
        data = stdin if isinstance(stdin, bytes) else None
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE if data is not None else (stdin or subprocess.DEVNULL),
                stdout=stdout_file if stdout_file is not None else subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            raise ssh_error(f"{self.label}: the OpenSSH client `ssh` is not installed on this machine; "
                            "install it (Debian/Ubuntu: apt-get install openssh-client)", "client") from None
        self._active = proc
        try:
            out, err = proc.communicate(input=data, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise ssh_error(f"{self.label}: {what} took longer than {timeout:.0f}s; check the device "
                            f"and the network (try `{self._ssh_hint()} true`)", "command-timeout") from None
        except BaseException:  # Ctrl-C: never leave an ssh client behind
            proc.kill()
            proc.communicate()
            raise
        finally:
            self._active = None
        result = CommandResult(
            argv=tuple(argv), returncode=proc.returncode,
            stdout=(out or b"").decode("utf-8", "replace"),
            stderr=(err or b"").decode("utf-8", "replace"),
            duration_s=time.monotonic() - start,
        )
        if result.returncode == 255:
            error = self.transport_error(result.stderr)
            if error is not None:
                raise error
        return result

    def transport_error(self, stderr: str) -> SshError | None:
        """Turn ssh's own failure (exit 255) into an error naming the device and the fix."""
        text = stderr or ""
        last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
        hint = self._ssh_hint()
        if "Permission denied (" in text or "Too many authentication failures" in text:
            methods = re.search(r"Permission denied \(([^)]*)\)", text)
            return ssh_error(
                f"{self.label}: authentication refused ({methods.group(1) if methods else 'too many keys tried'}); "
                f"add your key with `{self._copy_id_hint()}` or set identity = "
                "\"~/.ssh/id_ed25519\" in the profile (check with `" + hint + "`)", "auth")
        if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
            return ssh_error(
                f"{self.label}: the device's host key is unknown or changed; connect once by hand with "
                f"`{hint}` to check and accept it (or fix ~/.ssh/known_hosts)", "hostkey")
        if re.search(r"Could not resolve hostname|Name or service not known|"
                     r"Temporary failure in name resolution|nodename nor servname", text):
            return ssh_error(
                f"{self.label}: unknown host name {self.host!r}; fix host in the profile or add a Host "
                "entry for it to ~/.ssh/config", "unreachable")
        if re.search(r"Connection timed out|Operation timed out|timed out during banner exchange", text):
            return ssh_error(
                f"{self.label}: no answer within {self.connect_timeout:g}s; check that the device is "
                "on and on this network, or raise connect_timeout in the profile", "timeout")
        if re.search(r"Connection refused|No route to host|Network is unreachable|Connection reset|"
                     r"kex_exchange_identification|Connection closed by", text):
            return ssh_error(
                f"{self.label}: cannot connect ({last}); check that the device is on and that sshd "
                f"listens on port {self.port or 22} (try `{hint}`)", "unreachable")
        if re.search(r"closed by remote host|Broken pipe|Timeout, server .* not responding|"
                     r"client_loop: send disconnect", text):
            return ssh_error(f"{self.label}: connection lost ({last}); the device went away "
                             "mid-command (power, network or reboot)", "lost")
        return None

    # Device protocol -----------------------------------------------------------------------------
    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        """Run argv on the device (in the workdir when it exists). A timeout is a result, not an error."""
        if isinstance(argv, str):
            raise TypeError("run() takes an argument list, not a shell string")
        try:
            return self.call(scripts.RUN_SCRIPT, [self._workdir_arg(), *argv], timeout, what=shlex.join(argv))
        except SshError as exc:
            if exc.reason != "command-timeout":
                raise
            return CommandResult(argv=tuple(argv), returncode=None, stdout="", stderr=str(exc),
                                 duration_s=float(timeout), timed_out=True)

    def push(self, local: Path, remote: str) -> None:
        local = Path(local)
        target = self.device_path(remote)
        size = local.stat().st_size
        with open(local, "rb") as fh:
            result = self.call(scripts.WRITE_SCRIPT, [target], self._transfer_timeout(size),
                               what=f"uploading {local.name}", stdin=fh)
        self._raise_for_storage(result, f"uploading {local} to {target}", size)

    def pull(self, remote: str, local: Path) -> None:
        local = Path(local)
        source = self.device_path(remote)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        with open(tmp, "wb") as fh:
            result = self.call(scripts.READ_SCRIPT, [source], COMMAND_TIMEOUT_S + self._transfer_timeout(0),
                               what=f"downloading {source}", stdout_file=fh)
        if not result.ok:
            tmp.unlink(missing_ok=True)
            raise DeviceError(f"{self.label}: cannot download {source}: {tail(result.stderr.strip(), 300)}")
        os.replace(tmp, local)

    def interrupt(self) -> None:
        """Ctrl-C: stop the job in flight, here (the ssh client) and on the device (its runner)."""
        proc, jobdir = self._active, self._active_job
        if proc is not None and proc.poll() is None:
            proc.kill()
        if jobdir:
            # matches the runner's (and timeout's) command line; the escaped dot keeps pkill's
            # own command line from matching
            pattern = re.escape(jobdir) + "/job\\.json"
            try:
                self.call(scripts.RUN_SCRIPT, ["/", "pkill", "-TERM", "-f", "--", pattern], 15,
                          what="stopping the job on the device")
            except DeviceError:
                pass

    def close(self) -> None:
        """Remove the workdir when the profile says cleanup = true (a lost device is left as is)."""
        if self.cleanup_on_close:
            try:
                self.cleanup()
            except DeviceError:
                pass

    def __enter__(self) -> SshDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # probe ---------------------------------------------------------------------------------------
    def probe(self) -> dict[str, Any]:
        """The full device probe (probe_script.py piped to the device's Python)."""
        result = self.call(scripts.RUN_SCRIPT, [self._workdir_arg(), *probe_mod.stdin_argv(self.python)],
                           COMMAND_TIMEOUT_S, what="the device probe",
                           stdin=probe_mod.script_text().encode())
        self._raise_for_python(result)
        if not result.ok:
            raise DeviceError(f"{self.label}: the device probe failed (exit {result.returncode}): "
                              f"{tail(result.stderr.strip(), 500)}")
        return probe_mod.parse_output(result.stdout, self.label)

    def temperature(self) -> dict[str, Any]:
        """Quick temperature reading; every key None when it cannot be read (never fails a job)."""
        try:
            argv = [self._workdir_arg(), *probe_mod.stdin_argv(self.python, quick=True)]
            result = self.call(scripts.RUN_SCRIPT, argv,
                               COMMAND_TIMEOUT_S, what="reading the temperature",
                               stdin=probe_mod.script_text().encode())
            if result.ok:
                return probe_mod.parse_output(result.stdout, self.label, quick=True)
        except SshError as exc:
            if exc.reason in ("unreachable", "lost", "auth", "hostkey"):
                raise
        except DeviceError:
            pass
        return {key: None for key in probe_mod.TEMPERATURE_KEYS}

    # prepare -------------------------------------------------------------------------------------
    def prepare(self, files: Sequence[Path] = ()) -> dict[str, str]:
        """Push the runner bundle, the probe and `files` to the workdir, skipping every file whose
        sha256 there already matches (one hashing call, then one upload for the rest).
        Returns local path -> absolute device path for `files`; details in `last_prepare`."""
        uploads = [self._upload_entry(Path(local), posixpath.join(RUNNER_DIR, rel))
                   for local, rel in self._bundle()]
        if PROBE_REL not in {u.rel for u in uploads}:
            uploads.append(self._upload_entry(probe_mod.PROBE_SCRIPT, PROBE_REL))
        mapping: dict[str, str] = {}
        for local in files:
            local = Path(local)
            if not local.is_file():
                raise DeviceError(f"{self.label}: cannot upload {local}: no such file")
            entry = self._upload_entry(local, self._rel_for(local))
            uploads.append(entry)
            mapping[str(local)] = entry.rel
        # the same file listed twice travels once
        unique = list({u.rel: u for u in uploads}.values())

        result = self.call(scripts.INIT_SCRIPT, [self.workdir, *[u.rel for u in unique]], COMMAND_TIMEOUT_S,
                           what="hashing the files already on the device")
        self._raise_for_workdir(result)
        lines = result.stdout.splitlines()
        if "@@hashes" not in lines:
            raise DeviceError(f"{self.label}: unexpected answer while preparing the workdir: "
                              f"{tail(result.stdout + result.stderr, 300)}")
        at = lines.index("@@hashes")
        self._workdir_abs = lines[at - 1].strip() if at else None
        if not self._workdir_abs or not self._workdir_abs.startswith("/"):
            raise DeviceError(f"{self.label}: could not resolve the workdir {self.workdir!r}")
        hash_lines = lines[at + 1:]
        hashing = "unavailable" if "@@nosha" in hash_lines else "sha256sum"
        remote_hashes = parse_sha256sum("\n".join(hash_lines))

        changed = [u for u in unique if remote_hashes.get(u.rel) != u.sha256]
        skipped = [u.rel for u in unique if remote_hashes.get(u.rel) == u.sha256]
        if changed:
            self._upload_tar(changed)
        self.last_prepare = PrepareReport(
            uploaded=tuple(u.rel for u in changed), skipped=tuple(skipped),
            bytes_uploaded=sum(u.size for u in changed), hashing=hashing)
        out = {local: posixpath.join(self._workdir_abs, rel) for local, rel in mapping.items()}
        for local, device in out.items():
            self.paths[local] = device
            self.paths[str(Path(local).resolve())] = device
        return out

    def _bundle(self) -> list[tuple[Path, str]]:
        if self.bundle is not None:
            return [(Path(p), r) for p, r in self.bundle]
        return runner_bundle()

    def _upload_entry(self, local: Path, rel: str) -> _Upload:
        rel = confine(rel, self.label)
        stat = local.stat()
        key = (str(local.resolve()), stat.st_size, stat.st_mtime_ns)
        digest = self._hash_cache.get(key)
        if digest is None:
            digest = sha256_file(local)
            self._hash_cache[key] = digest
        return _Upload(local=local, rel=rel, sha256=digest, size=stat.st_size)

    def _rel_for(self, local: Path) -> str:
        """files/<repo-relative path> for the repository's files, files/ext/<name> for others
        (files/ext/2/<name>, ... when two different files share a name). Stable for a device."""
        resolved = str(local.resolve())
        if resolved in self._rel_of:
            return self._rel_of[resolved]
        try:
            rel = posixpath.join(FILES_DIR, Path(resolved).relative_to(REPO_ROOT).as_posix())
        except ValueError:
            taken = set(self._rel_of.values())
            n = 1
            while True:
                rel = posixpath.join(FILES_DIR, "ext", *([str(n)] if n > 1 else []), local.name)
                if rel not in taken:
                    break
                n += 1
        self._rel_of[resolved] = rel
        return rel

    def _upload_tar(self, uploads: Sequence[_Upload]) -> None:
        total = sum(u.size for u in uploads)
        with tempfile.TemporaryFile() as spool:
            with tarfile.open(fileobj=spool, mode="w", format=tarfile.GNU_FORMAT) as tar:
                for u in uploads:
                    info = tar.gettarinfo(str(u.local), arcname=u.rel)
                    info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "", ""
                    with open(u.local, "rb") as fh:
                        tar.addfile(info, fh)
            spool.seek(0)
            result = self.call(scripts.UNTAR_SCRIPT, [self._workdir_abs], self._transfer_timeout(total),
                               what=f"uploading {len(uploads)} file(s), {total / 1e6:.1f} MB", stdin=spool)
        self._raise_for_storage(result, f"uploading {len(uploads)} file(s) to {self._workdir_abs}", total)

    def _transfer_timeout(self, nbytes: int) -> float:
        return self.connect_timeout + COMMAND_TIMEOUT_S + nbytes / MIN_TRANSFER_BYTES_PER_S

    # paths ---------------------------------------------------------------------------------------
    def _workdir_arg(self) -> str:
        return self._workdir_abs or self.workdir

    def _ensure_workdir(self) -> str:
        if self._workdir_abs is None:
            result = self.call(scripts.INIT_SCRIPT, [self.workdir], COMMAND_TIMEOUT_S, what="creating the workdir")
            self._raise_for_workdir(result)
            lines = result.stdout.splitlines()
            self._workdir_abs = lines[lines.index("@@hashes") - 1].strip()
        return self._workdir_abs

    def device_path(self, remote: str) -> str:
        """An absolute device path inside the workdir: relative paths are taken from the workdir;
        anything that would leave it (`..`, another absolute folder) is refused."""
        base = self._ensure_workdir()
        if remote.startswith("/"):
            norm = posixpath.normpath(remote)
            if (norm != base and not norm.startswith(base + "/")) or ".." in remote.split("/"):
                raise DeviceError(f"{self.label}: {remote!r} is outside the workdir {base}; "
                                  "the harness only writes inside its workdir")
            return norm
        return posixpath.join(base, confine(remote, self.label))

    # execute -------------------------------------------------------------------------------------
    def execute(self, job: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """Run one job with the runner in a fresh process on the device and return its result dict
        (plus temp_before_c / temp_after_c / throttled_*). A job that fails or times out comes back
        as a dict with status failed|timeout; losing the device raises SshError."""
        base = self._ensure_workdir()
        job_id = uuid.uuid4().hex[:12]
        jobdir = posixpath.join(JOBS_DIR, job_id)
        device_job = dict(job)
        device_job["scratch_dir"] = posixpath.join(base, jobdir)  # ORT profiles land there
        if self.cores and not device_job.get("cores"):
            device_job["cores"] = list(self.cores)
        for key in ("model_path", "eval_path"):
            if device_job.get(key):
                device_job[key] = self._device_input(str(device_job[key]), key)
        outputs: dict[str, Path] = {}
        for key in ("profile_ops_path", "save_outputs_path"):
            if device_job.get(key):
                local = Path(str(device_job[key]))
                device_job[key] = posixpath.join(base, jobdir, f"{key[:-5]}-{local.name}")
                outputs[device_job[key]] = local
        limit = max(1, math.ceil(timeout))
        marker = f"@@edgebench-{uuid.uuid4().hex}@@"
        payload = json.dumps(device_job, sort_keys=True).encode()
        self._active_job = jobdir
        try:
            result = self.call(scripts.EXEC_SCRIPT, [base, jobdir, str(limit), marker, self.python,
                                               "1" if outputs else "0"],
                               timeout + self.connect_timeout + JOB_MARGIN_S,
                               what=f"the job ({job.get('runtime', '?')} {Path(str(job.get('model_path', ''))).name})",
                               stdin=payload)
        except SshError as exc:
            if exc.reason != "command-timeout":
                raise
            return {"status": "timeout",
                    "error": f"{self.label}: no answer from the job within {timeout:.0f}s (plus margin): {exc}"}
        finally:
            self._active_job = None
        self._raise_for_workdir(result)
        sections = split_sections(result.stdout, marker)
        record = json_or_none(sections.get("out"))
        temps = probe_mod.job_temperature_fields(json_or_none(sections.get("temp_before")),
                                                 json_or_none(sections.get("temp_after")))
        if isinstance(record, dict) and record.get("status"):
            if record.get("status") != "ok" and record.get("error"):
                record["error"] = with_install_hint(str(record["error"]), self.python)
        elif result.returncode in (124, 137):
            record = {"status": "timeout",
                      "error": f"{self.label}: the runner did not finish within {limit}s and was stopped"}
        elif result.returncode == 127:
            self._raise_for_python(result)
            record = {"status": "failed", "error": f"{self.label}: {tail(result.stderr.strip(), 1000)}"}
        else:
            message = tail(result.stderr.strip() or sections.get("", "").strip(), 2000) or "(no output)"
            record = {"status": "failed",
                      "error": with_install_hint(f"{self.label}: runner exit {result.returncode}: {message}",
                                                 self.python)}
        for device_file, local in outputs.items():
            try:
                self.pull(device_file, local)
            except SshError:
                raise
            except DeviceError:
                pass  # the runner may legitimately not have written it (a failed job)
        if outputs:
            self.call(scripts.RUN_SCRIPT, [base, "rm", "-rf", "--", jobdir], COMMAND_TIMEOUT_S,
                      what="removing the job folder")
        record.update(temps)
        return record

    def _device_input(self, value: str, key: str) -> str:
        if value in self.paths:
            return self.paths[value]
        resolved = str(Path(value).resolve())
        if resolved in self.paths:
            return self.paths[resolved]
        base = self._workdir_abs or ""
        if base and value.startswith(base + "/"):
            return value
        if Path(value).is_file():
            return self.prepare([Path(value)])[value]
        raise DeviceError(f"{self.label}: job {key} {value!r} was neither prepared nor found here; "
                          "pass it to prepare() first")

    # cleanup -------------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Remove the workdir from the device (refuses `/` and the home folder)."""
        result = self.call(scripts.CLEANUP_SCRIPT,
                           [self.workdir], COMMAND_TIMEOUT_S, what="resolving the workdir")
        self._raise_for_workdir(result)
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if len(lines) < 2:
            return  # nothing there
        target, home = lines[0], lines[1]
        if target in ("/", home) or len(Path(target).parts) < 3:
            raise DeviceError(f"{self.label}: refusing to delete {target}: choose a dedicated workdir "
                              "such as ~/edgebench")
        self.call(scripts.RUN_SCRIPT, ["/", "rm", "-rf", "--", target], COMMAND_TIMEOUT_S,
                  what="removing the workdir").check(self.label)
        self._workdir_abs = None

    # check ---------------------------------------------------------------------------------------
    def check(self, runtimes: Iterable[str] = ("onnxruntime", "tflite"),
              min_free_bytes: int = MIN_FREE_BYTES) -> list[str]:
        """What stops this device from running jobs, each with the fix; [] when ready."""
        return check_device(self, runtimes, min_free_bytes)

    # errors --------------------------------------------------------------------------------------
    def _raise_for_python(self, result: CommandResult) -> None:
        if result.returncode == 127:
            raise DeviceError(
                f"{self.label}: {self.python} not found on the device; install Python 3 there "
                "(sudo apt install python3) or set python = \"/path/to/python3\" in the profile")

    def _raise_for_workdir(self, result: CommandResult) -> None:
        if result.returncode == EXIT_WORKDIR:
            reason = tail(result.stderr.strip(), 300) or "permission denied"
            if "No space left" in reason:
                raise DeviceError(f"{self.label}: no space left on the device for workdir {self.workdir}; "
                                  "free some space or set workdir = ... on a bigger disk")
            raise DeviceError(f"{self.label}: workdir {self.workdir} is not writable ({reason}); set "
                              "workdir = \"/tmp/edgebench-USER\" (a folder the login user owns) in the "
                              "profile, or fix its permissions on the device")

    def _raise_for_storage(self, result: CommandResult, what: str, nbytes: int = 0) -> None:
        if result.ok:
            return
        df = re.search(r"^@@df (.*)$", result.stderr, re.MULTILINE)
        free = parse_df_free(df.group(1)) if df else None
        if re.search(r"No space left|Disk quota exceeded|Wrote only \d+ of", result.stderr) or \
                (free is not None and free < max(nbytes, 1 << 20)):
            raise DeviceError(f"{self.label}: no space left on the device while {what}; free some "
                              "space there or set workdir = ... on a bigger disk")
        self._raise_for_workdir(result)
        if "Permission denied" in result.stderr or "Read-only file system" in result.stderr:
            raise DeviceError(f"{self.label}: cannot write while {what} ({tail(result.stderr.strip(), 300)}); "
                              "set workdir = ... to a folder the login user can write")
        if result.returncode == 127 or "tar: not found" in result.stderr:
            raise DeviceError(f"{self.label}: `tar` is missing on the device; install it (apt-get install tar)")
        raise DeviceError(f"{self.label}: failed {what} (exit {result.returncode}): "
                          f"{tail(result.stderr.strip(), 500)}")


# helpers -------------------------------------------------------------------------------------------
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



def runner_bundle() -> list[tuple[Path, str]]:
    """(local file, path under runner/) for everything `python3 -m harness.runner` needs."""
    try:
        from ..runner.bundle import bundle_files  # type: ignore[import-not-found]
    except ImportError:
        bundle_files = None
    if bundle_files is not None:
        return [(Path(local), str(rel)) for local, rel in bundle_files()]
    package = REPO_ROOT / "harness"
    files = [package / "__init__.py"] + sorted(
        p for p in (package / "runner").rglob("*.py") if "__pycache__" not in p.parts)
    return [(p, p.relative_to(REPO_ROOT).as_posix()) for p in files if p.is_file()]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
