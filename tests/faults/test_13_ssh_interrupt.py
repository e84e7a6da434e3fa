"""Two signals 20 ms apart on an ssh run (a real sshd on loopback): the runner on the device is stopped,
its job folder removed, run.json says interrupted with the resume hint, and --resume finishes the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, edgebench, written_records as records
from sshd import Sshd, need

MATRIX = """
[matrix]
models = ["digits-separable"]
runtimes = ["onnxruntime"]
precisions = ["fp32"]
threads = [1]
modes = ["perf"]
trials = 8
warmup_runs = 1
warmup_time_s = 0.0
min_runs = 10
min_time_s = 1.5
max_time_s = 2.0
"""


def runners_in(workdir: Path) -> list[int]:
    """Runner processes (and their `timeout`) started in this workdir: what the device still runs."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if "harness.runner" in cmd and cwd.startswith(str(workdir)):
            found.append(int(entry))
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_double_signal_stops_the_device_runner_and_leaves_a_resumable_run(tmp_path, sig):
    need("/usr/sbin/sshd")
    workdir = tmp_path / "wd"
    with Sshd(tmp_path / "sshd") as server:
        table = server.profile(name="pi", python=sys.executable, workdir=str(workdir))
        prof = tmp_path / "pi.toml"
        prof.write_text("[device]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items()) + MATRIX)
        run_dir = tmp_path / "res" / "r"
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(prof), "--out",
                                 str(tmp_path / "res"), "--run-id", "r", "--no-report"], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while len(records(run_dir / "records.jsonl")) < 2 or not runners_in(workdir):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(sig)
        time.sleep(0.02)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode in (1, 130), err
        assert "Traceback" not in err and f"--resume {run_dir}" in err, err
        assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
        time.sleep(0.5)
        assert runners_in(workdir) == []
        assert list((workdir / "jobs").iterdir()) == []
        res = edgebench("run", "--resume", str(run_dir), "--no-report", timeout=600)
    assert res.returncode == 0, res.stderr
    ok = {(r["config_id"], r["trial"]) for r in records(run_dir / "records.jsonl") if r["status"] == "ok"}
    assert len(ok) == 8
