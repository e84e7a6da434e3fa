"""The report's roofline section: per device and runtime (and precision, threads) a log-log chart
of the measured roofs (peak multiply-add rate; bandwidth x intensity) with each layer kind of each
twin as a point at its arithmetic intensity and achieved rate (from the ONNX Runtime profiling pass;
for other runtimes the whole model, from its median latency), and one sentence per pair."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from .bytes import kind_bytes
from .predict import ceilings_from_summary, group_key

W, H, L, R, T, B = 560, 320, 60, 150, 16, 40
KIND_MARK = {"depthwise conv": "#1f6fb4", "pointwise conv": "#6aaed6", "standard conv": "#c2412d",
             "dense": "#e6a03b", "other": "#b3b3b3", "model": "#555555"}


def _log_map(lo: float, hi: float, p0: float, p1: float):
    a, b = math.log10(lo), math.log10(hi)
    return lambda v: p0 + (math.log10(min(max(v, lo), hi)) - a) / (b - a) * (p1 - p0)


def roofline_svg(c: Any, points: list[dict[str, Any]]) -> str:
    """One chart: x = MACs per byte, y = GMAC/s; points {label, twin, kind, intensity, gmacs}."""
    xs = [p["intensity"] for p in points] + [0.1, 100.0]
    x_lo, x_hi = 10 ** math.floor(math.log10(min(xs))), 10 ** math.ceil(math.log10(max(xs)))
    peak = c.peak / 1e9
    ys = [p["gmacs"] for p in points if p["gmacs"]] + [peak, c.bandwidth[0][1] * x_lo / 1e9]
    y_lo, y_hi = 10 ** math.floor(math.log10(max(min(ys), 1e-4))), 10 ** math.ceil(math.log10(max(ys) * 1.5))
    fx, fy = _log_map(x_lo, x_hi, L, W - R), _log_map(y_lo, y_hi, H - B, T)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" class="roofline" '
           f'style="font:11px system-ui,sans-serif">',
           f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="#999"/>']
    for e in range(int(math.log10(x_lo)), int(math.log10(x_hi)) + 1):
        out.append(f'<text x="{fx(10 ** e):.1f}" y="{H - B + 14}" text-anchor="middle">{10.0 ** e:g}</text>')
    for e in range(int(math.log10(y_lo)), int(math.log10(y_hi)) + 1):
        out.append(f'<text x="{L - 4}" y="{fy(10 ** e) + 4:.1f}" text-anchor="end">{10.0 ** e:g}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 6}" text-anchor="middle">MACs per byte moved</text>')
    out.append(f'<text x="12" y="{(T + H - B) / 2}" transform="rotate(-90 12 {(T + H - B) / 2})" '
               f'text-anchor="middle">GMAC/s</text>')
    for size, bw in c.bandwidth:  # one roof per measured working-set size
        xk = min(peak * 1e9 / bw, x_hi)
        out.append(f'<line class="roof-bandwidth" x1="{fx(x_lo):.1f}" y1="{fy(bw * x_lo / 1e9):.1f}" '
                   f'x2="{fx(xk):.1f}" y2="{fy(bw * xk / 1e9):.1f}" stroke="#888" stroke-dasharray="4 3">'
                   f'<title>bandwidth {bw / 1e9:.1f} GB/s at {size / 1024:.0f} KiB per op</title></line>')
    out.append(f'<line class="roof-compute" x1="{fx(x_lo):.1f}" y1="{fy(peak):.1f}" x2="{fx(x_hi):.1f}" '
               f'y2="{fy(peak):.1f}" stroke="#333"><title>peak {peak:.1f} GMAC/s</title></line>')
    for kernel, rate in c.kernel_peaks:  # the 3x3 kernels' own roofs, dotted
        y = fy(rate / 1e9)
        out.append(f'<line class="roof-kernel" x1="{fx(x_lo):.1f}" y1="{y:.1f}" x2="{fx(x_hi):.1f}" y2="{y:.1f}" '
                   f'stroke="#999" stroke-dasharray="1 3"><title>{kernel} 3x3 kernel {rate / 1e9:.1f} GMAC/s'
                   f'</title></line><text x="{fx(x_hi) - 4:.1f}" y="{y - 3:.1f}" text-anchor="end" fill="#777">'
                   f'{kernel} {rate / 1e9:.0f}</text>')
    for p in points:
        if not p["gmacs"]:
            continue
        color = KIND_MARK.get(p["kind"], "#555")
        shape = (f'<circle cx="{fx(p["intensity"]):.1f}" cy="{fy(p["gmacs"]):.1f}" r="4.5" fill="{color}"'
                 if p["twin"] == "separable" else
                 f'<rect x="{fx(p["intensity"]) - 4:.1f}" y="{fy(p["gmacs"]) - 4:.1f}" width="8" height="8" '
                 f'fill="{color}"')
        out.append(f'{shape} class="roof-point"><title>{escape(p["label"])}: {p["kind"]}, '
                   f'{p["intensity"]:.2f} MAC/B, {p["gmacs"]:.2f} GMAC/s</title></{shape.split()[0][1:]}>')
    for i, (kind, color) in enumerate(KIND_MARK.items()):
        out.append(f'<circle cx="{W - R + 14}" cy="{T + 10 + 15 * i}" r="4" fill="{color}"/>'
                   f'<text x="{W - R + 22}" y="{T + 14 + 15 * i}">{kind}</text>')
    out.append(f'<text x="{W - R + 8}" y="{T + 14 + 15 * 7}">● separable ■ standard</text></svg>')
    return "".join(out)


def _model_file(row: dict[str, Any]) -> str | None:
    try:
        from ..manifest import FORMAT_OF_RUNTIME, load_manifest

        art = load_manifest().find(row["model"], FORMAT_OF_RUNTIME[row["runtime"]], row["precision"])
        return str(art.path) if art is not None and art.built else None
    except Exception:  # noqa: BLE001 - no zoo here: the chart shows the roofs only
        return None


def _points(row: dict[str, Any], breakdown: list[dict[str, Any]], cache: dict) -> list[dict[str, Any]]:
    """Points of one twin: each layer kind from the profiling pass, else the whole model."""
    from ..zoo.analyze import analyze

    path = _model_file(row)
    if not path:
        return []
    if path not in cache:
        cache[path] = analyze(path)
    kinds = kind_bytes(cache[path])
    label = f"{row['model']}"
    pts = [{"label": label, "twin": row.get("twin"), "kind": b["kind"], "intensity": kinds[b["kind"]]["intensity"],
            "gmacs": b.get("gmacs_per_s")}
           for b in breakdown if b.get("config_id") == row.get("config_id") and b.get("kind") in kinds
           and kinds[b["kind"]]["intensity"] and b.get("gmacs_per_s")]
    if not pts and row.get("median_ms"):
        macs = sum(k["macs"] for k in kinds.values())
        nbytes = sum(k["bytes"] for k in kinds.values())
        if macs and nbytes:
            pts = [{"label": label, "twin": row.get("twin"), "kind": "model", "intensity": macs / nbytes,
                    "gmacs": macs / (float(row["median_ms"]) * 1e6)}]
    return pts


def sentence(p: dict[str, Any], c: Any = None) -> str:
    """What bounds the separable twin, and how far each prediction lands from the measurement."""
    def x(v: Any) -> str:
        return "n/a" if v is None else f"{float(v):.2f}x"

    def e(v: Any) -> str:
        return "" if v is None else f" ({float(v):+.0f}%)"

    measured = p.get("trial_speedup") or p.get("speedup")
    return (f"{p['family']} ({p['runtime']} {p['precision']}, {p['threads']} thread(s)): the separable twin's "
            f"predicted time is {float(p['bound_separable_pct']):.0f}% {p['bound_separable']}-bound; the roofline "
            f"predicts {x(p['predicted_speedup_roofline'])}{e(p.get('roofline_error_pct'))}, the MAC ratio "
            f"{x(p.get('theoretical_speedup'))}{e(p.get('mac_prediction_error_pct'))}, measured {x(measured)}."
            + _kernel_note(c))


def _kernel_note(c: Any) -> str:
    dw = dict(c.kernel_peaks).get("depthwise") if c is not None else None
    if not dw:
        return ""
    return (f" Its depthwise kernel runs at {dw / 1e9:.1f} GMAC/s, {100 * dw / c.peak:.0f}% of the 1x1 "
            f"peak ({c.peak / 1e9:.1f} GMAC/s).")


def roofline_section(summary: list[dict[str, Any]], pairs: list[dict[str, Any]],
                     breakdown: list[dict[str, Any]]) -> list[str]:
    """HTML parts of the roofline section; none when the run measured no ceilings."""
    ceilings = ceilings_from_summary(summary)
    if not ceilings:
        return []
    parts = ['<h2 id="roofline">Roofline: why the speedup falls short of the MAC ratio</h2>',
             '<p style="font-size:12.5px;color:#555">Roofs measured by the ceiling jobs of this run, each from '
             'its fastest run (1x1-conv chain: peak; 3x3 depthwise and standard chains: those kernels\' '
             'roofs; elementwise chains: bandwidth at each working-set size, dashed; tiny-op chains: fixed '
             'cost per op). A layer takes max(MACs / its kernel\'s peak, bytes / bandwidth) + the fixed '
             'cost. Points: each layer kind of each twin at its intensity and the rate the profiling pass '
             'measured (whole models where no profile ran).</p>']
    cache: dict = {}
    by_id = {r.get("config_id"): r for r in summary}
    for key, c in ceilings.items():
        members = [r for r in summary if group_key(r) == key and r.get("twin") in ("separable", "standard")]
        pts = [pt for r in members for pt in _points(r, breakdown, cache)]
        title = " ".join(str(v) for v in key[:3]) + f" t{key[3]}"
        parts.append(f'<h3>{escape(title)}: peak {c.peak / 1e9:.1f} GMAC/s, bandwidth '
                     f'{min(b for _, b in c.bandwidth) / 1e9:.1f}–{max(b for _, b in c.bandwidth) / 1e9:.1f} GB/s, '
                     f'{c.fixed_s * 1e6:.2f} µs per op</h3>')
        if any(r.get("emulated") for r in summary if group_key(r) == key):
            parts.append('<p class="warn">Emulated (qemu): these ceilings are the emulator\'s, so the '
                         'roofline here is a functional check, not a device prediction.</p>')
        parts.append(f"<figure>{roofline_svg(c, pts)}</figure>")
        said = [sentence(p, c) for p in pairs if p.get("bound_separable")
                and group_key(by_id.get(p.get("separable_config"), p)) == key]
        if said:
            parts.append("<ul>" + "".join(f"<li>{escape(s)}</li>" for s in said) + "</ul>")
    return parts
