"""Reports of a run: warnings on the summary, the pairs view (pairs.csv), the per-op breakdown
(opbreakdown.csv) and report.html. `build_tables` makes the tables in memory;
harness.report.write.report_run writes every file once, atomically."""

from __future__ import annotations

from typing import Any

__all__ = ["build_tables", "format_pairs", "format_warnings", "records_of", "speed_states_column"]


def build_tables(meta: dict[str, Any], records: list[dict[str, Any]], summary, notes: list[str] | None = None):
    """(summary with warnings, pairs DataFrame, breakdown DataFrame), no files written."""
    import pandas as pd

    from .opbreakdown import BREAKDOWN_COLUMNS, breakdown_rows
    from .pairs import build_pairs
    from .warnings import add_warnings

    notes = notes if notes is not None else []
    summary = add_warnings(summary, records, meta)
    summary["speed_states"] = speed_states_column(summary, records)
    rows = breakdown_rows(records, notes)
    breakdown = pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS)
    pairs = build_pairs(summary, records, rows)
    add_pair_rule(pairs, meta)
    return summary, pairs, breakdown


def add_pair_rule(pairs, meta: dict[str, Any]) -> None:
    """pairs.csv's pair_rule and pair_stop from run.json (execution/pair_rule.py writes them there)."""
    if pairs.empty:
        return
    rules = meta.get("pair_rule") or {}
    rule_text, stop = [], []
    for p in pairs.to_dict("records"):
        label = f"{p['device']}/{p['family']}/{p['runtime']}/{p['precision']}/t{int(p['threads'])}"
        found = next(((r.get("rule"), (r.get("pairs") or {}).get(label)) for r in rules.values()
                      if label in (r.get("pairs") or {})), (None, None))
        rule_text.append(found[0])
        stop.append((found[1] or {}).get("stop"))
    pairs["pair_rule"] = rule_text
    pairs["pair_stop"] = stop


def speed_states_column(summary, records: list[dict[str, Any]]) -> list[str | None]:
    """Per summary row, the speed states of its trial medians (harness.states.describe; None for one)."""
    from ..states import detect_states
    from ..stats import trials_by_config
    from .pairs import trial_medians

    trials = trials_by_config(records)
    return [detect_states(trial_medians(trials.get(cid, {}))).describe() or None
            for cid in summary["config_id"]]


def format_pairs(pairs) -> str:
    """The twin pairs as a table with one clear name per column: how much faster (with its interval or
    the one-trial note), what the MACs predict, what it costs in top-1 and where that gap comes from."""
    import textwrap

    from ..util import text_table
    from .headline import pair_name, short_of_target
    from .pairs import ONE_TRIAL_NOTE

    rows = records_of(pairs)
    several = len({p.get("device") for p in rows}) > 1

    def f(v, spec: str, none: str = "-") -> str:
        return none if v is None else format(v, spec)

    table, states = [], []
    for p in rows:
        if p.get("speedup_ci_low") is not None:
            ci = f"{p['speedup_ci_low']:.2f}-{p['speedup_ci_high']:.2f}"
        else:
            ci = "1 trial: none" if p.get("speedup_ci_note") == ONE_TRIAL_NOTE else \
                ("none" if p.get("speedup") is not None else "-")
        gap_ci = (f"{p['accuracy_gap_ci_low']:+.2f} to {p['accuracy_gap_ci_high']:+.2f}"
                  if p.get("accuracy_gap_ci_low") is not None else "-")
        table.append([pair_name(p, several), f(p.get("speedup"), ".2f", "failed side") + ("x" if p.get("speedup")
                                                                                         is not None else ""),
                      ci, f(p.get("theoretical_speedup"), ".2f") + "x", f(p.get("efficiency"), ".2f"),
                      f(p.get("accuracy_gap_pts"), "+.2f"), gap_ci, f(p.get("mcnemar_p"), ".2g"),
                      p.get("accuracy_gap_label") or "-"])
        states += [f"  {pair_name(p, several)}: {t} {p[k]}" for t, k in
                   (("separable", "speed_states_separable"), ("standard", "speed_states_standard")) if p.get(k)]
    lines = ["twin pairs:",
             text_table(["pair", "speedup", "95% CI", "MACs predict", "efficiency", "sep-std gap",
                         "gap 95% CI", "McNemar p", "gap source"], table, right=range(1, 8))]
    lines += textwrap.wrap("speedup = standard / separable latency: geometric mean of each pair job's ratio (both "
                 "twins timed in one process, alternating), else at each twin's fastest speed state (95% CI over "
                 "processes; '1 trial: none' = one process per twin, its in-process noise is not a CI); "
                 "efficiency = speedup x MAC ratio (1.0 = as the MACs predict); sep-std gap = standard "
                 "minus separable top-1, points, paired 95% CI and McNemar's exact p on the same images", 110)
    lines += [f"energy: {pair_name(p, several)}: the separable twin uses {p['energy_ratio']:.2f}x the standard "
              f"twin's mJ per inference" for p in rows if p.get("energy_ratio") is not None]
    lines += [f"pair rule: {line}" for line in short_of_target(rows, several)]
    if any(p.get("speedup_ci_note") == ONE_TRIAL_NOTE for p in rows):
        lines.append("note: 1 trial per twin: the speedups are within-process only; run more trials "
                     "(drop --quick) for an interval")
    return "\n".join(lines + states)


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
