"""A run folder written by an earlier edgebench (tests/data/run-v1: the digits pair, ONNX Runtime and
LiteRT, fp32 and int8, perf and accuracy, 2 trials) keeps loading, reporting and comparing: its
summary.csv and pairs.csv, rebuilt from records.jsonl by today's code, have the columns and values
stored beside it when it was recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from reportkit import OLD_RUN, copy_old_run



@pytest.fixture()
def old_run(tmp_path: Path) -> Path:
    return copy_old_run(tmp_path / "run-v1")


# documented renames (README: pairs.csv columns): the pooled-median ratio was `speedup` in run-v1's
# pairs.csv; `speedup` is now the fast-state headline (harness.states) and the old ratio keeps its values
# under `pooled_speedup`
RENAMED = {"pairs.csv": {"speedup": "pooled_speedup", "speedup_ci_low": "pooled_speedup_ci_low",
                         "speedup_ci_high": "pooled_speedup_ci_high",
                         "efficiency": "pooled_efficiency"}}


def _same_table(got: pd.DataFrame, want: pd.DataFrame, name: str) -> None:
    renamed = RENAMED.get(name, {})
    missing = [c for c in want.columns if renamed.get(c, c) not in got.columns]
    assert not missing, f"{name}: columns lost: {missing}"
    assert len(got) == len(want), f"{name}: {len(got)} rows, recorded with {len(want)}"
    for col in want.columns:
        a, b = got[renamed.get(col, col)], want[col]
        if pd.api.types.is_numeric_dtype(b) and pd.api.types.is_numeric_dtype(a):
            pd.testing.assert_series_equal(a.astype(float), b.astype(float), check_names=False, rtol=1e-6,
                                           obj=f"{name}.{col}")
        else:
            assert a.fillna("").astype(str).tolist() == b.fillna("").astype(str).tolist(), f"{name}.{col}"


def test_an_old_run_reports_the_same_summary_and_pairs(old_run: Path) -> None:
    from harness.report.write import report_run

    report_run(old_run, html=True)
    for name in ("summary.csv", "pairs.csv"):
        _same_table(pd.read_csv(old_run / name), pd.read_csv(OLD_RUN / name), name)
    assert (old_run / "report.html").stat().st_size > 10_000


def test_an_old_run_compares_with_itself_as_unchanged(old_run: Path, capsys) -> None:
    from harness.cli import main

    assert main(["compare", str(old_run), str(old_run)]) == 0
    out = capsys.readouterr().out
    assert "digits-separable" in out and "worse" not in out


# -- versioned files: newer refused with one line, older upgraded through the chain ----------------

def _rewrite(path: Path, change) -> None:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    path.write_text("".join(json.dumps(change(r)) + "\n" for r in lines))


def _report_error(run: Path, capsys) -> str:
    from harness.cli import main

    assert main(["report", str(run)]) == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_records_from_a_newer_edgebench_are_refused_naming_the_file_and_version(old_run: Path, capsys) -> None:
    from harness.records import RECORD_SCHEMA_VERSION

    newer = RECORD_SCHEMA_VERSION + 1
    _rewrite(old_run / "records.jsonl", lambda r: {**r, "schema_version": newer})
    err = _report_error(old_run, capsys)
    assert f"{old_run / 'records.jsonl'}:1" in err and f"schema_version {newer}" in err
    assert "upgrade edgebench" in err
    assert not (old_run / "summary.csv").exists()


def test_a_run_json_from_a_newer_edgebench_is_refused_naming_the_file_and_version(old_run: Path, capsys) -> None:
    from harness.records import RUN_SCHEMA_VERSION

    meta = json.loads((old_run / "run.json").read_text())
    meta["schema_version"] = RUN_SCHEMA_VERSION + 1
    (old_run / "run.json").write_text(json.dumps(meta))
    err = _report_error(old_run, capsys)
    assert str(old_run / "run.json") in err and f"schema_version {RUN_SCHEMA_VERSION + 1}" in err


def test_records_from_a_newer_runner_protocol_are_refused(old_run: Path, capsys) -> None:
    from harness.runner import RUNNER_PROTOCOL_VERSION

    _rewrite(old_run / "records.jsonl", lambda r: {**r, "runner_protocol": RUNNER_PROTOCOL_VERSION + 1})
    err = _report_error(old_run, capsys)
    assert "records.jsonl:1" in err and f"runner of protocol {RUNNER_PROTOCOL_VERSION + 1}" in err


def test_an_older_version_without_an_upgrade_step_is_refused_not_misread(old_run: Path, capsys) -> None:
    _rewrite(old_run / "records.jsonl", lambda r: {**r, "schema_version": 0})
    err = _report_error(old_run, capsys)
    assert "schema_version 0 is older" in err


def _to_version_0(record: dict) -> dict:
    """A synthetic older layout: version 0 named the samples latency_us and the trial `repeat`."""
    old = {k: v for k, v in record.items() if k not in ("latency_ns", "trial")}
    old["schema_version"] = 0
    old["repeat"] = record.get("trial")
    if record.get("latency_ns") is not None:
        old["latency_us"] = [v / 1000 for v in record["latency_ns"]]
    return old


def _upgrade_to_1(record: dict) -> dict:
    record["trial"] = record.pop("repeat", None)
    us = record.pop("latency_us", None)
    if us is not None:
        record["latency_ns"] = [round(v * 1000) for v in us]
    return record


def test_a_version_0_run_is_upgraded_through_the_chain_and_reports_the_same_tables(
        old_run: Path, monkeypatch) -> None:
    from harness import records
    from harness.report.write import report_run

    monkeypatch.setitem(records.RECORD_UPGRADES, 1, _upgrade_to_1)
    monkeypatch.setitem(records.RUN_UPGRADES, 1, lambda meta: {**meta, "upgraded": True})
    _rewrite(old_run / "records.jsonl", _to_version_0)
    meta = json.loads((old_run / "run.json").read_text())
    (old_run / "run.json").write_text(json.dumps({**meta, "schema_version": 0}))

    loaded, read = records.load_run(old_run)
    assert loaded["schema_version"] == records.RUN_SCHEMA_VERSION and loaded["upgraded"] is True
    assert {r["schema_version"] for r in read.records} == {records.RECORD_SCHEMA_VERSION}
    assert not any("latency_us" in r for r in read.records)
    report_run(old_run, html=False)
    for name in ("summary.csv", "pairs.csv"):
        _same_table(pd.read_csv(old_run / name), pd.read_csv(OLD_RUN / name), name)


# -- the key registry describes what is written ---------------------------------------------------

def test_every_key_of_the_stored_records_and_every_summary_column_is_in_the_registry() -> None:
    from harness.keys import RECORD_KEYS, SUMMARY, SUMMARY_COLUMNS, SUMMARY_EXTRA, describe_columns

    keys = {k for line in (OLD_RUN / "records.jsonl").read_text().splitlines() for k in json.loads(line)}
    assert keys - set(RECORD_KEYS) == set()
    stored = list(pd.read_csv(OLD_RUN / "summary.csv").columns)
    assert stored[: len(SUMMARY_COLUMNS)] == SUMMARY_COLUMNS
    assert set(stored) <= set(SUMMARY) | set(SUMMARY_EXTRA)
    text = describe_columns()
    assert all(f"\n{c}" in "\n" + text for c in stored)
    assert "median_ms [ms]" in text


def test_a_stored_perf_record_carries_every_runner_key_of_the_registry() -> None:
    from harness.keys import RECORD_KEYS
    from harness.records import RUNNER_KEYS

    assert set(RUNNER_KEYS) <= set(RECORD_KEYS)
    ok = [json.loads(line) for line in (OLD_RUN / "records.jsonl").read_text().splitlines()]
    perf = next(r for r in ok if r["mode"] == "perf" and r["status"] == "ok")
    later = ("placement",)  # runner keys added after run-v1 was recorded (optional: readers use .get)
    pair_mode = ("partner_latency_ns", "pair_blocks", "partner")  # only a pair job's record has them
    missing = [k for k in RUNNER_KEYS
               if k not in perf and k not in ("accuracy", "n_eval", "predictions", *later, *pair_mode)]
    assert missing == []
