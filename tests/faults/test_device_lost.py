"""A device lost mid-run (sshd killed): retries with backoff, then its remaining jobs are recorded as
skipped with the reason; what it measured before is kept, and the other device goes on."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil

from conftest import REPO, written_records as records
from sshd import Sshd, need

MATRIX = """
[matrix]
models = ["digits"]
runtimes = ["onnxruntime", "tflite"]
precisions = ["fp32"]
threads = [1]
modes = ["perf"]
trials = 4
pair_target = 0
warmup_runs = 2
warmup_time_s = 0.0
min_runs = 10
min_time_s = 0.2
max_time_s = 1.0
"""
# 2 twins x 2 runtimes x 4 trials = 16 jobs per device


def test_lost_ssh_device_keeps_its_records_marks_the_rest_and_the_local_device_finishes(tmp_path):
    need("/usr/sbin/sshd")
    need("ssh")
    with Sshd(tmp_path / "sshd") as server:
        table = server.profile(name="pi", python=sys.executable, workdir=str(tmp_path / "wd"))
        pi = tmp_path / "pi.toml"
        pi.write_text("[device]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items()) + MATRIX)
        box = tmp_path / "box.toml"
        box.write_text('[device]\nname = "box"\nkind = "local"\n' + MATRIX)
        run_dir = tmp_path / "res" / "r"
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(box), str(pi), "--out",
                                 str(tmp_path / "res"), "--run-id", "r", "--no-report"], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while sum(r["device"] == "pi" for r in records(run_dir / "records.jsonl")) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the ssh device recorded nothing"
            time.sleep(0.1)
        server.stop()  # the Pi goes away mid-run, open sessions cut
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err  # jobs skipped, records kept
    recs = records(run_dir / "records.jsonl")
    pi_recs = [r for r in recs if r["device"] == "pi"]
    box_recs = [r for r in recs if r["device"] == "box"]
    assert len(box_recs) == 16 and all(r["status"] == "ok" for r in box_recs)
    assert len(pi_recs) == 16  # every planned job has a record: measured, or skipped with the reason
    ok = [r for r in pi_recs if r["status"] == "ok"]
    skipped = [r for r in pi_recs if r["status"] == "skipped"]
    assert len(ok) >= 3 and skipped and len(ok) + len(skipped) >= 15
    assert all("device pi lost after 4 attempts" in r["error"] for r in skipped)
    assert "retrying in" in err and "recorded as skipped" in err
    left = [p for p in psutil.process_iter(["cmdline"])
            if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert left == []
