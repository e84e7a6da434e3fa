"""Set the CPU governor and frequency range per cpufreq policy (core cluster) for a run, and put
back exactly what was there afterwards: after success, after a failure and after Ctrl-C.

Where it cannot (no cpufreq, permission denied, a governor the policy does not offer, a frequency
outside the hardware range) nothing is changed, one line says why and the caller is warned, or
ConditionError is raised when the profile says `governor_required = true`.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .sysfs import ConditionError, SysfsAccess, list_or_empty, read_int, read_str, why

CPU_ROOT = "/sys/devices/system/cpu"
# Record fields this module fills: policy name -> value maps, plus what was asked and what happened.
GOVERNOR_KEYS = ("cpufreq_governor", "cpufreq_cur_khz", "cpufreq_min_khz", "cpufreq_max_khz",
                 "governor_requested", "governor_applied", "governor_note")


@dataclass(frozen=True)
class Policy:
    """One cpufreq policy as read: `path` holds its scaling_* files; `cpus` the CPU ids it drives."""

    name: str
    path: str
    cpus: tuple[int, ...]
    governor: str | None
    min_khz: int | None
    max_khz: int | None
    cur_khz: int | None
    hw_min_khz: int | None
    hw_max_khz: int | None
    available: tuple[str, ...]  # empty: the kernel does not say


@dataclass(frozen=True)
class GovernorSettings:
    """What the profile asked for. Frequency maps: cluster ('policy4', 'cpu4' or '*') -> kHz."""

    governor: str | None = None
    freq_min_khz: Mapping[str, int] = field(default_factory=dict)
    freq_max_khz: Mapping[str, int] = field(default_factory=dict)
    required: bool = False

    @property
    def active(self) -> bool:
        return bool(self.governor or self.freq_min_khz or self.freq_max_khz)


def _cpu_list(text: str | None) -> tuple[int, ...]:
    """'0-3' / '0 1 2 3' / '4,5' -> (0, 1, 2, 3)."""
    cpus: list[int] = []
    for part in re.split(r"[\s,]+", (text or "").strip()):
        if re.fullmatch(r"\d+-\d+", part):
            lo, hi = map(int, part.split("-"))
            cpus.extend(range(lo, hi + 1))
        elif part.isdigit():
            cpus.append(int(part))
    return tuple(cpus)


def _policy_dirs(sysfs: SysfsAccess, root: str) -> list[tuple[str, str, tuple[int, ...]]]:
    """(name, dir, cpus): cpufreq/policyN, or cpuN/cpufreq on kernels without policy folders."""
    names = sorted((n for n in list_or_empty(sysfs, f"{root}/cpufreq") if re.fullmatch(r"policy\d+", n)),
                   key=lambda n: int(n[6:]))
    if names:
        out = []
        for name in names:
            path = f"{root}/cpufreq/{name}"
            cpus = _cpu_list(read_str(sysfs, f"{path}/related_cpus") or read_str(sysfs, f"{path}/affected_cpus"))
            out.append((name, path, cpus or (int(name[6:]),)))
        return out
    cpus = sorted((n for n in list_or_empty(sysfs, root) if re.fullmatch(r"cpu\d+", n)), key=lambda n: int(n[3:]))
    return [(n, f"{root}/{n}/cpufreq", (int(n[3:]),)) for n in cpus
            if read_str(sysfs, f"{root}/{n}/cpufreq/scaling_governor") is not None]


def read_policies(sysfs: SysfsAccess, root: str = CPU_ROOT) -> list[Policy]:
    """Every cpufreq policy with its governor and frequencies; [] where the device has no cpufreq."""
    policies = []
    for name, path, cpus in _policy_dirs(sysfs, root):
        available = tuple((read_str(sysfs, f"{path}/scaling_available_governors") or "").split())
        policies.append(Policy(
            name=name, path=path, cpus=cpus, governor=read_str(sysfs, f"{path}/scaling_governor"),
            min_khz=read_int(sysfs, f"{path}/scaling_min_freq"), max_khz=read_int(sysfs, f"{path}/scaling_max_freq"),
            cur_khz=read_int(sysfs, f"{path}/scaling_cur_freq"),
            hw_min_khz=read_int(sysfs, f"{path}/cpuinfo_min_freq"),
            hw_max_khz=read_int(sysfs, f"{path}/cpuinfo_max_freq"), available=available))
    return policies


def observe(sysfs: SysfsAccess, root: str = CPU_ROOT) -> dict[str, Any]:
    """Record fields seen now: governor and current/min/max kHz per policy (None: no cpufreq)."""
    policies = read_policies(sysfs, root)
    if not policies:
        return {"cpufreq_governor": None, "cpufreq_cur_khz": None, "cpufreq_min_khz": None,
                "cpufreq_max_khz": None}
    return {
        "cpufreq_governor": {p.name: p.governor for p in policies},
        "cpufreq_cur_khz": {p.name: p.cur_khz for p in policies},
        "cpufreq_min_khz": {p.name: p.min_khz for p in policies},
        "cpufreq_max_khz": {p.name: p.max_khz for p in policies},
    }


def _wanted(table: Mapping[str, int], policy: Policy) -> int | None:
    for key, value in table.items():
        if key == policy.name or key == "*" or (key.startswith("cpu") and key[3:].isdigit()
                                                and int(key[3:]) in policy.cpus):
            return int(value)
    return None


def _unknown_clusters(settings: GovernorSettings, policies: list[Policy]) -> list[str]:
    known = {p.name for p in policies} | {f"cpu{c}" for p in policies for c in p.cpus} | {"*"}
    return sorted({k for table in (settings.freq_min_khz, settings.freq_max_khz) for k in table} - known)


def plan_writes(settings: GovernorSettings, policies: list[Policy]) -> tuple[list[tuple[str, str, str]], str | None]:
    """The writes (path, new value, old value) in a safe order, or a reason why nothing can be set."""
    if not policies:
        return [], "the device has no cpufreq (no /sys/devices/system/cpu/cpufreq policies)"
    unknown = _unknown_clusters(settings, policies)
    if unknown:
        return [], (f"no cpufreq policy {', '.join(unknown)} (the device has "
                    f"{', '.join(f'{p.name} (cpus {_span(p.cpus)})' for p in policies)})")
    writes: list[tuple[str, str, str]] = []
    for p in policies:
        gov = settings.governor
        if gov and p.available and gov not in p.available:
            return [], f"{p.name} does not offer governor {gov!r} (available: {' '.join(p.available)})"
        if gov and p.governor is None:
            return [], f"{p.name}: scaling_governor is not readable, so it could not be restored"
        if gov and gov != p.governor:
            writes.append((f"{p.path}/scaling_governor", gov, p.governor or ""))
        lo, hi = _wanted(settings.freq_min_khz, p), _wanted(settings.freq_max_khz, p)
        if lo is None and hi is None:
            continue
        if p.min_khz is None or p.max_khz is None:
            return [], f"{p.name}: scaling_min_freq/scaling_max_freq are not readable"
        new_lo, new_hi = (lo if lo is not None else p.min_khz), (hi if hi is not None else p.max_khz)
        hw_lo, hw_hi = p.hw_min_khz or 0, p.hw_max_khz or new_hi
        if new_lo > new_hi or new_lo < hw_lo or new_hi > hw_hi:
            return [], (f"{p.name}: frequency range {new_lo}-{new_hi} kHz is outside the hardware range "
                        f"{hw_lo}-{hw_hi} kHz (or min > max)")
        pair = [(f"{p.path}/scaling_min_freq", str(new_lo), str(p.min_khz)),
                (f"{p.path}/scaling_max_freq", str(new_hi), str(p.max_khz))]
        if new_lo > p.max_khz:  # raise the ceiling before the floor, so min <= max at every step
            pair.reverse()
        writes.extend(w for w in pair if w[1] != w[2])
    return writes, None


def _span(cpus: tuple[int, ...]) -> str:
    return f"{cpus[0]}-{cpus[-1]}" if len(cpus) > 1 and cpus == tuple(range(cpus[0], cpus[-1] + 1)) \
        else ",".join(map(str, cpus))


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C while files are written or restored; it is delivered (KeyboardInterrupt) after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class GovernorControl:
    """Context manager: apply GovernorSettings on entry, restore every changed file on exit.

    `warn(line)` receives one line when a setting could not be applied (or restored); with
    `settings.required` a failure to apply raises ConditionError instead. Use `fragment()` for the
    record: what was asked, whether it holds, and the governor and frequencies seen now.
    """

    def __init__(self, sysfs: SysfsAccess, settings: GovernorSettings, *,
                 warn: Callable[[str], None], root: str = CPU_ROOT) -> None:
        self.sysfs, self.settings, self.warn, self.root = sysfs, settings, warn, root
        self.applied: list[tuple[str, str, str]] = []  # (path, new, old) written, in order
        self.note: str | None = None

    def __enter__(self) -> GovernorControl:
        if not self.settings.active:
            return self
        writes, problem = plan_writes(self.settings, read_policies(self.sysfs, self.root))
        try:
            with _sigint_deferred():
                problem = problem or self._apply(writes)
        except BaseException:
            # A Ctrl-C held during the writes arrives here, before `with` would call __exit__.
            self.__exit__()
            raise
        if problem is not None:
            self._fail(problem)
        return self

    def _apply(self, writes: list[tuple[str, str, str]]) -> str | None:
        """Write in order; on the first refusal put back what was written and say why."""
        for path, new, old in writes:
            try:
                self.sysfs.write_text(path, new)
            except OSError as exc:
                self._restore()
                return f"cannot write {new!r} to {path}: {why(exc)}{self._hint(exc)}"
            self.applied.append((path, new, old))
        return None

    def __exit__(self, *exc: object) -> None:
        with _sigint_deferred():
            self._restore()

    def _restore(self) -> None:
        while self.applied:
            path, new, old = self.applied.pop()
            try:
                self.sysfs.write_text(path, old + "\n")  # as the file read before (sysfs adds the newline)
            except OSError as exc:
                self.warn(f"{self.sysfs.label}: could not restore {path} to {old!r} (it stays {new!r}): "
                          f"{why(exc)}; set it back by hand")

    def _hint(self, exc: OSError) -> str:
        if isinstance(exc, PermissionError):
            return ("; run as root, or set sudo = true in [conditions] with a NOPASSWD sudoers rule "
                    "(ssh), or use a rooted phone (adb)")
        return ""

    def _fail(self, problem: str) -> None:
        self.note = problem
        line = f"{self.sysfs.label}: cpufreq settings not applied: {problem}"
        if self.settings.required:
            raise ConditionError(line + " (governor_required = true in [conditions])")
        self.warn(line + "; the run goes on with the current settings")

    def fragment(self) -> dict[str, Any]:
        """Record fields (GOVERNOR_KEYS) as seen now, during the job."""
        return {**observe(self.sysfs, self.root),
                "governor_requested": self.settings.governor,
                "governor_applied": (self.note is None) if self.settings.active else None,
                "governor_note": self.note}
