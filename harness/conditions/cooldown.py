"""Wait for a device to cool before a job (or a trial round), so throttling does not bias later configs.

The wait ends when the SoC temperature is below a threshold, or has stopped falling (the slope over
the last window is above -tolerance C/min: the device is as cool as it gets where it sits), or at a
time limit. Clock and sleep are injectable: tests run the wait on a fake clock with no real waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .sysfs import SysfsAccess, list_or_empty, read_int, read_str

THERMAL_ROOT = "/sys/class/thermal"
# Zone types that follow the room or the charger, not the SoC: left out unless asked for by name.
NOT_SOC_ZONES = ("battery", "bms", "usb", "charger", "skin", "ambient", "pa_therm", "xo_therm")

# Record fields this module fills (seconds, degrees C).
COOLDOWN_KEYS = ("cooldown_wait_s", "cooldown_reason", "cooldown_start_c", "cooldown_temp_c")


@dataclass(frozen=True)
class CooldownSettings:
    """What the profile asked for ([conditions] cooldown_* keys); below_c None: settle only."""

    below_c: float | None = None
    max_wait_s: float = 120.0
    poll_s: float = 2.0
    window_s: float = 30.0
    settled_c_per_min: float = 0.5
    per: str = "job"  # "job" | "round"
    zones: tuple[str, ...] = ()  # zone type substrings to watch; () = every SoC zone


def soc_zone_paths(sysfs: SysfsAccess, zones: Sequence[str] = (), root: str = THERMAL_ROOT) -> list[str]:
    """temp files of the thermal zones to watch: those whose type contains one of `zones`, or,
    with none given, every zone except battery/skin/charger-like ones."""
    found = []
    for name in list_or_empty(sysfs, root):
        if not name.startswith("thermal_zone"):
            continue
        kind = (read_str(sysfs, f"{root}/{name}/type") or "").lower()
        wanted = any(z.lower() in kind for z in zones) if zones else not any(x in kind for x in NOT_SOC_ZONES)
        if wanted:
            found.append(f"{root}/{name}/temp")
    return found


def soc_temperature_reader(sysfs: SysfsAccess, zones: Sequence[str] = (),
                           root: str = THERMAL_ROOT) -> Callable[[], float | None]:
    """A function returning the hottest watched zone in degrees C (None: no zone answers)."""
    paths = soc_zone_paths(sysfs, zones, root)

    def read() -> float | None:
        values = [v for v in (read_int(sysfs, p) for p in paths) if v is not None]
        # Zones report millidegrees; a few old drivers report whole degrees (the probe's rule too).
        return max(v / 1000.0 if abs(v) >= 1000 else float(v) for v in values) if values else None

    return read


def slope_c_per_min(samples: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, C) samples in C per minute; None below two distinct times."""
    if len(samples) < 2:
        return None
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mc = sum(c for _, c in samples) / n
    sxx = sum((t - mt) ** 2 for t, _ in samples)
    if sxx <= 0:
        return None
    return 60.0 * sum((t - mt) * (c - mc) for t, c in samples) / sxx


def stopped_falling(samples: Sequence[tuple[float, float]], window_s: float,
                    tolerance_c_per_min: float) -> bool:
    """True once the samples cover a whole window and fall slower than the tolerance over it."""
    if not samples or samples[-1][0] - samples[0][0] < window_s:
        return False
    now = samples[-1][0]
    recent = [s for s in samples if s[0] >= now - window_s - 1e-9]
    slope = slope_c_per_min(recent)
    return slope is not None and slope > -tolerance_c_per_min


def cool_down(read_temp: Callable[[], float | None], settings: CooldownSettings, *,
              clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], Any] = time.sleep) -> dict[str, Any]:
    """Wait as `settings` asks and return the record fragment (COOLDOWN_KEYS).

    cooldown_temp_c is the last reading (what the job starts at); cooldown_start_c the first. (The
    job's own temp_before_c/temp_after_c come from devices/execute.py, over every zone.)
    """
    start = clock()
    first = read_temp()
    if first is None:
        return _fragment(0.0, "no temperature sensor", None, None)
    samples = [(start, first)]
    while True:
        now, temp = samples[-1]
        if settings.below_c is not None and temp < settings.below_c:
            reason = f"below {settings.below_c:.1f} C"
            break
        if stopped_falling(samples, settings.window_s, settings.settled_c_per_min):
            reason = "stopped falling"
            break
        left = settings.max_wait_s - (now - start)
        if left <= 0:
            reason = f"time limit {settings.max_wait_s:g} s reached at {temp:.1f} C"
            break
        sleep(min(settings.poll_s, left))
        reading = read_temp()
        if reading is None:
            reason = f"temperature sensor stopped answering at {temp:.1f} C"
            break
        samples.append((clock(), reading))
    return _fragment(samples[-1][0] - start, reason, first, samples[-1][1])


def _fragment(wait_s: float, reason: str, start_c: float | None, before_c: float | None) -> dict[str, Any]:
    return {
        "cooldown_wait_s": round(max(wait_s, 0.0), 3),
        "cooldown_reason": reason,
        "cooldown_start_c": None if start_c is None else round(start_c, 2),
        "cooldown_temp_c": None if before_c is None else round(before_c, 2),
    }
