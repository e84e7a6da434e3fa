"""report.html: one self-contained page (inline CSS and SVG, no script, nothing fetched). The answer
comes first: one line per device and pair (how much faster, what the MACs predict, what it costs in
top-1 and where that gap comes from), with a badge linking to the warnings; then a short pairs table and
the charts; the run's metadata and the wide tables sit in collapsed <details> sections, so the page uses
the window's width and nothing a person reads hides behind a horizontal scrollbar."""

from __future__ import annotations

import math
from html import escape
from typing import Any
from collections.abc import Sequence

from ..records import Status
from . import svg
from .headline import cost_text, pair_name, short_of_target, speed_text
from .spread import spread_section
from .thermal import thermal_section

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:12px 0;
padding:0 20px;color:#1a1a1a;line-height:1.45;box-sizing:border-box}
h1{font-size:1.3em;margin:0 0 4px}ul.headline{list-style:none;padding:0;margin:6px 0;font-size:14px}
ul.headline li{margin:3px 0}ul.headline .name{font-weight:600}ul.headline .speedup{color:#10457a}
ul.headline .gap{color:#5a3d00}.badge{display:inline-block;font-size:12px;background:#fff1d6;
color:#8a5200;border:1px solid #e6a03b;border-radius:9px;padding:0 7px;margin-left:6px;text-decoration:none}
details{margin:10px 0}details>summary{cursor:pointer;font-weight:600;color:#333}
p.small{font-size:12.5px;color:#555;margin:4px 0}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd;
padding-bottom:4px}p.lead{color:#555;margin-top:0}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0 4px}th,td{padding:3px 8px;
border-bottom:1px solid #eee;text-align:right;white-space:nowrap}th{background:#f5f5f5;
position:sticky;top:0}td.t,th.t{text-align:left}tr:hover td{background:#fafcff}
.scroll{overflow-x:auto;max-width:100%}
table.pairs th{white-space:normal}dl.meta{display:grid;grid-template-columns:max-content 1fr;
gap:2px 14px;font-size:13px}dl.meta dt{color:#666}dl.meta dd{margin:0;word-break:break-all}
.note{background:#fff8e6;border-left:4px solid #e6a03b;padding:6px 10px;margin:6px 0;font-size:13px}
.warn{color:#9a5b00}.bad{color:#b00020}.good{color:#1d7a3a}figure{margin:10px 0 18px}
figcaption{font-size:12.5px;color:#555}.charts figure{max-width:660px}.charts{display:flex;flex-wrap:wrap;gap:18px}
ul.warnings{font-size:13px}code{background:#f3f3f3;padding:0 3px;border-radius:3px}
.no-data{color:#777;font-style:italic}
"""


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt(v: Any, kind: str = "") -> str:
    if _is_missing(v):
        return "–"
    if kind == "ratio":
        return f"{float(v):.3f}"
    if kind == "x":
        return f"{float(v):.2f}×"
    if kind == "pct":
        return f"{float(v):.1f}%"
    if kind == "pts":
        return f"{float(v):+.2f}"
    if kind == "ms":
        v = float(v)
        return f"{v:.4f}" if v < 1 else f"{v:.3f}" if v < 100 else f"{v:.1f}"
    if kind == "int":
        return f"{int(float(v)):,}"
    if kind == "big":
        v = float(v)
        for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if abs(v) >= scale:
                return f"{v / scale:.3g}{unit}"
        return f"{v:.0f}"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def table(rows: Sequence[dict[str, Any]], cols: Sequence[tuple[str, str, str]], cls: str = "") -> str:
    """cols: (key, header, format kind); kind 't' is left-aligned text."""
    head = "".join(f'<th class="{"t" if k == "t" else ""}">{escape(h)}</th>' for _, h, k in cols)
    body = []
    for r in rows:
        cells = []
        for key, _, kind in cols:
            v = r.get(key)
            cells.append(f'<td class="{"t" if kind == "t" else ""}">{escape(fmt(v, kind))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def short_label(config_id: str, single_device: bool) -> str:
    parts = str(config_id).split("/")
    if single_device and len(parts) > 1:
        parts = parts[1:]
    return " ".join(parts)


def _meta_section(meta: dict[str, Any], notes: list[str]) -> str:
    try:
        from ..devices.probe import describe
    except ImportError:  # pragma: no cover
        describe = None
    items = [("run", meta.get("run_id")), ("status", meta.get("status")), ("created", meta.get("created_at")),
             ("finished", meta.get("finished_at")), ("command", meta.get("command")),
             ("git commit", meta.get("git_commit")), ("edgebench", meta.get("edgebench_version")),
             ("seed", meta.get("seed")), ("host", (meta.get("host") or {}).get("platform"))]
    items += [(f"inputs {m}", v) for m, v in (meta.get("model_inputs") or {}).items()]
    for name, probe in (meta.get("devices") or {}).items():
        text = describe(probe) if describe and isinstance(probe, dict) else str(probe)
        if isinstance(probe, dict) and probe.get("emulated"):
            text += " (EMULATED)"
        items.append((f"device {name}", text or "(no probe)"))
    dl = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>" for k, v in items if v not in (None, ""))
    note_html = "".join(f'<div class="note">{escape(n)}</div>' for n in notes)
    summary = f"Run {meta.get('run_id', '')}: {meta.get('status') or ''}, {len(meta.get('devices') or {})} device(s)"
    return (f'{note_html}<details id="run"><summary>{escape(summary)} (metadata)</summary>'
            f'<dl class="meta">{dl}</dl></details>')


PAIR_HINT = ('To compare two of your own models, declare them in the profile: [[pairs]] name = "mynet", '
             'separable = "mynet-separable.onnx", standard = "mynet-standard.onnx".')

# the short table a person reads (the full one, every pairs.csv column, sits in a collapsed section)
PAIR_TABLE = [
    ("pair", "pair", "t"), ("speedup", "speedup", "x"), ("ci", "95% CI", "t"),
    ("theoretical_speedup", "MACs predict", "x"),
    ("accuracy_gap_pts", "sep-std gap", "pts"), ("gap_ci", "gap 95% CI", "t"), ("mcnemar_p", "McNemar p", ""),
    ("accuracy_gap_label", "gap source", "t"), ("warnings", "warnings", "t"),
]

FULL_PAIR_TABLE = [
    ("pair", "pair", "t"), ("separable_median_ms", "sep ms", "ms"), ("standard_median_ms", "std ms", "ms"),
    ("speedup", "speedup", "x"), ("ci", "95% CI", "t"), ("trials_separable", "sep trials", ""),
    ("trials_standard", "std trials", ""), ("pair_jobs", "pair jobs", ""), ("pair_stop", "pair rule stopped", "t"),
    ("pooled_speedup", "pooled", "x"), ("trial_speedup", "per-trial", "x"),
    ("best_speedup", "min/min", "x"), ("mac_ratio", "MAC ratio", "ratio"), ("theoretical_speedup", "1/MAC ratio", "x"),
    ("formula_ratio", "1/N+1/Dk²", "ratio"), ("efficiency", "efficiency (fraction)", "ratio"),
    ("pooled_efficiency", "pooled efficiency", "ratio"),
    ("params_ratio", "params ratio", "ratio"), ("peak_rss_ratio", "peak RSS ratio", "ratio"),
    ("energy_ratio", "energy ratio (sep/std mJ)", "ratio"),
    ("model_bytes_ratio", "size ratio", "ratio"), ("separable_accuracy_pct", "sep acc", "pct"),
    ("standard_accuracy_pct", "std acc", "pct"), ("accuracy_gap_pts", "sep-std gap", "pts"),
    ("accuracy_discordant_sep", "only sep right", ""), ("accuracy_discordant_std", "only std right", ""),
    ("speed_states_separable", "sep speed states", "t"), ("speed_states_standard", "std speed states", "t"),
]

SUMMARY_TABLE = [
    ("label", "config", "t"), ("status", "status", "t"), ("trials", "trials", ""), ("n", "n", "int"),
    ("median_ms", "median ms", "ms"), ("p90_ms", "p90 ms", "ms"), ("p99_ms", "p99 ms", "ms"),
    ("cv_pct", "CV", "pct"), ("trial_cv_pct", "trial CV", "pct"), ("init_ms", "init ms", "ms"),
    ("first_inference_ms", "first ms", "ms"), ("peak_rss_mb", "peak MB", ""),
    ("model_bytes", "bytes", "big"), ("params", "params", "big"), ("macs", "MACs", "big"),
    ("accuracy_pct", "acc", "pct"), ("accuracy_gap_pts", "gap to fp32 ref", "pts"),
    ("speed_states", "speed states", "t"), ("runtime_version", "version", "t"),
    ("warnings", "warnings", "t"),
]

BREAKDOWN_TABLE = [
    ("label", "config", "t"), ("kind", "kind", "t"), ("nodes", "nodes", ""), ("time_us", "µs/inference", ""),
    ("time_pct", "time share", "pct"), ("macs", "MACs", "big"), ("mac_pct", "MAC share", "pct"),
    ("gmacs_per_s", "GMAC/s", ""), ("coverage_pct", "joined", "pct"),
]


def _pair_rows(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    several = len({p.get("device") for p in pairs}) > 1
    out = []
    for p in pairs:
        q = dict(p)
        q["pair"] = pair_name(p, several)
        if not _is_missing(p.get("speedup_ci_low")):
            q["ci"] = f"{p['speedup_ci_low']:.2f}–{p['speedup_ci_high']:.2f}"
        elif not _is_missing(p.get("speedup")):
            note = p.get("speedup_ci_note") or "no 95% CI"
            q["ci"] = "1 trial: none" if note.startswith("within-process only") else note
        if not _is_missing(p.get("accuracy_gap_ci_low")):
            q["gap_ci"] = f"{p['accuracy_gap_ci_low']:+.2f} to {p['accuracy_gap_ci_high']:+.2f}"
        if not _is_missing(p.get("mcnemar_p")):
            q["mcnemar_p"] = f"{float(p['mcnemar_p']):.2g}"
        out.append(q)
    return out


def render(meta: dict[str, Any], summary: list[dict[str, Any]], pairs: list[dict[str, Any]],
           breakdown: list[dict[str, Any]], samples: dict[str, list[float]], notes: list[str]) -> str:
    """The whole page as a string. samples: config_id -> pooled latency samples in ms."""
    single = len({r.get("device") for r in summary}) <= 1
    for r in summary:
        r["label"] = short_label(r.get("config_id"), single)
    for r in breakdown:
        r["label"] = short_label(r.get("config_id"), single)
    run_id = escape(str(meta.get("run_id", "")))
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             f"<title>edgebench report: {run_id}</title><style>{CSS}</style></head><body>",
             f"<h1>edgebench report: {run_id}</h1>",
             *_headline_section(pairs),
             _meta_section(meta, notes)]
    parts += _pairs_section(summary, pairs)
    parts += _warnings_section(summary)
    parts += _latency_section(summary, samples)
    parts += thermal_section(meta)
    parts += _ops_section(breakdown)
    from ..roofline.chart import roofline_section  # the roofs and what bounds each pair

    parts += roofline_section(summary, pairs, breakdown)
    parts += _summary_section(summary)
    parts += spread_section(meta, summary)  # board-to-board spread of lab fan-out runs, when any
    parts.append("</body></html>")
    return "\n".join(parts)


def _headline_section(pairs: list[dict[str, Any]]) -> list[str]:
    """One line per device and pair: the answer, with a badge linking to the warnings."""
    if not pairs:
        return []
    several = len({p.get("device") for p in pairs}) > 1
    items = []
    for p in pairs:
        codes = [w for w in str(p.get("warnings") or "").split(";") if w]
        badge = (f' <a class="badge" href="#warnings" title="{escape(", ".join(codes))}">'
                 f'{len(codes)} warning{"s" if len(codes) != 1 else ""}</a>') if codes else ""
        items.append(f'<li class="pair-headline" data-pair="{escape(pair_name(p, several))}">'
                     f'<span class="name">{escape(pair_name(p, several))}</span>: '
                     f'<span class="speedup">{escape(speed_text(p))}</span>, '
                     f'<span class="gap">{escape(cost_text(p))}</span>{badge}</li>')
    rule = next((p.get("pair_rule") for p in pairs if p.get("pair_rule")), None)
    short = short_of_target(pairs, several)
    rule_note = ([f'<p class="small pair-rule">pair rule: {escape(rule)}. Short of its target: '
                  f'{escape("; ".join(short))}.</p>'] if rule and short else [])
    return ['<section id="answer"><ul class="headline">' + "".join(items) + "</ul>", *rule_note,
            '<p class="small">speedup = standard / separable latency: the geometric mean over pair jobs '
            '(both twins timed in one fresh process, in alternating blocks) of each process\'s ratio, or, '
            'without pair jobs, at each twin\'s fastest speed state (geometric mean of per-trial medians); '
            '95% t interval over processes; with one process per twin there is no interval: the noise '
            'inside one process says nothing about the next. MACs predict = 1 / MAC '
            'ratio. The gap is standard minus separable top-1 in points, measured at that precision on the '
            'same images (paired 95% interval, McNemar\'s exact test), or the fp32 reference when not '
            'measured.</p></section>']


def _pairs_section(summary: list[dict[str, Any]], pairs: list[dict[str, Any]]) -> list[str]:
    """Twin pairs beside the theory: a short table, the charts, and every column collapsed."""
    parts: list[str] = []
    parts.append('<h2 id="pairs">Twin pairs: measured against theory</h2>')
    if pairs:
        rows = _pair_rows(pairs)
        cols = PAIR_TABLE  # the energy ratio beside the speedup where both twins have energy
        if any(not _is_missing(p.get("energy_ratio")) for p in pairs):
            cols = [*PAIR_TABLE[:3], ("energy_ratio", "energy sep/std", "ratio"), *PAIR_TABLE[3:]]
        parts.append(table(rows, cols, "pairs"))
        several = len({q.get("device") for q in pairs}) > 1
        pts = [{"label": pair_name(p, several), "family": p["family"] + (f" on {p['device']}" if several else ""),
                "setting": f"{p['runtime']} {p['precision']} t{p['threads']}",
                "theory": float(p["theoretical_speedup"]), "speedup": float(p["speedup"]),
                "lo": None if _is_missing(p.get("speedup_ci_low")) else float(p["speedup_ci_low"]),
                "hi": None if _is_missing(p.get("speedup_ci_high")) else float(p["speedup_ci_high"])}
               for p in pairs if not _is_missing(p.get("speedup")) and not _is_missing(p.get("theoretical_speedup"))]
        charts = []
        if pts:
            charts.append(_figure(svg.speedup_vs_theory(pts), "Measured speedup (dot, 95% interval) and the "
                                  "speedup the MAC ratio predicts (diamond), one row per pair. A dot left of "
                                  "its diamond gains less time than multiply-adds."))
        acc = _accuracy_points(summary)
        if acc:
            charts.append(_figure(svg.accuracy_vs_latency(acc), "Top-1 accuracy against median latency; "
                                  "a grey line joins twins."))
        if charts:
            parts.append('<div class="charts">' + "".join(charts) + "</div>")
        parts.append('<details id="pairs-full"><summary>Every pair column (as in pairs.csv)</summary>'
                     + table(rows, FULL_PAIR_TABLE, "pairs-full")
                     + '<p class="small">pooled = median(standard) / median(separable) over all samples; '
                     "per-trial = median of the ratios of trials run in the same time window; min/min = "
                     "fastest runs. MAC ratio = separable / standard multiply-adds; 1/N+1/Dk² = the paper's "
                     "formula over the separable blocks (source: " + escape(", ".join(sorted(
                         {str(p.get('formula_source')) for p in pairs}))) + "). efficiency = speedup × MAC "
                     "ratio, a fraction (1.0 = time falls as much as the MACs), in pairs.csv too.</p></details>")
    else:
        parts.append('<p class="no-data">No twin pairs in this run (a pair needs both the separable and '
                     'the standard model of a family on the same device, runtime, precision and threads). '
                     + escape(PAIR_HINT) + '</p>')
        acc = _accuracy_points(summary)
        if acc:
            parts.append(_figure(svg.accuracy_vs_latency(acc), "Top-1 accuracy against median latency."))
    return parts


def _latency_section(summary: list[dict[str, Any]], samples: dict[str, list[float]]) -> list[str]:
    """Box plots of every config's latency samples."""
    parts: list[str] = []
    parts.append('<h2 id="latency">Latency distribution</h2>')
    items = [(r["label"], r.get("twin"), samples[r["config_id"]]) for r in summary if samples.get(r["config_id"])]
    if items:
        parts.append(_figure(svg.latency_boxes(items), "Box: interquartile range; thick tick: median; "
                             "whiskers: 5th to 95th percentile; dots: the slowest 1% of runs."))
    else:
        parts.append('<p class="no-data">No successful timed runs.</p>')
    return parts


def _ops_section(breakdown: list[dict[str, Any]]) -> list[str]:
    """Time and multiply-add shares per layer kind (the profiling pass)."""
    parts: list[str] = []
    parts.append('<h2 id="ops">Per-op breakdown (ONNX Runtime profiling pass)</h2>')
    if breakdown:
        by_cfg: dict[str, dict[str, Any]] = {}
        for r in breakdown:
            it = by_cfg.setdefault(r["config_id"], {"label": r["label"], "time_pct": {}, "mac_pct": {}})
            it["time_pct"][r["kind"]] = r.get("time_pct") or 0.0
            it["mac_pct"][r["kind"]] = r.get("mac_pct") or 0.0
        parts.append(_figure(svg.op_shares(list(by_cfg.values())),
                             "Share of multiply-adds against share of kernel time per layer kind. Depthwise "
                             "layers usually take far more time than their MACs: they are memory-bound."))
        parts.append(table(breakdown, BREAKDOWN_TABLE, "breakdown"))
    else:
        parts.append('<p class="no-data">No profiling pass in this run; add <code>profile</code> to '
                     'matrix.modes (ONNX Runtime configs) to see where the time goes.</p>')
    return parts


def _summary_section(summary: list[dict[str, Any]]) -> list[str]:
    """Every config, its warnings and its failures."""
    parts: list[str] = []
    parts.append(f'<details id="summary"><summary>All configs ({len(summary)}, as in summary.csv)</summary>'
                 + table(summary, SUMMARY_TABLE, "summary") + '<p class="small">CV = std / mean of every timed '
                 'run (one slow run raises it); gap to fp32 ref = the fp32 reference top-1 minus the measured '
                 'one, points.</p></details>')
    failed = [r for r in summary if r.get("status") not in (Status.OK, None) and r.get("error")]
    if failed:
        parts.append('<h2 id="failures">Failures</h2><ul>' + "".join(
            f'<li class="bad"><b>{escape(r["label"])}</b> ({escape(str(r["status"]))}): '
            f'{escape(str(r["error"]))}</li>' for r in failed) + "</ul>")
    return parts


def _warnings_section(summary: list[dict[str, Any]]) -> list[str]:
    """Every config's warnings with what to do."""
    parts: list[str] = []
    warned = [r for r in summary if r.get("warning_text")]
    parts.append('<h2 id="warnings">Warnings</h2>')
    if warned:
        parts.append('<ul class="warnings">' + "".join(
            f"<li><b>{escape(r['label'])}</b><ul>" + "".join(
                f'<li class="warn">{escape(w)}</li>' for w in str(r["warning_text"]).split(" | ")) + "</ul></li>"
            for r in warned) + "</ul>")
    else:
        parts.append("<p>None.</p>")
    return parts


def _figure(svg_text: str, caption: str) -> str:
    return f'<figure class="chart">{svg_text}<figcaption>{escape(caption)}</figcaption></figure>'


def _accuracy_points(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pts = []
    for r in summary:
        if _is_missing(r.get("accuracy_pct")) or _is_missing(r.get("median_ms")):
            continue
        key = "/".join(str(r.get(k)) for k in ("device", "family", "runtime", "precision", "threads"))
        pts.append({"label": r["label"], "twin": r.get("twin"), "latency_ms": float(r["median_ms"]),
                    "accuracy_pct": float(r["accuracy_pct"]), "pair_key": key if r.get("family") else None,
                    # twins are joined by a line and coloured by twin; other models are named
                    "short": (f"{r.get('runtime')} {r.get('precision')} t{r.get('threads')}" if r.get("family")
                              else f"{r.get('model')} {r.get('runtime')} t{r.get('threads')}")})
    return pts
