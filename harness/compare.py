"""`edgebench compare RUN_A RUN_B`: what changed between two runs, as a CI gate.

Configs are joined by config_id. Each row gets the ratio B/A of the median latencies with a 95%
bootstrap interval (harness.stats) and a mark:
  worse / better    the interval excludes 1 and the change is beyond the threshold
  ~                 the change is beyond the threshold but the interval includes 1 (not significant)
  same              within the threshold (whatever the interval says)
  trials differ     (in the note, and `trials_a`/`trials_b`): the runs ran a different number of trials;
                    a side with 1 trial has an interval that covers the noise inside one process only
  newly failing     ok in A, failed/timeout/skipped in B;  fixed: the reverse;  failing: both
  not comparable    different device hardware, runtime version, or emulated in one run only
  only in A / only in B, no timing / not timed in A or B (accuracy or profiling passes only)
The command exits 4 (RegressionFound) when a row is `worse` or `newly failing`, naming the configs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import HarnessError
from .keys import COMPARABLE_PROBE_KEYS
from .records import Status
from .util import text_table

COMPARE_COLUMNS = ["config_id", "mark", "median_a_ms", "median_b_ms", "ratio", "ci_low", "ci_high",
                   "trial_ratio", "trials_a", "trials_b", "status_a", "status_b", "note"]


@dataclass(frozen=True)
class RunData:
    path: Path
    meta: dict[str, Any]
    records: list[dict[str, Any]]
    rows: dict[str, dict[str, Any]]        # config_id -> summary row
    trials: dict[str, dict[int, list[float]]]


def parse_threshold(text: str) -> float:
    """'5%' -> 0.05. A bare number is refused: 5 and 0.05 are too easy to confuse."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*%\s*", str(text))
    if not m:
        raise HarnessError(f"--threshold {text!r}: give a percentage such as 5% (the slowdown of the "
                           f"median that counts as a regression)")
    value = float(m.group(1)) / 100.0
    if not 0 <= value < 10:
        raise HarnessError(f"--threshold {text!r}: must be between 0% and 1000%")
    return value


def load(run_dir: Path | str, label: str) -> RunData:
    from .collect import read_run, summarize_records
    from .stats import trials_by_config

    run_dir = Path(run_dir)
    meta, records = read_run(run_dir, label)
    summary = summarize_records(records)
    rows = {r["config_id"]: r for r in summary.astype(object).where(summary.notna(), None).to_dict("records")}
    return RunData(run_dir, meta, records, rows, trials_by_config(records))


def _device_difference(a: RunData, b: RunData, device: str | None) -> str | None:
    pa = (a.meta.get("devices") or {}).get(device) or {}
    pb = (b.meta.get("devices") or {}).get(device) or {}
    for key in COMPARABLE_PROBE_KEYS:
        if pa.get(key) is not None and pb.get(key) is not None and pa.get(key) != pb.get(key):
            return f"device {key} differs: {pa.get(key)} vs {pb.get(key)}"
    return None


def _not_comparable(a: RunData, b: RunData, ra: dict[str, Any], rb: dict[str, Any], timed: bool) -> list[str]:
    """Why a config's latencies in A and B cannot be compared (the keys.py `comparable` keys)."""
    notes = []
    if ra.get("runtime_version") != rb.get("runtime_version") and timed:
        notes.append(f"runtime version {ra.get('runtime_version')} vs {rb.get('runtime_version')}")
    if bool(ra.get("emulated")) != bool(rb.get("emulated")):
        notes.append(f"emulated in {'A' if ra.get('emulated') else 'B'} only")
    diff = _device_difference(a, b, ra.get("device"))
    if diff:
        notes.append(diff)
    return notes


def _mark(est: Any, threshold: float) -> str:
    """worse / better beyond the threshold when significant, ~ when not, same within it."""
    if est.ratio is None:
        return "~"
    if est.ratio > 1 + threshold:
        return "worse" if est.significant else "~"
    if est.ratio < 1 / (1 + threshold):
        return "better" if est.significant else "~"
    return "same"


def compare_runs(a: RunData, b: RunData, threshold: float) -> list[dict[str, Any]]:
    """One row per config_id of either run (A's order, then B's new ones)."""
    from .stats import ratio_of_medians

    out = []
    for cid in list(a.rows) + [c for c in b.rows if c not in a.rows]:
        ra, rb = a.rows.get(cid), b.rows.get(cid)
        row: dict[str, Any] = {k: None for k in COMPARE_COLUMNS}
        row["config_id"] = cid
        if ra is None or rb is None:
            row["mark"] = "only in B" if ra is None else "only in A"
            src = rb or ra
            row["status_a" if rb is None else "status_b"] = src.get("status")
            out.append(row)
            continue
        row.update(median_a_ms=ra.get("median_ms"), median_b_ms=rb.get("median_ms"),
                   status_a=ra.get("status"), status_b=rb.get("status"))
        ok_a = ra.get("status") == Status.OK and ra.get("median_ms") is not None
        ok_b = rb.get("status") == Status.OK and rb.get("median_ms") is not None
        notes = _not_comparable(a, b, ra, rb, timed=ok_a and ok_b)
        if ra.get("status") == rb.get("status") == Status.OK and \
                (ra.get("median_ms") is None or rb.get("median_ms") is None):
            # accuracy or profiling passes only (in one run or both): no timing to compare, no failure
            row["mark"] = "no timing" if ra.get("median_ms") is None and rb.get("median_ms") is None \
                else ("not timed in B" if rb.get("median_ms") is None else "not timed in A")
            out.append(row)
            continue
        if not ok_a or not ok_b:
            row["mark"] = ("newly failing" if ok_a else "fixed" if ok_b else "failing")
            err = rb.get("error") if ok_a else ra.get("error") if ok_b else rb.get("error")
            row["note"] = "; ".join(notes + ([str(err)[:200]] if err else [])) or None
            out.append(row)
            continue
        ta, tb = len(a.trials.get(cid, {})), len(b.trials.get(cid, {}))
        row.update(trials_a=ta, trials_b=tb)
        if ta != tb:
            notes_trials = [f"trials differ: A {ta}, B {tb}"
                            + (" (1 trial: within-process interval only)" if min(ta, tb) == 1 else "")]
        else:
            notes_trials = []
        est = ratio_of_medians(b.trials.get(cid, {}), a.trials.get(cid, {}))
        row.update(ratio=est.ratio, ci_low=est.ci_low, ci_high=est.ci_high, trial_ratio=est.trial_ratio)
        row["mark"] = "not comparable" if notes else _mark(est, threshold)
        row["note"] = "; ".join(notes + notes_trials) or None
        out.append(row)
    return out


def format_rows(rows: list[dict[str, Any]]) -> str:
    """The comparison as a fixed-width table, one line per config."""
    def f(v: Any, spec: str) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return format(v, spec)

    rows_text = []
    for r in rows:
        ci = f"{r['ci_low']:.3f}-{r['ci_high']:.3f}" if r.get("ci_low") is not None else "-"
        rows_text.append([r["config_id"], f(r["median_a_ms"], ".4f"), f(r["median_b_ms"], ".4f"),
                          f(r["ratio"], ".3f"), ci, r["mark"] or "", r.get("note") or ""])
    return text_table(["config", "A ms", "B ms", "B/A", "95% CI", "mark", "note"], rows_text,
                      right=(1, 2, 3, 4))
