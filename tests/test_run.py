"""`edgebench run` end to end on this machine: jobs in fresh processes, records on disk, a summary."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pandas as pd

from conftest import assert_clean_error, edgebench
from harness.records import read_records

QUICK_MATRIX = """
[matrix]
models = ["digits"]
runtimes = ["onnxruntime", "tflite"]
precisions = ["fp32", "int8"]
threads = [1]
modes = ["perf", "accuracy"]
trials = 2
warmup_runs = 2
warmup_time_s = 0.0
min_runs = 20
min_time_s = 0.05
max_time_s = 1.0
"""


def profile(tmp_path: Path, device_extra: str = "", matrix: str = QUICK_MATRIX, name: str = "box") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(f'[device]\nname = "{name}"\nkind = "local"\n{device_extra}\n{matrix}')
    return p


def test_run_writes_records_run_json_and_summary(tmp_path):
    proc = edgebench("run", str(profile(tmp_path)), "--out", str(tmp_path / "res"), "--run-id", "r1",
                     "--no-report")
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "res" / "r1"
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "complete" and meta["schema_version"] == 1
    assert meta["devices"]["box"]["cpu_cores"] >= 1 and meta["devices"]["box"]["arch"]
    assert meta["git_commit"] and "edgebench_version" in meta and "--run-id" in meta["command"]
    recs = read_records(run_dir / "records.jsonl").records
    # 2 twins x 2 runtimes x 2 precisions = 8 configs; 2 perf trials + 1 accuracy each
    assert len(recs) == 8 * 3
    assert all(r["status"] == "ok" for r in recs), [r.get("error") for r in recs if r["status"] != "ok"]
    perf = [r for r in recs if r["mode"] == "perf"]
    # interleaved: every config's trial 0 runs before any config's trial 1
    first_trial1 = min(i for i, r in enumerate(perf) if r["trial"] == 1)
    assert all(r["trial"] == 0 for r in perf[:first_trial1]) and first_trial1 == 8
    for r in recs:
        assert r["schema_version"] == 1 and r["device"] == "box" and r["run_id"] == "r1"
        assert r["macs"] > 0 and r["params"] > 0 and r["model_bytes"] > 0

    out = edgebench("report", str(run_dir), "--no-html")
    assert out.returncode == 0, out.stderr
    df = pd.read_csv(run_dir / "summary.csv")
    assert len(df) == 8
    assert set(df["status"]) == {"ok"}
    assert df["accuracy_pct"].between(80, 100).all()
    assert (df["median_ms"] > 0).all() and (df["n"] >= 40).all() and (df["trials"] == 2).all()
    assert "median ms" in out.stdout and "digits-separable" in out.stdout


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_a_crashing_runner_becomes_a_failed_record_and_the_run_goes_on(tmp_path):
    # a "python" that dies of SIGSEGV for int8 models and works otherwise
    real = sys.executable
    py = _script(tmp_path / "python3",
                 f'case "$(cat "$3")" in *int8*) kill -SEGV $$;; esac\nexec {real} "$@"\n')
    matrix = QUICK_MATRIX.replace('trials = 2', 'trials = 1').replace('"perf", "accuracy"', '"perf"')
    proc = edgebench("run", str(profile(tmp_path, f'python = "{py}"', matrix)), "--out", str(tmp_path / "res"),
                     "--run-id", "r", "--no-report")
    assert proc.returncode == 3, proc.stderr  # some jobs failed, the records are kept
    recs = read_records(tmp_path / "res" / "r" / "records.jsonl").records
    assert len(recs) == 8
    failed = [r for r in recs if r["status"] != "ok"]
    assert {r["precision"] for r in failed} == {"int8"} and len(failed) == 4
    assert all("SIGSEGV" in r["error"] for r in failed)
    assert all(r["status"] == "ok" for r in recs if r["precision"] == "fp32")


def test_a_hanging_runner_becomes_a_timeout_record(tmp_path):
    real = sys.executable
    py = _script(tmp_path / "python3", f'case "$(cat "$3")" in *tflite*) sleep 600;; esac\nexec {real} "$@"\n')
    matrix = (QUICK_MATRIX.replace('trials = 2', 'trials = 1').replace('"perf", "accuracy"', '"perf"')
              .replace('precisions = ["fp32", "int8"]', 'precisions = ["fp32"]') + "job_timeout_s = 5\n")
    proc = edgebench("run", str(profile(tmp_path, f'python = "{py}"', matrix)), "--out", str(tmp_path / "res"),
                     "--run-id", "r", "--no-report", timeout=120)
    assert proc.returncode == 3, proc.stderr  # some jobs timed out, the records are kept
    recs = read_records(tmp_path / "res" / "r" / "records.jsonl").records
    by_rt = {r["runtime"]: r["status"] for r in recs}
    assert by_rt == {"tflite": "timeout", "onnxruntime": "ok"}
    assert "timed out after" in next(r["error"] for r in recs if r["status"] == "timeout")


def test_model_whose_input_disagrees_with_the_data_fails_before_any_job(tmp_path):
    import numpy as np

    from harness.manifest import load_manifest

    a = load_manifest().find("digits-separable", "onnx", "fp32")
    np.savez(tmp_path / "wrong.npz", x=np.zeros((3, 28, 28, 1), np.float32), y=np.zeros(3, np.int64))
    matrix = (f'[matrix]\nmodels = ["{a.path}"]\nruntimes = ["onnxruntime"]\nmodes = ["accuracy"]\n'
              f'eval_data = "{tmp_path / "wrong.npz"}"\n')
    proc = edgebench("run", str(profile(tmp_path, matrix=matrix)), "--out", str(tmp_path / "res"))
    assert_clean_error(proc, str(a.path), "disagrees with the eval data")
    assert not (tmp_path / "res").exists()


def test_demo_quick_covers_both_twins_runtimes_precisions_and_threads(tmp_path):
    proc = edgebench("demo", "--quick", "--out", str(tmp_path), timeout=900)
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    df = pd.read_csv(run_dir / "summary.csv")
    assert len(df) == 16
    assert set(df["model"]) == {"digits-separable", "digits-standard"}
    assert set(df["runtime"]) == {"onnxruntime", "tflite"}
    assert set(df["precision"]) == {"fp32", "int8"} and set(df["threads"]) == {1, 2}
    assert set(df["status"]) == {"ok"} and df["accuracy_pct"].notna().all()
    assert str(run_dir / "summary.csv") in proc.stdout


def test_cores_in_the_profile_pin_every_job_and_the_record_says_so(tmp_path):
    matrix = (QUICK_MATRIX.replace('trials = 2', 'trials = 1').replace('"perf", "accuracy"', '"perf"')
              .replace('precisions = ["fp32", "int8"]', 'precisions = ["fp32"]'))
    proc = edgebench("run", str(profile(tmp_path, "cores = [0]", matrix)), "--out", str(tmp_path / "res"),
                     "--run-id", "r", "--no-report")
    assert proc.returncode == 0, proc.stderr
    recs = read_records(tmp_path / "res" / "r" / "records.jsonl").records
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs)
    assert all(r["affinity"] == [0] for r in recs)
