"""Temperature across a run: each job's temp_before_c in the order the jobs ran, one chart per device,
and the jobs that started hot. "Hot" is above the profile's [conditions] cooldown_below_c where it
set one, else more than HOT_MARGIN_C above the median start temperature of the device's jobs (a job
that starts well above where the device usually sits may be throttled)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from .svg import Scale, _open, _x_axis, _y_axis
from ..util import finite_or_none as _num

HOT_MARGIN_C = 10.0


def job_temperatures(records: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """device -> its jobs with a temp_before_c, in the order they started."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(records, key=lambda r: str(r.get("started_at") or "")):
        temp = _num(r.get("temp_before_c"))
        if temp is not None:
            out.setdefault(str(r.get("device")), []).append(
                {"config_id": r.get("config_id"), "trial": r.get("trial"), "mode": r.get("mode"), "temp_c": temp})
    return out


def hot_threshold(meta: Mapping[str, Any], device: str, temps: Sequence[float]) -> tuple[float, str]:
    """(threshold C, where it comes from) for one device."""
    for p in meta.get("profiles") or []:
        if (p.get("device") or {}).get("name") == device:
            below = _num((p.get("conditions") or {}).get("cooldown_below_c"))
            if below is not None:
                return below, "cooldown_below_c"
    return statistics.median(temps) + HOT_MARGIN_C, f"the run's median + {HOT_MARGIN_C:g} C"


def started_hot(meta: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """config_id -> {'jobs': [(mode, trial, C)], 'threshold': C, 'basis': text} for jobs that started hot."""
    out: dict[str, dict[str, Any]] = {}
    for device, jobs in job_temperatures(records).items():
        limit, basis = hot_threshold(meta, device, [j["temp_c"] for j in jobs])
        for j in jobs:
            if j["temp_c"] > limit:
                entry = out.setdefault(str(j["config_id"]), {"jobs": [], "threshold": limit, "basis": basis})
                entry["jobs"].append((j["mode"], j["trial"], j["temp_c"]))
    return out


def temperature_chart(jobs: Sequence[Mapping[str, Any]], limit: float, basis: str, width: int = 660,
                      height: int = 240) -> str:
    """temp_before_c per job in run order (class temp-point; started hot: temp-point hot) and the limit."""
    left, right, top, bottom = 64, 16, 14, 48
    temps = [float(j["temp_c"]) for j in jobs]
    lo, hi = min(temps + [limit]), max(temps + [limit])
    xs = Scale(0.5, len(jobs) + 0.5, left, width - right)
    ys = Scale(lo - 2.0, hi + 2.0, height - bottom, top)
    out = _open("temperature", width, height, "Temperature at the start of each job, in run order")
    out += _y_axis(ys, left, "C at job start", width - right)
    out += _x_axis(xs, height - bottom, "job, in run order", width)
    y = ys(limit)
    out.append(f'<line class="hot-limit" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
               f'stroke="#c2412d" stroke-dasharray="5 4"><title>started hot above {limit:.1f} C '
               f'({escape(basis)})</title></line>')
    for i, (j, t) in enumerate(zip(jobs, temps), start=1):
        hot = t > limit
        out.append(f'<circle class="temp-point{" hot" if hot else ""}" cx="{xs(i):.1f}" cy="{ys(t):.1f}" r="3.5" '
                   f'fill="{"#c2412d" if hot else "#1f6fb4"}"><title>{escape(str(j["config_id"]))} '
                   f'{escape(str(j["mode"]))} #{j["trial"]}: {t:.1f} C{" (started hot)" if hot else ""}</title>'
                   f'</circle>')
    out.append("</svg>")
    return "\n".join(out)


def thermal_section(meta: Mapping[str, Any]) -> list[str]:
    """report.html's "Temperature across the run" (nothing when no job recorded a temperature)."""
    by_device = meta.get("job_temperatures") or {}
    if not by_device:
        return []
    parts = ['<h2 id="temperature">Temperature across the run</h2>']
    for device, jobs in by_device.items():
        limit, basis = hot_threshold(meta, device, [j["temp_c"] for j in jobs])
        hot = sum(1 for j in jobs if j["temp_c"] > limit)
        caption = (f"{device}: SoC temperature just before each job (temp_before_c), in the order the jobs ran; "
                   f"{hot} of {len(jobs)} started hot (above {limit:.1f} C: {basis}, red).")
        parts.append(f'<figure class="chart">{temperature_chart(jobs, limit, basis)}'
                     f"<figcaption>{escape(caption)}</figcaption></figure>")
    return parts
