"""Reports of a run: warnings on the summary, the pairs view (pairs.csv), the per-op breakdown
(opbreakdown.csv) and report.html. `build_tables` makes the tables in memory;
harness.report.write.report_run writes every file once, atomically."""

from __future__ import annotations

from typing import Any

__all__ = ["build_tables", "format_pairs", "records_of"]


def build_tables(meta: dict[str, Any], records: list[dict[str, Any]], summary, notes: list[str] | None = None):
    """(summary with warnings, pairs DataFrame, breakdown DataFrame), no files written."""
    import pandas as pd

    from .opbreakdown import BREAKDOWN_COLUMNS, breakdown_rows
    from .pairs import build_pairs
    from .warnings import add_warnings

    notes = notes if notes is not None else []
    summary = add_warnings(summary, records, meta)
    rows = breakdown_rows(records, notes)
    breakdown = pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS)
    pairs = build_pairs(summary, records, rows)
    return summary, pairs, breakdown


def format_pairs(pairs) -> str:
    """One line per twin pair: the measured speedup beside the MAC prediction."""
    lines = ["twin pairs (speedup = median standard / median separable; 95% CI):"]
    for p in records_of(pairs):
        def f(v, spec):
            return "-" if v is None else format(v, spec)
        ci = f"[{p['speedup_ci_low']:.2f}-{p['speedup_ci_high']:.2f}]" if p.get("speedup_ci_low") else ""
        lines.append(
            f"  {p['family']} {p['runtime']} {p['precision']} t{p['threads']}: speedup {f(p['speedup'], '.2f')}x {ci}"
            f"  MAC ratio {f(p['mac_ratio'], '.3f')} (predicts {f(p['theoretical_speedup'], '.2f')}x)"
            f"  efficiency {f(p['efficiency'], '.0%')}  accuracy gap {f(p['accuracy_gap_pts'], '+.2f')} pts")
    return "\n".join(lines)


def records_of(df) -> list[dict[str, Any]]:
    """DataFrame rows as dicts, NaN turned back into None."""
    return df.astype(object).where(df.notna(), None).to_dict("records")
