"""Kept so scripts that import `harness.ratios` (benchmarks/) keep working: the statistics live in
harness.stats."""

from .stats import (  # noqa: F401
    N_BOOT, SEED, WindowRatio, median_window_ratio, order_statistic_interval, paired_windows,
    pooled_ratio, trials_of, window_ratios,
)
