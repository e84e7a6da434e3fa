"""Reports of a run: warnings on the summary, the pairs view (pairs.csv), the per-op breakdown
(opbreakdown.csv) and report.html. `build_tables` makes the tables in memory;
harness.report.write.report_run writes every file once, atomically."""

from __future__ import annotations

from typing import Any

__all__ = ["build_tables", "format_pairs", "format_warnings", "records_of", "speed_states_column"]


def build_tables(meta: dict[str, Any], records: list[dict[str, Any]], summary, notes: list[str] | None = None):
    """(summary with warnings, pairs DataFrame, breakdown DataFrame), no files written."""
    import pandas as pd

    from .opbreakdown import BREAKDOWN_COLUMNS, run_breakdown
    from .pairs import build_pairs
    from .warnings import add_warnings

    notes = notes if notes is not None else []
    summary = add_warnings(summary, records, meta)
    summary["speed_states"] = speed_states_column(summary, records)
    rows = run_breakdown(records, notes)
    breakdown = pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS)
    pairs = build_pairs(summary, records, rows)
    return summary, pairs, breakdown


def speed_states_column(summary, records: list[dict[str, Any]]) -> list[str | None]:
    """Per summary row, the speed states of its trial medians (harness.states.describe; None for one)."""
    from ..states import detect_states
    from ..stats import trials_by_config
    from .pairs import trial_medians

    trials = trials_by_config(records)
    return [detect_states(trial_medians(trials.get(cid, {}))).describe() or None
            for cid in summary["config_id"]]


def format_pairs(pairs) -> str:
    """One line per twin pair: how much faster, what the MACs predict, what it costs in top-1."""
    from .headline import headline

    rows = records_of(pairs)
    several = len({p.get("device") for p in rows}) > 1
    lines = ["twin pairs (speedup = standard / separable latency at each twin's fastest speed state, "
             "[95% CI]; sep-std gap = standard minus separable top-1, points, [paired 95% CI]):"]
    for p in rows:
        lines.append("  " + headline(p, several))
        detail = [f"pooled {p['pooled_speedup']:.2f}x" if p.get("pooled_speedup") is not None else "",
                  f"efficiency {p['efficiency']:.2f} (pooled x MAC ratio)" if p.get("efficiency") is not None
                  else ""]
        detail += [f"{t} {p[k]}" for t, k in (("separable", "speed_states_separable"),
                                               ("standard", "speed_states_standard")) if p.get(k)]
        if any(detail):
            lines.append("      " + "; ".join(d for d in detail if d))
    return "\n".join(lines)


def format_warnings(summary) -> str:
    """'warnings: 8 of 16 configs' and the top reasons with what to do ('' when none)."""
    from .warnings import top_reasons

    codes = list(summary["warnings"]) if "warnings" in summary else []
    warned = sum(1 for c in codes if isinstance(c, str) and c)
    if not warned:
        return "warnings: none"
    lines = [f"warnings: {warned} of {len(codes)} configs (report.html and summary.csv's warning_text "
             f"say more); top reasons:"]
    lines += [f"  {code} ({n} configs): {advice}" for code, n, advice in top_reasons(codes)]
    return "\n".join(lines)


def records_of(df) -> list[dict[str, Any]]:
    """DataFrame rows as dicts, NaN turned back into None."""
    return df.astype(object).where(df.notna(), None).to_dict("records")
