"""Device conditions under control: cooldown before jobs, the CPU governor and frequency range for a
run (restored afterwards), and energy per inference where the device can tell.

The profile's [conditions] table is documented in config.py. The device loop calls, per device:
`sysfs_for(...)` once; `GovernorControl(...)` around the whole run; `cool_down_before(...)` before
each job (or trial round); `energy.measure(...)` (or a Sampler) around each job's run; and merges the
record fragments (COOLDOWN_KEYS, GOVERNOR_KEYS, ENERGY_KEYS) into the job record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .config import CONDITION_KEYS, KIND_SUPPORT, Conditions, parse_conditions, validate_conditions
from .cooldown import COOLDOWN_KEYS, CooldownSettings, cool_down, soc_temperature_reader
from .energy import ENERGY_KEYS, Sampler, measure, meter_per_inference, per_inference, unmeasurable
from .energy_sources import CommandMeter, EnergySource, battery_note, find_source
from .governor import GOVERNOR_KEYS, GovernorControl, GovernorSettings, observe, read_policies
from .sysfs import (AndroidRootSysfs, CommandSysfs, ConditionError, LocalSysfs, Runner, SysfsAccess,
                    local_run)

__all__ = [
    "CONDITION_KEYS", "COOLDOWN_KEYS", "ENERGY_KEYS", "GOVERNOR_KEYS", "KIND_SUPPORT", "AndroidRootSysfs",
    "battery_note",
    "CommandMeter", "CommandSysfs", "ConditionError", "Conditions", "CooldownSettings", "EnergySource",
    "GovernorControl", "GovernorSettings", "LocalSysfs", "Runner", "Sampler", "SysfsAccess",
    "cool_down", "cool_down_before", "energy_source_for", "measure", "meter_per_inference", "observe",
    "parse_conditions", "per_inference", "read_policies", "soc_temperature_reader", "sysfs_for",
    "unmeasurable", "validate_conditions",
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


def energy_source_for(sysfs: SysfsAccess, conditions: Conditions) -> EnergySource | CommandMeter | str:
    """The energy source the profile names, or 'not measurable: <why>' (also for energy = "off")."""
    if conditions.energy == "command":
        return CommandMeter(conditions.energy_command)
    return find_source(sysfs, conditions.energy)
