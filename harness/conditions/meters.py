"""Whole-window energy meters: asked once for the joules of a window, not sampled.

An external meter (a lab's power analyser behind a command) and Android's batterystats, whose
"Computed drain" is the framework's estimate from the phone's power_profile.xml (not a measurement:
the record says so). Both take begin() before a window and end() -> joules after it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .energy import per_inference, unmeasurable
from .sysfs import Runner

NUMBER = r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
BATTERYSTATS_NOTE = ("estimated by Android from power_profile.xml (batterystats 'Computed drain'), not "
                     "measured; the phone must run on battery (or `dumpsys battery unplug`)")


@dataclass
class CommandMeter:
    """An external meter: `argv START END` (Unix seconds) prints the joules used in that window."""

    argv: Sequence[str]
    timeout: float = 60.0
    kind: str = "window"
    wall: Callable[[], float] = time.time
    _start: float | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return "command:" + shlex.join(self.argv)

    def begin(self) -> None:
        self._start = self.wall()

    def end(self) -> float:
        if self._start is None:
            raise RuntimeError("CommandMeter.end() without begin()")
        return self.joules(self._start, self.wall())

    def joules(self, start_unix: float, end_unix: float) -> float:
        argv = [*self.argv, f"{start_unix:.3f}", f"{end_unix:.3f}"]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout,
                                  stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OSError(f"energy_command {shlex.join(argv)} did not run: {exc}") from None
        lines = proc.stdout.strip().splitlines()
        last = lines[-1] if lines else ""
        match = re.fullmatch(rf"\s*({NUMBER})\s*(?:J)?\s*", last)
        if proc.returncode != 0 or match is None:
            raise OSError(f"energy_command {shlex.join(argv)} exited {proc.returncode} and printed "
                          f"{(last or '(nothing)')!r}; it must print joules as a number")
        return float(match.group(1))


def parse_computed_drain_mah(text: str) -> float | None:
    """'Capacity: 3000, Computed drain: 0.352, actual drain: 0' -> 0.352 (mAh)."""
    match = re.search(rf"Computed drain:\s*({NUMBER})", text or "")
    return float(match.group(1)) if match else None


def parse_battery_voltage_v(text: str) -> float | None:
    """`dumpsys battery` 'voltage: 3900' (mV; a few devices print V) -> volts."""
    match = re.search(rf"^\s*voltage:\s*({NUMBER})\s*$", text or "", re.MULTILINE)
    if not match:
        return None
    value = float(match.group(1))
    return value / 1000.0 if value > 100 else value


@dataclass
class BatteryStatsMeter:
    """Android batterystats over adb: reset at begin(), 'Computed drain' (mAh) x voltage at end()."""

    run: Runner
    label: str
    timeout: float = 60.0
    kind: str = "window"
    name: str = "batterystats:computed_drain"
    note: str = BATTERYSTATS_NOTE

    def _out(self, argv: list[str]) -> str:
        res = self.run(argv, self.timeout)
        if getattr(res, "timed_out", False) or res.returncode != 0:
            raise OSError(f"{self.label}: {shlex.join(argv)} failed: {(res.stderr or res.stdout or '').strip()[-200:]}")
        return res.stdout

    def begin(self) -> None:
        self._out(["dumpsys", "batterystats", "--reset"])

    def end(self) -> float:
        mah = parse_computed_drain_mah(self._out(["dumpsys", "batterystats"]))
        volts = parse_battery_voltage_v(self._out(["dumpsys", "battery"]))
        if mah is None or volts is None:
            raise OSError(f"{self.label}: dumpsys printed no 'Computed drain' or no 'voltage' (is the phone "
                          "on battery? batterystats counts only then)")
        return mah * 3.6 * volts  # mAh x 3.6 C/mAh x V = J


def batterystats_meter(run: Runner, label: str) -> BatteryStatsMeter | str:
    """The meter when the phone answers `dumpsys batterystats`, or why not."""
    try:
        res = run(["dumpsys", "battery"], 30.0)
    except OSError as exc:
        return f"dumpsys battery did not run ({exc})"
    if res.returncode != 0 or parse_battery_voltage_v(res.stdout) is None:
        return "no `dumpsys battery` voltage (not an Android device?)"
    return BatteryStatsMeter(run, label)


WindowMeter = CommandMeter | BatteryStatsMeter


def measure_window(meter: WindowMeter, run: Callable[[], Any], *, baseline_s: float = 2.0,
                   count: Callable[[Any], int | None] = lambda result: None,
                   latency_s: Callable[[Any], float | None] = lambda result: None,
                   clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], Any] = time.sleep) -> tuple[Any, dict[str, Any]]:
    """Idle baseline window, then `run()` in a metered window; run's result and the record fields."""
    try:
        idle = None
        if baseline_s > 0:
            meter.begin()
            t0 = clock()
            sleep(baseline_s)
            idle = (meter.end(), clock() - t0)
        meter.begin()
    except OSError as exc:
        return run(), unmeasurable(str(exc), meter.name)
    t0 = clock()
    result = run()
    seconds = clock() - t0
    try:
        joules = meter.end()
    except OSError as exc:
        return result, unmeasurable(str(exc), meter.name)
    return result, window_per_inference(meter, joules, seconds, idle, inferences=count(result),
                                        seconds_per_inference=latency_s(result))


def window_per_inference(meter: WindowMeter, joules: float, seconds: float,
                         idle: tuple[float, float] | None, *, inferences: int | None = None,
                         seconds_per_inference: float | None = None) -> dict[str, Any]:
    """Record fields from one window's joules (and the idle window's): no interval, one reading each."""
    base = None if idle is None else [(0.0, 0.0), (idle[1], idle[0])]
    out = per_inference([(0.0, 0.0), (seconds, joules)], base, inferences=inferences,
                        seconds_per_inference=seconds_per_inference, source=meter.name,
                        note=getattr(meter, "note", None))
    if out["energy_mj_per_inference"] is not None:
        out["energy_sample_hz"] = None  # one reading per window: no sampling rate
    return out
