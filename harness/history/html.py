"""history.html: one self-contained page (inline CSS and SVG, no script, nothing fetched) with a trend
plot per series: the median and its interval per run, steps in red, boundaries in grey."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

from .detect import Step
from .series import Series

W, H = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 18, 34

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2430;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:15px;margin:0 0 6px;font-family:ui-monospace,monospace}
.meta{color:#5b6472;font-size:13px;margin-bottom:18px}
.card{border:1px solid #d8dde5;border-radius:8px;padding:12px 14px;margin:0 0 16px;max-width:800px}
.card.has-step{border-color:#c62828}
.legend{font-size:12px;color:#5b6472;margin:2px 0 6px}
table{border-collapse:collapse;font-size:13px;margin-bottom:20px}
td,th{padding:3px 10px;border-bottom:1px solid #e4e7ec;text-align:left} td.num{text-align:right}
svg text{font-size:11px;fill:#5b6472} .step-label{fill:#c62828} .boundary-label{fill:#6a6f78}
.step-row td{color:#c62828}
"""


def _fmt(kind: str, v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}x" if kind == "speedup" else f"{v / 1e6:.4g} ms"


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or abs(hi) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def plot(series: Series, steps: Sequence[Step]) -> str:
    """The SVG of one series."""
    pts = series.points
    k = 1e-6 if series.kind == "latency" else 1.0  # ms on the axis for latency
    vals = [p["value"] * k for p in pts]
    lows = [(p["lo"] if p["lo"] is not None else p["value"]) * k for p in pts]
    highs = [(p["hi"] if p["hi"] is not None else p["value"]) * k for p in pts]
    y_lo, y_hi = min(lows), max(highs)
    pad = (y_hi - y_lo) * 0.08 or abs(y_hi) * 0.05 or 1.0
    y = _scale(y_lo - pad, y_hi + pad, H - BOTTOM, TOP)
    x = (lambda i: LEFT + (W - LEFT - RIGHT) / 2) if len(pts) == 1 else _scale(0, len(pts) - 1, LEFT, W - RIGHT)
    unit = "speedup (x)" if series.kind == "speedup" else "median latency (ms)"
    out = [f'<svg class="trend" data-series="{html.escape(series.name)}" data-kind="{series.kind}" '
           f'width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="{html.escape(unit)}">',
           f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="#fafbfc" '
           'stroke="#e4e7ec"/>']
    for frac in (0.0, 0.5, 1.0):
        v = y_lo - pad + frac * (y_hi - y_lo + 2 * pad)
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.4g}</text>')
    out.append(f'<text x="{LEFT}" y="{H - 8}">{html.escape(pts[0]["run_id"])}</text>')
    out.append(f'<text x="{W - RIGHT}" y="{H - 8}" text-anchor="end">{html.escape(pts[-1]["run_id"])}</text>')
    out.append(f'<text x="{(LEFT + W) / 2:.0f}" y="{H - 8}" text-anchor="middle">{unit}, one point per run</text>')
    for idx, label in series.boundaries():
        bx = (x(idx - 1) + x(idx)) / 2
        out.append(f'<line class="boundary" x1="{bx:.1f}" x2="{bx:.1f}" y1="{TOP}" y2="{H - BOTTOM}" '
                   f'stroke="#8a8f98" stroke-dasharray="4 3"><title>{html.escape(label)}</title></line>')
        right_half = bx > (LEFT + W) / 2  # a label on the right half runs leftwards, inside the plot
        out.append(f'<text class="boundary-label" x="{bx - 3 if right_half else bx + 3:.1f}" y="{TOP + 11}" '
                   f'text-anchor="{"end" if right_half else "start"}">{html.escape(label)}</text>')
    for st in steps:
        sx = (x(st.index - 1) + x(st.index)) / 2 if st.index > 0 else x(0)
        out.append(f'<line class="step" x1="{sx:.1f}" x2="{sx:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#c62828" '
                   f'stroke-width="2"><title>step {st.step_id}: {st.change:+.1%}</title></line>')
        out.append(f'<text class="step-label" x="{sx + 3:.1f}" y="{H - BOTTOM - 6}">step {st.change:+.1%}</text>')
    starts = {start for start, _ in series.segments()}  # the line breaks at each boundary
    path = " ".join(f"{'M' if i in starts else 'L'}{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vals))
    out.append(f'<path d="{path}" fill="none" stroke="#9db4d6" stroke-width="1"/>')
    for i, p in enumerate(pts):
        if highs[i] > lows[i]:
            out.append(f'<line class="interval" x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(lows[i]):.1f}" '
                       f'y2="{y(highs[i]):.1f}" stroke="#4a6fa5" stroke-width="1.5"/>')
        tip = f"{p['run_id']} {p.get('git_commit') or ''}: {_fmt(series.kind, p['value'])}"
        out.append(f'<circle class="point" cx="{x(i):.1f}" cy="{y(vals[i]):.1f}" r="3" fill="#1f4e8c">'
                   f'<title>{html.escape(tip)}</title></circle>')
    out.append("</svg>")
    return "\n".join(out)


def page(series_list: Sequence[Series], steps: Sequence[Step], store_path: str) -> str:
    """The whole page: a table of open steps, then one card per series (steps first)."""
    by_series: dict[str, list[Step]] = {}
    for st in steps:
        by_series.setdefault(st.series, []).append(st)
    ordered = sorted(series_list, key=lambda s: (s.name not in by_series, s.kind != "speedup", s.name))
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>edgebench history</title>", f"<style>{CSS}</style></head><body>",
             "<h1>edgebench history</h1>",
             f'<div class="meta">{len(series_list)} series from {html.escape(store_path)}, written {now}. '
             "Red: a step for the worse (not acknowledged); grey dashes: a boundary (device, model file or "
             "runtime version changed), never compared across.</div>"]
    if steps:
        parts.append('<table class="steps"><thead><tr><th>step</th><th>series</th><th>from run</th>'
                     "<th>before</th><th>after</th><th>change</th></tr></thead><tbody>")
        for st in steps:
            parts.append(f'<tr class="step-row"><td>{st.step_id}</td><td>{html.escape(st.series)}</td>'
                         f"<td>{html.escape(st.run_id)}</td><td class=num>{_fmt(st.kind, st.before)}</td>"
                         f"<td class=num>{_fmt(st.kind, st.after)}</td><td class=num>{st.change:+.1%}</td></tr>")
        parts.append("</tbody></table>")
    for s in ordered:
        mine = by_series.get(s.name, [])
        last = s.points[-1]
        parts.append(f'<div class="card{" has-step" if mine else ""}"><h2>{html.escape(s.name)}</h2>'
                     f'<div class="legend">{s.kind}; {len(s.points)} runs; latest {_fmt(s.kind, last["value"])} '
                     f'[{_fmt(s.kind, last["lo"])}, {_fmt(s.kind, last["hi"])}]</div>{plot(s, mine)}</div>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
