"""The pair's answer in words: the gap's source, its paired interval and McNemar's exact test, the
one-trial honesty of the headline, and the terminal summary."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.collect import summarize_records
from harness.report import format_pairs, format_warnings
from harness.report.gap import gap_label, mcnemar_exact, paired_gap
from harness.report.headline import cost_text, speed_text
from harness.report.pairs import ONE_TRIAL_NOTE, SPEEDUP_METHOD, build_pairs
from test_report_pairs import pair_records, rec


def test_mcnemar_exact_on_known_tables():
    assert mcnemar_exact(1, 9) == pytest.approx(0.02148, abs=1e-4)   # 2 * 11/1024
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)


def test_paired_gap_counts_only_the_discordant_images():
    # 100 images: 90 both right, 1 only separable right, 9 only standard right
    sep = [True] * 90 + [True] + [False] * 9
    std = [True] * 90 + [False] + [True] * 9
    g = paired_gap(sep, std)
    assert (g.b, g.c, g.n) == (1, 9, 100)
    assert g.gap_pts == pytest.approx(8.0) and g.ci_low < 8.0 < g.ci_high
    assert g.ci_low > 0 and g.p_value == pytest.approx(0.0215, abs=1e-4)
    assert paired_gap([], []) is None


def test_the_gap_says_where_it_comes_from():
    assert gap_label("measured", "int8") == "measured, int8"
    assert gap_label("reference (fp32 Keras)", "int8") == "fp32 reference (not measured at int8)"
    recs = pair_records(precision="int8")   # no accuracy pass: the reference gap, marked as such
    p = build_pairs(summarize_records(recs), recs).astype(object).iloc[0].to_dict()
    assert p["accuracy_gap_label"] == "fp32 reference (not measured at int8)"
    assert "fp32 reference (not measured at int8)" in cost_text(p)
    assert pd.isna(p["mcnemar_p"])  # no predictions, no paired test
    recs += [rec("fam-separable", "separable", 0, [], mode="accuracy", accuracy=0.95, precision="int8"),
             rec("fam-standard", "standard", 0, [], mode="accuracy", accuracy=0.98, precision="int8")]
    p = build_pairs(summarize_records(recs), recs).iloc[0]
    assert p["accuracy_gap_label"] == "measured, int8" and p["accuracy_gap_pts"] == pytest.approx(3.0)


def test_one_trial_per_twin_has_no_interval_and_says_so():
    recs = pair_records(trials=1)
    p = build_pairs(summarize_records(recs), recs).astype(object).iloc[0].to_dict()
    assert p["speedup"] == pytest.approx(3.0, rel=0.03)
    assert pd.isna(p["speedup_ci_low"]) and pd.isna(p["speedup_ci_high"])
    assert p["speedup_ci_note"] == ONE_TRIAL_NOTE and "within-process only" in speed_text(p)
    assert p["speedup_method"] == SPEEDUP_METHOD
    assert not pd.isna(p["pooled_speedup_ci_low"])  # the pooled bootstrap still shows the in-process noise
    assert "within-process only" in format_pairs(build_pairs(summarize_records(recs), recs))
    many = pair_records(trials=4)
    q = build_pairs(summarize_records(many), many).iloc[0]
    assert q["speedup_ci_low"] < q["speedup"] < q["speedup_ci_high"] and pd.isna(q["speedup_ci_note"])


def test_a_failed_side_never_prints_a_speedup():
    p = {"family": "f", "runtime": "ort", "precision": "fp32", "threads": 1, "speedup": None,
         "theoretical_speedup": 7.7, "accuracy_gap_pts": None}
    text = speed_text(p)
    assert "-x" not in text and "no speedup" in text and "7.70x" in text


def test_terminal_warnings_count_configs_and_name_what_to_do():
    summary = pd.DataFrame({"warnings": ["high-cv;max-outlier", "high-cv", None, "few-runs"]})
    text = format_warnings(summary)
    assert text.startswith("warnings: 3 of 4 configs")
    lines = text.splitlines()
    assert lines[1].startswith("  high-cv (2 configs): ") and "pin cores" in lines[1]
    assert format_warnings(pd.DataFrame({"warnings": [None]})) == "warnings: none"


def test_a_forced_short_timeout_prints_its_duration_not_zero():
    from harness.devices.base import CommandResult
    from harness.devices.execute import describe_exit

    res = CommandResult(("runner",), None, "", "", 0.2, timed_out=True)
    assert describe_exit(res, timeout=0.2).startswith("timed out after 0.2s")
    assert describe_exit(res, timeout=30.0).startswith("timed out after 30s")
    assert describe_exit(res, timeout=1.25).startswith("timed out after 1.25s")


def test_a_separable_twin_that_is_slower_says_so_with_its_interval_turned_the_same_way():
    text = speed_text({"speedup": 0.8, "speedup_ci_low": 0.76, "speedup_ci_high": 0.84, "theoretical_speedup": 7.7})
    assert text.startswith("separable is 1.25x slower [1.19-1.32]")
