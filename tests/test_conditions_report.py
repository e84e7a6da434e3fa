"""What the report makes of the [conditions] fields: temperature across the run with the jobs that
started hot (a chart and a warning), energy per inference per config in summary.csv, and the
energy ratio of a twin pair."""

from __future__ import annotations

import numpy as np
import pytest

from harness.collect import energy_columns, summarize_records
from harness.report import build_tables
from harness.report.html import render
from harness.report.thermal import job_temperatures, started_hot, temperature_chart
from harness.report.warnings import add_warnings


def job(model: str, trial: int, temp: float | None, minute: int, twin: str | None = None, **extra):
    rng = np.random.default_rng(trial + minute)
    return {"config_id": f"box/{model}/onnxruntime/fp32/t1", "device": "box", "model": model, "twin": twin,
            "family": "fam" if twin else None, "runtime": "onnxruntime", "precision": "fp32", "threads": 1,
            "mode": "perf", "trial": trial, "status": "ok", "emulated": False,
            "latency_ns": [int(v) for v in 1e6 * (1 + 0.01 * rng.standard_normal(50))],
            "started_at": f"2026-12-02T03:{minute:02d}:00+00:00", "temp_before_c": temp, **extra}


def meta_with(below: float | None = None) -> dict:
    cond = {"cooldown_below_c": below} if below is not None else {}
    return {"run_id": "r", "status": "complete",
            "profiles": [{"path": "box.toml", "device": {"name": "box", "kind": "local"}, "matrix": {},
                          "conditions": cond}]}


def test_jobs_above_the_median_plus_10_c_started_hot_and_are_warned_about():
    recs = [job("a", 0, 50.0, 1), job("b", 0, 51.0, 2), job("a", 1, 52.0, 3), job("b", 1, 66.5, 4),
            job("a", 2, None, 5)]
    assert [j["temp_c"] for j in job_temperatures(recs)["box"]] == [50.0, 51.0, 52.0, 66.5]
    hot = started_hot(meta_with(), recs)
    assert list(hot) == ["box/b/onnxruntime/fp32/t1"]  # median 51.5 + 10 = 61.5
    assert hot["box/b/onnxruntime/fp32/t1"]["jobs"] == [("perf", 1, 66.5)]
    summary = add_warnings(summarize_records(recs), recs, meta_with()).set_index("model")
    assert summary.loc["b", "warnings"] == "started-hot"
    assert "perf #1 at 66.5 C; above 61.5 C: the run's median + 10 C" in summary.loc["b", "warning_text"]
    assert "cooldown_below_c" in summary.loc["b", "warning_text"]
    assert not isinstance(summary.loc["a", "warnings"], str)


def test_the_profiles_cooldown_threshold_decides_what_is_hot():
    recs = [job("a", 0, 44.0, 1), job("b", 0, 47.0, 2), job("a", 1, 46.0, 3)]
    assert started_hot(meta_with(), recs) == {}
    hot = started_hot(meta_with(below=45.0), recs)
    assert {cid: [t for _, t, _ in h["jobs"]] for cid, h in hot.items()} == \
        {"box/b/onnxruntime/fp32/t1": [0], "box/a/onnxruntime/fp32/t1": [1]}
    assert all(h["basis"] == "cooldown_below_c" for h in hot.values())


def test_the_chart_draws_every_job_in_order_and_the_hot_ones_red():
    jobs = job_temperatures([job("a", 0, 50.0, 1), job("b", 0, 70.0, 2), job("a", 1, 55.0, 3)])["box"]
    svg = temperature_chart(jobs, 60.0, "cooldown_below_c")
    assert svg.count('class="temp-point"') == 2 and svg.count('class="temp-point hot"') == 1
    assert 'class="hot-limit"' in svg and "box/b/onnxruntime/fp32/t1 perf #0: 70.0 C (started hot)" in svg
    recs = [job("a", 0, 50.0, 1), job("b", 0, 70.0, 2)]
    meta = meta_with(below=60.0)
    summary, pairs, breakdown = build_tables(meta, recs, summarize_records(recs))
    page = render({**meta, "job_temperatures": job_temperatures(recs)}, summary.to_dict("records"), [], [], {}, [])
    assert 'id="temperature"' in page and "1 of 2 started hot (above 60.0 C: cooldown_below_c" in page
    assert 'id="temperature"' not in render(meta, summary.to_dict("records"), [], [], {}, [])


def test_energy_per_config_is_the_mean_over_trials_with_a_t_interval():
    trials = [job("a", k, 40.0, k, energy_mj_per_inference=v, energy_source="rapl:package-0", energy_note=None,
                  energy_ci95_mj=[v - 0.1, v + 0.1]) for k, v in enumerate((2.0, 2.2, 2.4))]
    out = energy_columns(trials)
    assert out["energy_mj_per_inference"] == pytest.approx(2.2)
    half = 4.303 * 0.2 / 3 ** 0.5  # t(0.975, 2) x sd / sqrt(n)
    assert (out["energy_ci_low_mj"], out["energy_ci_high_mj"]) == pytest.approx((2.2 - half, 2.2 + half))
    assert out["energy_source"] == "rapl:package-0"
    one = energy_columns(trials[:1])
    assert (one["energy_mj_per_inference"], one["energy_ci_low_mj"], one["energy_ci_high_mj"]) == (2.0, 1.9, 2.1)
    none = energy_columns([job("a", 0, 40.0, 1, energy_mj_per_inference=None,
                               energy_note="not measurable: no RAPL zones")])
    assert none["energy_mj_per_inference"] is None and none["energy_note"] == "not measurable: no RAPL zones"
    # a run without [conditions] energy has no energy columns at all
    assert "energy_mj_per_inference" not in summarize_records([job("a", 0, 40.0, 1)]).columns


def test_the_pairs_view_gives_the_energy_ratio_only_where_both_twins_have_energy():
    def twins(sep_mj, std_mj):
        return [job("fam-separable", 0, 40.0, 1, twin="separable", energy_mj_per_inference=sep_mj, energy_note=None),
                job("fam-standard", 0, 40.0, 2, twin="standard", energy_mj_per_inference=std_mj, energy_note=None)]

    recs = twins(0.5, 2.0)
    _, pairs, _ = build_tables(meta_with(), recs, summarize_records(recs))
    assert pairs.loc[0, "energy_ratio"] == pytest.approx(0.25)
    recs = twins(0.5, None)
    _, pairs, _ = build_tables(meta_with(), recs, summarize_records(recs))
    assert pairs["energy_ratio"].isna().all()
