"""Device conditions under control: cooldown before jobs, the CPU governor and frequency range for a
run (restored afterwards), and energy per inference where the device can tell.

The profile's [conditions] table is documented in config.py. The run calls them through one
hooks.ConditionHooks per device (execution/session.py opens and closes it around the whole run,
execution/device_loop.py calls before_job / around_job), which uses each Device's own `sysfs()`:
`GovernorControl(...)` around the run; `cool_down(...)` before each job (or trial round); `measure(...)`
(sampled sources) or `measure_window(...)` (meters) around each perf job; `GovernorControl.fragment()`
after each job; the record fragments (COOLDOWN_KEYS, GOVERNOR_KEYS, ENERGY_KEYS) merged into the record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .config import CONDITION_KEYS, KIND_SUPPORT, Conditions, parse_conditions, validate_conditions
from .cooldown import COOLDOWN_KEYS, CooldownSettings, cool_down, soc_temperature_reader
from .energy import ENERGY_KEYS, Sampler, measure, per_inference, unmeasurable
from .energy_sources import EnergySource, battery_note, find_source
from .governor import GOVERNOR_KEYS, GovernorControl, GovernorSettings, observe, read_policies
from .meters import (BatteryStatsMeter, CommandMeter, WindowMeter, batterystats_meter, measure_window,
                     window_per_inference)
from .sysfs import (AndroidRootSysfs, CommandSysfs, ConditionError, LocalSysfs, Runner, SysfsAccess,
                    local_run)

__all__ = [
    "CONDITION_KEYS", "COOLDOWN_KEYS", "ENERGY_KEYS", "GOVERNOR_KEYS", "KIND_SUPPORT", "AndroidRootSysfs",
    "BatteryStatsMeter", "CommandMeter", "CommandSysfs", "ConditionError", "Conditions", "CooldownSettings",
    "EnergySource", "GovernorControl", "GovernorSettings", "LocalSysfs", "Runner", "Sampler", "SysfsAccess",
    "WindowMeter", "battery_note", "batterystats_meter", "cool_down", "cool_down_before", "energy_source_for",
    "measure", "measure_window", "observe", "parse_conditions", "per_inference", "read_policies",
    "soc_temperature_reader", "sysfs_for", "unmeasurable", "validate_conditions", "window_per_inference",
]


def sysfs_for(kind: str, label: str, run: Runner | None = None, *, sudo: bool = False, su: bool = False,
              root: str = "") -> SysfsAccess:
    """The sysfs of a device: this host's files (local), or commands through `run` (ssh, adb);
    `sudo -n` or `su -c` where the profile asks."""
    if kind == "local":
        return CommandSysfs(local_run, label, sudo=True) if sudo else LocalSysfs(root, label)
    if run is None:
        raise ValueError(f"{label}: a {kind} device's sysfs needs its run(argv, timeout)")
    if kind == "adb" and su:
        return AndroidRootSysfs(run, label)
    return CommandSysfs(run, label, sudo=sudo and kind != "adb")


def cool_down_before(sysfs: SysfsAccess, settings: CooldownSettings, *,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], Any] = time.sleep) -> dict[str, Any]:
    """Wait on the device's SoC thermal zones as `settings` asks; the record fragment (COOLDOWN_KEYS)."""
    return cool_down(soc_temperature_reader(sysfs, settings.zones), settings, clock=clock, sleep=sleep)


def energy_source_for(sysfs: SysfsAccess, conditions: Conditions, *, kind: str | None = None,
                      run: Runner | None = None) -> EnergySource | WindowMeter | str:
    """The energy source the profile names, or 'not measurable: <why>' (also for energy = "off").

    Sampled sources (EnergySource) go to `measure`, whole-window meters (WindowMeter) to
    `measure_window`. On a phone (kind "adb", with its `run`) whose battery files are not readable,
    "auto" and "battery" fall back to `dumpsys batterystats` (an estimate: the record says so).
    """
    if conditions.energy == "command":
        return CommandMeter(conditions.energy_command)
    if conditions.energy == "batterystats":
        if kind != "adb" or run is None:
            return "not measurable: energy = \"batterystats\" needs an Android device (kind = 'adb')"
        meter = batterystats_meter(run, sysfs.label)
        return meter if not isinstance(meter, str) else f"not measurable: {sysfs.label}: {meter}"
    found = find_source(sysfs, conditions.energy)
    if isinstance(found, str) and kind == "adb" and run is not None and conditions.energy in ("auto", "battery"):
        meter = batterystats_meter(run, sysfs.label)
        return meter if not isinstance(meter, str) else f"{found}; {meter}"
    return found
