"""Reports of a run: warnings on the summary, the pairs view (pairs.csv), the per-op breakdown
(opbreakdown.csv) and report.html. `harness.collect.report_run` calls `write_report` after it has
written summary.csv; this rewrites summary.csv with the warnings columns added."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = ["write_report", "build_tables"]


def build_tables(meta: dict[str, Any], records: list[dict[str, Any]], summary, notes: list[str] | None = None):
    """(summary with warnings, pairs DataFrame, breakdown DataFrame), no files written."""
    import pandas as pd

    from .opbreakdown import BREAKDOWN_COLUMNS, run_breakdown
    from .pairs import build_pairs
    from .warnings import add_warnings

    notes = notes if notes is not None else []
    summary = add_warnings(summary, records, meta)
    rows = run_breakdown(records, notes)
    breakdown = pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS)
    pairs = build_pairs(summary, records, rows)
    return summary, pairs, breakdown


def _skipped_notes(run_dir: Path) -> list[str]:
    from ..records import RECORDS_FILE, read_records

    path = run_dir / RECORDS_FILE
    if not path.exists():
        return []
    return [f"{path.name} line {lineno} was skipped: {why}" for lineno, why in read_records(path).skipped]


def write_report(run_dir: Path, meta: dict[str, Any], records: list[dict[str, Any]], summary,
                 html: bool = True) -> dict[str, Path]:
    """Write summary.csv (with warnings), pairs.csv, opbreakdown.csv (when profiled) and report.html."""
    from .html import render
    from .stats import trials_by_config

    run_dir = Path(run_dir)
    notes = _skipped_notes(run_dir)
    if meta.get("status") not in (None, "complete"):
        notes.append(f"this run is {meta.get('status')}: the report shows the jobs recorded so far "
                     f"(continue it with `edgebench run --resume {run_dir}`)")
    summary, pairs, breakdown = build_tables(meta, records, summary, notes)
    outputs = {"summary.csv": run_dir / "summary.csv", "pairs.csv": run_dir / "pairs.csv"}
    summary.to_csv(outputs["summary.csv"], index=False)
    pairs.to_csv(outputs["pairs.csv"], index=False)
    if len(breakdown):
        outputs["opbreakdown.csv"] = run_dir / "opbreakdown.csv"
        breakdown.to_csv(outputs["opbreakdown.csv"], index=False)
    if len(pairs):
        print(format_pairs(pairs))
    for n in notes:
        if "was skipped" not in n:  # collect.report_run already named the skipped lines
            print(f"edgebench: note: {n}", file=sys.stderr)
    if html:
        import numpy as np

        samples = {cid: list(np.concatenate([np.asarray(v, dtype=float) for v in trials.values()]) / 1e6)
                   for cid, trials in trials_by_config(records).items()}
        page = render(meta, _records(summary), _records(pairs), _records(breakdown), samples, notes)
        outputs["report.html"] = run_dir / "report.html"
        tmp = outputs["report.html"].with_suffix(".html.tmp")
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(outputs["report.html"])
    return outputs


def format_pairs(pairs) -> str:
    """One line per twin pair: the measured speedup beside the MAC prediction."""
    lines = ["twin pairs (speedup = median standard / median separable; 95% CI):"]
    for p in _records(pairs):
        def f(v, spec):
            return "-" if v is None else format(v, spec)
        ci = f"[{p['speedup_ci_low']:.2f}-{p['speedup_ci_high']:.2f}]" if p.get("speedup_ci_low") else ""
        lines.append(
            f"  {p['family']} {p['runtime']} {p['precision']} t{p['threads']}: speedup {f(p['speedup'], '.2f')}x {ci}"
            f"  MAC ratio {f(p['mac_ratio'], '.3f')} (predicts {f(p['theoretical_speedup'], '.2f')}x)"
            f"  efficiency {f(p['efficiency'], '.0%')}  accuracy gap {f(p['accuracy_gap_pts'], '+.2f')} pts")
    return "\n".join(lines)


def _records(df) -> list[dict[str, Any]]:
    return df.astype(object).where(df.notna(), None).to_dict("records")
