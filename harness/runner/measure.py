"""The measurement loop: warm-up, then measured runs until a stopping rule is met.

The loop owns the clock: `time.perf_counter_ns()` around the inference call only. It stops when at least
`min_runs` AND `min_time_s` are reached and, if `target_rel_ci` is set, the 95% confidence interval of
the median is within +-target_rel_ci of the median; it always stops at `max_time_s` (or `max_runs`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from collections.abc import Callable

Z95 = 1.959963984540054


def median_ci_rel(sorted_ns: list[int]) -> float:
    """Half-width of the distribution-free 95% CI of the median (order statistics), relative to it."""
    n = len(sorted_ns)
    if n < 6:
        return math.inf
    half = Z95 * math.sqrt(n) / 2.0
    lo = max(0, int(math.floor(n / 2.0 - half)))
    hi = min(n - 1, int(math.ceil(n / 2.0 + half)))
    med = sorted_ns[n // 2] if n % 2 else (sorted_ns[n // 2 - 1] + sorted_ns[n // 2]) / 2.0
    if med <= 0:
        return math.inf
    return (sorted_ns[hi] - sorted_ns[lo]) / 2.0 / med


@dataclass(frozen=True)
class StopRule:
    min_runs: int = 20
    min_time_s: float = 0.5
    max_time_s: float = 10.0
    max_runs: int = 1_000_000
    target_rel_ci: float | None = None

    @classmethod
    def from_dict(cls, d: dict | None) -> StopRule:
        d = d or {}
        return cls(
            min_runs=int(d.get("min_runs", cls.min_runs)),
            min_time_s=float(d.get("min_time_s", cls.min_time_s)),
            max_time_s=float(d.get("max_time_s", cls.max_time_s)),
            max_runs=int(d.get("max_runs") or cls.max_runs),
            target_rel_ci=(float(d["target_rel_ci"]) if d.get("target_rel_ci") else None),
        )


def warm_up(run: Callable[[], object], min_runs: int, min_time_s: float, max_time_s: float) -> list[int]:
    """Run until min_runs AND min_time_s, capped by max_time_s; return the warm-up latencies."""
    clock = time.perf_counter_ns
    out: list[int] = []
    start = clock()
    min_ns, max_ns = int(min_time_s * 1e9), int(max_time_s * 1e9)
    while True:
        t0 = clock()
        run()
        t1 = clock()
        out.append(t1 - t0)
        elapsed = t1 - start
        if (len(out) >= min_runs and elapsed >= min_ns) or elapsed >= max_ns:
            return out


def measure(run: Callable[[], object], rule: StopRule) -> tuple[list[int], str]:
    """Measured runs under the stopping rule; returns every latency in ns and why it stopped."""
    clock = time.perf_counter_ns
    samples: list[int] = []
    append = samples.append
    min_ns, max_ns = int(rule.min_time_s * 1e9), int(rule.max_time_s * 1e9)
    next_check = max(rule.min_runs, 10)
    start = clock()
    while True:
        t0 = clock()
        run()
        t1 = clock()
        append(t1 - t0)
        elapsed = t1 - start
        n = len(samples)
        if elapsed >= max_ns:
            return samples, "max_time"
        if n >= rule.max_runs:
            return samples, "max_runs"
        if n >= rule.min_runs and elapsed >= min_ns:
            if rule.target_rel_ci is None:
                return samples, "min_runs_and_time"
            if n >= next_check:
                # checking costs a sort: do it on a geometric schedule, outside the timed region
                if median_ci_rel(sorted(samples)) <= rule.target_rel_ci:
                    return samples, "ci_reached"
                next_check = int(n * 1.2) + 5


def measure_paired(run_a: Callable[[], object], run_b: Callable[[], object], rule: StopRule,
                   block_s: float) -> tuple[list[int], list[int], int, str]:
    """Two models in one process, timed in alternating blocks (A for block_s, then B, ...): whatever
    slows the machine for seconds slows both alike, so the ratio of their medians cancels it. Stops
    when each has min_runs and min_time_s of measured time, or either reaches max_time_s (or
    max_runs); returns both latency lists in ns, the number of blocks and why it stopped. A block is
    at least one run, so a model slower than block_s alternates run by run."""
    clock = time.perf_counter_ns
    a: list[int] = []
    b: list[int] = []
    spent = [0, 0]
    block_ns = int(block_s * 1e9)
    min_ns, max_ns = int(rule.min_time_s * 1e9), int(rule.max_time_s * 1e9)
    blocks = 0
    while True:
        for i, (run, out) in enumerate(((run_a, a), (run_b, b))):
            append = out.append
            start = clock()
            while True:
                t0 = clock()
                run()
                t1 = clock()
                append(t1 - t0)
                if t1 - start >= block_ns:
                    break
            spent[i] += clock() - start
            blocks += 1
        if max(spent) >= max_ns:
            return a, b, blocks, "max_time"
        if max(len(a), len(b)) >= rule.max_runs:
            return a, b, blocks, "max_runs"
        if min(len(a), len(b)) >= rule.min_runs and min(spent) >= min_ns:
            return a, b, blocks, "min_runs_and_time"
