"""Faults of a single job or of the host: each becomes a record or a clear error, and the run goes on."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from conftest import REPO, edgebench, small_tmpfs
from harness.records import read_records

MATRIX = """
[matrix]
models = ["digits-separable"]
runtimes = ["onnxruntime", "tflite"]
precisions = ["fp32"]
threads = [1]
modes = ["perf"]
trials = 1
warmup_runs = 1
warmup_time_s = 0.0
min_runs = 10
min_time_s = 0.05
max_time_s = 0.5
"""


def wrapper(tmp_path: Path, body: str) -> str:
    """A 'python3' for the device that misbehaves for tflite jobs and is the real one otherwise."""
    path = tmp_path / "python3"
    path.write_text(f'#!/bin/sh\ncase "$(cat "$3" 2>/dev/null)" in *tflite*) {body};; esac\n'
                    f'exec {sys.executable} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def run_profile(tmp_path: Path, device_extra: str = "", matrix: str = MATRIX, out: Path | None = None,
                env: dict | None = None, timeout: float = 300):
    prof = tmp_path / "faulty.toml"
    prof.write_text(f'[device]\nname = "faulty"\nkind = "local"\n{device_extra}\n{matrix}')
    out = out or tmp_path / "res"
    proc = edgebench("run", str(prof), "--out", str(out), "--run-id", "r", "--no-report", env=env,
                     timeout=timeout)
    path = out / "r" / "records.jsonl"
    return proc, (read_records(path).records if path.exists() else [])


@pytest.mark.parametrize("body,expect", [
    ("kill -SEGV $$", "killed by SIGSEGV"),
    ("kill -ABRT $$", "killed by SIGABRT"),
    ("echo 'Fatal Python error: out of memory' >&2; kill -KILL $$", "killed by SIGKILL"),
    ("ulimit -v 150000", "failed to map segment|MemoryError|[Aa]lloc"),  # out of memory
    ("echo 'partial' >&2; exit 7", "exit 7"),
])
def test_a_dying_runner_becomes_a_failed_record_with_the_cause(tmp_path, body, expect):
    import re

    proc, recs = run_profile(tmp_path, f'python = "{wrapper(tmp_path, body)}"')
    assert proc.returncode == 3, proc.stderr  # a job failed, records kept
    by_rt = {r["runtime"]: r for r in recs}
    assert by_rt["onnxruntime"]["status"] == "ok"
    assert by_rt["tflite"]["status"] == "failed"
    assert re.search(expect, by_rt["tflite"]["error"]), by_rt["tflite"]["error"]


def test_a_hang_is_killed_at_the_timeout_with_nothing_left_running(tmp_path):
    marker = f"sleep 900.{os.getpid()}"  # a unique command line to look for afterwards
    proc, recs = run_profile(tmp_path, f'python = "{wrapper(tmp_path, marker)}"',
                             MATRIX + "job_timeout_s = 3\n")
    assert proc.returncode == 3, proc.stderr  # a job timed out, records kept
    by_rt = {r["runtime"]: r for r in recs}
    assert by_rt["tflite"]["status"] == "timeout" and "timed out after 3s" in by_rt["tflite"]["error"]
    assert by_rt["onnxruntime"]["status"] == "ok"
    left = [p for p in psutil.process_iter(["cmdline"]) if " ".join(p.info["cmdline"] or []) == marker]
    assert left == []


def test_disk_full_stops_the_run_with_the_records_before_it_intact(tmp_path):
    mnt = tmp_path / "small"
    small_tmpfs(mnt, "96k")
    try:
        matrix = MATRIX.replace("trials = 1", "trials = 40")
        proc, recs = run_profile(tmp_path, matrix=matrix, out=mnt)
        assert proc.returncode == 1
        assert "cannot write a record" in proc.stderr and "--resume" in proc.stderr
        assert "Traceback" not in proc.stderr
        raw = (mnt / "r" / "records.jsonl").read_bytes()
        assert raw.endswith(b"\n") and 1 <= len(recs) < 80
        assert all(r["status"] == "ok" for r in recs)
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def test_secrets_in_the_environment_never_reach_the_results(tmp_path):
    secret = "hunter2-s3cr3t-value"
    from harness.manifest import load_manifest

    src = load_manifest().find("digits-separable", "onnx", "fp32").path
    model = tmp_path / f"model-{secret}.onnx"
    model.write_bytes(src.read_bytes())
    matrix = MATRIX.replace('["digits-separable"]', f'["{model}"]')
    proc, recs = run_profile(tmp_path, matrix=matrix, env={"EDGEBENCH_DB_PASSWORD": secret,
                                                             "SERVICE_TOKEN": secret})
    assert proc.returncode == 0, proc.stderr
    assert recs and all(r["status"] == "ok" for r in recs)
    for path in (tmp_path / "res" / "r").iterdir():
        assert secret not in path.read_text(), path
    assert "<redacted>" in (tmp_path / "res" / "r" / "records.jsonl").read_text()


def test_hostile_model_names_run_nothing_else(tmp_path):
    from harness.manifest import load_manifest

    src = load_manifest().find("digits-separable", "onnx", "fp32").path
    pwned = f"PWNED{os.getpid()}"  # created by any shell that parses the name
    evil_dir = tmp_path / f"a b'c\"d;touch {pwned};$(touch {pwned})`touch {pwned}`"
    evil_dir.mkdir()
    model = evil_dir / "m; rm -rf x.onnx"
    model.write_bytes(src.read_bytes())
    matrix = MATRIX.replace('["digits-separable"]', json.dumps([str(model)]))
    proc, recs = run_profile(tmp_path, matrix=matrix)
    assert proc.returncode == 0, proc.stderr
    assert [r["status"] for r in recs] == ["ok"]
    import glob

    places = [str(REPO), str(tmp_path), os.path.expanduser("~"), *glob.glob("/tmp/edgebench-*")]
    assert [p for p in places if os.path.exists(os.path.join(p, pwned))] == []
