"""Shared test helpers. Tools that CI installs make a test FAIL (not skip) when CI=true."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "models" / "zoo"


@pytest.fixture(autouse=True, scope="session")
def _history_store_of_the_session(tmp_path_factory):
    """Every finished `edgebench run` adds itself to the history store: in tests, a store of the
    session's own (tests of the history point EDGEBENCH_HISTORY elsewhere), never the repository's."""
    with pytest.MonkeyPatch.context() as mp:
        if "EDGEBENCH_HISTORY" not in os.environ:
            mp.setenv("EDGEBENCH_HISTORY", str(tmp_path_factory.mktemp("history") / "history.sqlite"))
        yield


def need(tool: str) -> str:
    """Path of a tool the tests need; missing: fail under CI, skip elsewhere."""
    path = shutil.which(tool) or (tool if os.path.exists(tool) else None)
    if path is None:
        msg = f"{tool} is not installed (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def edgebench(*args: str, timeout: float = 600, env: dict | None = None,
              cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (as a user would)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=str(cwd or REPO))


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """A user-facing error: non-zero exit, no traceback, mentions each needle."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for n in needles:
        assert n in proc.stderr, f"{n!r} not in: {proc.stderr}"
    return proc.stderr


@pytest.fixture(scope="session")
def zoo_manifest():
    from harness.manifest import load_manifest

    return load_manifest(ZOO)


def small_tmpfs(path: Path, size: str) -> None:
    """Mount a tiny tmpfs (a disk that fills up). Needs root: fails under CI (which runs as root),
    skips elsewhere."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        msg = f"cannot mount a small tmpfs at {path} (needs root): {proc.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def real_ort_profile(model: Path, tmp_path: Path, runs: int = 3) -> str:
    """The JSON trace ONNX Runtime writes with profiling on (what onnxruntime_perf_test -p writes)."""
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.enable_profiling = True
    opts.profile_file_prefix = str(tmp_path / "ort_profile")
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = np.zeros([d if isinstance(d, int) else 1 for d in inp.shape], dtype=np.float32)
    for _ in range(runs):
        sess.run(None, {inp.name: x})
    return Path(sess.end_profiling()).read_text()


def written_records(path: Path) -> list[dict]:
    """The complete records of a records.jsonl that a run may still be writing (a cut-off last line,
    or no file yet, is not a record)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def interrupt_after_first_record(run_dir: Path) -> None:
    """As if the run was stopped after its first job: one record left, run.json interrupted."""
    path = run_dir / "records.jsonl"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    meta = json.loads((run_dir / "run.json").read_text())
    meta["status"] = "interrupted"
    (run_dir / "run.json").write_text(json.dumps(meta))
