"""Android phones over adb: the system `adb` command, so a USB phone, `adb connect` and a remote adb
server (-H/-P) all work as users already have them.

Every call is an argument list with a timeout; commands for the phone's shell are built with
shlex.quote, never pasted. The exit code of a remote command comes from the shell v2 protocol (what
every adbd since Android 7 speaks); on older phones the command echoes its status in a marker line.

Two runners: `python` (the phone has python3, e.g. Termux: the runner bundle is pushed and run as
`python3 -m harness.runner`) and `native` (TFLite's benchmark_model / onnxruntime_perf_test on the
phone, their output parsed by harness.native into the same record keys).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DeviceError, DeviceLost, ProfileError
from . import probe_script
from .base import CommandResult, tail

DEFAULT_WORKDIR = "/data/local/tmp/edgebench"
RUNNERS = ("python", "native")
NATIVE_TOOLS = ("benchmark_model", "onnxruntime_perf_test")
# The [device] keys an adb profile may use (harness.profiles validates the same set).
DEVICE_KEYS = ("name", "kind", "description", "cores", "python", "serial", "adb", "adb_host", "adb_port",
               "runner", "workdir", "cleanup", "benchmark_model", "onnxruntime_perf_test")
COMMAND_TIMEOUT_S = 60.0  # any adb call that is not a job or a transfer
MIN_TRANSFER_BYTES_PER_S = 2e6  # USB 2 manages far more; slower means something is wrong
RC_MARKER = "__edgebench_rc="
# adb's own complaints that mean the phone went away mid-run (worth a retry, see DeviceLost).
_LOST = ("device offline", "no devices/emulators found", "not found", "device still", "closed",
         "protocol fault", "connection reset")


@dataclass(frozen=True)
class AdbConfig:
    """The [device] table of an adb profile, checked. Device paths are strings, local ones Paths."""

    name: str
    serial: str | None = None
    adb: str = "adb"
    adb_host: str | None = None
    adb_port: int | None = None
    runner: str = "python"
    workdir: str = DEFAULT_WORKDIR
    python: str = "python3"
    cleanup: bool = False
    # Per tool: a binary on this computer (pushed to <workdir>/bin) or a path/name on the phone.
    benchmark_model_local: Path | None = None
    benchmark_model: str | None = None
    onnxruntime_perf_test_local: Path | None = None
    onnxruntime_perf_test: str | None = None

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str | None = None) -> AdbConfig:
        where = f"{source}: " if source else ""
        unknown = sorted(set(table) - set(DEVICE_KEYS))
        if unknown:
            raise ProfileError(f"{where}[device] unknown key(s) {', '.join(unknown)} for kind adb; "
                               f"known: {', '.join(DEVICE_KEYS)}")

        def text(key: str, default: str | None = None) -> str | None:
            value = table.get(key, default)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ProfileError(f"{where}[device] {key} must be a non-empty string, got {value!r}")
            return value

        runner = text("runner", "python")
        if runner not in RUNNERS:
            raise ProfileError(f"{where}[device] runner = {runner!r}; use one of {', '.join(RUNNERS)}")
        port = table.get("adb_port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            raise ProfileError(f"{where}[device] adb_port must be an adb server port (1-65535), got {port!r}")
        workdir = text("workdir", DEFAULT_WORKDIR) or DEFAULT_WORKDIR
        if not workdir.startswith("/") or ".." in workdir.split("/") or workdir.rstrip("/") == "":
            raise ProfileError(f"{where}[device] workdir = {workdir!r}: use a dedicated absolute folder on "
                               f"the phone, e.g. {DEFAULT_WORKDIR}")
        cleanup = table.get("cleanup", False)
        if not isinstance(cleanup, bool):
            raise ProfileError(f"{where}[device] cleanup must be true or false")
        tools: dict[str, Any] = {}
        for tool in NATIVE_TOOLS:
            value = text(tool)
            if value is None:
                continue
            local = Path(value).expanduser()
            if local.is_file():
                tools[f"{tool}_local"] = local
            elif "/" in value and not value.startswith("/"):
                raise ProfileError(f"{where}[device] {tool} = {value!r} is not a file here, and not an "
                                   f"absolute path on the phone: give an Android build of {tool} on this "
                                   f"computer (it is pushed) or its absolute path on the phone")
            else:
                tools[tool] = value
        serial = text("serial") or os.environ.get("ANDROID_SERIAL") or None
        return cls(name=text("name") or serial or "android", serial=serial, adb=text("adb", "adb") or "adb",
                   adb_host=text("adb_host"), adb_port=port, runner=runner,
                   workdir=workdir.rstrip("/"), python=text("python", "python3") or "python3",
                   cleanup=cleanup, **tools)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class AdbDevice:
    """One Android phone. The Device protocol, plus check() and execute(job, timeout)."""

    kind = "adb"
    emulated = False

    def __init__(self, table: Mapping[str, Any], *, source: str | None = None) -> None:
        self.config = AdbConfig.from_table(table, source)
        self.name = self.config.name
        self.serial = self.config.serial
        self.workdir = self.config.workdir
        self.python = self.config.python
        self.cores = table.get("cores")
        adb = shutil.which(self.config.adb)
        if adb is None:
            raise DeviceError(f"{self.name}: adb not found (looked for {self.config.adb!r}): install Android "
                              f"platform-tools (Debian/Ubuntu: apt install adb) or set [device] adb to the "
                              f"adb binary")
        self.adb = adb
        self._features: set[str] | None = None
        self._connected = False
        self._probe: dict[str, Any] | None = None
        self._prepared: dict[str, str] = {}  # local path -> device path
        self._remote_sha: dict[str, str] = {}  # device path -> sha256 it is known to have
        self._hash_cache: dict[tuple, str] = {}
        self._jobs = 0
        self.pushed: list[str] = []  # device paths sent, in order (for logs and tests)
        self.skipped: list[str] = []  # device paths left alone because their sha256 matched

    def __enter__(self):  # returns self (a context manager)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- adb plumbing ------------------------------------------------------------------------
    @property
    def label(self) -> str:
        serial = self.serial or "(only device)"
        return self.name if self.name == serial else f"{self.name} (adb {serial})"

    def _server(self) -> str:
        return f"{self.config.adb_host or 'localhost'}:{self.config.adb_port or 5037}"

    def _argv(self, args: Sequence[str]) -> list[str]:
        argv = [self.adb]
        if self.config.adb_host:
            argv += ["-H", self.config.adb_host]
        if self.config.adb_port:
            argv += ["-P", str(self.config.adb_port)]
        if self.serial:
            argv += ["-s", self.serial]
        return argv + list(args)

    def _adb(self, args: Sequence[str], timeout: float) -> CommandResult:
        argv = tuple(self._argv(args))
        start = time.monotonic()
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                  check=False)
        except FileNotFoundError:
            raise DeviceError(f"{self.label}: adb not found at {self.adb}: install Android platform-tools "
                              f"or set [device] adb") from None
        except subprocess.TimeoutExpired as exc:
            return CommandResult(argv, None, _text(exc.stdout), _text(exc.stderr),
                                 time.monotonic() - start, timed_out=True)
        return CommandResult(argv, proc.returncode, _text(proc.stdout), _text(proc.stderr),
                             time.monotonic() - start)

    def _adb_error(self, text: str) -> DeviceError | None:
        """adb's own error messages as an error that says what to do. Once the phone was reached,
        losing it is DeviceLost (the run retries, then records the rest as skipped)."""
        cls = DeviceLost if self._connected and any(p in text for p in _LOST) else DeviceError
        if "unauthorized" in text:
            return DeviceError(f"{self.label} is unauthorized: unlock the phone and accept the 'Allow USB "
                               f"debugging' prompt for this computer (adb devices shows 'unauthorized' "
                               f"until then), then retry")
        if "device offline" in text:
            return cls(f"{self.label} is offline: reconnect the cable (or run `adb reconnect`) until "
                       f"`adb devices` lists it as 'device'")
        if "no devices/emulators found" in text or "no devices found" in text:
            return cls(f"{self.label}: no Android device is connected to the adb server at {self._server()}: "
                       f"plug the phone in with USB debugging on (see `adb devices`)")
        if m := re.search(r"device '([^']*)' not found", text):
            return cls(f"{self.label}: the adb server at {self._server()} has no device {m.group(1)!r}: "
                       f"check [device] serial (or ANDROID_SERIAL) against `adb devices`")
        if "more than one device" in text:
            return DeviceError(f"{self.label}: several devices are connected: set [device] serial (or "
                               f"ANDROID_SERIAL) to one listed by `adb devices`")
        if "cannot connect to daemon" in text or "failed to start daemon" in text \
                or "Connection refused" in text:
            return cls(f"{self.label}: cannot reach the adb server at {self._server()}: start it there "
                       f"(`adb start-server`) or fix [device] adb_host / adb_port")
        if self._connected and any(p in text for p in ("error: closed", "protocol fault")):
            return DeviceLost(f"{self.label}: the adb connection dropped ({tail(text.strip(), 200)})")
        return None

    def connect(self) -> None:
        """Check the phone is there and authorized (and learn its serial) before anything else."""
        if self._connected:
            return
        res = self._adb(["get-state" if self.serial else "get-serialno"], COMMAND_TIMEOUT_S)
        out = (res.stdout + res.stderr).strip()
        if res.timed_out:
            raise DeviceError(f"{self.label}: adb did not answer within {COMMAND_TIMEOUT_S:.0f}s; check "
                              f"`adb devices` and the USB connection")
        err = self._adb_error(out)
        if err is not None:
            raise err
        if res.returncode != 0:
            raise DeviceError(f"{self.label}: adb failed (exit {res.returncode}): {tail(out, 500)}")
        if not self.serial:
            self.serial = res.stdout.strip()
            res = self._adb(["get-state"], COMMAND_TIMEOUT_S)
        state = res.stdout.strip()
        if state != "device":
            raise self._adb_error(f"device {state}") or DeviceError(
                f"{self.label} is in state {state!r}, not 'device': wait until it has booted, then retry")
        self._connected = True

    def features(self) -> set[str]:
        """What the phone's adbd offers (shell_v2 gives exit codes; older phones lack it)."""
        if self._features is None:
            self.connect()
            res = self._adb(["features"], COMMAND_TIMEOUT_S)
            self._features = set(res.stdout.split()) if res.ok else set()
        return self._features

    def shell(self, command: str, timeout: float) -> CommandResult:
        """Run one shell command line (already quoted) on the phone; the exit code is the remote one."""
        self.connect()
        v2 = "shell_v2" in self.features()
        line = command if v2 else f"{command}; echo {RC_MARKER}$?"
        res = self._adb(["shell", line], timeout)
        if res.timed_out:
            return res
        if res.returncode != 0 and not res.stdout.strip() and re.match(r"^(adb: )?error: ", res.stderr):
            err = self._adb_error(res.stderr)
            if err is not None:
                raise err
        if v2:
            return res
        out = res.stdout.replace("\r\n", "\n")
        m = re.search(re.escape(RC_MARKER) + r"(\d+)\s*$", out)
        if m is None:
            raise self._adb_error(out + res.stderr) or DeviceLost(
                f"{self.label}: the shell ended before the command finished: {tail(out + res.stderr, 500)}")
        return CommandResult(res.argv, int(m.group(1)), out[: m.start()], res.stderr, res.duration_s)

    def run(self, argv: Sequence[str], timeout: float, cwd: str | None = None) -> CommandResult:
        """Run argv (a list, quoted here) on the phone, optionally in a folder there."""
        command = shlex.join([str(a) for a in argv])
        if cwd:
            command = f"cd {shlex.quote(cwd)} && {command}"
        return self.shell(command, timeout)

    # -- files -------------------------------------------------------------------------------
    def remote_hashes(self, paths: Sequence[str]) -> dict[str, str]:
        """sha256 of files already on the phone; missing files are absent from the answer."""
        found: dict[str, str] = {}
        batch: list[str] = []

        def flush() -> None:
            if batch:
                res = self.run(["sha256sum", "--", *batch], COMMAND_TIMEOUT_S)
                for line in res.stdout.splitlines():
                    parts = line.strip().split(None, 1)
                    if len(parts) == 2 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
                        found[parts[1].lstrip("*")] = parts[0]
                batch.clear()

        for path in paths:
            batch.append(path)
            if sum(len(p) + 3 for p in batch) > 3000:  # old adbd takes at most 4 kB per request
                flush()
        flush()
        return found

    def _local_sha(self, path: Path) -> str:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in self._hash_cache:
            self._hash_cache[key] = _sha256(path)
        return self._hash_cache[key]

    def push_many(self, pairs: Sequence[tuple[Path, str]]) -> list[str]:
        """Push (local, device path) pairs, skipping files whose sha256 on the phone already matches
        (one hashing call for all of them). Returns the device paths actually sent."""
        self.connect()
        wanted: dict[str, tuple[Path, str]] = {}
        for local, remote in pairs:
            local = Path(local)
            if not local.is_file():
                raise DeviceError(f"{self.label}: cannot push {local}: no such file here")
            wanted[remote] = (local, self._local_sha(local))
        unknown = [r for r, (_, sha) in wanted.items() if self._remote_sha.get(r) != sha]
        there = self.remote_hashes(unknown) if unknown else {}
        sent = []
        for dest, (local, sha) in wanted.items():
            if self._remote_sha.get(dest) == sha or there.get(dest) == sha:
                self.skipped.append(dest)
            else:
                self._push_one(local, dest)
                sent.append(dest)
                self.pushed.append(dest)
            self._remote_sha[dest] = sha
        return sent

    def _push_one(self, local: Path, remote: str) -> None:
        timeout = COMMAND_TIMEOUT_S + local.stat().st_size / MIN_TRANSFER_BYTES_PER_S
        res = self._adb(["push", str(local), remote], timeout)
        if res.ok:
            return
        out = (res.stdout + res.stderr).strip()
        self._remote_sha.pop(remote, None)
        if res.timed_out:
            raise DeviceLost(f"{self.label}: pushing {local.name} took longer than {timeout:.0f}s; check "
                             f"the USB connection")
        if "No space left" in out:
            raise DeviceError(f"{self.label}: no space left on the phone for {remote}: free some space "
                              f"(`adb shell df {posixpath.dirname(remote)}`) or set [device] workdir to a "
                              f"folder on a bigger partition")
        if "Read-only file system" in out or "Permission denied" in out:
            raise DeviceError(f"{self.label}: cannot write {remote} ({_reason(out)}): set [device] workdir "
                              f"to a writable folder such as {DEFAULT_WORKDIR}")
        raise self._adb_error(out) or DeviceError(
            f"{self.label}: adb push {local} {remote} failed (exit {res.returncode}): {tail(out, 800)}")

    def push(self, local: Path, remote: str) -> None:
        self.push_many([(Path(local), remote)])

    def pull(self, remote: str, local: Path) -> None:
        self.connect()
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        res = self._adb(["pull", remote, str(local)], COMMAND_TIMEOUT_S * 5)
        if not res.ok:
            out = (res.stdout + res.stderr).strip()
            raise self._adb_error(out) or DeviceError(
                f"{self.label}: adb pull {remote} failed (exit {res.returncode}): {tail(out, 800)}")

    # -- probe -------------------------------------------------------------------------------
    def probe(self) -> dict[str, Any]:
        """Every PROBE_KEYS key (Android model/SoC/SDK from getprop, cores and big.LITTLE from
        /proc/cpuinfo and cpufreq, RAM, governor, thermal zones, Python and runtime versions when the
        phone has Python) plus the adb extras. One shell call, so it works without Python too."""
        self.connect()
        res = self.shell(probe_command(self.config), COMMAND_TIMEOUT_S)
        if not res.ok:
            raise DeviceError(f"{self.label}: the device probe failed (exit {res.returncode}): "
                              f"{tail(res.stderr.strip(), 500)}")
        info = parse_probe(res.stdout)
        info.update({"adb_serial": self.serial, "adb_features": sorted(self.features()),
                     "runner": self.config.runner, "workdir": self.workdir})
        self._probe = info
        return info

    def temperature(self) -> dict[str, Any]:
        """Quick reading for before/after each job (TEMPERATURE_KEYS); never fails a job."""
        out = {key: None for key in probe_script.TEMPERATURE_KEYS}
        try:
            res = self.shell(THERMAL_COMMAND, COMMAND_TIMEOUT_S)
        except DeviceLost:
            raise
        except DeviceError:
            return out
        zones = parse_thermal(res.stdout)
        out.update(thermal_zones=zones, temp_c=max(zones.values()) if zones else None)
        return out

    def check(self, runtimes: Sequence[str] = ("onnxruntime", "tflite")) -> list[str]:
        """What stops this phone from running jobs, each with the fix; [] when ready."""
        try:
            info = self.probe()
        except DeviceError as exc:
            return [str(exc)]
        problems = []
        if info.get("workdir_writable") is False:
            problems.append(f"{self.label}: workdir {self.workdir} is not writable: set [device] workdir "
                            f"to a writable folder such as {DEFAULT_WORKDIR}")
        for runtime in runtimes:
            problem = self._runtime_problem(info, runtime)
            if problem:
                problems.append(problem)
        return problems

    def _runtime_problem(self, info: Mapping[str, Any], runtime: str) -> str | None:
        if self.config.runner == "native":
            tool = {"tflite": "benchmark_model", "onnxruntime": "onnxruntime_perf_test"}.get(runtime)
            if tool and not self._tool_path(tool, info):
                return (f"{self.label}: {tool} (runtime {runtime}) not found on the phone: download an "
                        f"Android build of {tool} (TFLite/LiteRT and ONNX Runtime publish prebuilt "
                        f"binaries) and set [device] {tool} to that file (it is pushed), or to its path "
                        f"on the phone")
            return None
        if not info.get("python_version"):
            return (f"{self.label}: no Python at {self.python!r} on the phone: install one (Termux: `pkg "
                    f"install python`) and set [device] python to its path, or use runner = \"native\"")
        if runtime == "onnxruntime" and not info.get("onnxruntime_version"):
            return (f"{self.label}: onnxruntime is missing (runtime onnxruntime); run on the phone: "
                    f"{self.python} -m pip install onnxruntime numpy, or use runner = \"native\"")
        if runtime == "tflite" and not (info.get("ai_edge_litert_version") or info.get("tflite_runtime_version")
                                        or info.get("tensorflow_version")):
            return (f"{self.label}: no TFLite interpreter (runtime tflite); run on the phone: "
                    f"{self.python} -m pip install ai-edge-litert numpy, or use runner = \"native\"")
        if not info.get("numpy_version"):
            return (f"{self.label}: numpy is missing; run on the phone: {self.python} -m pip install numpy")
        return None

    def _tool_path(self, tool: str, info: Mapping[str, Any]) -> str | None:
        if getattr(self.config, f"{tool}_local"):
            return f"{self.workdir}/bin/{tool}"
        return (info.get("native_tools") or {}).get(tool)

    # -- prepare and run jobs ----------------------------------------------------------------
    def _ensure_workdir(self) -> None:
        w = shlex.quote(self.workdir)
        probe = shlex.quote(f"{self.workdir}/.edgebench-write-test")
        res = self.shell(f"mkdir -p {w} && touch {probe} && rm -f {probe}", COMMAND_TIMEOUT_S)
        if res.ok:
            return
        out = (res.stderr + res.stdout).strip()
        if "No space left" in out:
            raise DeviceError(f"{self.label}: no space left on the phone under {self.workdir}: free some "
                              f"space (`adb shell df {self.workdir}`) or choose another [device] workdir")
        raise DeviceError(f"{self.label}: workdir {self.workdir} is not writable ({_reason(out)}): set "
                          f"[device] workdir to a writable folder such as {DEFAULT_WORKDIR}")

    def prepare(self, files: Sequence[Path] = ()) -> dict[str, str]:
        """The workdir, the runner bundle (python runner) or the native tools, and these files, each
        skipped when already there with the same sha256. Returns local path -> device path."""
        self.connect()
        self._ensure_workdir()
        pairs: list[tuple[Path, str]] = []
        if self.config.runner == "python":
            from ..runner.bundle import bundle_files

            pairs += [(local, f"{self.workdir}/runner/{rel}") for local, rel in bundle_files()]
        for tool in NATIVE_TOOLS:
            local = getattr(self.config, f"{tool}_local")
            if local is not None:
                pairs.append((local, f"{self.workdir}/bin/{tool}"))
        for local in files:
            key = str(Path(local))
            if key not in self._prepared:
                self._prepared[key] = self._device_name(Path(local))
            pairs.append((Path(local), self._prepared[key]))
        sent = self.push_many(pairs)
        binaries = [d for d in sent if d.startswith(f"{self.workdir}/bin/")]
        if binaries:
            self.run(["chmod", "755", *binaries], COMMAND_TIMEOUT_S).check(self.label)
        return {str(Path(f)): self._prepared[str(Path(f))] for f in files}

    def _device_name(self, local: Path) -> str:
        dest = f"{self.workdir}/files/{local.name}"
        if dest in self._prepared.values():  # two local files share a name: keep both
            dest = f"{self.workdir}/files/{self._local_sha(local)[:8]}-{local.name}"
        return dest

    def _device_input(self, value: Any) -> str | None:
        """A job's input on the phone: a prepared local file's device path (pushed on first use), or a
        path already on the phone."""
        if not value:
            return None
        key = str(Path(str(value)))
        if key not in self._prepared and Path(key).is_file():
            self.prepare([Path(key)])
        return self._prepared.get(key, str(value))

    def execute(self, job: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """Run one job in a fresh process on the phone; the runner-shaped result dict (failures and
        timeouts are results; losing the phone raises DeviceLost). Input paths may be local (pushed if
        needed) or on the phone; output paths (profile_ops_path, save_outputs_path) are local."""
        from .probe import job_temperature_fields

        self.connect()
        if self._probe is None:
            self.probe()
        assert self._probe is not None
        problem = self._runtime_problem(self._probe, str(job.get("runtime")))
        if problem:
            raise DeviceError(problem)
        job = dict(job)
        if self.cores and not job.get("cores"):
            job["cores"] = list(self.cores)
        self._jobs += 1
        job_dir = f"{self.workdir}/jobs/{os.getpid()}-{self._jobs}"
        before = self.temperature()
        if self.config.runner == "python":
            result = self._execute_python(job, job_dir, timeout)
        else:
            result = self._execute_native(job, job_dir, timeout)
        result.update(job_temperature_fields(before, self.temperature()))
        return result

    def _execute_python(self, job: dict, job_dir: str, timeout: float) -> dict[str, Any]:
        rel_dir = self._relative(job_dir)
        outputs = {k: Path(str(job[k])) for k in ("profile_ops_path", "save_outputs_path") if job.get(k)}
        remote_job = dict(job)
        for key in ("model_path", "eval_path"):
            remote_job[key] = self._relative(self._device_input(job.get(key)))
        for key, local in outputs.items():
            remote_job[key] = f"{rel_dir}/{key[:-5]}-{local.name}"
        remote_job["scratch_dir"] = rel_dir
        with tempfile.TemporaryDirectory(prefix="edgebench-adb-") as tmp:
            job_file = Path(tmp) / "job.json"
            job_file.write_text(json.dumps(remote_job, indent=1), encoding="utf-8")
            self.push_many([(job_file, f"{job_dir}/job.json")])
            argv = ["env", f"PYTHONPATH={self.workdir}/runner", "PYTHONDONTWRITEBYTECODE=1", self.python,
                    "-m", "harness.runner", f"{rel_dir}/job.json", f"{rel_dir}/out.json"]
            res = self.run(self._deadline(timeout) + argv, timeout, cwd=self.workdir)
            if res.timed_out:
                return _failure("timeout", f"{self.label}: no result within {timeout:.0f}s; the runner "
                                f"was stopped", job)
            out_file = Path(tmp) / "out.json"
            try:
                self.pull(f"{job_dir}/out.json", out_file)
                result = json.loads(out_file.read_text(encoding="utf-8"))
            except DeviceLost:
                raise
            except (DeviceError, ValueError) as exc:
                detail = res.stderr.strip() or res.stdout.strip() or str(exc)
                return _failure("failed", f"{self.label}: the runner exited {res.returncode} without a "
                                f"result: {tail(detail, 1500)}", job)
        for key, local in outputs.items():
            try:
                self.pull(f"{self.workdir}/{remote_job[key]}", local)
            except DeviceLost:
                raise
            except DeviceError:
                pass  # the runner says in its result why it wrote nothing
        return result

    def _execute_native(self, job: dict, job_dir: str, timeout: float) -> dict[str, Any]:
        from ..native import (
            NativeOutputError,
            benchmark_model_argv,
            empty_record,
            onnxruntime_perf_test_argv,
            parse_ort_profile,
            parse_output,
            tool_for_runtime,
        )

        tool = tool_for_runtime(str(job.get("runtime")))
        mode = job.get("mode", "perf")
        if mode == "accuracy":
            record = empty_record(tool)
            record.update(status="skipped", mode=mode, threads=job.get("threads"),
                          error=f"{tool} measures latency only; use runner = \"python\" for accuracy")
            return record
        assert self._probe is not None
        binary = self._tool_path(tool, self._probe) or tool
        model = self._device_input(job.get("model_path"))
        profile_prefix = f"{job_dir}/ort_profile" if tool == "onnxruntime_perf_test" and mode == "profile" else None
        if tool == "benchmark_model":
            argv = benchmark_model_argv(job, binary, model)
        else:
            argv = onnxruntime_perf_test_argv(job, binary, model, profile_prefix)
        cores = job.get("cores")
        if cores:
            argv = ["taskset", format(sum(1 << int(c) for c in cores), "x"), *argv]
        self.run(["mkdir", "-p", job_dir], COMMAND_TIMEOUT_S).check(self.label)
        res = self.run(self._deadline(timeout) + argv, timeout, cwd=job_dir)
        output = res.stdout + ("\n" if res.stdout and res.stderr else "") + res.stderr
        if res.timed_out:
            return _failure("timeout", f"{self.label}: {tool} gave no result within {timeout:.0f}s", job, tool)
        if res.returncode in (126, 127) and ("not found" in output or "ermission denied" in output):
            raise DeviceError(f"{self.label}: cannot run {binary} on the phone ({_reason(output)}): set "
                              f"[device] {tool} to an Android build of {tool} on this computer (it is "
                              f"pushed) or to its path on the phone")
        try:
            record = parse_output(output, tool, f"{tool} on {self.label}")
        except NativeOutputError:
            record = _failure("failed", f"{self.label}: {tool} exited {res.returncode}: "
                              f"{tail(output.strip(), 1500)}", job, tool)
        if res.returncode != 0 and record["status"] == "ok":
            record.update(status="failed", error=f"{tool} exited {res.returncode}: {tail(output.strip(), 800)}")
        record.update(mode=mode, threads=job.get("threads", record.get("threads")), affinity=cores or None,
                      native_argv=shlex.join(argv), native_output=output)
        if tool == "benchmark_model" and job.get("xnnpack") is not None:
            record["xnnpack"] = bool(job["xnnpack"])
        if profile_prefix:
            self._pull_ort_profile(job, job_dir, record, parse_ort_profile)
        return record

    def _pull_ort_profile(self, job: dict, job_dir: str, record: dict, parse: Any) -> None:
        """onnxruntime_perf_test -p PREFIX writes PREFIX_<date>.json: fetch it, keep the per-node rows."""
        res = self.run(["ls", job_dir], COMMAND_TIMEOUT_S)
        names = sorted(n for n in res.stdout.split() if n.startswith("ort_profile") and n.endswith(".json"))
        if not names:
            record.setdefault("warnings", []).append("onnxruntime_perf_test wrote no profile file")
            return
        with tempfile.TemporaryDirectory(prefix="edgebench-adb-") as tmp:
            local = Path(tmp) / names[-1]
            self.pull(f"{job_dir}/{names[-1]}", local)
            record["op_profile"] = parse(json.loads(local.read_text(encoding="utf-8")))
            if job.get("profile_ops_path"):
                shutil.copyfile(local, str(job["profile_ops_path"]))

    def _deadline(self, timeout: float) -> list[str]:
        """A kill on the phone a little after our own timeout, where the phone has `timeout`: adbd
        does not always stop a command whose adb client went away."""
        if self._probe and self._probe.get("remote_timeout"):
            return ["timeout", "-s", "KILL", str(math.ceil(timeout) + 5)]
        return []

    def _relative(self, device_path: str | None) -> str | None:
        """Paths inside the workdir, relative to it (the runner starts there)."""
        if device_path and device_path.startswith(self.workdir + "/"):
            return device_path[len(self.workdir) + 1:]
        return device_path

    def close(self) -> None:
        """Remove the job folders (the whole workdir with cleanup = true). Never raises: the phone may
        already be gone, and nothing measured depends on it."""
        if not self._connected:
            return
        target = self.workdir if self.config.cleanup else f"{self.workdir}/jobs"
        try:
            self.run(["rm", "-rf", target], COMMAND_TIMEOUT_S)
        except DeviceError:
            pass
        if self.config.cleanup:
            self._remote_sha.clear()


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def _reason(output: str) -> str:
    for phrase in ("Read-only file system", "Permission denied", "No such file or directory",
                   "Not a directory", "not found"):
        if phrase in output:
            return phrase
    return tail(output.strip(), 200) or "unknown error"


def _failure(status: str, error: str, job: Mapping[str, Any], tool: str | None = None) -> dict[str, Any]:
    """A failed or timed-out job as a record with the same keys as a successful one."""
    from ..native import empty_record
    from ..records import RUNNER_KEYS

    record: dict[str, Any] = empty_record(tool) if tool else {key: None for key in RUNNER_KEYS}
    record.update(status=status, error=error, runtime=job.get("runtime"), mode=job.get("mode", "perf"),
                  threads=job.get("threads"))
    return record


# -- the probe, as one shell command (no Python needed on the phone) -----------------------------

THERMAL_COMMAND = ("for z in /sys/class/thermal/thermal_zone*; do "
                   "echo \"$(cat $z/temp 2>/dev/null || echo -) $(cat $z/type 2>/dev/null)\"; done")


def _python_probe_code() -> str:
    """Python and runtime versions through importlib.metadata (nothing imported, so it is quick)."""
    dists = {k: list(v) for k, v in probe_script.DISTRIBUTIONS.items()}
    return ("import json, platform, sys\n"
            "from importlib import metadata\n"
            f"d = {dists!r}\n"
            "out = {'python_version': platform.python_version(),\n"
            "       'python_implementation': platform.python_implementation(),\n"
            "       'python_executable': sys.executable}\n"
            "for key, names in d.items():\n"
            "    out[key] = None\n"
            "    for n in names:\n"
            "        try:\n"
            "            out[key] = metadata.version(n); break\n"
            "        except Exception:\n"
            "            pass\n"
            "print(json.dumps(out))\n")


def probe_command(config: AdbConfig) -> str:
    q = shlex.quote
    workdir = config.workdir
    parts = [
        "echo @@uname; uname -m; uname -r; uname -v",
        "echo @@getprop; getprop",
        "echo @@cpuinfo; cat /proc/cpuinfo 2>/dev/null",
        ("echo @@cpufreq; for c in /sys/devices/system/cpu/cpu[0-9]*; do "
         "echo \"${c##*/} $(cat $c/cpufreq/cpuinfo_max_freq 2>/dev/null || echo -) "
         "$(cat $c/cpufreq/scaling_governor 2>/dev/null || echo -)\"; done"),
        "echo @@meminfo; cat /proc/meminfo 2>/dev/null",
        "echo @@loadavg; cat /proc/loadavg 2>/dev/null",
        f"echo @@thermal; {THERMAL_COMMAND}",
        f"echo @@python; {q(config.python)} -c {q(_python_probe_code())} 2>/dev/null",
    ]
    for tool in NATIVE_TOOLS:
        explicit = getattr(config, tool)
        candidates = [explicit] if explicit else [f"{workdir}/bin/{tool}", tool]
        parts.append(f"echo @@tool {tool}; for t in {' '.join(q(c) for c in candidates)}; do "
                     f"command -v \"$t\" && break; done")
    parts.append("echo @@timeout; command -v timeout")
    parts.append(f"echo @@workdir; if mkdir -p {q(workdir)} 2>/dev/null && [ -w {q(workdir)} ]; then "
                 f"echo writable; else echo readonly; fi; df -k {q(workdir)} 2>/dev/null | tail -n 1")
    return "; ".join(parts) + "; true"


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            out[current] = []
        else:
            out.setdefault(current, []).append(line.rstrip())
    return out


def parse_thermal(text: str) -> dict[str, float]:
    """'41200 cpu-0-0-usr' lines -> zone type -> degrees C (duplicate types get #2, #3...)."""
    zones: dict[str, float] = {}
    for i, line in enumerate(text.splitlines()):
        bits = line.split(None, 1)
        if not bits or not re.fullmatch(r"-?\d+", bits[0]):
            continue
        milli = int(bits[0])
        label = bits[1].strip() if len(bits) > 1 and bits[1].strip() else f"thermal_zone{i}"
        key, n = label, 2
        while key in zones:
            key, n = f"{label}#{n}", n + 1
        zones[key] = round(milli / 1000.0, 1) if abs(milli) >= 1000 else float(milli)
    return zones


def parse_probe(text: str) -> dict[str, Any]:
    """The probe command's output -> every PROBE_KEYS key (same meanings as probe_script.py) plus
    adb extras: native_tools, workdir_writable, workdir_free_bytes, android_fingerprint."""
    ps = probe_script
    s = _sections(text)
    uname = s.get("uname", []) + ["", "", ""]
    props = ps.parse_getprop("\n".join(s.get("getprop", [])))
    cpus, common = ps.parse_cpuinfo("\n".join(s.get("cpuinfo", [])))
    by_id = {ps._int(c.get("processor")): c for c in cpus}
    freq: dict[int, int | None] = {}
    gov: dict[int, str | None] = {}
    for line in s.get("cpufreq", []):
        bits = line.split()
        if bits and re.fullmatch(r"cpu\d+", bits[0]):
            cpu = int(bits[0][3:])
            freq[cpu] = int(bits[1]) if len(bits) > 1 and bits[1].isdigit() else None
            gov[cpu] = bits[2] if len(bits) > 2 and bits[2] != "-" else None
    ids = sorted(set(freq) | {i for i in by_id if i is not None})
    parts = [ps.core_name(by_id.get(i) or (cpus[0] if cpus else {})) for i in ids]
    freqs = [freq.get(i) for i in ids]
    summary, big_little = ps.summarize_cores(parts, freqs)
    unique = list(dict.fromkeys(p for p in parts if p))
    flags = set((cpus[0] if cpus else {}).get("Features", "").split()) | set(common.get("Features", "").split())
    governors = [gov.get(i) for i in ids]
    zones = parse_thermal("\n".join(s.get("thermal", [])))
    python: dict[str, Any] = {}
    for line in s.get("python", []):
        try:
            python = json.loads(line)
        except ValueError:
            continue
    load = (s.get("loadavg") or [""])[0].split()
    info: dict[str, Any] = {key: None for key in ps.PROBE_KEYS}
    info.update({
        "probe_version": ps.PROBE_VERSION, "hostname": props.get("net.hostname") or None,
        "arch": uname[0] or None, "system": "Linux", "kernel": uname[1] or None,
        "kernel_version": uname[2] or None, "os_id": "android",
        "cpu_model": " + ".join(unique) or common.get("Hardware") or None, "cpu_parts": parts,
        "cpu_max_freq_khz": freqs, "cpu_core_types": summary or None, "cpu_big_little": big_little,
        "cpu_cores": len(ids) or None,
        "cpu_features": [f for f in ps.INTERESTING_FEATURES if f in flags],
        "governor": ",".join(dict.fromkeys(g for g in governors if g)) or None,
        "cpu_governors": governors, "load_avg_1m": float(load[0]) if load and _is_float(load[0]) else None,
        "temp_c": max(zones.values()) if zones else None, "thermal_zones": zones,
    })
    info.update(ps.meminfo("\n".join(s.get("meminfo", []))))
    info.update(ps.android_info(props))
    info.update({k: v for k, v in python.items() if k in ps.PROBE_KEYS})
    info["os_name"] = f"Android {info['android_release']}" if info.get("android_release") else "Android"
    info["os_version_id"] = info.get("android_release")
    info["soc"] = info.get("android_soc")
    info["android_fingerprint"] = props.get("ro.build.fingerprint") or None
    info["remote_timeout"] = next((x.strip() for x in s.get("timeout", []) if x.strip()), None)
    info["native_tools"] = {tool: next((x.strip() for x in s.get(f"tool {tool}", []) if x.strip()), None)
                            for tool in NATIVE_TOOLS}
    wd = s.get("workdir", [])
    info["workdir_writable"] = (wd[0] == "writable") if wd else None
    df = wd[1].split() if len(wd) > 1 else []
    info["workdir_free_bytes"] = int(df[3]) * 1024 if len(df) >= 4 and df[3].isdigit() else None
    return info


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
