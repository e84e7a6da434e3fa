"""The run folder stays the truth: every planned job ends with exactly one current record, whatever
breaks, and --resume finishes what is missing (skipped jobs included) without duplicating anything."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import pytest

from conftest import assert_clean_error, edgebench
from harness.collect import read_run
from harness.devices.local import LocalDevice
from harness.errors import RunDirError
from harness.execution.session import resume, run
from harness.profiles import load_profiles
from harness.records import read_records

MATRIX = """
[matrix]
models = ["digits-separable"]
runtimes = ["onnxruntime", "tflite"]
precisions = ["fp32"]
threads = [1]
modes = ["perf"]
trials = 2
warmup_runs = 1
warmup_time_s = 0.0
min_runs = 10
min_time_s = 0.02
max_time_s = 0.5
target_rel_ci = 0
"""


def profile(tmp_path: Path) -> Path:
    p = tmp_path / "box.toml"
    p.write_text('[device]\nname = "box"\nkind = "local"\n' + MATRIX)
    return p


def test_an_unexpected_error_in_a_device_thread_records_the_rest_as_failed(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = LocalDevice.execute

    def flaky(self, job, timeout):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")  # e.g. the scratch folder filled up
        return real(self, job, timeout)

    monkeypatch.setattr(LocalDevice, "execute", flaky)
    run_dir = run(load_profiles([str(profile(tmp_path))]), out_root=tmp_path / "res", run_id="r", report=False)
    recs = read_records(run_dir / "records.jsonl").records
    assert len(recs) == 4  # every planned job has a record
    assert recs[0]["status"] == "ok"
    assert all(r["status"] == "failed" and "internal error: OSError" in r["error"] for r in recs[1:])
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"


def test_resume_reruns_jobs_skipped_for_a_lost_device_and_the_rerun_replaces_them(tmp_path):
    proc = edgebench("run", str(profile(tmp_path)), "--out", str(tmp_path / "res"), "--run-id", "r",
                     "--no-report")
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "res" / "r" / "records.jsonl"
    lines = path.read_text().splitlines()
    skipped = json.loads(lines[1])
    skipped.update(status="skipped", error="device box lost after 4 attempts", latency_ns=None)
    lines[1] = json.dumps(skipped)
    path.write_text("\n".join(lines) + "\n")

    res = edgebench("run", "--resume", str(tmp_path / "res" / "r"), "--no-report")
    assert res.returncode == 0, res.stderr
    assert "3 jobs recorded, 1 to run" in res.stderr
    raw = read_records(path).records
    assert len(raw) == 5  # the skipped record stays on disk: nothing measured is rewritten
    _, current = read_run(tmp_path / "res" / "r")
    assert len(current) == 4 and all(r["status"] == "ok" for r in current)
    out = edgebench("report", str(tmp_path / "res" / "r"), "--no-html")
    assert out.returncode == 0 and " skipped" not in out.stdout


def test_resume_refuses_options_that_would_change_the_plan(tmp_path):
    proc = edgebench("run", "--resume", str(tmp_path), "--threads", "4", "--quick")
    assert_clean_error(proc, "--threads", "--quick", "run.json")


def test_resume_of_a_damaged_run_json_is_a_clear_error(tmp_path):
    (tmp_path / "run.json").write_text("{")
    assert_clean_error(edgebench("run", "--resume", str(tmp_path)), "run.json", "not valid JSON")
    (tmp_path / "run.json").write_text("{}")
    assert_clean_error(edgebench("run", "--resume", str(tmp_path)), "has no profiles or seed")


def test_a_second_process_cannot_resume_a_run_being_written(tmp_path):
    run_dir = run(load_profiles([str(profile(tmp_path))]), out_root=tmp_path / "res", run_id="r", report=False)
    with open(run_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another edgebench process holds the run
        with pytest.raises(RunDirError, match="another edgebench run is writing"):
            resume(run_dir, report=False)
    assert len(read_records(run_dir / "records.jsonl").records) == 4


def test_a_config_named_twice_runs_once(tmp_path):
    p = tmp_path / "twice.toml"
    p.write_text('[device]\nname = "box"\nkind = "local"\n' +
                 MATRIX.replace('["digits-separable"]', '["digits", "digits-separable"]')
                       .replace("threads = [1]", "threads = [1, 1]").replace("trials = 2", "trials = 1"))
    proc = edgebench("run", str(p), "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report")
    assert proc.returncode == 0, proc.stderr
    keys = [(r["config_id"], r["trial"]) for r in read_records(tmp_path / "res" / "r" / "records.jsonl").records]
    assert len(keys) == len(set(keys)) == 4  # 2 twins x 2 runtimes, once each


def test_two_model_files_with_one_name_are_a_profile_problem(tmp_path):
    from harness.manifest import load_manifest

    src = load_manifest().find("digits-separable", "onnx", "fp32").path
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "model.onnx").write_bytes(src.read_bytes())
    p = tmp_path / "same.toml"
    p.write_text('[device]\nname = "box"\nkind = "local"\n' +
                 MATRIX.replace('["digits-separable"]', json.dumps([str(tmp_path / "a" / "model.onnx"),
                                                                   str(tmp_path / "b" / "model.onnx")])))
    assert_clean_error(edgebench("run", str(p), "--out", str(tmp_path / "res")), "distinct names")
