"""Small inline-SVG charts for the HTML report: no JavaScript, nothing fetched, readable offline.

Each chart is a string of SVG whose data marks carry a class (box, pair-point, acc-point, share-bar)
so a test can count what was drawn. Hovering a mark shows its <title>.
"""

from __future__ import annotations

import math
from html import escape
from collections.abc import Sequence

import numpy as np

from ..zoo.kinds import DENSE, DEPTHWISE, OTHER, POINTWISE, STANDARD

TWIN_COLORS = {"separable": "#1f6fb4", "standard": "#c2412d", None: "#6b6b6b"}
KIND_COLORS = {DEPTHWISE: "#1f6fb4", POINTWISE: "#6aaed6", STANDARD: "#c2412d", DENSE: "#e6a03b", OTHER: "#b3b3b3"}
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"
    if a >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


CHAR_W = 6.8  # average width of a 12px sans-serif character, for margins


def _label_margin(labels: Sequence[str], lo: int = 120, hi: int = 470) -> int:
    return int(min(max(lo, CHAR_W * max((len(x) for x in labels), default=0) + 16), hi))


def _fit(text: str, px: float) -> str:
    """Shorten text to about px pixels, keeping its end (where configs differ) after an ellipsis."""
    n = int(px / CHAR_W)
    return text if len(text) <= n else "…" + text[-(n - 1):]


class Scale:
    """Linear or log mapping from data to pixels, with readable ticks."""

    def __init__(self, lo: float, hi: float, p0: float, p1: float, log: bool = False):
        if log:
            lo, hi = max(lo, 1e-12), max(hi, 1e-12)
        if hi <= lo:
            hi = lo * 1.1 + 1e-9 if log else lo + 1.0
        self.log = log
        self.lo, self.hi = lo, hi
        self.p0, self.p1 = p0, p1

    def __call__(self, v: float) -> float:
        if self.log:
            v = max(v, 1e-12)
            t = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (v - self.lo) / (self.hi - self.lo)
        return self.p0 + t * (self.p1 - self.p0)

    def ticks(self, n: int = 6) -> list[float]:
        if self.log:
            out = []
            for e in range(math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi)) + 1):
                for m in (1, 2, 5):
                    v = m * 10.0 ** e
                    if self.lo <= v <= self.hi:
                        out.append(v)
            return out if len(out) >= 2 else [self.lo, self.hi]
        span = self.hi - self.lo
        step = 10 ** math.floor(math.log10(span / n))
        for m in (1, 2, 2.5, 5, 10):
            if span / (step * m) <= n:
                step *= m
                break
        start = math.ceil(self.lo / step) * step
        return [round(start + i * step, 10) for i in range(int((self.hi - start) / step) + 1)]


def _padded(lo: float, hi: float, log: bool, frac: float = 0.06) -> tuple[float, float]:
    if log:
        llo, lhi = math.log10(lo), math.log10(hi)
        pad = max((lhi - llo) * frac, 0.05)
        return 10 ** (llo - pad), 10 ** (lhi + pad)
    pad = max((hi - lo) * frac, abs(hi) * 0.05, 1e-9)
    return lo - pad, hi + pad


def _open(name: str, width: int, height: int, title: str) -> list[str]:
    return [f'<svg class="chart-svg" data-chart="{name}" xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(title)}" style="{FONT};font-size:12px">',
            f"<title>{escape(title)}</title>"]


def _x_axis(s: Scale, y: float, label: str, width: int) -> list[str]:
    out = [f'<line x1="{s.p0:.1f}" y1="{y:.1f}" x2="{s.p1:.1f}" y2="{y:.1f}" stroke="#444"/>']
    for t in s.ticks():
        x = s(t)
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y + 4:.1f}" stroke="#444"/>')
        out.append(f'<text x="{x:.1f}" y="{y + 16:.1f}" text-anchor="middle" fill="#333">{_fmt(t)}</text>')
    out.append(f'<text x="{(s.p0 + s.p1) / 2:.1f}" y="{y + 34:.1f}" text-anchor="middle" '
               f'fill="#111">{escape(label)}</text>')
    return out


def _y_axis(s: Scale, x: float, label: str, x_end: float) -> list[str]:
    out = [f'<line x1="{x:.1f}" y1="{s.p0:.1f}" x2="{x:.1f}" y2="{s.p1:.1f}" stroke="#444"/>']
    for t in s.ticks(5):
        y = s(t)
        out.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x_end:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{x - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="#333">{_fmt(t)}</text>')
    mid = (s.p0 + s.p1) / 2
    out.append(f'<text x="{x - 44:.1f}" y="{mid:.1f}" text-anchor="middle" fill="#111" '
               f'transform="rotate(-90 {x - 44:.1f} {mid:.1f})">{escape(label)}</text>')
    return out


def latency_boxes(items: Sequence[tuple[str, str | None, Sequence[float]]], width: int = 1000) -> str:
    """Horizontal box plots, one per config: (label, twin, samples in ms). Whiskers p5-p95, box IQR,
    a tick at the median, the 1% slowest runs as dots (at most 30 each)."""
    items = [(lab, twin, np.asarray(s, dtype=float)) for lab, twin, s in items if len(s)]
    row_h = 26
    left, right, top = _label_margin([lab for lab, _, _ in items]), 30, 16
    height = top + row_h * len(items) + 52
    lo = min(float(np.percentile(s, 0.5)) for _, _, s in items)
    hi = max(float(np.percentile(s, 99.5)) for _, _, s in items)
    log = hi / max(lo, 1e-12) > 8
    xs = Scale(*_padded(lo, hi, log), left, width - right, log=log)
    out = _open("latency", width, height, "Latency distribution per config (ms)")
    for t in xs.ticks():
        out.append(f'<line x1="{xs(t):.1f}" y1="{top}" x2="{xs(t):.1f}" y2="{top + row_h * len(items)}" '
                   f'stroke="#ececec"/>')
    for i, (label, twin, s) in enumerate(items):
        y = top + i * row_h + row_h / 2
        p5, q1, med, q3, p95 = (float(v) for v in np.percentile(s, [5, 25, 50, 75, 95]))
        color = TWIN_COLORS.get(twin, TWIN_COLORS[None])
        tip = (f"{label}: median {med:.4g} ms, IQR {q1:.4g}-{q3:.4g} ms, p5-p95 {p5:.4g}-{p95:.4g} ms, "
               f"n={s.size}")
        out.append(f'<g class="box" data-config="{escape(label)}"><title>{escape(tip)}</title>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#222">'
                   f'{escape(_fit(label, left - 12))}</text>')
        out.append(f'<line x1="{xs(max(p5, xs.lo)):.1f}" y1="{y:.1f}" x2="{xs(min(p95, xs.hi)):.1f}" y2="{y:.1f}" '
                   f'stroke="{color}" stroke-width="1.5"/>')
        x1, x3 = xs(max(q1, xs.lo)), xs(min(q3, xs.hi))
        out.append(f'<rect x="{x1:.1f}" y="{y - 8:.1f}" width="{max(x3 - x1, 1.5):.1f}" height="16" '
                   f'fill="{color}" fill-opacity="0.25" stroke="{color}"/>')
        out.append(f'<line class="median" x1="{xs(med):.1f}" y1="{y - 9:.1f}" x2="{xs(med):.1f}" y2="{y + 9:.1f}" '
                   f'stroke="{color}" stroke-width="2.5"/>')
        tail = np.sort(s[s > np.percentile(s, 99)])[-30:]
        for v in tail:
            if xs.lo <= v <= xs.hi:
                out.append(f'<circle cx="{xs(float(v)):.1f}" cy="{y:.1f}" r="1.8" fill="{color}" fill-opacity="0.6"/>')
        out.append("</g>")
    out += _x_axis(xs, top + row_h * len(items) + 4, "latency per inference, ms" + (" (log scale)" if log else ""),
                   width)
    out.append("</svg>")
    return "\n".join(out)


def speedup_vs_theory(points: Sequence[dict], width: int = 640, height: int | None = None) -> str:
    """A dot plot with one labelled row per pair (grouped under its family, rows named by runtime,
    precision and threads): the measured speedup as a dot with its 95% interval, the MAC ratio's
    prediction as an open diamond on the same row, and the numbers at the right. Labels sit on their own
    rows, so they never overlap, for one family or many."""
    row_h, head_h, top, bottom = 22, 20, 10, 44
    groups: dict[str, list[dict]] = {}
    for p in points:
        groups.setdefault(p.get("family") or p["label"], []).append(p)
    labels = [p.get("setting") or p["label"] for p in points]
    left = _label_margin(labels, lo=130, hi=260) + 10
    right_txt = 118
    plot_right = width - right_txt
    height = height or top + bottom + head_h * len(groups) + row_h * len(points)
    vals = [v for p in points for v in (p["speedup"], p["theory"], p.get("lo") or p["speedup"],
                                        p.get("hi") or p["speedup"])]
    lo, hi = _padded(min(min(vals), 1.0), max(vals), log=True, frac=0.08)
    xs = Scale(lo, hi, left, plot_right, log=True)
    out = _open("speedup", width, height, "Measured speedup against the MAC ratio's prediction")
    axis_y = height - bottom + 6
    for t in xs.ticks():
        out.append(f'<line x1="{xs(t):.1f}" y1="{top:.1f}" x2="{xs(t):.1f}" y2="{axis_y:.1f}" stroke="#eee"/>')
    out += _x_axis(xs, axis_y, "speedup, standard / separable (log); \u25CF measured with 95% CI, "
                   "\u25C7 predicted by the MAC ratio", width)
    out.append(f'<line x1="{xs(1):.1f}" y1="{top:.1f}" x2="{xs(1):.1f}" y2="{axis_y:.1f}" stroke="#bbb" '
               f'stroke-dasharray="3 3"><title>no speedup</title></line>')
    y = top
    for family, members in groups.items():
        out.append(f'<text class="group" x="4" y="{y + 14:.1f}" fill="#111" font-weight="600">'
                   f'{escape(_fit(family, width - 8))}</text>')
        y += head_h
        for i, p in enumerate(members):
            cy = y + row_h / 2
            if i % 2 == 0:
                out.append(f'<rect x="0" y="{y:.1f}" width="{width}" height="{row_h}" fill="#f6f8fb"/>')
            x, tx = xs(p["speedup"]), xs(p["theory"])
            c = "#1f6fb4" if p["speedup"] >= 1 else "#b00020"
            eff = p["speedup"] / p["theory"]
            tip = (f"{p['label']}: measured {p['speedup']:.2f}x"
                   + (f" (95% CI {p['lo']:.2f}-{p['hi']:.2f})" if p.get("lo") else " (no 95% CI)")
                   + f", predicted {p['theory']:.2f}x, efficiency {eff:.2f}")
            out.append(f'<g class="pair" data-label="{escape(p["label"])}"><title>{escape(tip)}</title>')
            out.append(f'<text class="row-label" x="{left - 8:.1f}" y="{cy + 4:.1f}" text-anchor="end" '
                       f'fill="#222">{escape(_fit(p.get("setting") or p["label"], left - 10))}</text>')
            out.append(f'<line x1="{min(x, tx):.1f}" y1="{cy:.1f}" x2="{max(x, tx):.1f}" y2="{cy:.1f}" '
                       f'stroke="#ccc"/>')
            out.append(f'<path class="theory" d="M{tx:.1f} {cy - 5:.1f} L{tx + 5:.1f} {cy:.1f} L{tx:.1f} '
                       f'{cy + 5:.1f} L{tx - 5:.1f} {cy:.1f} Z" fill="#fff" stroke="#555" stroke-width="1.5"/>')
            if p.get("lo") and p.get("hi"):
                out.append(f'<line class="ci" x1="{xs(p["lo"]):.1f}" y1="{cy:.1f}" x2="{xs(p["hi"]):.1f}" '
                           f'y2="{cy:.1f}" stroke="{c}" stroke-width="3" stroke-opacity="0.55"/>')
            out.append(f'<circle class="pair-point" cx="{x:.1f}" cy="{cy:.1f}" r="5" fill="{c}"/>')
            out.append(f'<text x="{plot_right + 8:.1f}" y="{cy + 4:.1f}" fill="#444" font-size="11">'
                       f'{p["speedup"]:.2f}x of {p["theory"]:.2f}x</text></g>')
            y += row_h
    out.append("</svg>")
    return "\n".join(out)


def accuracy_vs_latency(points: Sequence[dict], width: int = 500, height: int = 380) -> str:
    """Top-1 accuracy against median latency, one point per config; twins joined by a line."""
    left, right, top, bottom = 70, 20, 16, 56
    lats = [p["latency_ms"] for p in points]
    accs = [p["accuracy_pct"] for p in points]
    log = max(lats) / max(min(lats), 1e-12) > 8
    xs = Scale(*_padded(min(lats), max(lats), log, 0.1), left, width - right, log=log)
    alo, ahi = _padded(min(accs), max(accs), False, 0.15)
    ys = Scale(max(alo, 0.0), min(ahi, 100.0) if ahi > max(accs) else ahi, height - bottom, top)
    out = _open("accuracy", width, height, "Accuracy against latency")
    out += _y_axis(ys, left, "top-1 accuracy, %", width - right)
    out += _x_axis(xs, height - bottom, "median latency, ms" + (" (log)" if log else ""), width)
    groups: dict[str, list[dict]] = {}
    for p in points:
        groups.setdefault(p.get("pair_key") or p["label"], []).append(p)
    for members in groups.values():
        if len(members) == 2:
            a, b = members
            out.append(f'<line x1="{xs(a["latency_ms"]):.1f}" y1="{ys(a["accuracy_pct"]):.1f}" '
                       f'x2="{xs(b["latency_ms"]):.1f}" y2="{ys(b["accuracy_pct"]):.1f}" stroke="#bbb"/>')
    placed: list[tuple[float, float, float, float]] = []  # label boxes already drawn
    for p in points:
        c = TWIN_COLORS.get(p.get("twin"), TWIN_COLORS[None])
        tip = f"{p['label']}: {p['accuracy_pct']:.2f}% at {p['latency_ms']:.4g} ms"
        out.append(f'<circle class="acc-point" cx="{xs(p["latency_ms"]):.1f}" cy="{ys(p["accuracy_pct"]):.1f}" '
                   f'r="5" fill="{c}" fill-opacity="0.85"><title>{escape(tip)}</title></circle>')
        if p.get("short") and p.get("twin") != "standard":
            x, y = xs(p["latency_ms"]) + 7, ys(p["accuracy_pct"]) + 13
            text_w = 5.6 * len(p["short"])  # ~5.6 px per character at 10 px
            anchor = "start"
            if x + text_w > width - 4:  # it would be clipped at the right: put it left of the point
                x, anchor = x - 14, "end"
            box = (x - text_w, y - 10, x, y + 2) if anchor == "end" else (x, y - 10, x + text_w, y + 2)
            if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                continue  # it would overprint another label: the point keeps its tooltip
            placed.append(box)
            out.append(f'<text class="acc-label" x="{x:.1f}" y="{y:.1f}" fill="#555" font-size="10" '
                       f'text-anchor="{anchor}">{escape(p["short"])}</text>')
    lx = left + 10
    for i, (twin, c) in enumerate((("separable", TWIN_COLORS["separable"]), ("standard", TWIN_COLORS["standard"]))):
        out.append(f'<circle cx="{lx + 110 * i:.1f}" cy="{top + 8}" r="5" fill="{c}"/>'
                   f'<text x="{lx + 10 + 110 * i:.1f}" y="{top + 12}" fill="#222">{twin}</text>')
    out.append("</svg>")
    return "\n".join(out)


def op_shares(items: Sequence[dict], width: int = 1000) -> str:
    """Per profiled config, two stacked bars: share of MACs and share of time by layer kind."""
    left, right, top = _label_margin([it["label"] for it in items], 160, 500) + 40, 30, 30
    bar_h, gap = 14, 12
    height = top + len(items) * (2 * bar_h + 4 + gap) + 40
    xs = Scale(0, 100, left, width - right)
    out = _open("opshare", width, height, "Share of time against share of MACs by layer kind")
    lx = left
    for kind, c in KIND_COLORS.items():
        out.append(f'<rect x="{lx}" y="6" width="12" height="12" fill="{c}"/>'
                   f'<text x="{lx + 16}" y="16" fill="#222">{escape(kind)}</text>')
        lx += 24 + 7.2 * len(kind)
    y = top
    for it in items:
        out.append(f'<g class="opshare" data-config="{escape(it["label"])}">')
        out.append(f'<text x="{left - 44}" y="{y + bar_h + 3:.1f}" text-anchor="end" fill="#222">'
                   f'{escape(_fit(it["label"], left - 48))}<title>{escape(it["label"])}</title></text>')
        for series, shares, yy in (("macs", it["mac_pct"], y), ("time", it["time_pct"], y + bar_h + 4)):
            out.append(f'<text x="{left - 6}" y="{yy + 11:.1f}" text-anchor="end" fill="#777" '
                       f'font-size="10">{series}</text>')
            x = 0.0
            for kind in KIND_COLORS:
                v = shares.get(kind) or 0.0
                if v <= 0:
                    continue
                tip = f"{it['label']}: {kind} {v:.1f}% of {'MACs' if series == 'macs' else 'time'}"
                out.append(f'<rect class="share-bar" data-series="{series}" data-kind="{escape(kind)}" '
                           f'x="{xs(x):.1f}" y="{yy:.1f}" width="{max(xs(x + v) - xs(x), 0.5):.1f}" '
                           f'height="{bar_h}" fill="{KIND_COLORS[kind]}"><title>{escape(tip)}</title></rect>')
                if v >= 8:
                    out.append(f'<text x="{xs(x + v / 2):.1f}" y="{yy + 11:.1f}" text-anchor="middle" '
                               f'fill="#fff" font-size="10">{v:.0f}%</text>')
                x += v
        out.append("</g>")
        y += 2 * bar_h + 4 + gap
    out += _x_axis(xs, y, "share, %", width)
    out.append("</svg>")
    return "\n".join(out)
