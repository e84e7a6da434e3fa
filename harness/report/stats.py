"""Ratios of medians with bootstrap intervals, shared by the pairs view and `edgebench compare`.

Samples are nested: iterations inside trials (each trial a fresh process). On a shared machine the
trials differ more than the iterations inside one, so the bootstrap is hierarchical: resample the
trials, then the iterations of each chosen trial. Each trial is resampled at no more than
`per_trial` draws, which keeps a 1000-replicate interval to a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping, Sequence

import numpy as np

SEED = 20240611
N_BOOT = 1000
PER_TRIAL = 400


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


def _clean(trials: Sequence[Sequence[float]]) -> list[np.ndarray]:
    out = []
    for t in trials:
        a = np.asarray(t, dtype=np.float64)
        a = a[np.isfinite(a)]
        if a.size:
            out.append(a)
    return out


def bootstrap_medians(trials: Sequence[Sequence[float]], n_boot: int = N_BOOT,
                      per_trial: int = PER_TRIAL, rng: np.random.Generator | None = None) -> np.ndarray:
    """n_boot bootstrap replicates of the pooled median (hierarchical: trials, then iterations)."""
    rng = rng or np.random.default_rng(SEED)
    ts = _clean(trials)
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


def pooled_median(trials: Sequence[Sequence[float]]) -> float | None:
    ts = _clean(trials)
    return float(np.median(np.concatenate(ts))) if ts else None


def ratio_of_medians(num_trials: Mapping[int, Sequence[float]], den_trials: Mapping[int, Sequence[float]],
                     n_boot: int = N_BOOT, seed: int = SEED) -> RatioEstimate:
    """median(num)/median(den) with a 95% percentile interval and the per-trial ratios.

    Both are {trial: samples}. Trial k of num is paired with trial k of den: interleaved jobs ran them
    in the same time window, so their ratio cancels most of the machine's drift.
    """
    num, den = _clean(list(num_trials.values())), _clean(list(den_trials.values()))
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
    from ..ratios import window_ratios

    per_trial = list(window_ratios(num_trials, den_trials).values())
    return RatioEstimate(
        ratio=mn / md, ci_low=lo, ci_high=hi,
        trial_ratio=float(np.median(per_trial)) if per_trial else None,
        trial_ratio_min=min(per_trial) if per_trial else None,
        trial_ratio_max=max(per_trial) if per_trial else None,
        trials_paired=len(per_trial),
    )


def trials_by_config(records: Sequence[dict]) -> dict[str, dict[int, list[float]]]:
    """config_id -> {trial: latency samples (ns)} from the ok perf records."""
    out: dict[str, dict[int, list[float]]] = {}
    for r in records:
        if r.get("mode") == "perf" and r.get("status") == "ok" and r.get("latency_ns"):
            out.setdefault(r.get("config_id", "?"), {})[int(r.get("trial") or 0)] = list(r["latency_ns"])
    return out
