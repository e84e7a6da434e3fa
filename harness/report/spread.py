"""Board-to-board spread: one config measured on several identical boards (a lab profile with
`count`, or devices sharing a `group`), the per-board medians side by side. A spread far above a
board's own run-to-run noise says the boards differ (cooling, firmware, a slow SD card)."""

from __future__ import annotations

import math
import statistics
from html import escape
from typing import Any


def _groups(meta: dict[str, Any]) -> dict[str, str]:
    """device name -> its group, from the profiles as run.json recorded them."""
    out = {}
    for prof in meta.get("profiles") or []:
        device = prof.get("device") or {}
        if device.get("group") and device.get("name"):
            out[str(device["name"])] = str(device["group"])
    return out


def spread_rows(meta: dict[str, Any], summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per group and config measured ok on two boards or more: the boards' medians and their spread."""
    groups = _groups(meta)
    by: dict[tuple, list[tuple[str, float]]] = {}
    for row in summary:
        group, median = groups.get(str(row.get("device"))), row.get("median_ms")
        if group is None or median is None or (isinstance(median, float) and math.isnan(median)):
            continue
        key = (group, row.get("model"), row.get("runtime"), row.get("precision"), row.get("threads"))
        by.setdefault(key, []).append((str(row["device"]), float(median)))
    rows = []
    for (group, model, runtime, precision, threads), boards in by.items():
        if len(boards) < 2:
            continue
        medians = [m for _, m in boards]
        mid = statistics.median(medians)
        rows.append({"group": group, "config": f"{model} {runtime} {precision} t{threads}", "boards": len(boards),
                     "median_ms": mid, "min_ms": min(medians), "max_ms": max(medians),
                     "spread_pct": 100.0 * (max(medians) - min(medians)) / mid if mid else None,
                     "fastest": min(boards, key=lambda b: b[1])[0], "slowest": max(boards, key=lambda b: b[1])[0]})
    return rows


def spread_line(row: dict[str, Any]) -> str:
    """One config's spread as a sentence (the report's and the terminal's)."""
    pct = "-" if row["spread_pct"] is None else f"{row['spread_pct']:.1f}%"
    return (f"{row['group']}: {row['config']}: {row['boards']} boards, median of medians "
            f"{row['median_ms']:.4f} ms, {row['min_ms']:.4f}-{row['max_ms']:.4f} ms (spread {pct}; "
            f"fastest {row['fastest']}, slowest {row['slowest']})")


def spread_section(meta: dict[str, Any], summary: list[dict[str, Any]]) -> list[str]:
    """The report's "Board-to-board spread" section; nothing when no config ran on two boards."""
    rows = spread_rows(meta, summary)
    if not rows:
        return []
    items = "".join(f"<li>{escape(spread_line(r))}</li>" for r in rows)
    return ['<h2 id="spread">Board-to-board spread</h2>',
            "<p>The same config on identical boards (one lab profile over several places): each board's "
            "median latency; spread = (slowest - fastest) / median of the boards' medians.</p>",
            f'<ul class="spread">{items}</ul>']
