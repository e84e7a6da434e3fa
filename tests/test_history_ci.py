"""The example CI workflow: actionlint accepts it, and its steps, run as examples/ci/run-ci-steps.sh
against this machine (devices/local.toml instead of qemu), write the run, the store and history.html,
and gate: 0 while nothing moved, 2 once a step for the worse is in the store."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO, need
from historykit import RUN_ARGS, history_cli, real_run, synthetic_runs

SCRIPT = REPO / "examples" / "ci" / "run-ci-steps.sh"
WORKFLOW = REPO / "examples" / "ci" / "edgebench.yml"


def actionlint() -> str:
    """actionlint on PATH, or beside this Python (a venv's bin/ that is not on PATH)."""
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.exists() and not shutil.which("actionlint") else need("actionlint")


def test_actionlint_accepts_the_example_workflow():
    proc = subprocess.run([actionlint(), str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = WORKFLOW.read_text()
    for step in ("edgebench devices setup-qemu", "devices/qemu-arm64.toml", "actions/cache/restore",
                 "actions/cache/save", "edgebench history check", "history.html", "report.html"):
        assert step in text, step


def _script(tmp_path, run_id: str, store, last: int = 5) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PROFILE": "devices/local.toml", "SETUP_QEMU": "0",
           "RESULTS": str(tmp_path / "results"), "RUN_ID": run_id, "EDGEBENCH_HISTORY": str(store),
           "EDGEBENCH": f"{shlex.quote(sys.executable)} {shlex.quote(str(REPO / 'tests' / 'historycli.py'))}",
           "RUN_ARGS": " ".join(a for a in RUN_ARGS if a != "--no-report") + " --trials 1",
           "COMMIT": "abc123", "BRANCH": "main", "CHECK_LAST": str(last)}
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=600, env=env,
                          cwd=str(REPO))


def test_the_ci_steps_run_the_profile_keep_the_history_and_gate(tmp_path):
    store = tmp_path / "cache" / "history.sqlite"
    for run_id in ("ci-1", "ci-2"):
        proc = _script(tmp_path, run_id, store)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert (tmp_path / "results" / run_id / "report.html").is_file()
    assert "no step for the worse" in proc.stdout
    assert (tmp_path / "results" / "history.html").read_text().count('class="trend"') == 3
    proc = history_cli("history", "show", "--store", str(store), "--html", "-")
    assert proc.returncode == 0 and proc.stdout.count("  2  ") >= 3, proc.stdout
    # a store with a step among its newest 20 runs: the same script fails the job with the regression
    # code (the new run, measured with the real runtime version, starts a segment of its own)
    seeded = tmp_path / "seeded.sqlite"
    runs = synthetic_runs(real_run(tmp_path / "real", "template", trials=1), tmp_path / "seq")
    assert history_cli("history", "add", *map(str, runs), "--store", str(seeded)).returncode == 0
    proc = _script(tmp_path, "ci-3", seeded, last=20)
    assert proc.returncode == 4, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "history ack" in proc.stdout
