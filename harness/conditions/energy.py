"""Energy per inference: sample a source during the measured window, after an idle baseline.

A counter source gives cumulative joules; a power source gives watts, integrated here by the
trapezoid rule. Either way the samples become one series of (seconds, cumulative joules). The mean
power over the window is exact for counters (last minus first); its 95% interval comes from the
spread of the per-interval powers. Per inference: mean power x window / inferences (or x the mean
latency), with the idle baseline's power subtracted for the `net` figure.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from .energy_sources import EnergySource

Series = list[tuple[float, float]]  # (clock seconds, cumulative joules)

# Record fields this module fills (mJ per inference, W, s, Hz).
ENERGY_KEYS = ("energy_source", "energy_mj_per_inference", "energy_ci95_mj", "energy_net_mj_per_inference",
               "energy_net_ci95_mj", "energy_mean_w", "energy_idle_w", "energy_window_s", "energy_window_j",
               "energy_sample_hz", "energy_samples", "energy_note")

# Two-sided 95% Student t quantiles by degrees of freedom (1..30); 1.96 beyond.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042)


def t95(df: int) -> float:
    return _T95[df - 1] if 1 <= df <= len(_T95) else 1.96


class Sampler:
    """Reads a source every `interval_s` into a Series, in a thread (start/stop) or for a fixed time
    (`collect`). Power readings are integrated into joules as they arrive."""

    def __init__(self, source: EnergySource, interval_s: float = 0.1, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source, self.interval_s, self.clock = source, interval_s, clock
        self.series: Series = []
        self.errors: list[str] = []
        self._last_power: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        try:
            value = self.source.read()
        except (OSError, ValueError) as exc:
            self.errors.append(str(exc))
            return
        now = self.clock()
        if self.source.kind == "counter":
            self.series.append((now, value))
            return
        if not self.series:
            self.series.append((now, 0.0))
        else:
            t0, e0 = self.series[-1]
            self.series.append((now, e0 + (self._last_power + value) / 2.0 * (now - t0)))
        self._last_power = value

    def collect(self, seconds: float, sleep: Callable[[float], Any] = time.sleep) -> Series:
        """Sample for `seconds` (the idle baseline), blocking; returns the series."""
        start = self.clock()
        self.sample()
        while self.clock() - start < seconds:
            sleep(self.interval_s)
            self.sample()
        return self.series

    def start(self) -> Sampler:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="energy-sampler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def stop(self) -> Series:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
        return self.series


def clip(series: Series, span: tuple[float, float] | None) -> Series:
    """The samples inside [start, end] (the runner's measured loop, on the same clock)."""
    if span is None:
        return list(series)
    return [s for s in series if span[0] <= s[0] <= span[1]]


def power_stats(series: Series) -> tuple[float, float | None, int, float, float] | None:
    """(mean W, standard error of the mean W or None, intervals, seconds, joules), None: too short."""
    if len(series) < 2 or series[-1][0] <= series[0][0]:
        return None
    seconds = series[-1][0] - series[0][0]
    joules = series[-1][1] - series[0][1]
    powers = [(e1 - e0) / (t1 - t0) for (t0, e0), (t1, e1) in zip(series, series[1:]) if t1 > t0]
    k = len(powers)
    mean = joules / seconds
    if k < 2:
        return mean, None, k, seconds, joules
    sd = math.sqrt(sum((p - sum(powers) / k) ** 2 for p in powers) / (k - 1))
    return mean, sd / math.sqrt(k), k, seconds, joules


def per_inference(series: Series, baseline: Series | None, *, inferences: int | None = None,
                  seconds_per_inference: float | None = None, source: str,
                  span: tuple[float, float] | None = None, note: str | None = None) -> dict[str, Any]:
    """Record fields (ENERGY_KEYS) from the window's series and the idle baseline's.

    Per inference: window joules / inferences, or mean power x `seconds_per_inference` (the mean
    latency) when the window also holds setup the inferences did not use.
    """
    window = clip(series, span)
    stats = power_stats(window)
    if stats is None:
        return unmeasurable(f"not measurable: {len(window)} sample(s) in the window (need 2; "
                            "sample faster or measure longer)", source)
    mean_w, se_w, k, seconds, joules = stats
    if seconds_per_inference is not None and seconds_per_inference > 0:
        scale = seconds_per_inference
    elif inferences:
        scale = seconds / inferences
    else:
        return unmeasurable("not measurable: the job reported no inference count", source)
    idle = power_stats(baseline) if baseline else None
    idle_w, idle_se = (idle[0], idle[1]) if idle else (None, None)
    out = {
        "energy_source": source,
        "energy_mj_per_inference": round(mean_w * scale * 1e3, 6),
        "energy_ci95_mj": _interval(mean_w, se_w, k - 1, scale),
        "energy_net_mj_per_inference": None if idle_w is None else round((mean_w - idle_w) * scale * 1e3, 6),
        "energy_net_ci95_mj": None,
        "energy_mean_w": round(mean_w, 6),
        "energy_idle_w": None if idle_w is None else round(idle_w, 6),
        "energy_window_s": round(seconds, 6),
        "energy_window_j": round(joules, 9),
        "energy_sample_hz": round(k / seconds, 3),
        "energy_samples": len(window),
        "energy_note": note,
    }
    if idle and se_w is not None and idle_se is not None:
        se_net = math.sqrt(se_w ** 2 + idle_se ** 2)
        out["energy_net_ci95_mj"] = _interval(mean_w - idle[0], se_net, min(k, idle[2]) - 1, scale)
    return out


def _interval(mean_w: float, se_w: float | None, df: int, scale: float) -> list[float] | None:
    if se_w is None or df < 1:
        return None
    half = t95(df) * se_w
    return [round((mean_w - half) * scale * 1e3, 6), round((mean_w + half) * scale * 1e3, 6)]


def unmeasurable(reason: str, source: str | None = None) -> dict[str, Any]:
    """The record fields when no figure can be given: every number None, the reason in energy_note."""
    out: dict[str, Any] = dict.fromkeys(ENERGY_KEYS)
    out.update(energy_source=source, energy_note=reason if reason.startswith("not measurable") else
               f"not measurable: {reason}")
    return out


def measure(source: EnergySource, run: Callable[[], Any], *, baseline_s: float = 2.0, interval_s: float = 0.1,
            count: Callable[[Any], int | None] = lambda result: None,
            latency_s: Callable[[Any], float | None] = lambda result: None, note: str | None = None,
            clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], Any] = time.sleep) -> tuple[Any, dict[str, Any]]:
    """Idle baseline, then `run()` with the sampler going; returns run's result and the fields.
    `count(result)` says how many inferences the run made; `latency_s(result)`, when it gives the
    mean seconds per inference, is used instead (the window then also holds model load and warmup)."""
    baseline = Sampler(source, interval_s, clock=clock).collect(baseline_s, sleep) if baseline_s > 0 else None
    sampler = Sampler(source, interval_s, clock=clock).start()
    try:
        result = run()
    finally:
        series = sampler.stop()
    errors = sampler.errors
    note = note or (f"{len(errors)} failed reading(s): {errors[-1]}" if errors else None)
    fields = per_inference(series, baseline, inferences=count(result), seconds_per_inference=latency_s(result),
                           source=source.name, note=note)
    if fields["energy_mj_per_inference"] is None and errors:
        fields["energy_note"] += f" (last reading failed: {errors[-1]})"
    return result, fields

