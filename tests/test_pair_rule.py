"""The pair stopping rule: after the planned trials, extra rounds of a twin pair (pair jobs: both twins
in one process) until its speedup's interval is within the target, or a limit. Real runs of the
shipped digits pair on this machine, and the rule's round planning on given medians and ratios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def _trials(run: Path, mode: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for line in (run / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["mode"] == mode:
            out.setdefault(r["model"], []).append(r["trial"])
    return {k: sorted(v) for k, v in out.items()}


def test_a_pair_short_of_its_target_gets_pair_jobs_up_to_the_limit_and_they_make_the_headline(tmp_path, capsys):
    from harness.cli import main

    prof = _profile(tmp_path, "trials = 3\npair_target = 0.00001\npair_max_trials = 4\n")
    assert main(["run", str(prof), "--out", str(tmp_path), "--run-id", "r"]) == 0
    run = tmp_path / "r"
    # a pair short of its target is said on the terminal and on the report's first screen
    out = capsys.readouterr().out
    assert "pair rule: digits onnxruntime fp32 t1: trial limit (4 pair jobs) reached" in out, out
    html = (run / "report.html").read_text()
    assert 'class="small pair-rule"' in html and "Short of its target: digits onnxruntime fp32 t1: trial limit" in html
    assert _trials(run, "perf") == {"digits-separable": [0, 1, 2], "digits-standard": [0, 1, 2]}
    assert _trials(run, "pair") == {"digits-separable": [0, 1, 2, 3]}
    recs = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    pair_recs = [r for r in recs if r["mode"] == "pair"]
    assert all(r["partner_config_id"] == "local/digits-standard/onnxruntime/fp32/t1" and r["status"] == "ok"
               and len(r["partner_latency_ns"]) >= 20 and len(r["latency_ns"]) >= 20 and r["pair_blocks"] >= 2
               and r["partner_model_file"].endswith("digits-standard-onnx-fp32.onnx") for r in pair_recs)
    outcome = json.loads((run / "run.json").read_text())["pair_rule"]["local"]
    pair = outcome["pairs"]["local/digits/onnxruntime/fp32/t1"]
    assert pair["trials"] == 4 and pair["stop"] == "trial limit (4 pair jobs) reached"
    assert outcome["rule"].startswith("paired speedup's 95% interval within +-0.0%: at least 3 and at most 4 pair jobs")
    import numpy as np
    import pandas as pd

    row = pd.read_csv(run / "pairs.csv").iloc[0]
    assert row["pair_stop"] == "trial limit (4 pair jobs) reached" and row["pair_rule"] == outcome["rule"]
    assert row["trials_separable"] == row["trials_standard"] == 3 and row["pair_jobs"] == 4
    assert row["speedup_method"].startswith("paired")
    from harness.states import paired_speedup

    ratios = [np.median(r["partner_latency_ns"]) / np.median(r["latency_ns"]) for r in pair_recs]
    assert min(ratios) <= row["speedup"] <= max(ratios)
    perf = {m: [float(np.median(r["latency_ns"])) for r in recs if r["mode"] == "perf" and r["model"] == m]
            for m in ("digits-separable", "digits-standard")}
    h = paired_speedup([np.median(r["latency_ns"]) for r in pair_recs],
                       [np.median(r["partner_latency_ns"]) for r in pair_recs],
                       perf["digits-separable"], perf["digits-standard"])
    assert row["speedup"] == pytest.approx(h.speedup, rel=1e-9)  # the records' pair jobs, wired through
    if max(ratios) / min(ratios) < 1.05:  # one level, no lone process: every pair job counts
        assert row["speedup"] == pytest.approx(float(np.exp(np.mean(np.log(ratios)))), rel=1e-9)
    assert row["speedup_ci_low"] < row["speedup"] < row["speedup_ci_high"]
    # the summary's latencies come from the perf trials only: pair jobs are not mixed into a config
    summary = pd.read_csv(run / "summary.csv")
    assert set(summary["trials"]) == {3}


def test_quick_runs_and_pair_target_zero_turn_the_rule_off(tmp_path):
    prof = _profile(tmp_path, "trials = 3\npair_target = 0\n")
    (profile,) = load_profiles([str(prof)])
    assert PairRule.from_matrix(profile.matrix) is None
    (quick,) = load_profiles([str(prof)], {"quick": True})
    assert PairRule.from_matrix(quick.matrix) is None


def _pairs(tmp_path: Path, runtimes: str = '"onnxruntime", "tflite"'):
    prof = _profile(tmp_path, "trials = 3\n")
    prof.write_text(prof.read_text().replace('runtimes = ["onnxruntime"]', f'runtimes = [{runtimes}]'))
    _configs, jobs = plan(load_profiles([str(prof)]), seed=0)
    return sorted(twin_pairs(jobs["local"]), key=lambda p: p.label)


def _taken(medians) -> set:
    return {(cid, "perf", t) for cid in medians for t in range(3)}


def test_a_paired_round_adds_one_pair_job_per_unfinished_pair_until_three_then_until_the_target(tmp_path):
    ort, tfl = _pairs(tmp_path)
    medians = {c.config_id: {0: 1e3, 1: 1e3, 2: 1e3} for p in (ort, tfl) for c in (p.separable, p.standard)}
    taken = _taken(medians)
    rule = PairRule(target=0.02, max_trials=12, max_time_s=100)
    first = rule.next_round([ort, tfl], medians, taken, {})
    assert [(j.config.config_id, j.mode, j.trial, j.partner.config_id) for j in first] == [
        (p.separable.config_id, "pair", 0, p.standard.config_id) for p in (ort, tfl)]
    assert rule.outcome[ort.label]["stop"] is None
    # three processes each: ORT's ratios spread (interval wider than +-2%), LiteRT's agree
    ratios = {(ort.separable.config_id, ort.standard.config_id): {0: (100, 310), 1: (100, 340), 2: (100, 325)},
              (tfl.separable.config_id, tfl.standard.config_id): {0: (20, 140.4), 1: (20, 141), 2: (20, 140.8)}}
    taken |= {(p.separable.config_id, "pair", t) for p in (ort, tfl) for t in range(3)}
    more = rule.next_round([ort, tfl], medians, taken, ratios)
    assert [(j.config.config_id, j.trial) for j in more] == [(ort.separable.config_id, 3)]
    assert rule.outcome[tfl.label]["stop"].startswith("interval +-0.")
    assert rule.outcome[ort.label] == {"trials": 3, "rel_half_width": pytest.approx(0.11, abs=0.02), "stop": None}


def test_a_pair_job_that_failed_ends_the_paired_rule_for_that_pair(tmp_path):
    (pair,) = _pairs(tmp_path, '"onnxruntime"')
    medians = {c.config_id: {0: 1e3, 1: 1e3, 2: 1e3} for c in (pair.separable, pair.standard)}
    taken = _taken(medians) | {(pair.separable.config_id, "pair", t) for t in range(4)}
    ratios = {(pair.separable.config_id, pair.standard.config_id): {0: (100, 310), 1: (100, 340), 2: (100, 325)}}
    rule = PairRule(target=0.02, max_trials=12, max_time_s=100)
    assert rule.next_round([pair], medians, taken, ratios) == []
    assert rule.outcome[pair.label]["stop"] == "the last pair job is not ok (device lost or failing)"


def test_a_device_without_pair_jobs_gets_per_config_rounds(tmp_path):
    prof = _profile(tmp_path, "trials = 3\npair_max_trials = 2\n")
    (profile,) = load_profiles([str(prof)])
    rule = PairRule.from_matrix(profile.matrix, paired=False)
    assert not rule.paired and rule.max_trials == 3  # never below the planned trials
    assert PairRule.from_matrix(profile.matrix).max_trials == 3  # paired: never below the 3 it needs
    assert rule.describe().startswith("fast-state speedup's 95% interval")


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
    taken = _taken(medians)
    rule = PairRule(target=0.02, max_trials=12, max_time_s=100, paired=False)
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
    taken = _taken(medians)
    rule = PairRule(target=0.02, max_trials=12, max_time_s=100, paired=False)
    first = rule.next_round([pair], medians, taken)
    assert [j.trial for j in first] == [3, 3]
    # the round's jobs were recorded, but not ok (skipped: the device went away)
    assert rule.next_round([pair], medians, taken) == []
    assert rule.outcome[pair.label]["stop"] == "the last trial of a twin is not ok (device lost or failing)"


def test_a_run_stopped_during_the_pair_rule_resumes_with_the_next_pair_job(tmp_path):
    """Killed after the first pair job: --resume keeps every record, runs no planned job again, and the
    rule goes on from pair job 1 (numbers never repeat) until the pair is within its target."""
    from harness.cli import main

    prof = _profile(tmp_path, "trials = 3\npair_target = 0.2\n")
    assert main(["run", str(prof), "--out", str(tmp_path), "--run-id", "r", "--no-report"]) == 0
    run = tmp_path / "r"
    lines = (run / "records.jsonl").read_text().splitlines()
    first_pair = next(i for i, line in enumerate(lines) if json.loads(line)["mode"] == "pair")
    (run / "records.jsonl").write_text("\n".join(lines[: first_pair + 1]) + "\n")
    meta = json.loads((run / "run.json").read_text())
    meta["status"] = "interrupted"
    (run / "run.json").write_text(json.dumps(meta))
    assert main(["run", "--resume", str(run)]) == 0
    recs = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    assert recs[: first_pair + 1] == [json.loads(line) for line in lines[: first_pair + 1]]
    pair_trials = [r["trial"] for r in recs if r["mode"] == "pair"]
    assert pair_trials == list(range(len(pair_trials))) and len(pair_trials) >= 3
    assert sum(r["mode"] == "perf" for r in recs) == 6  # the planned trials ran once
    import pandas as pd

    row = pd.read_csv(run / "pairs.csv").iloc[0]
    assert row["pair_jobs"] == len(pair_trials) and isinstance(row["pair_stop"], str)
