"""The collector: records -> one summary row per config, statistics computed from the raw samples."""

from __future__ import annotations

import numpy as np
import pytest

from harness.collect import format_table, summarize_records


def rec(config_id="d/m/onnxruntime/fp32/t1", mode="perf", trial=0, status="ok", **kw):
    base = {"config_id": config_id, "device": "d", "model": "m", "runtime": "onnxruntime",
            "precision": "fp32", "threads": 1, "mode": mode, "trial": trial, "status": status}
    return {**base, **kw}


def test_latency_statistics_pool_every_trial_sample():
    a = list(range(1_000_000, 1_100_000, 1000))  # 100 samples, 1.0..1.099 ms
    b = list(range(2_000_000, 2_100_000, 1000))
    df = summarize_records([rec(latency_ns=a, init_ns=5_000_000, peak_rss_bytes=50 * 2**20),
                            rec(trial=1, latency_ns=b, init_ns=7_000_000, peak_rss_bytes=52 * 2**20)])
    row = df.iloc[0]
    pooled = np.array(a + b)
    assert row["n"] == 200 and row["trials"] == 2
    assert row["median_ms"] == pytest.approx(np.median(pooled) / 1e6)
    assert row["p99_ms"] == pytest.approx(np.percentile(pooled, 99) / 1e6)
    assert row["min_ms"] == pytest.approx(1.0)
    assert row["trial_medians_ms"] == "1.0495;2.0495"
    assert row["init_ms"] == pytest.approx(6.0) and row["peak_rss_mb"] == pytest.approx(51.0)


def test_accuracy_and_gap_to_the_reference_join_the_perf_row():
    df = summarize_records([rec(latency_ns=[10, 11, 12], reference_accuracy=0.99),
                            rec(mode="accuracy", accuracy=0.975, n_eval=400, reference_accuracy=0.99)])
    row = df.iloc[0]
    assert row["accuracy_pct"] == pytest.approx(97.5)
    assert row["accuracy_gap_pts"] == pytest.approx(1.5)
    assert row["status"] == "ok"


def test_the_worst_status_of_a_config_wins_and_its_error_is_kept():
    df = summarize_records([rec(latency_ns=[5, 6, 7]),
                            rec(trial=1, status="timeout", error="runner timed out after 30s (killed)")])
    row = df.iloc[0]
    assert row["status"] == "timeout" and "timed out" in row["error"]
    assert row["trials"] == 1  # statistics from the trial that finished


def test_native_tool_summaries_fill_the_statistics_when_samples_are_absent():
    df = summarize_records([rec(latency_ns=None, latency_summary_ns={
        "p50": 2e6, "mean": 2.2e6, "p90": 2.5e6, "p99": 3e6, "std": 2e5, "min": 1.9e6, "max": 4e6,
        "count": 50})])
    row = df.iloc[0]
    assert row["median_ms"] == pytest.approx(2.0) and row["p90_ms"] == pytest.approx(2.5)
    assert row["n"] == 50 and row["latency_source"] == "native tool summary"


def test_table_shows_what_a_user_looks_at_first():
    text = format_table(summarize_records([rec(latency_ns=[1_500_000] * 5)]))
    header = text.splitlines()[0]
    for col in ("model", "runtime", "median ms", "peak MB", "acc %", "status"):
        assert col in header
    assert "1.500" in text
