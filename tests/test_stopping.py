"""The stopping rule's defaults (devices/local.toml [matrix]): they reach the demo's precision sooner than
fixed counts do. The runner's own loop (harness.runner.measure.measure) runs on a simulated clock, so the
latency sequences are known and the comparison is exact and repeatable."""

from __future__ import annotations

import types

import numpy as np
import pytest

from conftest import REPO
from harness.plan import JobSpec, job_dict, resolve_configs
from harness.manifest import load_manifest
from harness.profiles import load_profiles
from harness.runner import measure as measure_mod
from harness.runner.measure import StopRule, median_ci_rel


class SimClock:
    """perf_counter_ns that only moves when the simulated model runs (plus 100 ns per clock read)."""

    def __init__(self, latencies_ns):
        self.now = 0
        self.lat = iter(latencies_ns)

    def perf_counter_ns(self) -> int:
        self.now += 100
        return self.now

    def run(self) -> None:
        self.now += int(next(self.lat))


def simulate(monkeypatch, latencies_ns, rule: StopRule):
    clock = SimClock(latencies_ns)
    monkeypatch.setattr(measure_mod, "time", types.SimpleNamespace(perf_counter_ns=clock.perf_counter_ns))
    samples, reason = measure_mod.measure(clock.run, rule)
    return samples, reason, clock.now / 1e9


def local_rule() -> StopRule:
    (prof,) = load_profiles([str(REPO / "devices" / "local.toml")])
    m = prof.matrix
    return StopRule.from_dict({k: m[k] for k in ("min_runs", "min_time_s", "max_time_s", "target_rel_ci")})


def workload(seed: int, median_us: float, cv: float, n: int = 400_000, burst: float = 0.0):
    """Latencies like this machine's: log-normal around the median plus rare 2-5x outliers."""
    rng = np.random.default_rng(seed)
    lat = median_us * 1e3 * rng.lognormal(0.0, cv, n)
    if burst:
        hit = rng.random(n) < burst
        lat[hit] *= rng.uniform(2.0, 5.0, hit.sum())
    return lat


# The digits twins on this machine: separable ~50 us, standard ~150 us, int8 and 2 threads noisier.
DEMO_LIKE = [(50, 0.05, 0.01), (150, 0.05, 0.01), (60, 0.15, 0.03), (170, 0.25, 0.05),
             (45, 0.10, 0.02), (140, 0.30, 0.08)]


def test_the_demo_profile_asks_for_an_interval_and_the_runner_job_carries_it():
    rule = local_rule()
    assert rule.target_rel_ci is not None and 0 < rule.target_rel_ci <= 0.02
    assert rule.max_time_s > rule.min_time_s
    (prof,) = load_profiles([str(REPO / "devices" / "local.toml")])
    configs = resolve_configs("local", prof.matrix, load_manifest(), [], "local.toml")
    job = job_dict(JobSpec(configs[0], "perf", 0), prof.matrix, str(configs[0].model_path), None, None)
    assert StopRule.from_dict(job["measure"]) == rule


def test_the_rule_stops_once_the_median_interval_is_within_the_target(monkeypatch):
    rule = local_rule()
    samples, reason, elapsed = simulate(monkeypatch, workload(1, 50, 0.1), rule)
    assert reason == "ci_reached"
    assert median_ci_rel(sorted(samples)) <= rule.target_rel_ci
    assert len(samples) >= rule.min_runs and elapsed >= rule.min_time_s
    assert elapsed < rule.max_time_s / 2


def test_the_rule_never_stops_before_min_runs_and_min_time_even_when_precise_at_once(monkeypatch):
    rule = StopRule(min_runs=20, min_time_s=0.1, max_time_s=3.0, target_rel_ci=0.01)
    samples, reason, elapsed = simulate(monkeypatch, np.full(500_000, 1_000.0), rule)  # 1 us, no noise
    assert reason == "ci_reached"
    assert elapsed >= 0.1 and len(samples) >= 0.1 / 1.2e-6


def test_a_config_too_noisy_for_the_target_stops_at_max_time_and_says_so(monkeypatch):
    rng = np.random.default_rng(4)
    bimodal = np.where(rng.random(400_000) < 0.5, 50_000.0, 100_000.0) * rng.lognormal(0, 0.01, 400_000)
    rule = StopRule(min_runs=20, min_time_s=0.1, max_time_s=0.5, target_rel_ci=0.01)
    samples, reason, elapsed = simulate(monkeypatch, bimodal, rule)
    assert reason == "max_time"
    assert median_ci_rel(sorted(samples)) > 0.01
    assert 0.5 <= elapsed < 0.6


def test_the_rule_reaches_the_demo_precision_sooner_than_fixed_counts_sized_for_every_config(monkeypatch):
    """Fixed counts (min_runs AND min_time_s, no interval) must be sized for the noisiest config to
    guarantee the width the rule guarantees each; the rule stops each config as soon as it is there."""
    rule = local_rule()
    flows = [workload(seed, med, cv, burst=b) for seed, (med, cv, b) in enumerate(DEMO_LIKE)]
    rule_time, rule_widths = 0.0, []
    for lat in flows:
        samples, reason, elapsed = simulate(monkeypatch, lat, rule)
        assert reason == "ci_reached"
        rule_time += elapsed
        rule_widths.append(median_ci_rel(sorted(samples)))
    equal = max(rule_widths)
    assert equal <= rule.target_rel_ci

    fixed_time = None
    for t in np.arange(0.05, 3.0, 0.05):  # the shortest uniform fixed time with every config as precise
        fixed = StopRule(min_runs=50, min_time_s=float(t), max_time_s=10.0, target_rel_ci=None)
        total, widths = 0.0, []
        for lat in flows:
            samples, reason, elapsed = simulate(monkeypatch, lat, fixed)
            assert reason == "min_runs_and_time"
            total += elapsed
            widths.append(median_ci_rel(sorted(samples)))
        if max(widths) <= equal:
            fixed_time = total
            break
    assert fixed_time is not None
    assert rule_time < 0.75 * fixed_time, (rule_time, fixed_time)

    old = StopRule(min_runs=50, min_time_s=0.3, max_time_s=3.0, target_rel_ci=None)  # the former default
    old_widths = [median_ci_rel(sorted(simulate(monkeypatch, lat, old)[0])) for lat in flows]
    assert max(old_widths) > equal  # it spent 0.3 s on every config and still left one less precise


@pytest.mark.parametrize("cv", [0.02, 0.1, 0.3])
def test_the_median_the_rule_stops_at_is_within_its_interval_of_the_long_run_median(monkeypatch, cv):
    lat = workload(7, 80, cv)
    rule = local_rule()
    samples, _, _ = simulate(monkeypatch, lat, rule)
    assert abs(np.median(samples) / np.median(lat) - 1) <= 1.5 * rule.target_rel_ci
