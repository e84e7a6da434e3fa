"""Trial statistics in one place: latency samples per trial window, ratios of two configs, bootstrap
intervals and order statistics. The pairs view, `edgebench compare` and the benchmarks use it.

Samples are nested: iterations inside trials (each trial a fresh process), and interleaved trials put
trial k of every config in the same time window. A machine that drifts (other processes, frequency,
heat) slows both twins of a window alike, so the ratio inside a window cancels the drift; pooling every
window's samples first does not, as soon as the windows weigh differently in the two pools (a
time-bound config takes fewer runs in a slow window, a run-bound one does not; a trial that failed
leaves its window out of one pool only).

Two ratios, each with its interval:
  median_window_ratio  median over windows k of median(num_k) / median(den_k). Intervals: "bootstrap"
                       (resample the windows, and inside each window each config's median through its
                       rank, normal approximation; useful from 2 windows on) or "order" (distribution-
                       free order-statistic interval over the windows alone; exact coverage, but 6
                       windows are needed to reach 95%).
  ratio_of_medians     median(all num) / median(all den), pooled over trials, with a hierarchical
                       bootstrap (resample the trials, then the iterations of each chosen trial, at
                       most PER_TRIAL draws a trial), plus the per-window view.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .records import Status

SEED = 20240611
CONFIDENCE = 0.95
# Bootstrap replicates. The windows bootstrap is cheap and takes N_BOOT. The hierarchical (pooled)
# bootstrap draws PER_TRIAL samples per trial per replicate and takes N_BOOT_POOLED: its intervals are
# stored in every pairs.csv (speedup_ci_*) and shown by `compare`, and changing the count moves them
# (a different random stream), so runs reported before keep reporting the same numbers.
N_BOOT = 2000
N_BOOT_POOLED = 1000
PER_TRIAL = 400

Trials = Mapping[int, Sequence[float]]  # trial (window) number -> that trial's per-iteration samples


# -- samples by trial ------------------------------------------------------------------------------

def trials_by_config(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, list[float]]]:
    """config_id -> {trial: latency samples (ns)} from the ok perf records that carry samples."""
    out: dict[str, dict[int, list[float]]] = {}
    for r in records:
        if r.get("mode") == "perf" and r.get("status") == Status.OK and r.get("latency_ns"):
            out.setdefault(r.get("config_id", "?"), {})[int(r.get("trial") or 0)] = list(r["latency_ns"])
    return out


def trial_medians_by_config(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, float]]:
    """config_id -> {trial: median latency (ns)} of the ok perf records (`trials_by_config`)."""
    return {cid: {t: float(np.median(s)) for t, s in trials.items()}
            for cid, trials in trials_by_config(records).items()}


def pair_job_medians(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[int, tuple[float, float]]]:
    """(separable config_id, standard config_id) -> {trial: (median of own samples, median of the
    partner's)} from the ok pair jobs (both twins timed in one process, harness.runner pair mode)."""
    out: dict[tuple[str, str], dict[int, tuple[float, float]]] = {}
    for r in records:
        if (r.get("mode") == "pair" and r.get("status") == Status.OK and r.get("latency_ns")
                and r.get("partner_latency_ns") and r.get("partner_config_id")):
            key = (str(r.get("config_id")), str(r["partner_config_id"]))
            out.setdefault(key, {})[int(r.get("trial") or 0)] = (float(np.median(r["latency_ns"])),
                                                                   float(np.median(r["partner_latency_ns"])))
    return out


def trials_of(records: Sequence[Mapping[str, Any]], config_id: str) -> dict[int, list[float]]:
    """{trial: latency_ns} of one config's ok perf records (the windows of `median_window_ratio`)."""
    return trials_by_config(records).get(config_id, {})


def _sorted_clean(samples: Sequence[float]) -> np.ndarray:
    a = np.asarray(samples, dtype=np.float64)
    return np.sort(a[np.isfinite(a) & (a > 0)])


def _finite(trials: Sequence[Sequence[float]]) -> list[np.ndarray]:
    out = []
    for t in trials:
        a = np.asarray(t, dtype=np.float64)
        a = a[np.isfinite(a)]
        if a.size:
            out.append(a)
    return out


def pooled_median(trials: Sequence[Sequence[float]]) -> float | None:
    """The median of every trial's samples pooled together."""
    ts = _finite(trials)
    return float(np.median(np.concatenate(ts))) if ts else None


# -- order statistics ------------------------------------------------------------------------------

def order_statistic_interval(values: Sequence[float], conf: float = CONFIDENCE
                             ) -> tuple[float, float, float] | None:
    """(low, high, coverage): the narrowest symmetric order-statistic interval of the median whose exact
    coverage is at least `conf`, or (min, max, its coverage) when there are too few values for `conf`."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    if n == 0:
        return None
    # coverage of [x_(j), x_(n+1-j)] (1-based) is 1 - 2 * P(Binomial(n, 1/2) <= j - 1); exact integers
    total = 1 << n
    tail = 1  # sum of comb(n, i) for i < j
    best = (float(x[0]), float(x[-1]), 1.0 - 2 / total if n > 1 else 0.0)
    for j in range(1, n // 2 + 1):
        cov = 1.0 - 2.0 * (tail / total)
        if cov < conf:
            break
        best = (float(x[j - 1]), float(x[n - j]), cov)
        tail += math.comb(n, j)
    return best


# -- ratios over trial windows ---------------------------------------------------------------------

@dataclass(frozen=True)
class WindowRatio:
    """ratio = median over windows k of median(num_k) / median(den_k)."""

    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    windows: int
    per_window: tuple[float, ...]
    method: str
    coverage: float | None  # nominal (bootstrap) or exact (order) coverage of [ci_low, ci_high]

    @property
    def rel_half_width(self) -> float | None:
        """Half the interval's width relative to the ratio (0.02 = +-2%)."""
        if self.ratio is None or self.ci_low is None or self.ci_high is None or not self.ratio:
            return None
        return (self.ci_high - self.ci_low) / 2.0 / self.ratio


def paired_windows(num: Trials, den: Trials) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(window, sorted num samples, sorted den samples) for every window both sides have samples in."""
    out = []
    for k in sorted(set(num) & set(den)):
        a, b = _sorted_clean(num[k]), _sorted_clean(den[k])
        if a.size and b.size:
            out.append((k, a, b))
    return out


def window_ratios(num: Trials, den: Trials) -> dict[int, float]:
    """{window: median(num_k) / median(den_k)} over the windows both sides measured."""
    return {k: float(np.median(a) / np.median(b)) for k, a, b in paired_windows(num, den)}


def pooled_ratio(num: Trials, den: Trials) -> float | None:
    """median(all num samples) / median(all den samples): what drift and uneven windows can bias."""
    a = [_sorted_clean(v) for v in num.values()]
    b = [_sorted_clean(v) for v in den.values()]
    a = np.concatenate([x for x in a if x.size]) if any(x.size for x in a) else np.empty(0)
    b = np.concatenate([x for x in b if x.size]) if any(x.size for x in b) else np.empty(0)
    if not a.size or not b.size:
        return None
    return float(np.median(a) / np.median(b))


def _resampled_medians(sorted_x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Medians of bootstrap resamples, drawn through the median's rank: rank ~ n/2 + z * sqrt(n)/2."""
    n = sorted_x.size
    rank = np.rint((n - 1) / 2.0 + z * math.sqrt(n) / 2.0).astype(np.int64)
    return sorted_x[np.clip(rank, 0, n - 1)]


def _window_bootstrap(wins: list[tuple[int, np.ndarray, np.ndarray]], conf: float, n_boot: int,
                      seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    k = len(wins)
    pick = rng.integers(0, k, size=(n_boot, k)) if k > 1 else np.zeros((n_boot, 1), dtype=np.int64)
    boot_ratio = np.empty((n_boot, k))
    for w, (_, a, b) in enumerate(wins):
        boot_ratio[:, w] = (_resampled_medians(a, rng.standard_normal(n_boot))
                            / _resampled_medians(b, rng.standard_normal(n_boot)))
    reps = np.median(np.take_along_axis(boot_ratio, pick, axis=1), axis=1)
    alpha = (1.0 - conf) / 2.0
    lo, hi = np.quantile(reps, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def median_window_ratio(num: Trials, den: Trials, method: str = "bootstrap", conf: float = CONFIDENCE,
                        n_boot: int = N_BOOT, seed: int = SEED) -> WindowRatio:
    """The median of the per-window ratios num/den, with a `method` interval ("bootstrap" or "order").

    Windows only one side measured are left out (they carry no ratio).
    """
    if method not in ("bootstrap", "order"):
        raise ValueError(f"method {method!r}: use 'bootstrap' or 'order'")
    wins = paired_windows(num, den)
    ratios = [float(np.median(a) / np.median(b)) for _, a, b in wins]
    if not ratios:
        return WindowRatio(None, None, None, 0, (), method, None)
    point = float(np.median(ratios))
    if method == "order":
        lo, hi, cov = order_statistic_interval(ratios, conf)  # type: ignore[misc]
        return WindowRatio(point, lo, hi, len(ratios), tuple(ratios), method, cov)
    lo, hi = _window_bootstrap(wins, conf, n_boot, seed)
    return WindowRatio(point, lo, hi, len(wins), tuple(ratios), method, conf)


# -- ratio of pooled medians -----------------------------------------------------------------------

@dataclass(frozen=True)
class RatioEstimate:
    """ratio = median(num) / median(den), its 95% interval, and the per-trial view."""

    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    trial_ratio: float | None       # median of (trial k of num) / (trial k of den)
    trial_ratio_min: float | None
    trial_ratio_max: float | None
    trials_paired: int

    @property
    def significant(self) -> bool:
        """True when the interval excludes 1."""
        return (self.ci_low is not None and self.ci_high is not None
                and (self.ci_low > 1.0 or self.ci_high < 1.0))


def bootstrap_medians(trials: Sequence[Sequence[float]], n_boot: int = N_BOOT_POOLED,
                      per_trial: int = PER_TRIAL, rng: np.random.Generator | None = None) -> np.ndarray:
    """n_boot bootstrap replicates of the pooled median (hierarchical: trials, then iterations)."""
    rng = rng or np.random.default_rng(SEED)
    ts = _finite(trials)
    if not ts:
        return np.full(n_boot, np.nan)
    lengths = np.array([t.size for t in ts])
    padded = np.zeros((len(ts), int(lengths.max())))
    for i, t in enumerate(ts):
        padded[i, : t.size] = t
    m = int(min(per_trial, lengths.max()))
    n_t = len(ts)
    chosen = rng.integers(0, n_t, size=(n_boot, n_t)) if n_t > 1 else np.zeros((n_boot, 1), dtype=int)
    u = rng.random((n_boot, n_t, m))
    idx = np.minimum((u * lengths[chosen][:, :, None]).astype(np.int64), lengths[chosen][:, :, None] - 1)
    values = padded[chosen[:, :, None], idx].reshape(n_boot, n_t * m)
    # each draw stands for its trial's share of the samples, as in the pooled point estimate: a trial
    # cut short (fewer runs) must not weigh as much as a full one
    weights = np.repeat(lengths[chosen].astype(np.float64), m, axis=1)
    order = np.argsort(values, axis=1)
    sorted_values = np.take_along_axis(values, order, axis=1)
    cum = np.cumsum(np.take_along_axis(weights, order, axis=1), axis=1)
    pos = np.argmax(cum >= cum[:, -1:] / 2.0, axis=1)
    return sorted_values[np.arange(n_boot), pos]


def ratio_of_medians(num_trials: Trials, den_trials: Trials, n_boot: int = N_BOOT_POOLED,
                     seed: int = SEED) -> RatioEstimate:
    """median(num)/median(den) with a 95% percentile interval and the per-trial ratios.

    Trial k of num is paired with trial k of den: interleaved jobs ran them in the same time window,
    so their ratio cancels most of the machine's drift.
    """
    num, den = _finite(list(num_trials.values())), _finite(list(den_trials.values()))
    mn, md = pooled_median(num), pooled_median(den)
    if mn is None or md is None or md == 0:
        return RatioEstimate(None, None, None, None, None, None, 0)
    rng = np.random.default_rng(seed)
    bn = bootstrap_medians(num, n_boot, rng=rng)
    bd = bootstrap_medians(den, n_boot, rng=rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        boots = bn / bd
    boots = boots[np.isfinite(boots)]
    lo, hi = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) if boots.size else (None, None)
    per_trial = list(window_ratios(num_trials, den_trials).values())
    return RatioEstimate(
        ratio=mn / md, ci_low=lo, ci_high=hi,
        trial_ratio=float(np.median(per_trial)) if per_trial else None,
        trial_ratio_min=min(per_trial) if per_trial else None,
        trial_ratio_max=max(per_trial) if per_trial else None,
        trials_paired=len(per_trial),
    )
