"""The [conditions] of one device during a run, as the execution room calls them.

`open()` once before the device's first job (the governor and frequency range are set, the energy
source found), `before_job(spec)` before each job (the cooldown, per job or per trial round),
`around_job(spec, run)` around each job's execute (energy sampled for perf jobs; the cooldown,
energy and governor fields merged into the result), `close()` after the last job, after a failure
and after Ctrl-C (what the governor control wrote is put back). Without a [conditions] table every
call passes through and records stay as they were.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .config import KIND_SUPPORT, Conditions, parse_conditions
from .cooldown import cool_down, soc_temperature_reader
from .energy import measure, unmeasurable
from .energy_sources import BatterySource, battery_note
from .governor import GovernorControl, observe
from .meters import measure_window

if TYPE_CHECKING:
    from ..devices.base import Device
    from ..plan import JobSpec

Warn = Callable[[str], None]


def _stderr_warning(line: str) -> None:
    print(f"edgebench: warning: {line}", file=sys.stderr)


class ConditionHooks:
    """One device's cooldown, governor and energy for a run (see the module's docstring)."""

    def __init__(self, name: str, table: Mapping[str, Any] | None, device: Device, *,
                 warn: Warn = _stderr_warning) -> None:
        self.name, self.device, self.warn = name, device, warn
        self.enabled = bool(table)
        self.conditions: Conditions = parse_conditions(table)
        self.sysfs: Any = None
        self.governor: GovernorControl | None = None
        self.source: Any = None  # EnergySource, WindowMeter, or 'not measurable: ...'
        self._cooldown: dict[str, Any] = {}
        self._last_trial: int | None = None

    def open(self) -> ConditionHooks:
        """Set the governor (ConditionError when required and impossible) and find the energy source."""
        if not self.enabled:
            return self
        c = self.conditions
        self.sysfs = self.device.sysfs(sudo=c.sudo, su=c.su)
        if self.sysfs is None:
            self.warn(f"{self.name}: [conditions] not supported under emulation ({KIND_SUPPORT['qemu']})")
            return self
        if c.governor.active:
            control = GovernorControl(self.sysfs, c.governor, warn=self.warn)
            control.__enter__()  # raises ConditionError with governor_required = true
            self.governor = control
        if c.energy != "off":
            from . import energy_source_for

            run = self.device.run if self.device.kind == "adb" else None
            self.source = energy_source_for(self.sysfs, c, kind=self.device.kind, run=run)
            if isinstance(self.source, str):
                self.warn(f"{self.name}: energy {self.source}")
        return self

    def close(self) -> None:
        """Put back what the governor control wrote (safe to call twice)."""
        if self.governor is not None:
            self.governor.__exit__(None, None, None)

    def before_job(self, spec: JobSpec) -> None:
        """Wait for the device to cool, as [conditions] asks (once per trial round with cooldown_per = "round")."""
        self._cooldown = {}
        settings = self.conditions.cooldown
        if self.sysfs is None or settings is None:
            return
        if settings.per == "round" and self._last_trial == spec.trial:
            return
        self._last_trial = spec.trial
        self._cooldown = cool_down(soc_temperature_reader(self.sysfs, settings.zones), settings)

    def around_job(self, spec: JobSpec, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """run() (the device's execute), measured where asked; the result with the condition fields."""
        if not self.enabled:
            return run()
        if spec.mode == "perf" and self.conditions.energy != "off":
            result, energy = self._measured(run)
        else:
            result, energy = run(), {}
        fields = {**self._cooldown, **energy}
        if self.sysfs is not None:
            fields.update(self.governor.fragment() if self.governor else observe(self.sysfs))
        return {**result, **fields}

    def _measured(self, run: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
        c, source = self.conditions, self.source
        if source is None or isinstance(source, str):
            why = source or f"not measurable: {self.name} has no sysfs ({KIND_SUPPORT['qemu']})"
            return run(), unmeasurable(why)
        if source.kind == "window":
            return measure_window(source, run, baseline_s=c.energy_baseline_s, count=inference_count,
                                  latency_s=mean_latency_s)
        note = battery_note(self.sysfs, source.path) if isinstance(source, BatterySource) else None
        return measure(source, run, baseline_s=c.energy_baseline_s, interval_s=c.energy_interval_s,
                       count=inference_count, latency_s=mean_latency_s, note=note)


def inference_count(result: Mapping[str, Any]) -> int | None:
    """Timed inferences of a perf result (the runner's samples, or a native tool's count)."""
    if result.get("latency_ns"):
        return len(result["latency_ns"])
    return (result.get("latency_summary_ns") or {}).get("count")


def mean_latency_s(result: Mapping[str, Any]) -> float | None:
    """Mean seconds per timed inference; None when the job failed. The sampled window also holds the
    process start, model load and warm-up, so energy per inference is mean power x this."""
    if result.get("status") != "ok":
        return None
    if result.get("latency_ns"):
        return statistics.fmean(result["latency_ns"]) / 1e9
    mean = (result.get("latency_summary_ns") or {}).get("mean")
    return None if mean is None else float(mean) / 1e9
