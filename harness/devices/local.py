"""The local device: each job runs the runner in a fresh Python process on this host, with a timeout.

Also the process plumbing the devices on this host share (qemu too): every child in its own process
group, killed whole at its timeout or on interrupt(), never left running.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DeviceError
from ..paths import REPO_ROOT
from ..util import tail
from .base import Children, CommandResult, Device, kill_group
from .config import LocalConfig
from .execute import JOB_FILE, OUT_FILE, Launch, describe_exit, execute_job

# A folder that stands in for / when [conditions] reads and writes /sys (tests build fake trees there).
SYSFS_ROOT_ENV = "EDGEBENCH_SYSFS_ROOT"


def run_process(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None,
                cwd: str | None = None, input_text: str | None = None,
                children: Children | None = None) -> CommandResult:
    """Run argv in its own process group; on timeout kill the whole group (no orphan left running)."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True, text=True, errors="replace")
    except OSError as exc:
        raise DeviceError(f"cannot start {argv[0]}: {exc}") from exc
    if children is not None:
        children.add(proc)
    try:
        return _wait(proc, argv, timeout, start, input_text)
    finally:
        if children is not None:
            children.discard(proc)


def _wait(proc: subprocess.Popen, argv: Sequence[str], timeout: float, start: float,
          input_text: str | None) -> CommandResult:
    try:
        out, err = proc.communicate(input=input_text, timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        timed_out = True
    except BaseException:  # Ctrl-C: never leave the child running
        kill_group(proc)
        proc.communicate()
        raise
    return CommandResult(tuple(argv), None if timed_out else proc.returncode, out, err,
                         time.monotonic() - start, timed_out)


def host_paths(device: str, files: Sequence[Path]) -> dict[str, str]:
    """For devices that read this host's files directly (local, qemu): nothing to copy, only check."""
    missing = [str(f) for f in files if not Path(f).exists()]
    if missing:
        raise DeviceError(f"{device}: missing files: {', '.join(missing)}")
    return {str(f): str(Path(f).resolve()) for f in files}


def copy_on_host(src: Path, dst: Path) -> None:
    if src.resolve() != dst.resolve():
        shutil.copy2(src, dst)


def launch_in(scratch: Path, job: dict[str, Any], run_runner: Any) -> Launch:
    """For devices on this host: write job.json in a fresh folder of `scratch`, run the runner on
    it with `run_runner([job.json, out.json])`, read out.json, and remove the folder."""
    job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=scratch))
    job_path, out_path = job_dir / JOB_FILE, job_dir / OUT_FILE
    try:
        job_path.write_text(json.dumps(job), encoding="utf-8")
        res = run_runner([str(job_path), str(out_path)])
        out_text = out_path.read_text(encoding="utf-8") if out_path.exists() else None
        return Launch(res=res, out_text=out_text)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


def probe_local(python: str | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """The full probe of this machine. In-process for the interpreter running the harness; another
    `python` (the one a local profile runs jobs with) runs the script itself, so its versions count."""
    from .probe import PROBE_SCRIPT, parse_probe_output, script

    if python is None or _same_python(python):
        return script.collect()
    try:
        proc = subprocess.run([python, str(PROBE_SCRIPT)], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        raise DeviceError(f"local: {python} not found; set python = ... in the profile to a Python 3 "
                          "interpreter") from None
    except subprocess.TimeoutExpired:
        raise DeviceError(f"local: the probe with {python} took longer than {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise DeviceError(f"local: the probe with {python} failed (exit {proc.returncode}): "
                          f"{tail(proc.stderr.strip(), 500)}")
    return parse_probe_output(proc.stdout, "local")


def _same_python(python: str) -> bool:
    found = shutil.which(python) or python
    try:
        return os.path.samefile(found, sys.executable) and Path(found).absolute() == Path(sys.executable).absolute()
    except OSError:
        return False


class HostDevice(Device):
    """A device whose processes run on this host (local, qemu): its files are this host's files, and
    interrupt() kills the children it started."""

    _children: Children

    def push(self, local: Path, remote: str) -> None:
        copy_on_host(Path(local), Path(remote))

    def pull(self, remote: str, local: Path) -> None:
        copy_on_host(Path(remote), Path(local))

    def interrupt(self) -> None:
        self._children.kill_all()


class LocalDevice(HostDevice):
    """This machine: the runner in a fresh `python -m harness.runner` per job."""

    kind = "local"

    def __init__(self, table: dict[str, Any]):
        self.table = table
        self.config = LocalConfig.from_table(table)
        self.name = self.config.name
        self.python = self.config.python or sys.executable
        self.cores = self.config.cores
        self._scratch = Path(tempfile.mkdtemp(prefix=f"edgebench-{self.name}-"))
        self._children = Children()

    def probe(self) -> dict[str, Any]:
        return probe_local(self.python)

    def prepare(self, files: Sequence[Path]) -> dict[str, str]:
        return host_paths(self.name, files)

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        return run_process(argv, timeout, children=self._children)

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    def sysfs(self, sudo: bool = False, su: bool = False) -> Any:
        """This host's /sys; EDGEBENCH_SYSFS_ROOT (for tests) puts a sysfs-shaped tree in its place."""
        from ..conditions.sysfs import CommandSysfs, LocalSysfs, local_run

        if sudo:
            return CommandSysfs(local_run, self.name, sudo=True)
        return LocalSysfs(os.environ.get(SYSFS_ROOT_ENV, ""), self.name)

    def check(self, runtimes: Sequence[str] = ("onnxruntime", "tflite")) -> list[str]:
        """What this host lacks to run the runner, with the command that installs it."""
        code = ("import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None for m in "
                "('numpy', 'onnxruntime', 'ai_edge_litert', 'tflite_runtime')}))")
        res = run_process([self.python, "-c", code], timeout=60, children=self._children)
        if not res.ok:
            return [f"{self.name}: {self.python} does not run ({describe_exit(res)}); set device.python "
                    f"to a Python 3 interpreter"]
        have = json.loads(res.stdout.strip().splitlines()[-1])
        problems = []
        if not have["numpy"]:
            problems.append(f"{self.name}: numpy is missing; run: {self.python} -m pip install numpy")
        if "onnxruntime" in runtimes and not have["onnxruntime"]:
            problems.append(f"{self.name}: onnxruntime is missing (runtime onnxruntime); run: "
                            f"{self.python} -m pip install onnxruntime")
        if "tflite" in runtimes and not (have["ai_edge_litert"] or have["tflite_runtime"]):
            problems.append(f"{self.name}: no TFLite interpreter (runtime tflite); run: "
                            f"{self.python} -m pip install ai-edge-litert")
        return problems

    def execute(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        from .probe.script import temperature

        env = dict(os.environ)
        # only the runner package (harness/__init__.py is import-free) is importable as harness
        env["PYTHONPATH"] = str(REPO_ROOT)
        env.setdefault("PYTHONDONTWRITEBYTECODE", "1")

        def launch(device_job: dict[str, Any]) -> Launch:
            return launch_in(self._scratch, device_job, lambda paths: run_process(
                [self.python, "-m", "harness.runner", *paths], timeout, env=env, cwd=str(self._scratch),
                children=self._children))

        return execute_job(job, timeout, label=self.name, job_dir=str(self._scratch), cores=self.cores,
                           launch=launch, temperature=temperature)
