"""The profile's [conditions] table: its keys, their checks, and the settings they become.

    [conditions]
    cooldown_below_c = 45.0        # wait before each job until the SoC is below 45 C ...
    cooldown_max_wait_s = 120      # ... or at most this long (default 120 once any cooldown key is set)
    cooldown_per = "job"           # "job" (before every job) or "round" (before each trial round)
    cooldown_poll_s = 2            # seconds between readings
    cooldown_window_s = 30         # "stopped falling": slope over this window ...
    cooldown_settled_c_per_min = 0.5   # ... falls slower than this (0: only a flat or rising trend)
    cooldown_zones = ["cpu", "soc"]    # thermal zone types to watch (default: all but battery/skin/...)
    governor = "performance"       # cpufreq governor for the run; restored afterwards
    freq_min_khz = 1200000         # one value for every cluster, or per cluster:
    freq_max_khz = {policy0 = 1785600, cpu4 = 2419200}   # keys policyN, cpuN (its policy) or "*"
    governor_required = false      # true: stop when the setting cannot be applied (else: warn, go on)
    sudo = false                   # ssh/local: write through `sudo -n` (needs a NOPASSWD rule)
    su = false                     # adb: the phone is rooted; write through `su -c`
    energy = "off"                 # "auto" | "rapl" | "hwmon" | "battery" | "batterystats" | "command" | "off"
    energy_command = ["meter", "--joules"]   # energy = "command": run with START END (Unix s), prints J
    energy_baseline_s = 2.0        # idle sampling before each measured window
    energy_interval_s = 0.1        # seconds between samples during the window
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..util import unknown_key_hint
from .cooldown import CooldownSettings
from .energy_sources import ENERGY_CHOICES
from .governor import GovernorSettings

_NUM = (int, float)
# key -> (allowed types, what it must be). Numbers are checked for finiteness and range below.
CONDITION_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "cooldown_below_c": (_NUM, "a temperature in C"),
    "cooldown_max_wait_s": (_NUM, "seconds > 0"),
    "cooldown_per": ((str,), '"job" or "round"'),
    "cooldown_poll_s": (_NUM, "seconds > 0"),
    "cooldown_window_s": (_NUM, "seconds > 0"),
    "cooldown_settled_c_per_min": (_NUM, "C per minute >= 0"),
    "cooldown_zones": ((list,), "a list of thermal zone type names"),
    "governor": ((str,), "a cpufreq governor name, e.g. \"performance\""),
    "freq_min_khz": ((int, dict), "kHz, or a table cluster -> kHz"),
    "freq_max_khz": ((int, dict), "kHz, or a table cluster -> kHz"),
    "governor_required": ((bool,), "true or false"),
    "sudo": ((bool,), "true or false"),
    "su": ((bool,), "true or false"),
    "energy": ((str,), " | ".join(f'"{c}"' for c in ENERGY_CHOICES)),
    "energy_command": ((list, str), "a command (list of arguments, or one string split like a shell)"),
    "energy_baseline_s": (_NUM, "seconds >= 0"),
    "energy_interval_s": (_NUM, "seconds > 0"),
}
_POSITIVE = ("cooldown_max_wait_s", "cooldown_poll_s", "cooldown_window_s", "energy_interval_s")
_NON_NEGATIVE = ("cooldown_settled_c_per_min", "energy_baseline_s")
_CLUSTER = re.compile(r"policy\d+|cpu\d+|\*")
# What each device kind can do: cooldown and observation everywhere sysfs is readable.
KIND_SUPPORT = {
    "local": "cooldown, governor (root or sudo), energy: rapl, hwmon, battery, command",
    "ssh": "cooldown, governor (root or sudo -n), energy: rapl, hwmon, battery, command",
    "adb": "cooldown, governor (rooted phone: su), energy: battery, batterystats (estimate), hwmon, command",
    "qemu": "none: an emulated device has no thermal zones, cpufreq or energy of its own",
}


@dataclass(frozen=True)
class Conditions:
    """The parsed [conditions] table."""

    cooldown: CooldownSettings | None = None
    governor: GovernorSettings = field(default_factory=GovernorSettings)
    sudo: bool = False
    su: bool = False
    energy: str = "off"
    energy_command: tuple[str, ...] = ()
    energy_baseline_s: float = 2.0
    energy_interval_s: float = 0.1


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUM) and not isinstance(value, bool) and math.isfinite(value)


def _check_value(key: str, value: Any) -> str | None:
    """Why `value` does not fit `key`, or None."""
    types, what = CONDITION_KEYS[key]
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        return f"must be {what}, not {value!r}"
    if types is _NUM and not _is_number(value):
        return f"must be a finite number ({what}), not {value!r}"
    if key in _POSITIVE and value <= 0 or key in _NON_NEGATIVE and value < 0:
        return f"must be {what}, not {value!r}"
    if key == "cooldown_below_c" and not -40 <= value <= 150:
        return f"must be a temperature between -40 and 150 C, not {value!r}"
    if key == "cooldown_per" and value not in ("job", "round"):
        return f'must be "job" or "round", not {value!r}'
    if key == "energy" and value not in ENERGY_CHOICES:
        return f"must be {what}, not {value!r}"
    if key == "cooldown_zones" and not all(isinstance(z, str) and z for z in value):
        return f"must list zone type names (strings), not {value!r}"
    if key == "governor" and not re.fullmatch(r"[A-Za-z0-9_-]+", value):
        return f"must be a governor name such as \"performance\" or \"schedutil\", not {value!r}"
    if key in ("freq_min_khz", "freq_max_khz"):
        return _check_freq(value)
    if key == "energy_command" and not (shlex.split(value) if isinstance(value, str) else
                                        value and all(isinstance(a, str) for a in value)):
        return "must name a command (a non-empty list of strings)"
    return None


def _check_freq(value: Any) -> str | None:
    table = value if isinstance(value, dict) else {"*": value}
    for cluster, khz in table.items():
        if not _CLUSTER.fullmatch(cluster):
            return f"has cluster {cluster!r}: use policyN (a cpufreq policy), cpuN (the policy of CPU N) or \"*\""
        if isinstance(khz, bool) or not isinstance(khz, int) or not 0 < khz < 100_000_000:
            return f"must give kHz as a whole number between 1 and 100000000, not {khz!r} (for {cluster})"
    return None


def validate_conditions(table: Mapping[str, Any], where: str | Callable[[str], str],
                        kind: str | None = None) -> list[str]:
    """Every problem with a [conditions] table, one line each ('<where>: conditions.KEY ...').
    `where` is the file, or a function key -> 'file:line'; `kind` the device kind when known."""
    place = where if callable(where) else (lambda key: str(where))
    problems = []
    for key, value in table.items():
        if key not in CONDITION_KEYS:
            hint = unknown_key_hint(key, list(CONDITION_KEYS))
            problems.append(f"{place(key)}: unknown key conditions.{key}{hint}")
            continue
        why = _check_value(key, value)
        if why:
            problems.append(f"{place(key)}: conditions.{key} {why}")
    lo, hi = table.get("freq_min_khz"), table.get("freq_max_khz")
    if isinstance(lo, int) and isinstance(hi, int) and not isinstance(lo, bool) and lo > hi:
        problems.append(f"{place('freq_min_khz')}: conditions.freq_min_khz {lo} is above freq_max_khz {hi}")
    if table.get("energy") == "command" and "energy_command" not in table:
        problems.append(f"{place('energy')}: conditions.energy = \"command\" needs energy_command = [...]")
    if kind == "qemu" and table:
        problems.append(f"{place(next(iter(table)))}: [conditions] does not apply to kind = 'qemu' "
                        f"({KIND_SUPPORT['qemu']})")
    if kind is not None and kind != "adb" and table.get("su"):
        problems.append(f"{place('su')}: conditions.su is for rooted phones (kind = 'adb'); use sudo = true")
    if kind is not None and kind != "adb" and table.get("energy") == "batterystats":
        problems.append(f"{place('energy')}: conditions.energy = \"batterystats\" is for Android phones (kind = 'adb')")
    if kind == "adb" and table.get("sudo"):
        problems.append(f"{place('sudo')}: conditions.sudo is for ssh and local; a rooted phone uses su = true")
    return problems


def parse_conditions(table: Mapping[str, Any] | None) -> Conditions:
    """Settings from a [conditions] table that validate_conditions found no problem with."""
    t = dict(table or {})
    cooldown = None
    if any(k.startswith("cooldown_") for k in t):
        cooldown = CooldownSettings(
            below_c=None if t.get("cooldown_below_c") is None else float(t["cooldown_below_c"]),
            max_wait_s=float(t.get("cooldown_max_wait_s", 120.0)), poll_s=float(t.get("cooldown_poll_s", 2.0)),
            window_s=float(t.get("cooldown_window_s", 30.0)),
            settled_c_per_min=float(t.get("cooldown_settled_c_per_min", 0.5)),
            per=str(t.get("cooldown_per", "job")), zones=tuple(t.get("cooldown_zones", ())))

    def freq(key: str) -> dict[str, int]:
        value = t.get(key)
        return {} if value is None else dict(value) if isinstance(value, dict) else {"*": int(value)}

    command = t.get("energy_command", ())
    return Conditions(
        cooldown=cooldown,
        governor=GovernorSettings(governor=t.get("governor"), freq_min_khz=freq("freq_min_khz"),
                                  freq_max_khz=freq("freq_max_khz"), required=bool(t.get("governor_required"))),
        sudo=bool(t.get("sudo")), su=bool(t.get("su")), energy=str(t.get("energy", "off")),
        energy_command=tuple(shlex.split(command) if isinstance(command, str) else command),
        energy_baseline_s=float(t.get("energy_baseline_s", 2.0)),
        energy_interval_s=float(t.get("energy_interval_s", 0.1)))
