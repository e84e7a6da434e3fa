"""The pair stopping rule: after the planned trials, extra interleaved rounds of a twin pair until its
speedup's interval is within the target, or a limit. Real runs of the shipped digits pair on this
machine, and the rule's round planning on given medians."""

from __future__ import annotations

import json
from pathlib import Path

from harness.execution.pair_rule import PairRule, twin_pairs
from harness.plan import plan
from harness.profiles import load_profiles

FAST = ('warmup_runs = 2\nwarmup_time_s = 0.0\nmin_runs = 20\nmin_time_s = 0.02\nmax_time_s = 0.5\n'
        'target_rel_ci = 0\n')


def _profile(tmp_path: Path, extra: str) -> Path:
    p = tmp_path / "pair.toml"
    p.write_text('[device]\nname = "local"\nkind = "local"\n\n[matrix]\nmodels = ["digits"]\n'
                 'runtimes = ["onnxruntime"]\nprecisions = ["fp32"]\nthreads = [1]\nmodes = ["perf"]\n'
                 + FAST + extra)
    return p


def _perf_trials(run: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for line in (run / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["mode"] == "perf":
            out.setdefault(r["model"], []).append(r["trial"])
    return {k: sorted(v) for k, v in out.items()}


def test_a_pair_short_of_its_target_gets_extra_rounds_up_to_the_trial_limit(tmp_path):
    from harness.cli import main

    prof = _profile(tmp_path, "trials = 3\npair_target = 0.00001\npair_max_trials = 5\n")
    assert main(["run", str(prof), "--out", str(tmp_path), "--run-id", "r"]) == 0
    run = tmp_path / "r"
    assert _perf_trials(run) == {"digits-separable": [0, 1, 2, 3, 4], "digits-standard": [0, 1, 2, 3, 4]}
    outcome = json.loads((run / "run.json").read_text())["pair_rule"]["local"]
    pair = outcome["pairs"]["local/digits/onnxruntime/fp32/t1"]
    assert pair["trials"] == 5 and pair["stop"] == "trial limit (5 per config) reached"
    assert outcome["rule"].startswith("fast-state speedup's 95% interval within +-0.0%, at most 5 trials")
    import pandas as pd

    row = pd.read_csv(run / "pairs.csv").iloc[0]
    assert row["pair_stop"] == "trial limit (5 per config) reached" and row["pair_rule"] == outcome["rule"]
    assert row["trials_separable"] == row["trials_standard"] == 5


def test_quick_runs_and_pair_target_zero_turn_the_rule_off(tmp_path):
    prof = _profile(tmp_path, "trials = 3\npair_target = 0\n")
    (profile,) = load_profiles([str(prof)])
    assert PairRule.from_matrix(profile.matrix) is None
    (quick,) = load_profiles([str(prof)], {"quick": True})
    assert PairRule.from_matrix(quick.matrix) is None


def test_a_round_adds_the_next_trial_of_both_twins_of_each_unfinished_pair_only(tmp_path):
    prof = _profile(tmp_path, "trials = 3\n")
    prof.write_text(prof.read_text().replace('runtimes = ["onnxruntime"]', 'runtimes = ["onnxruntime", "tflite"]'))
    profiles = load_profiles([str(prof)])
    _configs, jobs = plan(profiles, seed=0)
    pairs = twin_pairs(jobs["local"])
    assert sorted(p.label for p in pairs) == ["local/digits/onnxruntime/fp32/t1", "local/digits/tflite/fp32/t1"]
    ort, tfl = sorted(pairs, key=lambda p: p.label)
    noisy = {0: 36e3, 1: 52e3, 2: 36.2e3}
    steady = {0: 150e3, 1: 150.2e3, 2: 150.1e3}
    medians = {ort.separable.config_id: noisy, ort.standard.config_id: steady,
               tfl.separable.config_id: {0: 20e3, 1: 20.01e3, 2: 20.02e3}, tfl.standard.config_id: steady}
    taken = {(cid, t) for cid in medians for t in range(3)}
    rule = PairRule(target=0.02, max_trials=12, max_time_s=100)
    extra = rule.next_round(pairs, medians, taken)
    assert [(j.config.config_id, j.trial, j.mode) for j in extra] == [
        (ort.separable.config_id, 3, "perf"), (ort.standard.config_id, 3, "perf")]
    assert rule.outcome[tfl.label]["stop"].startswith("interval")
    assert rule.outcome[ort.label]["stop"] is None


def test_a_round_that_gives_a_twin_no_ok_trial_ends_the_rule_for_that_pair(tmp_path):
    """A device lost or failing mid-rule: its jobs come back skipped or failed; no endless rounds."""
    prof = _profile(tmp_path, "trials = 3\n")
    _configs, jobs = plan(load_profiles([str(prof)]), seed=0)
    (pair,) = twin_pairs(jobs["local"])
    medians = {pair.separable.config_id: {0: 36e3, 1: 52e3, 2: 36.2e3},
               pair.standard.config_id: {0: 150e3, 1: 150.2e3, 2: 150.1e3}}
    taken = {(cid, t) for cid in medians for t in range(3)}
    rule = PairRule(target=0.02, max_trials=12, max_time_s=100)
    first = rule.next_round([pair], medians, taken)
    assert [j.trial for j in first] == [3, 3]
    # the round's jobs were recorded, but not ok (skipped: the device went away)
    assert rule.next_round([pair], medians, taken) == []
    assert rule.outcome[pair.label]["stop"] == "the last trial of a twin is not ok (device lost or failing)"
