"""Warnings: each fires on the condition it names, not otherwise, and says what to do."""

from __future__ import annotations

import numpy as np
import pytest

from harness.collect import summarize_records
from harness.report.warnings import Warn, add_warnings, config_warnings


def perf(samples, trial=0, **extra):
    return {"config_id": "box/m/onnxruntime/fp32/t1", "device": "box", "model": "m", "runtime": "onnxruntime",
            "precision": "fp32", "threads": 1, "mode": "perf", "trial": trial, "status": "ok",
            "latency_ns": [int(v) for v in samples], "emulated": False, **extra}


def steady(n=200, cv=0.02, seed=0, median=1e6):
    rng = np.random.default_rng(seed)
    return median * (1 + cv * rng.standard_normal(n))


def codes(recs, probe=None):
    row = summarize_records(recs).to_dict("records")[0]
    return {w for w, _ in config_warnings(row, recs, probe)}


def test_a_quiet_measurement_has_no_warning():
    assert codes([perf(steady(seed=1), 0), perf(steady(seed=2), 1)], {"governor": "performance"}) == set()


def test_cv_above_ten_percent_warns_and_below_does_not():
    assert Warn.HIGH_CV in codes([perf(steady(cv=0.2))])
    assert Warn.HIGH_CV not in codes([perf(steady(cv=0.05))])


def test_a_max_far_above_the_median_warns():
    s = list(steady())
    s[50] = 5e6
    assert Warn.MAX_OUTLIER in codes([perf(s)])


def test_too_few_runs_warns():
    assert Warn.FEW_RUNS in codes([perf(steady(n=10))])
    assert Warn.FEW_RUNS not in codes([perf(steady(n=30))])


def test_a_first_run_much_slower_than_the_rest_warns():
    s = list(steady())
    s[0] = 4e6
    assert Warn.FIRST_RUN_SLOW in codes([perf(s)])


def test_trials_that_disagree_warn():
    assert Warn.TRIALS_DISAGREE in codes([perf(steady(median=1e6), 0), perf(steady(median=1.5e6), 1)])


@pytest.mark.parametrize("governor,warns", [("ondemand", True), ("powersave", True),
                                            ("performance,schedutil", True), ("performance", False), (None, False)])
def test_governor_other_than_performance_warns(governor, warns):
    assert (Warn.GOVERNOR in codes([perf(steady())], {"governor": governor})) is warns


def test_throttling_seen_by_the_probe_or_during_a_trial_warns():
    assert Warn.THROTTLED in codes([perf(steady())], {"throttled": "0x50005",
                                                       "throttled_flags": ["under-voltage", "throttled"]})
    assert Warn.THROTTLED in codes([perf(steady(), throttled_after="0x4")])
    assert Warn.THROTTLED not in codes([perf(steady(), throttled_after="0x0")], {"throttled": "0x0"})


def test_an_emulated_device_warns_that_latency_is_not_a_device_latency():
    recs = [perf(steady(), emulated=True, emulated_cpu="cortex-a72")]
    row = summarize_records(recs).to_dict("records")[0]
    msgs = dict(config_warnings(row, recs, {"emulated": True}))
    assert "not a device latency" in msgs[Warn.EMULATED] and "cortex-a72" in msgs[Warn.EMULATED]


def test_every_message_says_what_to_do():
    kw = {"cv": 20, "x": 4.0, "n": 5, "governor": "ondemand", "what": "throttled", "cpu": "qemu"}
    verbs = ("raise", "close", "set", "cool", "use", "rerun", "look", "trust")
    for w in Warn:
        msg = w.advice(**kw)
        assert any(v in msg for v in verbs), (w, msg)


def test_summary_gets_codes_and_messages_columns():
    recs = [perf(steady(cv=0.3))]
    out = add_warnings(summarize_records(recs), recs, {"devices": {"box": {"governor": "ondemand"}}})
    row = out.iloc[0]
    assert row["warnings"].split(";") == ["high-cv", "governor"]
    assert "governor is 'ondemand'" in row["warning_text"] and "cpupower" in row["warning_text"]
