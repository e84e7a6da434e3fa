"""Speed states of fresh processes, and the twin speedup that does not depend on which states were drawn.

Each trial is a fresh process. On some machines a fresh process lands in a fast or a slow state and
stays there for its whole life (which CPU it runs on, where its buffers fall in memory, what the
neighbours do): its median is one of a few levels, not a draw around one level. A twin pair measured in
5 trials then gives a ratio that depends on how many fast and slow processes each twin drew.

`detect_states` finds such levels among the per-trial medians of one config. The test, on the logs of
the trial medians sorted: split at the largest gap; the split is real when that gap is at least
`MIN_STATE_GAP` (5%) and larger than the 99th percentile of the same statistic (gap / pooled SD of the
two groups) for trials drawn from ONE normal level, computed by a seeded simulation for this many trials
(`gap_threshold`). Groups are split again the same way (at most `MAX_STATES`).

`paired_speedup` is the pair's headline when the pair rule has run pair jobs (both twins in one fresh
process, timed in alternating 50 ms blocks): each process gives one ratio of the twins' medians, in
which whatever slowed the machine for seconds cancels, since it slowed both twins alike; the headline
is the geometric mean of those ratios with a t interval over processes. A process state may slow one
twin more than the other (on a shared AMD EPYC: separable x1.45, standard x1.22) and so move the ratio:
where the gap test finds states among the ratios, only the fastest processes' state counts.

`fast_state_speedup` is the headline without pair jobs (a device whose runner cannot load two models,
the rule off, an old run): for each twin, the trials within `MIN_STATE_GAP` of its
fastest level (anchored at the second-fastest trial, so one lucky trial is not a level) are its fast
state; the headline is the ratio of the geometric means of those trials' medians (standard over
separable), with a Welch t interval on the logs. The fast state is the machine doing only this work;
its ratio is what separate invocations agree on, whatever mix of states each drew.
`pair_should_continue` is the pair's stopping rule: more rounds until the interval is within +-target
(with `MIN_PAIRED_TRIALS` pair jobs, or `MIN_STATE_TRIALS` fast-state trials per twin), or a round
limit, or (pair jobs) until the spread seen says the target cannot be reached by the limit.
benchmarks/speed_states_sim.py chose this estimator against the pooled-median ratio, the median of
per-round ratios, the ratio of minima and a gap-test state under injected states, drift and outliers:
it is the only one without bias in every scenario, and with the stopping rule its spread is within 2-3%.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

MIN_STATE_GAP = 0.05        # levels closer than 5% are one state
MAX_STATES = 3
MIN_STATE_TRIALS = 3        # fast-state trials each twin needs before the pair may stop
MIN_PAIRED_TRIALS = 3       # pair jobs a pair needs before the rule may stop
# A pair whose interval, at the spread seen so far, would still be wider than FUTILITY_MARGIN x the
# target at the limit stops adding rounds (from FUTILITY_FROM processes on: the spread of fewer is too
# uncertain to give up on): a pair that cannot be known to +-2% on this machine does not run to the limit.
FUTILITY_FROM = 6
FUTILITY_MARGIN = 1.5
FALSE_ALARM = 0.01          # chance that one normal level is reported as two
# for the per-process ratios of pair jobs: a split there also needs a 5% gap where one process's ratio
# varies ~1%, and a missed state biases the headline, so the test may be bolder
RATIO_FALSE_ALARM = 0.05
SEED = 20261202


@dataclass(frozen=True)
class SpeedState:
    center: float             # median of the trial medians in this state
    trials: tuple[int, ...]   # indices into the trial medians given

    @property
    def count(self) -> int:
        return len(self.trials)


@dataclass(frozen=True)
class States:
    states: tuple[SpeedState, ...]   # fastest first

    @property
    def multimodal(self) -> bool:
        return len(self.states) > 1

    @property
    def reference(self) -> SpeedState:
        """The fastest state with at least MIN_STATE_TRIALS trials (else the largest one)."""
        for s in self.states:
            if s.count >= MIN_STATE_TRIALS:
                return s
        return max(self.states, key=lambda s: s.count)

    def describe(self, unit: float = 1e3, suffix: str = "us") -> str:
        """'2 speed states: 3 trials at 36.0 us, 2 at 52.1 us' ('' for one state)."""
        if not self.multimodal:
            return ""
        parts = [f"{s.count} trial{'s' if s.count != 1 else ''} at {s.center / unit:.4g} {suffix}"
                 if i == 0 else f"{s.count} at {s.center / unit:.4g} {suffix}"
                 for i, s in enumerate(self.states)]
        return f"{len(self.states)} speed states: " + ", ".join(parts)


@functools.lru_cache(maxsize=64)
def gap_threshold(n: int, false_alarm: float = FALSE_ALARM, draws: int = 4000) -> float:
    """The (1 - false_alarm) quantile of largest-gap / pooled within-group SD for n normal draws."""
    rng = np.random.default_rng(SEED + n)
    x = np.sort(rng.standard_normal((draws, n)), axis=1)
    stats = np.array([_gap_stat(row)[0] for row in x])
    return float(np.quantile(stats[np.isfinite(stats)], 1.0 - false_alarm))


def _gap_stat(x: np.ndarray) -> tuple[float, int]:
    """(largest gap / pooled within-group SD, split index) for sorted values x."""
    gaps = np.diff(x)
    i = int(np.argmax(gaps))
    lo, hi = x[: i + 1], x[i + 1:]
    dof = lo.size + hi.size - 2
    if dof < 1:
        return math.inf, i
    ss = float(((lo - lo.mean()) ** 2).sum() + ((hi - hi.mean()) ** 2).sum())
    sd = math.sqrt(ss / dof)
    return (gaps[i] / sd if sd > 0 else math.inf), i


def _split(idx: list[int], logs: np.ndarray, depth: int, false_alarm: float = FALSE_ALARM) -> list[list[int]]:
    if len(idx) < 3 or depth >= MAX_STATES - 1:
        return [idx]
    order = sorted(idx, key=lambda j: logs[j])
    x = logs[order]
    stat, i = _gap_stat(x)
    gap = x[i + 1] - x[i]
    if gap < math.log1p(MIN_STATE_GAP) or stat <= gap_threshold(len(order), false_alarm):
        return [order]
    return (_split(order[: i + 1], logs, depth + 1, false_alarm)
            + _split(order[i + 1:], logs, depth + 1, false_alarm))


def detect_states(trial_medians: Sequence[float], false_alarm: float = FALSE_ALARM) -> States:
    """Group the per-trial medians of one config into speed states (fastest first)."""
    m = np.asarray(trial_medians, dtype=np.float64)
    ok = [j for j in range(m.size) if np.isfinite(m[j]) and m[j] > 0]
    if not ok:
        return States(())
    logs = np.full(m.size, np.nan)
    logs[ok] = np.log(m[ok])
    groups = _split(ok, logs, 0, false_alarm)
    states = [SpeedState(float(np.median(m[g])), tuple(sorted(g))) for g in groups]
    return States(tuple(sorted(states, key=lambda s: s.center)))


@dataclass(frozen=True)
class Headline:
    speedup: float | None
    ci_low: float | None
    ci_high: float | None
    sep_states: States
    std_states: States
    fast_sep: int = 0          # trials in the separable twin's fast state (paired: processes fast on both sides)
    fast_std: int = 0
    paired: int = 0            # pair jobs behind a paired headline (0: the fast-state headline)

    @property
    def rel_half_width(self) -> float | None:
        if not self.speedup or self.ci_low is None or self.ci_high is None:
            return None
        return (self.ci_high - self.ci_low) / 2.0 / self.speedup


# two-sided 95% quantiles of Student's t for 1..30 degrees of freedom
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t975(dof: float) -> float:
    """97.5% quantile of Student's t (linear between tabulated integer dof; Cornish-Fisher past 30)."""
    if dof <= 1:
        return _T975[0]
    if dof < 30:
        lo = int(dof)
        frac = dof - lo
        return _T975[lo - 1] * (1 - frac) + _T975[lo] * frac
    z = 1.959964
    return z + (z**3 + z) / (4 * dof) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)


def fast_trials(trial_medians: Sequence[float]) -> np.ndarray:
    """Indices of the trials within MIN_STATE_GAP of the twin's fastest level (anchored at the
    second-fastest trial when there are three or more)."""
    m = np.asarray(trial_medians, dtype=np.float64)
    ok = np.isfinite(m) & (m > 0)
    if not ok.any():
        return np.empty(0, dtype=int)
    vals = np.sort(m[ok])
    anchor = vals[1] if vals.size > 2 else vals[0]
    return np.flatnonzero(ok & (m <= anchor * (1.0 + MIN_STATE_GAP)))


def in_reference_state(values: Sequence[float], others: Sequence[float] = ()) -> tuple[np.ndarray, States]:
    """Which of `values` (one twin's medians, one per process) lie in the twin's reference state (the
    fastest state with MIN_STATE_TRIALS processes), the states found among `values` and `others` (more
    processes of the same twin: they help find the states). With one state, every value."""
    v = np.asarray(values, dtype=np.float64)
    o = np.asarray(others, dtype=np.float64)
    pool = np.concatenate([v, o[np.isfinite(o) & (o > 0)]])
    states = detect_states(pool)
    if not states.multimodal:
        return np.ones(v.size, dtype=bool), states
    ref = states.reference
    k = states.states.index(ref)
    lo, hi = -math.inf, math.inf
    if k > 0:  # the boundaries: geometric midpoints of the gaps to the neighbouring states
        lo = math.sqrt(max(pool[list(states.states[k - 1].trials)]) * min(pool[list(ref.trials)]))
    if k + 1 < len(states.states):
        hi = math.sqrt(max(pool[list(ref.trials)]) * min(pool[list(states.states[k + 1].trials)]))
    return (v > lo) & (v <= hi), states


def fast_state_speedup(sep_trials: Sequence[float], std_trials: Sequence[float]) -> Headline:
    """Standard over separable at each twin's fast state: the ratio of geometric means of the fast-state
    trial medians, with a Welch t interval on the logs. With one trial on a side there is no interval
    (the noise inside one process says nothing about the next process)."""
    sep_s, std_s = detect_states(sep_trials), detect_states(std_trials)
    ia, ib = fast_trials(sep_trials), fast_trials(std_trials)
    if not ia.size or not ib.size:
        return Headline(None, None, None, sep_s, std_s)
    a = np.log(np.asarray(sep_trials, dtype=np.float64)[ia])
    b = np.log(np.asarray(std_trials, dtype=np.float64)[ib])
    log_ratio = float(b.mean() - a.mean())
    ratio = math.exp(log_ratio)
    if a.size < 2 or b.size < 2:
        return Headline(ratio, None, None, sep_s, std_s, int(a.size), int(b.size))
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return Headline(ratio, ratio, ratio, sep_s, std_s, int(a.size), int(b.size))
    dof = (va + vb) ** 2 / ((va**2 / (a.size - 1) if va else 0) + (vb**2 / (b.size - 1) if vb else 0))
    half = t975(dof) * se
    return Headline(ratio, math.exp(log_ratio - half), math.exp(log_ratio + half), sep_s, std_s,
                    int(a.size), int(b.size))


def paired_speedup(sep_medians: Sequence[float], std_medians: Sequence[float],
                   sep_others: Sequence[float] = (), std_others: Sequence[float] = ()) -> Headline:
    """The paired headline from pair jobs: process k timed both twins (medians sep_medians[k] and
    std_medians[k]); its ratio is std / sep. What slows a whole process slows both twins and cancels
    in its ratio; a speed state that slows the twins by different factors moves the ratio instead, so
    the ratios themselves are split into states (`detect_states`: the gap test, after setting aside a
    lone ratio: one with no other within MIN_STATE_GAP, from one disturbed process). Where they split,
    the state of ratios whose processes ran fastest (the lowest mean of both log medians, among states
    of two or more processes) gives the headline. The
    headline is the geometric mean of those ratios with a Student t 95% interval on the logs; no
    interval from one process.

    `fast_sep`/`fast_std` count the headline's processes that also lie in each twin's reference (fast)
    state, found among the pair jobs' medians and the twin's own perf trials (`*_others`): the rule
    waits for three, so three pair jobs that all drew the slow state cannot end it."""
    a = np.asarray(sep_medians, dtype=np.float64)
    b = np.asarray(std_medians, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    a, b = a[ok], b[ok]
    if not a.size:
        return Headline(None, None, None, detect_states(a), detect_states(b))
    logs_all = np.log(b) - np.log(a)
    use = np.arange(a.size)
    # a lone ratio (no other within MIN_STATE_GAP: one disturbed process) is never the headline, and it
    # is set aside before the gap test, whose top split it would take while two states stay together
    near = np.abs(logs_all[:, None] - logs_all[None, :]) < math.log1p(MIN_STATE_GAP)
    kept = np.flatnonzero(near.sum(axis=1) > 1) if a.size >= 4 else use
    kept = kept if kept.size >= 2 else use
    ratio_states = detect_states(np.exp(logs_all[kept]), RATIO_FALSE_ALARM)
    groups = [kept[list(st.trials)] for st in ratio_states.states if st.count >= 2] or [kept]
    if len(groups) > 1 or kept.size < a.size:
        speed = np.log(a) + np.log(b)
        use = min(groups, key=lambda g: float(speed[g].mean()))
    in_a, sep_s = in_reference_state(a, sep_others)
    in_b, std_s = in_reference_state(b, std_others)
    fast = int((in_a & in_b)[use].sum())
    logs = logs_all[use]
    mean = float(logs.mean())
    ratio = math.exp(mean)
    if use.size < 2:
        return Headline(ratio, None, None, sep_s, std_s, fast, fast, paired=int(use.size))
    half = t975(use.size - 1) * float(logs.std(ddof=1)) / math.sqrt(use.size)
    return Headline(ratio, math.exp(mean - half), math.exp(mean + half), sep_s, std_s, fast, fast,
                    paired=int(use.size))


def paired_headline(jobs: Mapping[int, tuple[float, float]], sep_others: Sequence[float] = (),
                    std_others: Sequence[float] = ()) -> Headline:
    """`paired_speedup` of pair jobs given as trial -> (separable median, standard median)."""
    order = sorted(jobs)
    return paired_speedup([jobs[k][0] for k in order], [jobs[k][1] for k in order], sep_others, std_others)


def pair_should_continue(headline: Headline, rounds: int, target: float, max_rounds: int,
                         paired: bool = False) -> tuple[bool, str]:
    """(more rounds?, why it stops or goes on) for the pair's stopping rule. `paired`: the rule runs
    pair jobs and `rounds` counts them; else `rounds` counts the trials per config."""
    if rounds >= max_rounds:
        return False, f"trial limit ({max_rounds} {'pair jobs' if paired else 'per config'}) reached"
    if paired and headline.paired < MIN_PAIRED_TRIALS:
        return True, f"fewer than {MIN_PAIRED_TRIALS} pair jobs"
    if paired and headline.fast_sep < MIN_PAIRED_TRIALS:
        return True, f"fewer than {MIN_PAIRED_TRIALS} pair jobs in the fast state"
    if not paired and (headline.fast_sep < MIN_STATE_TRIALS or headline.fast_std < MIN_STATE_TRIALS):
        return True, f"fewer than {MIN_STATE_TRIALS} fast-state trials per twin"
    width = headline.rel_half_width
    if width is None:
        return True, "no interval yet"
    if width <= target:
        return False, f"interval +-{width:.1%} within +-{target:.0%}"
    reach = projected_width(width, rounds, max_rounds)
    if paired and rounds >= FUTILITY_FROM and reach > FUTILITY_MARGIN * target:
        return False, (f"cannot reach +-{target:.0%} by the limit: interval +-{width:.1%} after {rounds}, "
                       f"about +-{reach:.1%} at {max_rounds}")
    return True, f"interval +-{width:.1%} wider than +-{target:.0%}"


def projected_width(width: float, n: int, limit: int) -> float:
    """The half-width an interval of `width` after n processes would have after `limit`, at the same
    spread: the t quantile and 1/sqrt(n) both shrink."""
    if limit <= n or n < 2:
        return width
    return width * t975(limit - 1) / t975(n - 1) * math.sqrt(n / limit)


def trace_states(states: States, facts: Sequence[dict | None]) -> str:
    """Which recorded fact of the trials (their `placement`: the CPU, the buffers' page offsets)
    separates the speed states, if one does: 'the 52 us state coincides with cpu 1 (2 of 2 trials)'.
    '' when there is one state or no fact takes one value per state and different values across them."""
    if not states.multimodal:
        return ""
    for key in ("cpu", "buffer_page_offsets"):
        values = []
        for s in states.states:
            seen = {_fact(facts, i, key) for i in s.trials}
            if len(seen) != 1 or None in seen:
                break
            values.append(seen.pop())
        else:
            if len(set(values)) == len(values):
                slow = states.states[-1]
                return (f"the {slow.center / 1e3:.4g} us state coincides with {key.replace('_', ' ')} "
                        f"{values[-1]} ({slow.count} of {slow.count} trials)")
    return ""


def _fact(facts: Sequence[dict | None], i: int, key: str):
    f = facts[i] if i < len(facts) else None
    v = (f or {}).get(key)
    return tuple(v) if isinstance(v, list) else v
