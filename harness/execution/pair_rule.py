"""The pair's stopping rule: after the planned trials, more rounds of a twin pair until the 95% interval
of the pair's headline speedup is within +-matrix.pair_target, or a limit is reached
(matrix.pair_max_trials rounds, matrix.pair_max_time_s of extra rounds). A smoke run that plans fewer
than 3 trials (--quick: 1) is not extended.

A round is one pair job per pair that is not done yet: one fresh process that loads both twins and
times them in alternating blocks (harness.runner pair mode), so the ratio from each process cancels what
slowed the machine or the process; the headline is harness.states.paired_speedup over those processes,
and the rule needs at least MIN_PAIRED_TRIALS of them. A device whose runner cannot load two models (an
adb phone with runner = "native") gets the older round instead: one more perf trial of each twin, in
the interleaved order, until the fast-state headline (harness.states.fast_state_speedup) is within the
target. Round jobs are recorded like any other; why each pair stopped goes into run.json (`pair_rule`),
and from there into pairs.csv.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..plan import Config, JobSpec
from ..states import MIN_PAIRED_TRIALS, MIN_STATE_TRIALS

PairKey = tuple[str, str, str, str, int, bool]  # device, family, runtime, precision, threads, xnnpack


@dataclass(frozen=True)
class Pair:
    separable: Config
    standard: Config

    @property
    def key(self) -> PairKey:
        c = self.separable
        return (c.device, c.family or c.model, c.runtime, c.precision, c.threads, c.xnnpack)

    @property
    def label(self) -> str:
        c = self.separable
        return f"{c.device}/{c.family}/{c.runtime}/{c.precision}/t{c.threads}"


def twin_pairs(jobs: Sequence[JobSpec]) -> list[Pair]:
    """The twin pairs among the perf configs of one device's jobs (zoo twins and declared pairs)."""
    sides: dict[PairKey, dict[str, Config]] = {}
    for j in jobs:
        c = j.config
        if j.mode == "perf" and c.twin in ("separable", "standard") and c.family:
            key = (c.device, c.family, c.runtime, c.precision, c.threads, c.xnnpack)
            sides.setdefault(key, {})[c.twin] = c
    return [Pair(s["separable"], s["standard"]) for s in sides.values() if len(s) == 2]


Taken = set[tuple[str, str, int]]  # (config_id, mode, trial) of every job planned or recorded


@dataclass
class PairRule:
    """State of the rule across rounds for one device's pairs: which pairs are done and why."""

    target: float
    max_trials: int
    max_time_s: float
    paired: bool = True   # rounds are pair jobs (else one perf trial per twin)
    started: float = field(default_factory=time.monotonic)
    outcome: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_matrix(cls, matrix: Mapping[str, Any], paired: bool = True) -> PairRule | None:
        target = matrix.get("pair_target")
        if not target or int(matrix.get("trials") or 1) < MIN_STATE_TRIALS:
            return None  # off, or a smoke run of 1-2 trials (--quick): not extended
        max_trials = int(matrix.get("pair_max_trials") or 0)
        if not paired:
            max_trials = max(max_trials, int(matrix.get("trials") or 1))
        return cls(float(target), max(max_trials, MIN_PAIRED_TRIALS if paired else 1),
                   float(matrix.get("pair_max_time_s") or 0.0), paired)

    def describe(self) -> str:
        if self.paired:
            return (f"paired speedup's 95% interval within +-{self.target:.1%}: at least {MIN_PAIRED_TRIALS} and "
                    f"at most {self.max_trials} pair jobs (both twins in one process), at most "
                    f"{self.max_time_s:.0f} s of extra rounds")
        return (f"fast-state speedup's 95% interval within +-{self.target:.1%}, at most {self.max_trials} "
                f"trials per config and {self.max_time_s:.0f} s of extra rounds")

    def next_round(self, pairs: Sequence[Pair], medians: Mapping[str, Mapping[int, float]], taken: Taken,
                   paired: Mapping[tuple[str, str], Mapping[int, tuple[float, float]]] | None = None) -> list[JobSpec]:
        """Jobs of one more round for the pairs that are not done (none when all are). `taken` holds
        every (config, mode, trial) planned or recorded, whatever its status: the limit counts what was
        tried, and a pair whose latest round job is not ok (its device lost or failing) ends the rule
        for that pair. `paired`: the pair jobs' medians (harness.stats.pair_job_medians)."""
        over_time = time.monotonic() - self.started > self.max_time_s
        jobs: list[JobSpec] = []
        for pair in pairs:
            sep = medians.get(pair.separable.config_id, {})
            std = medians.get(pair.standard.config_id, {})
            if not sep or not std:
                self.outcome[pair.label] = {"stop": "a twin has no ok perf trial", "trials": 0}
                continue
            if self.paired:
                more, why, new = self._paired(pair, (paired or {}).get(
                    (pair.separable.config_id, pair.standard.config_id), {}), taken, sep, std)
            else:
                more, why, new = self._per_config(pair, sep, std, taken)
            if more and over_time:
                more, why = False, f"time limit ({self.max_time_s:.0f} s of extra rounds) reached"
            if why is not None:
                self.outcome[pair.label] = {**self.outcome.get(pair.label, {}), "stop": None if more else why}
            if more:
                taken.update((j.config.config_id, j.mode, j.trial) for j in new)
                jobs.extend(new)
        return jobs

    def _paired(self, pair: Pair, done: Mapping[int, tuple[float, float]], taken: Taken,
                sep: Mapping[int, float], std: Mapping[int, float]) -> tuple[bool, str | None, list[JobSpec]]:
        from ..states import paired_headline, pair_should_continue

        cid = pair.separable.config_id
        tried = sorted(t for c, m, t in taken if c == cid and m == "pair")
        if tried and tried[-1] not in done:
            self.outcome[pair.label] = {**self.outcome.get(pair.label, {}), "trials": len(done),
                                        "stop": "the last pair job is not ok (device lost or failing)"}
            return False, None, []
        head = paired_headline(done, list(sep.values()), list(std.values()))
        more, why = pair_should_continue(head, len(tried), self.target, self.max_trials, paired=True)
        self.outcome[pair.label] = {"trials": len(done), "rel_half_width": head.rel_half_width}
        nxt = 1 + tried[-1] if tried else 0
        return more, why, [JobSpec(pair.separable, "pair", nxt, partner=pair.standard)]

    def _per_config(self, pair: Pair, sep: Mapping[int, float], std: Mapping[int, float],
                    taken: Taken) -> tuple[bool, str | None, list[JobSpec]]:
        from ..states import fast_state_speedup, pair_should_continue

        cids = (pair.separable.config_id, pair.standard.config_id)
        trials = {c: sorted(t for cc, m, t in taken if cc == c and m == "perf") for c in cids}
        latest = {c: trials[c][-1] for c in cids}
        if any(latest[c] not in m for c, m in zip(cids, (sep, std))):
            self.outcome[pair.label] = {**self.outcome.get(pair.label, {}),
                                        "stop": "the last trial of a twin is not ok (device lost or failing)"}
            return False, None, []
        head = fast_state_speedup([sep[k] for k in sorted(sep)], [std[k] for k in sorted(std)])
        more, why = pair_should_continue(head, min(len(t) for t in trials.values()), self.target, self.max_trials)
        self.outcome[pair.label] = {"trials": min(len(sep), len(std)), "rel_half_width": head.rel_half_width}
        return more, why, [JobSpec(c, "perf", 1 + latest[c.config_id]) for c in (pair.separable, pair.standard)]
