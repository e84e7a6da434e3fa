"""The local device: each job runs the runner in a fresh Python process on this host, with a timeout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable, Sequence

from ..errors import DeviceError
from ..paths import REPO_ROOT
from .base import CommandResult, tail


_ACTIVE: set[subprocess.Popen] = set()
_ACTIVE_LOCK = threading.Lock()


def kill_active() -> int:
    """Kill every child started by run_process that is still running (on Ctrl-C / SIGTERM)."""
    with _ACTIVE_LOCK:
        procs = list(_ACTIVE)
    for proc in procs:
        _kill_group(proc)
    return len(procs)


def run_process(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None,
                cwd: str | None = None, input_text: str | None = None) -> CommandResult:
    """Run argv in its own process group; on timeout kill the whole group (no orphan left running)."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True, text=True, errors="replace")
    except OSError as exc:
        raise DeviceError(f"cannot start {argv[0]}: {exc}") from exc
    with _ACTIVE_LOCK:
        _ACTIVE.add(proc)
    try:
        return _wait(proc, argv, timeout, start, input_text)
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(proc)


def _wait(proc: subprocess.Popen, argv: Sequence[str], timeout: float, start: float,
          input_text: str | None) -> CommandResult:
    try:
        out, err = proc.communicate(input=input_text, timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        timed_out = True
    except BaseException:  # Ctrl-C: never leave the child running
        _kill_group(proc)
        proc.communicate()
        raise
    return CommandResult(tuple(argv), None if timed_out else proc.returncode, out, err,
                         time.monotonic() - start, timed_out)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def describe_exit(res: CommandResult) -> str:
    """'timed out after 30s' / 'killed by SIGSEGV' / 'exit 3', plus the tail of stderr."""
    if res.timed_out:
        what = (f"timed out after {res.duration_s:.0f}s (killed; a longer job needs a larger "
                f"matrix.job_timeout_s)")
    elif res.returncode is not None and res.returncode < 0:
        try:
            what = f"killed by {signal.Signals(-res.returncode).name}"
        except ValueError:
            what = f"killed by signal {-res.returncode}"
    else:
        what = f"exit {res.returncode}"
    err = tail(res.stderr.strip(), 1500)
    return what + (f": {err}" if err else "")


def result_from_process(res: CommandResult, out_path: Path) -> dict[str, Any]:
    """The runner's result, or a failed/timeout result carrying the exit and the tail of stderr."""
    if not res.timed_out and out_path.exists():
        try:
            return json.loads(out_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            pass
    return {"status": "timeout" if res.timed_out else "failed",
            "error": f"runner {describe_exit(res)}"}


class LocalDevice:
    kind = "local"

    def __init__(self, table: dict[str, Any]):
        self.table = table
        self.name = table.get("name", "local")
        self.python = table.get("python") or sys.executable
        self.cores = table.get("cores")
        self._scratch = Path(tempfile.mkdtemp(prefix=f"edgebench-{self.name}-"))
        self.emulated = False

    # Device protocol -------------------------------------------------------------------------
    def probe(self) -> dict[str, Any]:
        from .probe import probe_local

        return probe_local(self.python)

    def prepare(self, files: Sequence[Path]) -> dict[str, str]:
        return host_paths(self.name, files)

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        return run_process(argv, timeout)

    def push(self, local: Path, remote: str) -> None:
        copy_on_host(Path(local), Path(remote))

    def pull(self, remote: str, local: Path) -> None:
        copy_on_host(Path(remote), Path(local))

    def close(self) -> None:
        import shutil

        shutil.rmtree(self._scratch, ignore_errors=True)

    def check(self, runtimes: Sequence[str] = ("onnxruntime", "tflite")) -> list[str]:
        """What this host lacks to run the runner, with the command that installs it."""
        code = ("import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None for m in "
                "('numpy', 'onnxruntime', 'ai_edge_litert', 'tflite_runtime')}))")
        res = run_process([self.python, "-c", code], timeout=60)
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

    # Jobs --------------------------------------------------------------------------------------
    def execute(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        from .probe import job_temperature_fields, temperature_local

        env = dict(os.environ)
        # only the runner package (harness/__init__.py is import-free) is importable as harness
        env["PYTHONPATH"] = str(REPO_ROOT)
        env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        before = temperature_local()
        result = execute_in_scratch(
            job, self._scratch, self.cores,
            lambda paths: run_process([self.python, "-m", "harness.runner", *paths], timeout, env=env,
                                      cwd=str(self._scratch)))
        result.update(job_temperature_fields(before, temperature_local()))
        return result


def host_paths(device: str, files: Sequence[Path]) -> dict[str, str]:
    """For devices that read this host's files directly (local, qemu): nothing to copy, only check."""
    missing = [str(f) for f in files if not Path(f).exists()]
    if missing:
        raise DeviceError(f"{device}: missing files: {', '.join(missing)}")
    return {str(f): str(Path(f).resolve()) for f in files}


def copy_on_host(src: Path, dst: Path) -> None:
    if src.resolve() != dst.resolve():
        import shutil

        shutil.copy2(src, dst)


def execute_in_scratch(job: dict[str, Any], scratch: Path, cores: Sequence[int] | None,
                       launch: Callable[[list[str]], CommandResult]) -> dict[str, Any]:
    """Write the job to a scratch folder, launch the runner on [JOB.json, OUT.json], read the result
    (or turn the exit into a failed/timeout result with the tail of stderr), and clean up."""
    job = dict(job)
    if cores and not job.get("cores"):
        job["cores"] = list(cores)
    stem = f"job-{os.getpid()}-{time.monotonic_ns()}"
    job_path = scratch / f"{stem}.json"
    out_path = scratch / f"{stem}.out.json"
    job.setdefault("scratch_dir", str(scratch))
    job_path.write_text(json.dumps(job), encoding="utf-8")
    try:
        res = launch([str(job_path), str(out_path)])
        result = result_from_process(res, out_path)
        if result.get("status") != "ok" and res.stderr and "stderr_tail" not in result:
            result["stderr_tail"] = tail(res.stderr, 2000)
        return result
    finally:
        for p in (job_path, out_path):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
