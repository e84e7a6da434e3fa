"""Pair ratios aggregated over trial windows: the median of the per-window ratios, with an interval.

Interleaved trials put trial k of every config in the same time window. A machine that drifts (other
processes, frequency, heat) slows both twins of a window alike, so the ratio inside a window cancels the
drift; pooling every window's samples first does not, as soon as the windows weigh differently in the
two pools (a time-bound config takes fewer runs in a slow window, a run-bound one does not; a trial
that failed leaves its window out of one pool only). So a ratio is taken per window, and the windows
are summarised by their median.

Two intervals:
  bootstrap   resample the windows, and inside each window resample each config's median through its
              rank (the bootstrap distribution of a sample median, normal approximation), then take the
              median of the resampled window ratios; 2.5/97.5 percentiles. Uses the samples inside the
              windows, so it is useful from 2 windows on.
  order       distribution-free interval of the median over the windows alone (order statistics); its
              coverage is exact but needs 6 windows to reach 95% (3 windows: min..max, 75%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Mapping, Sequence

import numpy as np

SEED = 20240611
N_BOOT = 2000


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


def _sorted_clean(samples: Sequence[float]) -> np.ndarray:
    a = np.asarray(samples, dtype=np.float64)
    return np.sort(a[np.isfinite(a) & (a > 0)])


def paired_windows(num: Mapping[int, Sequence[float]], den: Mapping[int, Sequence[float]]
                   ) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(window, sorted num samples, sorted den samples) for every window both sides have samples in."""
    out = []
    for k in sorted(set(num) & set(den)):
        a, b = _sorted_clean(num[k]), _sorted_clean(den[k])
        if a.size and b.size:
            out.append((k, a, b))
    return out


def window_ratios(num: Mapping[int, Sequence[float]], den: Mapping[int, Sequence[float]]) -> dict[int, float]:
    """{window: median(num_k) / median(den_k)} over the windows both sides measured."""
    return {k: float(np.median(a) / np.median(b)) for k, a, b in paired_windows(num, den)}


def pooled_ratio(num: Mapping[int, Sequence[float]], den: Mapping[int, Sequence[float]]) -> float | None:
    """median(all num samples) / median(all den samples): what drift and uneven windows can bias."""
    a = [_sorted_clean(v) for v in num.values()]
    b = [_sorted_clean(v) for v in den.values()]
    a = np.concatenate([x for x in a if x.size]) if any(x.size for x in a) else np.empty(0)
    b = np.concatenate([x for x in b if x.size]) if any(x.size for x in b) else np.empty(0)
    if not a.size or not b.size:
        return None
    return float(np.median(a) / np.median(b))


def order_statistic_interval(values: Sequence[float], conf: float = 0.95) -> tuple[float, float, float] | None:
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


def _resampled_medians(sorted_x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Medians of bootstrap resamples, drawn through the median's rank: rank ~ n/2 + z * sqrt(n)/2."""
    n = sorted_x.size
    rank = np.rint((n - 1) / 2.0 + z * math.sqrt(n) / 2.0).astype(np.int64)
    return sorted_x[np.clip(rank, 0, n - 1)]


def median_window_ratio(num: Mapping[int, Sequence[float]], den: Mapping[int, Sequence[float]],
                        method: str = "bootstrap", conf: float = 0.95, n_boot: int = N_BOOT,
                        seed: int = SEED) -> WindowRatio:
    """The median of the per-window ratios num/den, with a `method` interval ("bootstrap" or "order").

    `num` and `den` map a trial (window) number to that trial's per-iteration samples. Windows only one
    side measured are left out (they carry no ratio).
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
    rng = np.random.default_rng(seed)
    k = len(wins)
    pick = rng.integers(0, k, size=(n_boot, k)) if k > 1 else np.zeros((n_boot, 1), dtype=np.int64)
    boot_ratio = np.empty((n_boot, k))
    for w, (_, a, b) in enumerate(wins):
        boot_ratio[:, w] = (_resampled_medians(a, rng.standard_normal(n_boot))
                            / _resampled_medians(b, rng.standard_normal(n_boot)))
    chosen = np.take_along_axis(boot_ratio, pick, axis=1)
    reps = np.median(chosen, axis=1)
    alpha = (1.0 - conf) / 2.0
    lo, hi = np.quantile(reps, [alpha, 1.0 - alpha])
    return WindowRatio(point, float(lo), float(hi), k, tuple(ratios), method, conf)


def trials_of(records: Sequence[dict], config_id: str) -> dict[int, list[float]]:
    """{trial: latency_ns} of a config's ok perf records (the windows of `median_window_ratio`)."""
    out: dict[int, list[float]] = {}
    for r in records:
        if (r.get("config_id") == config_id and r.get("mode") == "perf" and r.get("status") == "ok"
                and r.get("latency_ns")):
            out[int(r.get("trial") or 0)] = list(r["latency_ns"])
    return out
