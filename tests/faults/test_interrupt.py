"""Interruption: Ctrl-C, SIGTERM and SIGKILL mid-run lose nothing measured, and --resume finishes the run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from conftest import REPO, edgebench
from harness.records import read_records

MATRIX = """
[matrix]
models = ["digits"]
runtimes = ["onnxruntime", "tflite"]
precisions = ["fp32"]
threads = [1]
modes = ["perf", "accuracy"]
trials = 3
pair_target = 0                   # these tests count the planned jobs; the pair rule is tested elsewhere
warmup_runs = 2
warmup_time_s = 0.0
min_runs = 20
min_time_s = 0.3
max_time_s = 1.0
"""
# 4 configs x (3 perf trials + 1 accuracy) = 16 jobs


def make_profile(tmp_path: Path, name: str) -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(f'[device]\nname = "{name}"\nkind = "local"\n{MATRIX}')
    return p


def start_run(profile: Path, out: Path, run_id: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(profile), "--out", str(out),
                             "--run-id", run_id, "--no-report"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_records(path: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {n} records in {timeout}s")


def runner_processes(device: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "harness.runner" in cmd and f"edgebench-{device}-" in cmd:
            found.append(p)
    return found


def configs_of(run_dir: Path) -> set[str]:
    return set(pd.read_csv(run_dir / "summary.csv")["config_id"])


def all_lines_valid(path: Path) -> list[dict]:
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", "the last record line is cut off"
    return [json.loads(line) for line in lines[:-1]]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_and_resume_completes_the_run(tmp_path, sig):
    device = f"int{sig.value}"
    run_dir = tmp_path / "res" / "r"
    proc = start_run(make_profile(tmp_path, device), tmp_path / "res", "r")
    wait_for_records(run_dir / "records.jsonl", 3, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "interrupted" in err and f"--resume {run_dir}" in err and "Traceback" not in err
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "interrupted"
    before = all_lines_valid(run_dir / "records.jsonl")
    assert 3 <= len(before) < 16
    assert all(r["status"] == "ok" for r in before)  # the killed job left no (failed) record
    time.sleep(0.2)
    assert runner_processes(device) == []

    res = edgebench("run", "--resume", str(run_dir), timeout=600)
    assert res.returncode == 0, res.stderr
    after = all_lines_valid(run_dir / "records.jsonl")
    assert after[: len(before)] == before  # nothing measured was rewritten or lost
    keys = [(r["config_id"], r["mode"], r["trial"]) for r in after]
    assert len(keys) == len(set(keys)) == 16
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"


def test_sigkill_then_resume_gives_the_configs_of_an_uninterrupted_run(tmp_path):
    device = "killed"
    run_dir = tmp_path / "res" / "r"
    proc = start_run(make_profile(tmp_path, device), tmp_path / "res", "r")
    wait_for_records(run_dir / "records.jsonl", 4, proc)
    proc.kill()  # SIGKILL: no handler runs
    proc.communicate(timeout=30)
    for p in runner_processes(device):  # the orphaned runner of the killed job finishes or is reaped
        p.wait(timeout=60)
    # a crash while writing: the last line is cut off
    records = run_dir / "records.jsonl"
    good = records.read_bytes()
    n_good = good.count(b"\n")
    with open(records, "ab") as fh:
        fh.write(good.split(b"\n")[0][:57])
    res = edgebench("run", "--resume", str(run_dir), timeout=600)
    assert res.returncode == 0, res.stderr
    assert "dropped a cut-off last line" in res.stderr
    recs = all_lines_valid(records)
    assert len(recs) == 16 and recs[:n_good] == [json.loads(x) for x in good.split(b"\n")[:-1]]

    full = edgebench("run", str(make_profile(tmp_path, device)), "--out", str(tmp_path / "res"),
                     "--run-id", "uninterrupted", timeout=600)
    assert full.returncode == 0, full.stderr
    edgebench("report", str(run_dir), "--no-html")
    assert configs_of(run_dir) == configs_of(tmp_path / "res" / "uninterrupted")
    assert len(read_records(run_dir / "records.jsonl").records) == len(
        read_records(tmp_path / "res" / "uninterrupted" / "records.jsonl").records)


def test_resume_of_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path):
    res = edgebench("run", "--resume", str(tmp_path))
    assert res.returncode == 1 and "not a run folder" in res.stderr and "Traceback" not in res.stderr
