"""The pair ratio aggregated over trial windows (harness.stats), on synthetic samples with known truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.stats import (median_window_ratio, order_statistic_interval, pooled_ratio, trials_of,
                           window_ratios)

TRUE_RATIO = 3.0  # standard / separable


def _window(rng, scale_us: float, drift: float, n: int, cv: float = 0.08) -> list[float]:
    return list(drift * scale_us * 1e3 * rng.lognormal(0.0, cv, n))


def drifting_pair(seed: int = 0, drifts=(1.0, 1.7, 1.0, 1.7), time_s: float = 0.3, std_runs: int = 200):
    """Interleaved windows: the machine slows both twins of a window alike. The fast separable twin is
    time-bound (a slow window gives it fewer runs); the standard twin is run-bound (always std_runs).
    Half the windows run 1.7x slower, as seen on shared machines."""
    rng = np.random.default_rng(seed)
    sep, std = {}, {}
    for k, d in enumerate(drifts):
        sep[k] = _window(rng, 50.0, d, int(time_s / (d * 50e-6)))
        std[k] = _window(rng, 50.0 * TRUE_RATIO, d, std_runs)
    return std, sep


def test_per_window_ratios_recover_the_true_ratio_when_drift_hits_both_twins_but_pooled_medians_do_not():
    std, sep = drifting_pair()
    est = median_window_ratio(std, sep)
    assert est.windows == 4
    assert abs(est.ratio / TRUE_RATIO - 1) < 0.02
    assert est.ci_low <= TRUE_RATIO <= est.ci_high
    pooled = pooled_ratio(std, sep)
    assert pooled / TRUE_RATIO - 1 > 0.10, pooled  # the fast windows dominate the separable pool
    for r in window_ratios(std, sep).values():
        assert abs(r / TRUE_RATIO - 1) < 0.05


def test_a_window_only_one_twin_measured_is_left_out_of_the_ratio_but_biases_the_pooled_one():
    rng = np.random.default_rng(3)
    drifts = (1.0, 1.7, 1.7)
    sep = {k: _window(rng, 50.0, d, 2000) for k, d in enumerate(drifts)}
    std = {k: _window(rng, 150.0, d, 2000) for k, d in enumerate(drifts[:2])}  # trial 2 failed
    est = median_window_ratio(std, sep)
    assert est.windows == 2
    assert abs(est.ratio / TRUE_RATIO - 1) < 0.01
    assert pooled_ratio(std, sep) < TRUE_RATIO * 0.85


def test_bootstrap_interval_covers_the_true_ratio_in_most_simulated_runs():
    rng = np.random.default_rng(11)
    hits, sims = 0, 120
    for s in range(sims):
        std, sep = {}, {}
        for k in range(5):
            d = rng.lognormal(0, 0.3)  # up to ~2x between windows
            std[k] = _window(rng, 150.0 * rng.lognormal(0, 0.02), d, 300)
            sep[k] = _window(rng, 50.0 * rng.lognormal(0, 0.02), d, 300)
        est = median_window_ratio(std, sep, n_boot=500, seed=s)
        hits += est.ci_low <= TRUE_RATIO <= est.ci_high
    assert hits / sims >= 0.9


def test_interval_narrows_with_more_samples_per_window():
    rng = np.random.default_rng(5)
    widths = []
    for n in (100, 10_000):
        std = {k: _window(rng, 150.0, 1.0, n, cv=0.2) for k in range(3)}
        sep = {k: _window(rng, 50.0, 1.0, n, cv=0.2) for k in range(3)}
        widths.append(median_window_ratio(std, sep).rel_half_width)
    assert widths[1] < widths[0] / 3
    assert widths[1] < 0.01


def test_interval_widens_when_windows_disagree():
    rng = np.random.default_rng(6)
    sep = {k: _window(rng, 50.0, 1.0, 2000) for k in range(4)}
    steady = {k: _window(rng, 150.0, 1.0, 2000) for k in range(4)}
    shaky = {k: _window(rng, 150.0 * f, 1.0, 2000) for k, f in enumerate((0.9, 1.1, 0.95, 1.05))}
    assert median_window_ratio(shaky, sep).rel_half_width > 2 * median_window_ratio(steady, sep).rel_half_width


def test_order_statistic_interval_has_the_exact_binomial_coverage():
    def coverage(n: int, j: int) -> float:  # P(x_(j) <= median < x_(n+1-j)), independent formula
        return sum(math.comb(n, i) for i in range(j, n - j + 1)) / 2**n

    assert order_statistic_interval([3.0, 1.0, 2.0]) == (1.0, 3.0, pytest.approx(0.75))
    lo, hi, cov = order_statistic_interval(list(range(6)))
    assert (lo, hi) == (0.0, 5.0) and cov == pytest.approx(coverage(6, 1)) and cov >= 0.95
    lo, hi, cov = order_statistic_interval(list(range(20)))
    j = int(lo) + 1
    assert hi == 20 - j and cov == pytest.approx(coverage(20, j)) and cov >= 0.95
    assert coverage(20, j + 1) < 0.95  # and it is the narrowest such interval
    assert order_statistic_interval([]) is None
    lo, hi, cov = order_statistic_interval(list(range(3000)))  # big n: exact integers, no overflow
    assert 0.95 <= cov < 0.96 and hi - lo < 120


def test_order_method_reports_its_coverage_with_few_windows():
    std, sep = drifting_pair()
    est = median_window_ratio(std, sep, method="order")
    assert est.coverage == pytest.approx(1 - 2 / 16)  # 4 windows: min..max covers 87.5%
    assert est.ci_low == min(est.per_window) and est.ci_high == max(est.per_window)


def test_no_common_window_gives_no_ratio_and_bad_samples_are_dropped():
    assert median_window_ratio({0: [1.0]}, {1: [1.0]}).ratio is None
    assert median_window_ratio({}, {}).windows == 0
    est = median_window_ratio({0: [300.0, float("nan"), 300.0, 0.0]}, {0: [100.0, -5.0, 100.0]})
    assert est.ratio == pytest.approx(3.0)
    with pytest.raises(ValueError, match="bootstrap"):
        median_window_ratio({0: [1.0]}, {0: [1.0]}, method="mean")


def test_trials_of_takes_the_ok_perf_records_of_one_config():
    records = [
        {"config_id": "a", "mode": "perf", "status": "ok", "trial": 0, "latency_ns": [1, 2]},
        {"config_id": "a", "mode": "perf", "status": "failed", "trial": 1, "latency_ns": [9]},
        {"config_id": "a", "mode": "accuracy", "status": "ok", "trial": 0, "accuracy": 0.9},
        {"config_id": "b", "mode": "perf", "status": "ok", "trial": 0, "latency_ns": [5]},
        {"config_id": "a", "mode": "perf", "status": "ok", "trial": 2, "latency_ns": [3]},
    ]
    assert trials_of(records, "a") == {0: [1, 2], 2: [3]}


def test_one_grouping_of_samples_by_trial_serves_the_window_and_the_pooled_ratios():
    from harness import stats

    recs = [{"config_id": "a", "mode": "perf", "status": "ok", "trial": t, "latency_ns": [t + 1.0, t + 2.0]}
            for t in (0, 1)]
    recs += [{"config_id": "a", "mode": "accuracy", "status": "ok", "trial": 2, "latency_ns": [9.0]},
             {"config_id": "a", "mode": "perf", "status": "failed", "trial": 3, "latency_ns": [9.0]}]
    assert stats.trials_by_config(recs) == {"a": {0: [1.0, 2.0], 1: [2.0, 3.0]}}
    assert trials_of(recs, "a") == stats.trials_by_config(recs)["a"] and trials_of(recs, "b") == {}
