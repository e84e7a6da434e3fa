"""`edgebench compare RUN_A RUN_B`: a CI gate on real runs of the digits pair."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import assert_clean_error, edgebench
from reportkit import copy_run, digits_run, rewrite_records

SLOWED = "local/digits-standard/tflite/fp32/t1"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return digits_run(tmp_path_factory.getbasetemp())


def scaled(run_dir, dst, config_id, factor):
    out = copy_run(run_dir, dst)

    def change(r):
        if r["config_id"] == config_id and r["mode"] == "perf" and r.get("latency_ns"):
            r["latency_ns"] = [int(v * factor) for v in r["latency_ns"]]
        return r

    rewrite_records(out, change)
    return out


def test_a_config_made_20_percent_slower_fails_the_gate_and_is_named(base, tmp_path):
    slow = scaled(base, tmp_path / "slow", SLOWED, 1.2)
    proc = edgebench("compare", str(base), str(slow), "--csv", str(tmp_path / "cmp.csv"))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert SLOWED in proc.stderr and "1.20x slower" in proc.stderr and "Traceback" not in proc.stderr
    table = pd.read_csv(tmp_path / "cmp.csv").set_index("config_id")
    assert table.loc[SLOWED, "mark"] == "worse"
    assert table.loc[SLOWED, "ratio"] == pytest.approx(1.2, rel=0.01)
    assert 1.0 < table.loc[SLOWED, "ci_low"] <= 1.2 <= table.loc[SLOWED, "ci_high"] * 1.01
    others = table.drop(index=SLOWED)
    assert set(others["mark"]) == {"same"} and len(others) == 3


def test_a_run_compared_with_itself_passes(base):
    proc = edgebench("compare", str(base), str(base))
    assert proc.returncode == 0, proc.stderr
    assert "worse" not in proc.stdout and proc.stdout.count(" same") == 4


def test_a_faster_run_is_better_and_passes(base, tmp_path):
    fast = scaled(base, tmp_path / "fast", SLOWED, 0.8)
    proc = edgebench("compare", str(base), str(fast))
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith(SLOWED))
    assert "better" in line


def test_a_slowdown_below_the_threshold_passes(base, tmp_path):
    slow = scaled(base, tmp_path / "slow", SLOWED, 1.2)
    assert edgebench("compare", str(base), str(slow), "--threshold", "25%").returncode == 0


def test_a_config_that_newly_fails_fails_the_gate_and_a_fixed_one_passes(base, tmp_path):
    broken = copy_run(base, tmp_path / "broken")

    def fail(r):
        if r["config_id"] == SLOWED and r["mode"] == "perf":
            r.update(status="failed", error="RuntimeError: out of memory", latency_ns=None)
        return r

    rewrite_records(broken, fail)
    proc = edgebench("compare", str(base), str(broken))
    assert proc.returncode == 4 and f"{SLOWED} newly fails" in proc.stderr
    proc = edgebench("compare", str(broken), str(base))
    assert proc.returncode == 0, proc.stderr
    assert "fixed" in next(line for line in proc.stdout.splitlines() if line.startswith(SLOWED))


def test_different_runtime_version_or_emulation_is_not_comparable(base, tmp_path):
    other = scaled(base, tmp_path / "other", SLOWED, 1.5)

    def bump(r):
        if r["config_id"] == SLOWED:
            r["runtime_version"] = "0.0.1"
        return r

    rewrite_records(other, bump)
    proc = edgebench("compare", str(base), str(other))
    assert proc.returncode == 0, proc.stderr  # a slower different runtime is no regression of this one
    line = next(line for line in proc.stdout.splitlines() if line.startswith(SLOWED))
    assert "not comparable" in line and "runtime version" in line
    emu = copy_run(base, tmp_path / "emu")
    rewrite_records(emu, lambda r: {**r, "emulated": True})
    proc = edgebench("compare", str(base), str(emu))
    assert proc.returncode == 0 and proc.stdout.count("not comparable") == 4 and "emulated in B only" in proc.stdout


def test_a_different_cpu_under_the_same_device_name_is_not_comparable(base, tmp_path):
    other = copy_run(base, tmp_path / "cpu")
    meta = json.loads((other / "run.json").read_text())
    meta["devices"]["local"]["cpu_model"] = "Some Other CPU"
    (other / "run.json").write_text(json.dumps(meta))
    proc = edgebench("compare", str(base), str(other))
    assert proc.returncode == 0 and proc.stdout.count("not comparable") == 4 and "cpu_model differs" in proc.stdout


def test_configs_in_one_run_only_are_listed(base, tmp_path):
    fewer = copy_run(base, tmp_path / "fewer")
    path = fewer / "records.jsonl"
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if SLOWED not in line))
    proc = edgebench("compare", str(base), str(fewer))
    assert proc.returncode == 0 and "only in A" in proc.stdout


@pytest.mark.parametrize("bad", ["5", "five%", "-5%", "2000%", ""])
def test_a_bad_threshold_is_a_clear_error(base, bad):
    assert_clean_error(edgebench("compare", str(base), str(base), f"--threshold={bad}"), "--threshold",
                       "percentage" if bad in ("5", "five%", "-5%", "") else "between")


def test_compare_with_a_folder_that_is_not_a_run_names_it(base, tmp_path):
    assert_clean_error(edgebench("compare", str(base), str(tmp_path)), str(tmp_path), "not a run folder")


def test_a_config_with_no_timing_in_b_is_not_a_failure(base, tmp_path):
    untimed = copy_run(base, tmp_path / "untimed")
    path = untimed / "records.jsonl"
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    kept = [r for r in recs if not (r["config_id"] == SLOWED and r["mode"] == "perf")]
    assert len(kept) < len(recs) and any(r["config_id"] == SLOWED for r in kept)  # accuracy stays
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    proc = edgebench("compare", str(base), str(untimed))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith(SLOWED))
    assert "not timed in B" in line and "newly failing" not in proc.stdout


def test_the_interval_covers_the_estimate_when_trials_differ_in_length():
    import numpy as np

    from harness.stats import ratio_of_medians

    rng = np.random.default_rng(0)
    a = {k: list(rng.normal(100, 2, 3000)) for k in range(3)}
    # one full trial and two cut short (a burst of load made them hit max_time_s)
    b = {0: list(rng.normal(100, 2, 3000)), 1: list(rng.normal(130, 2, 40)), 2: list(rng.normal(130, 2, 40))}
    est = ratio_of_medians(b, a)
    assert est.ratio == pytest.approx(1.0, abs=0.01)
    assert est.ci_low <= est.ratio <= est.ci_high
    assert not est.significant


def test_rows_whose_trial_counts_differ_are_flagged(base, tmp_path):
    """One side keeps only trial 0 of a config: the row says the trial counts differ and what 1 trial means."""
    one = copy_run(base, tmp_path / "one")
    path = one / "records.jsonl"
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    keep = [r for r in recs if not (r["config_id"] == SLOWED and r["mode"] == "perf" and r["trial"] != 0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in keep))
    proc = edgebench("compare", str(base), str(one), "--csv", str(tmp_path / "cmp.csv"))
    table = pd.read_csv(tmp_path / "cmp.csv").set_index("config_id")
    trials = sum(1 for r in recs if r["config_id"] == SLOWED and r["mode"] == "perf")
    assert trials > 1
    assert table.loc[SLOWED, "trials_a"] == trials and table.loc[SLOWED, "trials_b"] == 1
    assert f"trials differ: A {trials}, B 1" in table.loc[SLOWED, "note"]
    assert "within-process" in table.loc[SLOWED, "note"]
    others = table.drop(index=SLOWED)
    assert others["note"].fillna("").str.contains("trials differ").sum() == 0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    helptext = " ".join(edgebench("compare", "--help").stdout.split())
    assert "same: within the threshold" in helptext and "'trials differ' when the runs ran different" in helptext
