"""The pairs view and its statistics on records whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.collect import summarize_records
from harness.report.pairs import build_pairs
from harness.stats import ratio_of_medians


def rec(model: str, twin: str, trial: int, samples, *, runtime="onnxruntime", precision="fp32", threads=1,
        macs=None, params=None, mode="perf", accuracy=None, status="ok", device="box"):
    family = model.split("-")[0]
    cid = f"{device}/{model}/{runtime}/{precision}/t{threads}"
    r = {"config_id": cid, "device": device, "model": model, "family": family, "twin": twin,
         "runtime": runtime, "precision": precision, "threads": threads, "mode": mode, "trial": trial,
         "status": status, "macs": macs or (100 if twin == "separable" else 800),
         "params": params or (10 if twin == "separable" else 80), "model_bytes": 1000 if twin == "separable" else 5000,
         "peak_rss_bytes": 50 * 2**20 if twin == "separable" else 60 * 2**20, "emulated": False,
         "runtime_version": "1.0", "reference_accuracy": 0.97 if twin == "separable" else 0.99}
    if mode == "perf":
        r["latency_ns"] = [int(v) for v in samples]
    if mode == "accuracy":
        r["accuracy"] = accuracy
        r["n_eval"] = 100
    return r


def noisy(median_ns: float, n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    return median_ns * (1 + 0.03 * rng.standard_normal(n))


def pair_records(sep_ns=100_000, std_ns=300_000, trials=3, **kw):
    out = []
    for t in range(trials):
        out.append(rec("fam-separable", "separable", t, noisy(sep_ns, seed=t), **kw))
        out.append(rec("fam-standard", "standard", t, noisy(std_ns, seed=10 + t), **kw))
    return out


def test_speedup_is_the_ratio_of_medians_with_an_interval_around_it():
    recs = pair_records()
    pairs = build_pairs(summarize_records(recs), recs)
    assert len(pairs) == 1
    p = pairs.iloc[0]
    assert p["speedup"] == pytest.approx(3.0, rel=0.02)
    assert p["speedup_ci_low"] < p["speedup"] < p["speedup_ci_high"]
    assert p["speedup_ci_low"] > 2.85 and p["speedup_ci_high"] < 3.15
    assert p["trials_paired"] == 3 and p["trial_speedup"] == pytest.approx(3.0, rel=0.02)
    assert p["trial_speedup_ci_low"] <= p["trial_speedup"] <= p["trial_speedup_ci_high"]
    assert p["best_speedup"] == pytest.approx(3.0, rel=0.1)
    assert p["mac_ratio"] == pytest.approx(100 / 800) and p["theoretical_speedup"] == pytest.approx(8.0)
    assert p["efficiency"] == pytest.approx(p["speedup"] / 8.0)
    assert p["pooled_efficiency"] == pytest.approx(p["pooled_speedup"] / 8.0)
    assert p["params_ratio"] == pytest.approx(0.125) and p["model_bytes_ratio"] == pytest.approx(0.2)
    assert p["peak_rss_ratio"] == pytest.approx(50 / 60)


def test_accuracy_gap_is_standard_minus_separable_in_points():
    recs = pair_records() + [rec("fam-separable", "separable", 0, [], mode="accuracy", accuracy=0.95),
                             rec("fam-standard", "standard", 0, [], mode="accuracy", accuracy=0.98)]
    p = build_pairs(summarize_records(recs), recs).iloc[0]
    assert p["accuracy_gap_pts"] == pytest.approx(3.0) and p["accuracy_source"] == "measured"
    recs = pair_records()  # no accuracy pass: the Keras reference accuracies, said so
    p = build_pairs(summarize_records(recs), recs).iloc[0]
    assert p["accuracy_gap_pts"] == pytest.approx(2.0) and p["accuracy_source"].startswith("reference")


def test_twins_pair_only_on_the_same_runtime_precision_and_threads():
    recs = [rec("fam-separable", "separable", 0, noisy(1e5), threads=1),
            rec("fam-standard", "standard", 0, noisy(3e5), threads=2),
            rec("fam-separable", "separable", 0, noisy(1e5), precision="int8"),
            rec("fam-standard", "standard", 0, noisy(2e5), precision="int8"),
            rec("fam-separable", "separable", 0, noisy(1e5), runtime="tflite"),
            rec("other-standard", "standard", 0, noisy(2e5), runtime="tflite")]
    pairs = build_pairs(summarize_records(recs), recs)
    assert list(pairs["precision"]) == ["int8"]
    assert pairs.iloc[0]["speedup"] == pytest.approx(2.0, rel=0.02)


def test_a_failed_twin_leaves_the_speedup_empty_not_wrong():
    recs = [rec("fam-separable", "separable", 0, noisy(1e5)),
            {**rec("fam-standard", "standard", 0, []), "status": "failed", "error": "boom", "latency_ns": None}]
    p = build_pairs(summarize_records(recs), recs).iloc[0]
    assert pd.isna(p["speedup"]) and pd.isna(p["efficiency"]) and pd.isna(p["speedup_ci_low"])
    assert p["mac_ratio"] == pytest.approx(0.125)  # what is known is still shown


def test_per_trial_ratio_cancels_drift_that_the_pooled_ratio_keeps():
    # the machine got 2x slower in trial 1: each trial's ratio is still 3
    a = {0: noisy(3e5, seed=1), 1: noisy(6e5, seed=2)}
    b = {0: noisy(1e5, seed=3), 1: noisy(2e5, seed=4)}
    est = ratio_of_medians(a, b)
    assert est.trial_ratio == pytest.approx(3.0, rel=0.02)
    assert est.trial_ratio_min == pytest.approx(3.0, rel=0.03) and est.trial_ratio_max == pytest.approx(3.0, rel=0.03)
    assert est.trials_paired == 2


def test_pairs_view_keeps_the_per_trial_speedup_when_the_machine_drifts():
    # trial 1 ran 2x slower for both twins, and the time-bound separable twin got fewer runs in it
    recs = [rec("fam-separable", "separable", 0, noisy(1e5, n=600, seed=1)),
            rec("fam-standard", "standard", 0, noisy(3e5, n=200, seed=2)),
            rec("fam-separable", "separable", 1, noisy(2e5, n=100, seed=3)),
            rec("fam-standard", "standard", 1, noisy(6e5, n=200, seed=4))]
    p = build_pairs(summarize_records(recs), recs).iloc[0]
    assert p["trial_speedup"] == pytest.approx(3.0, rel=0.02)
    assert p["trial_speedup_min"] == pytest.approx(3.0, rel=0.03) and p["trials_paired"] == 2
    assert abs(p["pooled_speedup"] - 3.0) > 0.5  # the pooled ratio is biased by the uneven windows
    assert p["speedup"] == pytest.approx(3.0, rel=0.03)  # the headline's trial medians are not


def test_bootstrap_is_repeatable_and_significance_follows_the_interval():
    a, b = {0: noisy(1.2e5, seed=1)}, {0: noisy(1e5, seed=2)}
    assert ratio_of_medians(a, b) == ratio_of_medians(a, b)
    assert ratio_of_medians(a, b).significant
    same = ratio_of_medians(a, a)
    assert same.ratio == 1.0 and not same.significant
    # five very noisy runs each: a 10% difference is not significant
    rng = np.random.default_rng(5)
    x = {0: list(1e5 * (1 + 0.5 * rng.random(5)))}
    y = {0: [v * 1.1 for v in x[0]]}
    assert not ratio_of_medians(y, x).significant


def test_bootstrap_of_long_runs_is_fast():
    import time

    a = {k: noisy(1e5, n=20000, seed=k) for k in range(3)}
    b = {k: noisy(2e5, n=20000, seed=9 + k) for k in range(3)}
    t0 = time.perf_counter()
    est = ratio_of_medians(b, a)
    assert time.perf_counter() - t0 < 2.0
    assert est.ratio == pytest.approx(2.0, rel=0.01)
