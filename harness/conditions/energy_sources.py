"""Where a device can tell its energy: each source reads one number, named in the record.

Counter sources (RAPL energy_uj, hwmon energyN_input) return cumulative joules, unwrapped across
wrap-around; power sources (hwmon powerN_input, the Android battery's current_now x voltage_now)
return watts, which the sampler integrates. Whole-window meters (an external meter command, Android's
batterystats) live in meters.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .sysfs import SysfsAccess, list_or_empty, read_int, read_str, why

POWERCAP_ROOT = "/sys/class/powercap"
HWMON_ROOT = "/sys/class/hwmon"
BATTERY_DIR = "/sys/class/power_supply/battery"
ENERGY_CHOICES = ("auto", "rapl", "hwmon", "battery", "batterystats", "command", "off")


class Unwrapper:
    """Raw counter readings -> cumulative total. A reading below the last one wrapped at `range_`
    (max_energy_range_uj); with no range known it is taken as a reset to zero."""

    def __init__(self, range_: int | None) -> None:
        self.range = range_
        self.last: int | None = None
        self.total = 0

    def feed(self, raw: int) -> int:
        if self.last is not None:
            delta = raw - self.last
            if delta < 0:
                delta = (self.range - self.last + raw) if self.range else raw
            self.total += delta
        self.last = raw
        return self.total


@dataclass
class CounterSource:
    """Energy counters in microjoules (one per package or rail), summed: read() -> joules so far."""

    name: str
    sysfs: SysfsAccess
    paths: Sequence[str]
    ranges: Sequence[int | None]
    kind: str = "counter"

    def __post_init__(self) -> None:
        self._unwrap = [Unwrapper(r) for r in self.ranges]

    def read(self) -> float:
        total = 0
        for path, unwrap in zip(self.paths, self._unwrap):
            total += unwrap.feed(int(self.sysfs.read_text(path).strip()))
        return total / 1e6


@dataclass
class PowerSource:
    """Instantaneous power files in microwatts, summed: read() -> watts now."""

    name: str
    sysfs: SysfsAccess
    paths: Sequence[str]
    kind: str = "power"

    def read(self) -> float:
        return sum(int(self.sysfs.read_text(p).strip()) for p in self.paths) / 1e6


@dataclass
class BatterySource:
    """Android (or Linux laptop) battery: |current_now| (uA) x voltage_now (uV) -> watts.
    The sign of current_now differs between vendors, so only its size counts."""

    sysfs: SysfsAccess
    path: str = BATTERY_DIR
    name: str = "battery:current_now*voltage_now"
    kind: str = "power"

    def read(self) -> float:
        current = int(self.sysfs.read_text(f"{self.path}/current_now").strip())
        voltage = int(self.sysfs.read_text(f"{self.path}/voltage_now").strip())
        return abs(current) * voltage / 1e12


EnergySource = CounterSource | PowerSource | BatterySource


def rapl_source(sysfs: SysfsAccess, root: str = POWERCAP_ROOT) -> EnergySource | str:
    """The package-level RAPL zones (intel-rapl:N; subzones are inside them), or why not."""
    zones = [z for z in list_or_empty(sysfs, root) if re.fullmatch(r"intel-rapl:\d+", z)]
    if not zones:
        return f"no RAPL zones under {root}"
    names, paths, ranges = [], [], []
    for zone in zones:
        path = f"{root}/{zone}/energy_uj"
        try:
            int(sysfs.read_text(path).strip())
        except (OSError, ValueError) as exc:
            reason = why(exc) if isinstance(exc, OSError) else "not a number"
            hint = (" (root-only since Linux 5.10: run as root, or sudo = true)"
                    if isinstance(exc, PermissionError) else "")
            return f"RAPL {path} is not readable: {reason}{hint}"
        names.append(read_str(sysfs, f"{root}/{zone}/name") or zone)
        paths.append(path)
        ranges.append(read_int(sysfs, f"{root}/{zone}/max_energy_range_uj"))
    return CounterSource("rapl:" + "+".join(names), sysfs, paths, ranges)


def hwmon_source(sysfs: SysfsAccess, root: str = HWMON_ROOT) -> EnergySource | str:
    """hwmon energy counters (energyN_input, uJ) if any, else power sensors (powerN_input, uW)."""
    energy: list[tuple[str, str]] = []
    power: list[tuple[str, str]] = []
    for hw in list_or_empty(sysfs, root):
        label = read_str(sysfs, f"{root}/{hw}/name") or hw
        for entry in list_or_empty(sysfs, f"{root}/{hw}"):
            path = f"{root}/{hw}/{entry}"
            if re.fullmatch(r"energy\d+_input", entry) and read_int(sysfs, path) is not None:
                energy.append((f"{label}/{entry[:-6]}", path))
            elif re.fullmatch(r"power\d+_input", entry) and read_int(sysfs, path) is not None:
                power.append((f"{label}/{entry[:-6]}", path))
    if energy:
        return CounterSource("hwmon:" + "+".join(n for n, _ in energy), sysfs, [p for _, p in energy],
                             [None] * len(energy))
    if power:
        return PowerSource("hwmon:" + "+".join(n for n, _ in power), sysfs, [p for _, p in power])
    return f"no readable hwmon energy or power sensor under {root}"


def battery_source(sysfs: SysfsAccess, path: str = BATTERY_DIR) -> EnergySource | str:
    try:
        BatterySource(sysfs, path).read()
    except (OSError, ValueError) as exc:
        reason = why(exc) if isinstance(exc, OSError) else "not a number"
        return f"no battery current_now/voltage_now under {path} ({reason})"
    return BatterySource(sysfs, path)


def battery_note(sysfs: SysfsAccess, path: str = BATTERY_DIR) -> str | None:
    """A warning when the battery is charging: then current_now is not what the device draws."""
    status = read_str(sysfs, f"{path}/status")
    if status and status.lower() in ("charging", "full"):
        return (f"battery status is {status!r}: the charger feeds the device, so battery readings "
                "understate its draw; unplug it (or `dumpsys battery unplug`) while measuring")
    return None


def find_source(sysfs: SysfsAccess, choice: str = "auto") -> EnergySource | str:
    """The source the profile's `energy` key names (auto: the first that answers), or
    'not measurable: <why>'."""
    finders = {"rapl": rapl_source, "hwmon": hwmon_source, "battery": battery_source}
    if choice == "off":
        return "not measurable: energy = \"off\" in [conditions]"
    if choice != "auto" and choice not in finders:
        return f"not measurable: energy = {choice!r} is not read from sysfs"
    order = list(finders) if choice == "auto" else [choice]
    reasons = []
    for name in order:
        found = finders[name](sysfs)
        if not isinstance(found, str):
            return found
        reasons.append(found)
    return f"not measurable: {sysfs.label}: " + "; ".join(reasons)
