"""The history store: real runs of the digits pair in, the same medians out; a sequence with a known
step, one outlier and one runtime-version change -> exactly the step is reported; rebuild reproduces
the rows; two processes adding at once lose nothing; a newer schema is refused with one line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, assert_clean_error
from historykit import (N_RUNS, SEPARABLE, SPEEDUP, STANDARD, STEP_AT, VERSION_AT, history_cli, real_run,
                        synthetic_runs)
from harness.history import EXIT_REGRESSION, add_run
from harness.history.ops import rebuild, run_check
from harness.history.store import SCHEMA_VERSION, open_store


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("history-real")
    return [real_run(out, f"real-{i}") for i in range(3)]


@pytest.fixture(scope="session")
def sequence(tmp_path_factory, real_runs) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("history-seq")
    runs = synthetic_runs(real_runs[0], out / "runs")
    store = out / "history.sqlite"
    for run in runs:
        add_run(run, store)
    return store, runs


def test_real_runs_become_one_point_per_config_and_a_speedup_per_pair(tmp_path, real_runs):
    store = tmp_path / "h.sqlite"
    assert [add_run(r, store) for r in real_runs] == [3, 3, 3]
    with open_store(store) as db:
        points = db.points()
        assert db.counts()["runs"] == 3 and db.counts()["devices"] == 1
    by = {(p["series"], p["run_id"]): p for p in points}
    for run in real_runs:
        recs = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
        pooled = {cid: [v for r in recs if r["config_id"] == cid for v in r["latency_ns"]]
                  for cid in (SEPARABLE, STANDARD)}
        for cid, samples in pooled.items():
            p = by[(cid, run.name)]
            assert p["value"] == pytest.approx(float(np.median(samples)))
            assert p["lo"] <= p["value"] <= p["hi"] and p["n"] == len(samples) and p["trials"] == 2
        sp = by[(SPEEDUP, run.name)]
        assert sp["value"] == pytest.approx(np.median(pooled[STANDARD]) / np.median(pooled[SEPARABLE]))
        assert sp["lo"] < sp["value"] < sp["hi"]
    # adding a run again replaces it: nothing doubles
    assert add_run(real_runs[0], store) == 3
    with open_store(store) as db:
        assert db.counts()["points"] == 9


def test_a_run_with_pair_jobs_adds_the_paired_headline_as_its_speedup_point(tmp_path):
    """The speedup history follows pairs.csv's headline (pair jobs: both twins in one process), in a
    segment of its own: an older run's pooled ratio is not the same estimator."""
    import pandas as pd

    from harness.cli import main

    args = ["run", str(REPO / "devices" / "local.toml"), "--models", "digits", "--runtime", "onnxruntime",
            "--precisions", "fp32", "--threads", "1", "--modes", "perf", "--out", str(tmp_path)]
    assert main([*args, "--trials", "3", "--pair-target", "0.2", "--run-id", "paired"]) == 0
    assert main([*args, "--trials", "2", "--run-id", "pooled"]) == 0
    run, old = tmp_path / "paired", tmp_path / "pooled"
    store = tmp_path / "h.sqlite"
    add_run(run, store)
    add_run(old, store)
    with open_store(store) as db:
        points = {p["run_id"]: p for p in db.points() if p["series"] == SPEEDUP}
    row = pd.read_csv(run / "pairs.csv").iloc[0]
    assert row["pair_jobs"] >= 3 and row["speedup_method"].startswith("paired")
    p = points["paired"]
    assert p["value"] == pytest.approx(row["speedup"]) and p["lo"] == pytest.approx(row["speedup_ci_low"])
    assert p["hi"] == pytest.approx(row["speedup_ci_high"])
    assert p["segment"] != points["pooled"]["segment"]


def test_exactly_the_step_is_reported_not_the_outlier_nor_the_version_change(sequence):
    store, runs = sequence
    steps = run_check(store=store, threshold=0.05, last=None)
    assert sorted((s.series, s.run_id) for s in steps) == [(SEPARABLE, f"seq-{STEP_AT}"),
                                                           (SPEEDUP, f"seq-{STEP_AT}")]
    for s in steps:
        assert 0.05 < s.change < 0.07, s
    # the version change is a boundary of every series, at the right run
    with open_store(store) as db:
        pts = [p for p in db.points() if p["series"] == STANDARD]
    segs = {p["segment"] for p in pts[:VERSION_AT]}, {p["segment"] for p in pts[VERSION_AT:]}
    assert len(segs[0]) == 1 and len(segs[1]) == 1 and segs[0] != segs[1]
    # only steps that began in the last N runs, or after a baseline run, count
    assert run_check(store=store, threshold=0.05, last=N_RUNS - STEP_AT - 1) == []
    assert len(run_check(store=store, threshold=0.05, last=N_RUNS - STEP_AT)) == 2
    assert run_check(store=store, threshold=0.05, baseline=f"seq-{STEP_AT:02d}") == []
    assert len(run_check(store=store, threshold=0.05, baseline=f"seq-{STEP_AT - 1:02d}")) == 2
    # a smaller threshold still does not take the outlier (one run) for a step
    assert {s.run_id for s in run_check(store=store, threshold=0.02, last=None)} == {f"seq-{STEP_AT}"}


def test_check_exits_with_the_regression_code_and_ack_clears_it(sequence, tmp_path):
    store = tmp_path / "h.sqlite"
    store.write_bytes(sequence[0].read_bytes())  # WAL is checkpointed on close: the file is whole
    proc = history_cli("history", "check", "--store", str(store), "--last", "20")
    assert proc.returncode == EXIT_REGRESSION == 4, proc.stdout + proc.stderr
    assert SEPARABLE in proc.stdout and f"seq-{STEP_AT}" in proc.stdout
    ids = [line.split()[0] for line in proc.stdout.splitlines() if f"seq-{STEP_AT}" in line]
    assert len(ids) == 2
    proc = history_cli("history", "ack", *ids, "--note", "accepted: new pruning", "--store", str(store))
    assert proc.returncode == 0 and proc.stdout.count("acknowledged") == 2, proc.stderr
    proc = history_cli("history", "check", "--store", str(store), "--last", "20")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = history_cli("history", "ack", "nosuchstep", "--store", str(store))
    assert_clean_error(proc, "nosuchstep", "history check")


def test_rebuild_from_run_folders_gives_the_same_rows(sequence, tmp_path):
    store, runs = sequence
    with open_store(store) as db:
        before = db.rows()
    other = tmp_path / "rebuilt.sqlite"
    assert rebuild(store=other, paths=list(reversed(runs))) == (len(runs), 3 * len(runs), [])
    with open_store(other) as db:
        assert db.rows() == before
    # through the CLI, from the folder that holds the runs
    proc = history_cli("history", "rebuild", "--results", str(runs[0].parent), "--store", str(other))
    assert proc.returncode == 0 and f"{len(runs)} run(s)" in proc.stdout, proc.stderr
    with open_store(other) as db:
        assert db.rows() == before


def test_two_processes_adding_at_once_lose_nothing(sequence, tmp_path):
    _, runs = sequence
    store = tmp_path / "shared.sqlite"
    code = ("import sys; from pathlib import Path; from harness.history import add_run\n"
            "for r in sys.argv[2:]: add_run(Path(r), Path(sys.argv[1]))\n")
    halves = [runs[0::2], runs[1::2]]
    procs = [subprocess.Popen([sys.executable, "-c", code, str(store), *map(str, half)], cwd=str(REPO),
                              stderr=subprocess.PIPE, text=True) for half in halves]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    with open_store(store) as db:
        assert db.counts()["runs"] == len(runs) and db.counts()["points"] == 3 * len(runs)


def test_a_store_from_a_newer_edgebench_is_refused_with_one_line(tmp_path, real_runs):
    store = tmp_path / "new.sqlite"
    add_run(real_runs[0], store)
    with sqlite3.connect(store) as con:
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    for action in ("check", "show"):
        proc = history_cli("history", action, "--store", str(store))
        err = assert_clean_error(proc, str(store), f"history schema {SCHEMA_VERSION + 1} is newer", "upgrade")
        assert proc.returncode == 1 and len(err.strip().splitlines()) == 1
    with pytest.raises(Exception, match="newer than this edgebench"):
        add_run(real_runs[1], store)


def test_a_missing_store_and_a_bad_run_folder_are_one_line_each(tmp_path):
    proc = history_cli("history", "check", "--store", str(tmp_path / "none.sqlite"))
    assert_clean_error(proc, "none.sqlite", "history add")
    proc = history_cli("history", "add", str(tmp_path), "--store", str(tmp_path / "h.sqlite"))
    assert_clean_error(proc, str(tmp_path), "run.json")


def test_imported_native_records_are_added_as_their_own_series(tmp_path):
    rec = history_cli("import-native", str(REPO / "tests/data/native/onnxruntime_perf_test_1_8_format.txt"),
                      "--tool", "onnxruntime_perf_test")
    assert rec.returncode == 0, rec.stderr
    native = tmp_path / "phone.json"
    native.write_text(rec.stdout)
    store = tmp_path / "h.sqlite"
    proc = history_cli("history", "add", str(native), "--device", "phone", "--store", str(store))
    assert proc.returncode == 0, proc.stderr
    with open_store(store) as db:
        (p,) = db.points()
    summary = json.loads(rec.stdout)["latency_summary_ns"]
    assert p["device"] == "phone" and "onnxruntime_perf_test" in p["series"]
    assert p["value"] == summary["p50"] and p["n"] == summary["count"] and p["lo"] is None


def test_the_checked_in_v1_run_is_readable(tmp_path):
    store = tmp_path / "h.sqlite"
    assert add_run(REPO / "tests/data/run-v1", store) == 12  # 8 configs + 4 pairs
    proc = history_cli("history", "show", "--store", str(store), "--html", "-")
    assert proc.returncode == 0 and "local/digits/tflite/int8/t1 speedup" in proc.stdout, proc.stderr


def test_add_run_fails_only_with_one_harness_error(tmp_path, real_runs):
    from harness.errors import HarnessError

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(HarnessError, match="history add"):
        add_run(real_runs[0], blocked / "history.sqlite")
    with pytest.raises(HarnessError, match="run.json"):
        add_run(tmp_path, tmp_path / "h.sqlite")


def test_the_store_defaults_to_the_env_var_then_results(tmp_path, monkeypatch, real_runs):
    from harness.history import default_store_path

    monkeypatch.delenv("EDGEBENCH_HISTORY", raising=False)
    monkeypatch.setenv("EDGEBENCH_RESULTS", str(tmp_path / "res"))
    assert default_store_path() == tmp_path / "res" / "history.sqlite"
    monkeypatch.setenv("EDGEBENCH_HISTORY", str(tmp_path / "cache.sqlite"))
    assert add_run(real_runs[0]) == 3 and (tmp_path / "cache.sqlite").is_file()


def test_show_filters_by_device_and_model(tmp_path):
    store = tmp_path / "h.sqlite"
    add_run(REPO / "tests/data/run-v1", store)
    proc = history_cli("history", "show", "--store", str(store), "--html", "-", "--model", "digits-standard")
    rows = [line for line in proc.stdout.splitlines() if line.startswith("local/")]
    assert proc.returncode == 0 and len(rows) == 4 and all("digits-standard" in r for r in rows), proc.stdout
    proc = history_cli("history", "show", "--store", str(store), "--device", "pixel")
    assert_clean_error(proc, "no points match")
