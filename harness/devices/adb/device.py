"""The `adb` device kind: an Android phone. Two runners: `python` (the phone has python3, e.g.
Termux: the runner bundle is pushed and run as `python3 -m harness.runner`) and `native`
(benchmark_model / onnxruntime_perf_test on the phone, see native.py). Both go through
execute.py's job protocol; uploads skip by sha256 through sync.Sync.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import DeviceError, DeviceLost, DeviceUnusable
from ..base import CommandResult, Device
from ..config import ADB_DEFAULT_WORKDIR, COMMON_KEYS, NATIVE_TOOLS, AdbConfig
from ..execute import INPUT_KEYS, JOB_FILE, OUT_FILE, Launch, execute_job
from ..probe.script import TEMPERATURE_KEYS
from ..sync import Sync, Upload
from .probe import THERMAL_COMMAND, parse_probe, parse_thermal, probe_command
from .transport import COMMAND_TIMEOUT_S, AdbTransport, reason_of

DEFAULT_WORKDIR = ADB_DEFAULT_WORKDIR
MARKER = ".edgebench-workdir"  # written into a workdir edgebench created; cleanup needs it
OWN_ENTRIES = ("runner", "files", "bin", "jobs", MARKER)  # what edgebench puts in a workdir
# The [device] keys an adb profile may use (the schema is config.AdbConfig).
PROFILE_KEYS = (*COMMON_KEYS, *AdbConfig.KEYS)


class AdbDevice(AdbTransport, Device):
    """One Android phone, built from a profile's [device] table (config.AdbConfig)."""

    kind = "adb"

    def __init__(self, table: Mapping[str, Any], *, source: str | None = None) -> None:
        config = AdbConfig.from_table(table, source)
        adb = shutil.which(config.adb)
        if adb is None:
            raise DeviceError(f"{config.name}: adb not found (looked for {config.adb!r}): install Android "
                              f"platform-tools (Debian/Ubuntu: apt install adb) or set [device] adb to the "
                              f"adb binary")
        super().__init__(config, adb)
        self.workdir = config.workdir
        self.python = config.python
        self.cores = config.cores
        self.probed: dict[str, Any] | None = None
        self._prepared: dict[str, str] = {}  # local path -> device path
        self._sync = Sync(self.label, self.remote_hashes, self._upload)
        self._jobs = 0
        self.pushed: list[str] = []  # device paths sent, in order (for logs and tests)
        self.skipped: list[str] = []  # device paths left alone because their sha256 matched

    # -- files -------------------------------------------------------------------------------
    def push_many(self, pairs: Sequence[tuple[Path, str]]) -> list[str]:
        """Push (local, device path) pairs, skipping files whose sha256 on the phone already matches
        (one hashing call for all of them). Returns the device paths actually sent."""
        self.connect()
        report = self._sync.sync(pairs)
        self.skipped.extend(report.skipped)
        return list(report.uploaded)

    def _upload(self, uploads: list[Upload]) -> None:
        for u in uploads:
            self._sync.forget([u.dest])
            self._push_one(u.local, u.dest)
            self.pushed.append(u.dest)

    def push(self, local: Path, remote: str) -> None:
        self.push_many([(Path(local), remote)])

    def sysfs(self, sudo: bool = False, su: bool = False) -> Any:
        """The phone's /sys through adb shell; `su -c` on a rooted phone ([conditions] su = true)."""
        from ...conditions.sysfs import AndroidRootSysfs, CommandSysfs

        return AndroidRootSysfs(self.run, self.label) if su else CommandSysfs(self.run, self.label)

    def interrupt(self) -> None:
        """Ctrl-C: kill the adb clients of this phone (the runner there is stopped by its deadline)."""
        self.kill_calls()

    # -- probe and check -----------------------------------------------------------------------
    @property
    def pair_jobs(self) -> bool:  # type: ignore[override]
        """benchmark_model / onnxruntime_perf_test time one model per process: no pair jobs."""
        return self.config.runner == "python"

    def probe(self) -> dict[str, Any]:
        """Every PROBE_KEYS key (Android model/SoC/SDK from getprop, cores and big.LITTLE from
        /proc/cpuinfo and cpufreq, RAM, governor, thermal zones, Python and runtime versions when the
        phone has Python) plus the adb extras. One shell call, so it works without Python too."""
        self.connect()
        res = self.shell(probe_command(self.config), COMMAND_TIMEOUT_S)
        if not res.ok:
            raise DeviceError(f"{self.label}: the device probe failed (exit {res.returncode}): "
                              f"{res.stderr.strip()[-500:]}")
        info = parse_probe(res.stdout)
        info.update({"adb_serial": self.serial, "adb_features": sorted(self.features()),
                     "runner": self.config.runner, "workdir": self.workdir})
        self.probed = info
        return info

    def temperature(self) -> dict[str, Any]:
        """Quick reading for before/after each job (TEMPERATURE_KEYS); never fails a job."""
        out = {key: None for key in TEMPERATURE_KEYS}
        try:
            res = self.shell(THERMAL_COMMAND, COMMAND_TIMEOUT_S)
        except (DeviceLost, DeviceUnusable):
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
            if tool and not self.tool_path(tool, info):
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

    def tool_path(self, tool: str, info: Mapping[str, Any]) -> str | None:
        """Where a native tool is on the phone (pushed to <workdir>/bin, or found there)."""
        if getattr(self.config, f"{tool}_local"):
            return f"{self.workdir}/bin/{tool}"
        return (info.get("native_tools") or {}).get(tool)

    # -- prepare -------------------------------------------------------------------------------
    def _ensure_workdir(self) -> None:
        """Create the workdir; mark it as edgebench's (MARKER) only when it is new or empty, so cleanup
        never removes a folder that held the user's files."""
        w = shlex.quote(self.workdir)
        probe = shlex.quote(f"{self.workdir}/.edgebench-write-test")
        marker = shlex.quote(f"{self.workdir}/{MARKER}")
        res = self.shell(f'if [ ! -d {w} ] || [ -z "$(ls -A {w} 2>/dev/null)" ]; then mkdir -p {w} && '
                         f"touch {marker}; fi && touch {probe} && rm -f {probe}", COMMAND_TIMEOUT_S)
        if res.ok:
            return
        out = (res.stderr + res.stdout).strip()
        if "No space left" in out:
            raise DeviceUnusable(f"{self.label}: no space left on the phone under {self.workdir}: free "
                                 f"some space (`adb shell df {self.workdir}`) or choose another [device] workdir")
        raise DeviceUnusable(f"{self.label}: workdir {self.workdir} is not writable ({reason_of(out)}): set "
                             f"[device] workdir to a writable folder such as {DEFAULT_WORKDIR}")

    def prepare(self, files: Sequence[Path] = ()) -> dict[str, str]:
        """The workdir, the runner bundle (python runner) or the native tools, and these files, each
        skipped when already there with the same sha256. Returns local path -> device path."""
        self.connect()
        self._ensure_workdir()
        pairs: list[tuple[Path, str]] = []
        if self.config.runner == "python":
            from ...runner.bundle import bundle_files

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
            self.run(["chmod", "755", *binaries], COMMAND_TIMEOUT_S).raise_for_status(self.label)
        return {str(Path(f)): self._prepared[str(Path(f))] for f in files}

    def _device_name(self, local: Path) -> str:
        dest = f"{self.workdir}/files/{local.name}"
        if dest in self._prepared.values():  # two local files share a name: keep both
            dest = f"{self.workdir}/files/{self._sync.hashes.sha256(local)[:8]}-{local.name}"
        return dest

    def device_input(self, value: Any) -> str | None:
        """A job's input on the phone: a prepared local file's device path (pushed on first use), or a
        path already on the phone."""
        if not value:
            return None
        key = str(Path(str(value)))
        if key not in self._prepared and Path(key).is_file():
            self.prepare([Path(key)])
        return self._prepared.get(key, str(value))

    # -- jobs ----------------------------------------------------------------------------------
    def execute(self, job: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """One job through execute.py's protocol, by the python runner or a native tool. Input paths
        may be local (pushed if needed) or on the phone; output paths are local. Losing the phone
        raises DeviceLost."""
        self.connect()
        if self.probed is None:
            self.probe()
        assert self.probed is not None
        problem = self._runtime_problem(self.probed, str(job.get("runtime")))
        if problem:
            raise DeviceError(problem)
        self._jobs += 1
        job_dir = f"{self.workdir}/jobs/{os.getpid()}-{self._jobs}"
        if self.config.runner == "python":
            return execute_job(job, timeout, label=self.label, job_dir=self._relative(job_dir),
                               cores=self.cores, temperature=self.temperature,
                               launch=lambda device_job: self._launch_python(device_job, job_dir, timeout),
                               fetch=lambda rel, local: self.pull(f"{self.workdir}/{rel}", local))
        from .native import launch_native

        return execute_job(job, timeout, label=self.label, job_dir=job_dir, cores=self.cores,
                           temperature=self.temperature,
                           launch=lambda device_job: launch_native(self, device_job, job_dir, timeout))

    def _launch_python(self, device_job: dict[str, Any], job_dir: str, timeout: float) -> Launch:
        """Push job.json, run `python3 -m harness.runner` in the workdir, pull out.json."""
        rel_dir = self._relative(job_dir)
        for key in INPUT_KEYS:
            device_job[key] = self._relative(self.device_input(device_job.get(key)))
        with tempfile.TemporaryDirectory(prefix="edgebench-adb-") as tmp:
            job_file = Path(tmp) / JOB_FILE
            job_file.write_text(json.dumps(device_job, indent=1), encoding="utf-8")
            self.push_many([(job_file, f"{job_dir}/{JOB_FILE}")])
            argv = ["env", f"PYTHONPATH={self.workdir}/runner", "PYTHONDONTWRITEBYTECODE=1", self.python,
                    "-m", "harness.runner", f"{rel_dir}/{JOB_FILE}", f"{rel_dir}/{OUT_FILE}"]
            res = self.run(self.deadline(timeout) + argv, timeout, cwd=self.workdir)
            if res.timed_out:
                return Launch(res=res)
            out_file = Path(tmp) / OUT_FILE
            try:
                self.pull(f"{job_dir}/{OUT_FILE}", out_file)
            except (DeviceLost, DeviceUnusable):  # the device, not the job: the loop retries, then skips
                raise
            except DeviceError as exc:
                return Launch(res=_with_detail(res, str(exc)))
            return Launch(res=res, out_text=out_file.read_text(encoding="utf-8"))

    def deadline(self, timeout: float) -> list[str]:
        """A kill on the phone a little after our own timeout, where the phone has `timeout`: adbd
        does not always stop a command whose adb client went away."""
        if self.probed and self.probed.get("remote_timeout"):
            return ["timeout", "-s", "KILL", str(math.ceil(timeout) + 5)]
        return []

    def _relative(self, device_path: str | None) -> str | None:
        """Paths inside the workdir, relative to it (the runner starts there)."""
        if device_path and device_path.startswith(self.workdir + "/"):
            return device_path[len(self.workdir) + 1:]
        return device_path

    def close(self) -> None:
        """Remove this run's job folders; with cleanup = true also what edgebench put in the workdir and
        the workdir itself, only when edgebench created it (MARKER). Never raises: the phone may already
        be gone, and nothing measured depends on it."""
        if not self._connected:
            return
        w = shlex.quote(self.workdir)
        jobs = shlex.quote(f"{self.workdir}/jobs/{os.getpid()}")
        line = f"rm -rf -- {jobs}-*; rmdir {w}/jobs 2>/dev/null"
        if self.config.cleanup:
            ours = " ".join(shlex.quote(e) for e in OWN_ENTRIES)
            line += (f"; if [ -f {w}/{MARKER} ]; then cd {w} && rm -rf -- {ours} && cd / && "
                     f"rmdir {w} 2>/dev/null; fi")
        try:
            self.shell(line + "; true", COMMAND_TIMEOUT_S)
        except DeviceError:
            pass
        if self.config.cleanup:
            self._sync.forget()


def _with_detail(res: CommandResult, detail: str) -> CommandResult:
    """A runner exit with no out.json: keep what it printed, or say why out.json could not be read."""
    if res.stderr.strip() or res.stdout.strip():
        return res
    return CommandResult(res.argv, res.returncode, res.stdout, detail, res.duration_s)
