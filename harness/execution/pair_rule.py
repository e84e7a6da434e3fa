"""The pair's stopping rule: after the planned trials, more interleaved rounds of a twin pair's two
configs until the 95% interval of the pair's headline speedup (harness.states.fast_state_speedup) is
within +-matrix.pair_target and each twin has enough fast-state trials, or a limit is reached
(matrix.pair_max_trials trials per config, matrix.pair_max_time_s of extra rounds). A smoke run that
plans fewer than 3 trials (--quick: 1) is not extended: the rule needs 3 fast-state trials per twin.

A round is one more fresh process per config of every pair that is not done yet, in the same
interleaved order as the planned trials; its jobs are perf jobs with the next trial numbers, recorded
like any other. Why each pair stopped goes into run.json (`pair_rule`), and from there into pairs.csv.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..plan import Config, JobSpec
from ..records import Status
from ..states import MIN_STATE_TRIALS

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


def trial_medians(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, float]]:
    """config_id -> {trial: median latency (ns)} of the ok perf records."""
    import numpy as np

    out: dict[str, dict[int, float]] = {}
    for r in records:
        if r.get("mode") == "perf" and r.get("status") == Status.OK and r.get("latency_ns"):
            out.setdefault(r["config_id"], {})[int(r.get("trial") or 0)] = float(np.median(r["latency_ns"]))
    return out


@dataclass
class PairRule:
    """State of the rule across rounds for one run: which pairs are done and why."""

    target: float
    max_trials: int
    max_time_s: float
    started: float = field(default_factory=time.monotonic)
    outcome: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_matrix(cls, matrix: Mapping[str, Any]) -> PairRule | None:
        target = matrix.get("pair_target")
        if not target or int(matrix.get("trials") or 1) < MIN_STATE_TRIALS:
            return None  # off, or a smoke run of 1-2 trials (--quick): not extended
        max_trials = max(int(matrix.get("pair_max_trials") or 0), int(matrix.get("trials") or 1))
        return cls(float(target), max_trials, float(matrix.get("pair_max_time_s") or 0.0))

    def describe(self) -> str:
        return (f"fast-state speedup's 95% interval within +-{self.target:.1%}, at most {self.max_trials} "
                f"trials per config and {self.max_time_s:.0f} s of extra rounds")

    def next_round(self, pairs: Sequence[Pair], medians: Mapping[str, Mapping[int, float]],
                   taken: set[tuple[str, int]]) -> list[JobSpec]:
        """Perf jobs of one more round for the pairs that are not done (none when all are). `taken`
        holds every (config, trial) planned or recorded, whatever its status: the trial limit counts
        what was tried, and a twin whose latest trial is not ok (its device lost or failing) ends the rule
        for that pair."""
        from ..states import fast_state_speedup, pair_should_continue

        over_time = time.monotonic() - self.started > self.max_time_s
        jobs: list[JobSpec] = []
        for pair in pairs:
            sep = medians.get(pair.separable.config_id, {})
            std = medians.get(pair.standard.config_id, {})
            tried = min(sum(1 for cid, _ in taken if cid == c.config_id) for c in (pair.separable, pair.standard))
            if not sep or not std:
                self.outcome[pair.label] = {"stop": "a twin has no ok perf trial", "trials": 0}
                continue
            latest = {c.config_id: max(t for cid, t in taken if cid == c.config_id)
                      for c in (pair.separable, pair.standard)}
            if any(t not in medians.get(cid, {}) for cid, t in latest.items()):
                self.outcome[pair.label] = {**self.outcome.get(pair.label, {}),
                                            "stop": "the last trial of a twin is not ok (device lost or failing)"}
                continue
            head = fast_state_speedup([sep[k] for k in sorted(sep)], [std[k] for k in sorted(std)])
            more, why = pair_should_continue(head, tried, self.target, self.max_trials)
            if more and over_time:
                more, why = False, f"time limit ({self.max_time_s:.0f} s of extra rounds) reached"
            self.outcome[pair.label] = {"stop": None if more else why, "trials": min(len(sep), len(std)),
                                        "rel_half_width": head.rel_half_width}
            if more:
                for c in (pair.separable, pair.standard):
                    trial = 1 + latest[c.config_id]
                    taken.add((c.config_id, trial))
                    jobs.append(JobSpec(c, "perf", trial))
        return jobs
