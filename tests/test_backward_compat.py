"""A run folder written by an earlier edgebench (tests/data/run-v1: the digits pair, ONNX Runtime and
LiteRT, fp32 and int8, perf and accuracy, 2 trials) keeps loading, reporting and comparing: its
summary.csv and pairs.csv, rebuilt from records.jsonl by today's code, have the columns and values
stored beside it when it was recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

OLD_RUN = Path(__file__).parent / "data" / "run-v1"


@pytest.fixture()
def old_run(tmp_path: Path) -> Path:
    run = tmp_path / "run-v1"
    run.mkdir()
    for name in ("run.json", "records.jsonl"):
        shutil.copy(OLD_RUN / name, run / name)
    return run


def _same_table(got: pd.DataFrame, want: pd.DataFrame, name: str) -> None:
    missing = [c for c in want.columns if c not in got.columns]
    assert not missing, f"{name}: columns lost: {missing}"
    assert len(got) == len(want), f"{name}: {len(got)} rows, recorded with {len(want)}"
    for col in want.columns:
        a, b = got[col], want[col]
        if pd.api.types.is_numeric_dtype(b) and pd.api.types.is_numeric_dtype(a):
            pd.testing.assert_series_equal(a.astype(float), b.astype(float), check_names=False, rtol=1e-6,
                                           obj=f"{name}.{col}")
        else:
            assert a.fillna("").astype(str).tolist() == b.fillna("").astype(str).tolist(), f"{name}.{col}"


def test_an_old_run_reports_the_same_summary_and_pairs(old_run: Path) -> None:
    from harness.collect import report_run

    report_run(old_run, html=True)
    for name in ("summary.csv", "pairs.csv"):
        _same_table(pd.read_csv(old_run / name), pd.read_csv(OLD_RUN / name), name)
    assert (old_run / "report.html").stat().st_size > 10_000


def test_an_old_run_compares_with_itself_as_unchanged(old_run: Path, capsys) -> None:
    from harness.cli import main

    assert main(["compare", str(old_run), str(old_run)]) == 0
    out = capsys.readouterr().out
    assert "digits-separable" in out and "worse" not in out
