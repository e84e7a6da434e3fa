"""The run folder under faults of the second round (issue 13): a model changed between an interrupt and
--resume, two runs with one id, a full disk at a run.json update, records.jsonl that is a folder,
run ids that are paths, and the exit codes of runs whose jobs fail."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, ZOO, assert_clean_error, edgebench, interrupt_after_first_record
from harness.errors import RunDirError
from harness.execution.writer import RunWriter
from harness.plan.configs import resolve_configs

MATRIX = """
[matrix]
models = {models}
runtimes = ["onnxruntime"]
precisions = ["fp32"]
threads = [1]
modes = ["perf"]
trials = {trials}
warmup_runs = 1
warmup_time_s = 0.0
min_runs = 5
min_time_s = 0.01
max_time_s = 0.3
target_rel_ci = 0
"""
SEP = ZOO / "digits" / "digits-separable-onnx-fp32.onnx"
STD = ZOO / "digits" / "digits-standard-onnx-fp32.onnx"


def profile(tmp_path: Path, models: list[str], trials: int = 2, extra: str = "") -> Path:
    p = tmp_path / "box.toml"
    p.write_text('[device]\nname = "box"\nkind = "local"\n' + extra +
                 MATRIX.format(models=json.dumps(models), trials=trials))
    return p



def test_every_model_given_by_path_has_its_sha256_in_the_config_identity(tmp_path):
    model = tmp_path / "mine.onnx"
    model.write_bytes(SEP.read_bytes())
    matrix = {"models": [str(model)], "runtimes": ["onnxruntime"], "threads": [1], "xnnpack": True}
    [config] = resolve_configs("box", matrix, None, [], "here")
    import hashlib

    assert config.identity()["model_sha256"] == hashlib.sha256(SEP.read_bytes()).hexdigest()


def test_resume_refuses_a_model_file_replaced_since_the_interrupt_in_one_line(tmp_path):
    model = tmp_path / "mine.onnx"
    model.write_bytes(SEP.read_bytes())
    proc = edgebench("run", str(profile(tmp_path, [str(model)])), "--out", str(tmp_path / "res"),
                     "--run-id", "r", "--no-report")
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "res" / "r"
    interrupt_after_first_record(run_dir)
    model.write_bytes(STD.read_bytes())  # another network under the same name
    err = assert_clean_error(edgebench("run", "--resume", str(run_dir), "--no-report"), str(model),
                             "sha256", "changed")
    assert len(err.strip().splitlines()) == 1, err
    assert len((run_dir / "records.jsonl").read_text().splitlines()) == 1  # nothing mixed in


SLOW_RUN = """
import sys, time
from harness.devices.local import LocalDevice
real = LocalDevice.execute
def slow(self, job, timeout):
    time.sleep(5)  # the first run is still writing when the second starts
    return real(self, job, timeout)
LocalDevice.execute = slow
from harness.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_second_run_with_the_same_id_writes_nothing_and_resume_runs_the_first_plan(tmp_path):
    first_prof = profile(tmp_path, [str(SEP)], trials=4)
    second_dir = tmp_path / "other"
    second_dir.mkdir()
    second_prof = profile(second_dir, [str(STD)], trials=1)
    argv = ["run", str(first_prof), "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen([sys.executable, "-c", SLOW_RUN, *argv], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_dir = tmp_path / "res" / "r"
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / "records.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        planned = (run_dir / "run.json").read_text()
        second = edgebench("run", str(second_prof), "--out", str(tmp_path / "res"), "--run-id", "r",
                           "--no-report")
        assert_clean_error(second, f"another edgebench run is writing {run_dir}")
        assert "before resuming" not in second.stderr
        assert json.loads((run_dir / "run.json").read_text())["profiles"] == json.loads(planned)["profiles"]
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    proc = edgebench("run", "--resume", str(run_dir), "--no-report")
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(x) for x in (run_dir / "records.jsonl").read_text().splitlines() if x.strip()]
    assert {r["model"] for r in recs} == {"digits-separable-onnx-fp32"}
    assert len({r["trial"] for r in recs}) == 4


def test_a_full_disk_at_a_run_json_update_is_one_line(tmp_path, monkeypatch):
    import harness.execution.writer as writer_mod

    (tmp_path / "r").mkdir()
    writer = RunWriter(tmp_path / "r", {"run_id": "r", "profiles": []})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer_mod, "atomic_write_json", full)
    with pytest.raises(RunDirError, match="run.json: cannot update the run file .*Free some space"):
        writer.update_meta(status="running")


@pytest.mark.parametrize("command", ["report", "resume", "run"])
def test_records_jsonl_that_is_a_folder_is_one_line_in_report_resume_and_run(tmp_path, command):
    prof = profile(tmp_path, [str(SEP)], trials=1)
    assert edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r",
                     "--no-report").returncode == 0
    run_dir = tmp_path / "res" / "r"
    (run_dir / "records.jsonl").unlink()
    (run_dir / "records.jsonl").mkdir()
    if command == "run":
        (run_dir / "run.json").unlink()
        proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r")
    else:
        proc = edgebench(*(["report", str(run_dir)] if command == "report" else
                           ["run", "--resume", str(run_dir)]))
    err = assert_clean_error(proc, "records.jsonl", "not a plain file")
    assert "free some space" not in err.lower()


@pytest.mark.parametrize("run_id", ["../../x", "ABSOLUTE", "..", "a/b", "."])
def test_a_run_id_that_is_a_path_is_refused_and_nothing_is_created(tmp_path, run_id):
    out = tmp_path / "a" / "b" / "res"
    absolute = tmp_path / "abs" / "path"  # an absolute path, kept inside the test's folder
    run_id = str(absolute) if run_id == "ABSOLUTE" else run_id
    proc = edgebench("run", str(profile(tmp_path, [str(SEP)], trials=1)), "--out", str(out), "--run-id", run_id)
    assert_clean_error(proc, "--run-id", "a run id is a name")
    assert not (tmp_path / "a" / "x").exists() and not absolute.exists()
    assert not out.exists()


def test_a_run_whose_every_job_fails_exits_with_the_jobs_failed_code(tmp_path):
    py = tmp_path / "python"
    py.write_text(f'#!/bin/sh\n[ "$2" = harness.runner ] && exit 1\nexec {sys.executable} "$@"\n')
    py.chmod(0o755)
    proc = edgebench("run", str(profile(tmp_path, [str(SEP)], extra=f"python = {json.dumps(str(py))}\n")),
                     "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report")
    assert proc.returncode == 3, proc.stderr
    assert "2 of 2 jobs did not succeed (2 failed)" in proc.stderr and "Traceback" not in proc.stderr


def test_resume_refuses_a_zoo_artifact_rebuilt_since_the_interrupt(tmp_path):
    from harness.execution.session import check_models_unchanged
    from harness.plan.configs import Config
    from harness.records import append_record

    run_dir = tmp_path / "r"
    run_dir.mkdir()
    def zoo_config(sha: str) -> Config:
        return Config("box", "digits-separable", "onnxruntime", "fp32", 1, True, SEP, None, artifact={"sha256": sha})

    before = zoo_config("a" * 64)
    append_record(run_dir / "records.jsonl", {**before.identity(), "status": "ok", "mode": "perf", "trial": 0})
    writer = RunWriter(run_dir, {"run_id": "r", "profiles": []})
    check_models_unchanged(writer, [before])  # the same artifact: resume goes on
    rebuilt = zoo_config("b" * 64)
    with pytest.raises(RunDirError, match=f"{SEP}: changed since this run recorded .*sha256 aaaaaaaaaaaa then, "
                                          f"bbbbbbbbbbbb now"):
        check_models_unchanged(writer, [rebuilt])
