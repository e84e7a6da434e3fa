"""Writing a run's report: every output file (summary.csv, pairs.csv, opbreakdown.csv, report.html)
built in memory first, then written once, atomically (tmp + fsync + rename), so a reader or a kill
never meets half a file. A failed write (a full disk) is one HarnessError line, and no temp file
is left behind."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any, TextIO

from ..errors import HarnessError
from ..records import RECORDS_FILE
from ..util import atomic_write_bytes

OUTPUT_FILES = ("summary.csv", "pairs.csv", "opbreakdown.csv", "report.html")


def report_run(run_dir: Path, html: bool = True, stream: TextIO | None = None) -> dict[str, Path]:
    """Read a run folder, write its report files, print the tables; returns {file name: path}."""
    from ..collect import format_table, read_run_and_skipped, summarize_records

    stream = stream or sys.stdout
    run_dir = Path(run_dir)
    meta, records, skipped = read_run_and_skipped(run_dir)
    summary = summarize_records(records)
    notes = [f"{RECORDS_FILE} line {lineno} was skipped: {why}" for lineno, why in skipped]
    print(format_table(summary), file=stream)  # the configs first; the pairs (the answer) come last
    print("CV % = std / mean of every timed run (one slow run raises it; above 10% is flagged); "
          "gap to fp32 ref = fp32 reference top-1 minus measured, points", file=stream)
    if meta.get("status") not in (None, "complete"):
        print(f"note: this run is {meta.get('status')}; the table shows the jobs recorded so far",
              file=stream)
    return write_report(run_dir, meta, records, summary, html=html, notes=notes, stream=stream)


def write_report(run_dir: Path, meta: dict[str, Any], records: list[dict[str, Any]], summary,
                 html: bool = True, notes: list[str] | None = None,
                 stream: TextIO | None = None) -> dict[str, Path]:
    """Write summary.csv (with warnings), pairs.csv, opbreakdown.csv (when profiled) and report.html,
    each once; print the pairs and the notes. `notes` name the records lines that were skipped."""
    from . import build_tables, format_pairs

    stream = stream or sys.stdout
    run_dir = Path(run_dir)
    notes = list(notes or [])
    if meta.get("status") not in (None, "complete"):
        notes.append(f"this run is {meta.get('status')}: the report shows the jobs recorded so far "
                     f"(continue it with `edgebench run --resume {run_dir}`)")
    summary, pairs, breakdown = build_tables(meta, records, summary, notes)
    contents: dict[str, bytes] = {"summary.csv": _csv(summary), "pairs.csv": _csv(pairs)}
    if len(breakdown):
        contents["opbreakdown.csv"] = _csv(breakdown)
    if html:
        contents["report.html"] = _html(meta, records, summary, pairs, breakdown, notes).encode("utf-8")
    outputs = {name: run_dir / name for name in contents}
    _remove_leftover_temps(run_dir)
    for name, data in contents.items():
        write_output(outputs[name], data, run_dir)
    if len(pairs):
        print(format_pairs(pairs), file=stream)
    elif summary is not None and len(summary) and summary["model"].nunique() > 1:
        from .html import PAIR_HINT

        print(f"no twin pairs in this run. {PAIR_HINT}", file=stream)
    for n in notes:
        if "was skipped" not in n:  # the reader already named the skipped lines
            print(f"edgebench: note: {n}", file=sys.stderr)
    return outputs


def write_output(path: Path, data: bytes, run_dir: Path) -> None:
    """One report file, atomically; an OSError becomes one line saying what to do."""
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            why = "the disk is full; free some space"
        else:
            why = f"{exc.strerror or exc}; check the folder's permissions and space"
        raise HarnessError(f"{path}: cannot write the report ({why}), then rerun "
                           f"`edgebench report {run_dir}`") from exc


def _remove_leftover_temps(run_dir: Path) -> None:
    """Temp files of a report writer that was killed mid-write (its complete files stayed in place)."""
    for name in OUTPUT_FILES:
        for tmp in run_dir.glob(f".{name}.*.tmp"):
            try:
                tmp.unlink()
            except OSError:
                pass


def _csv(df) -> bytes:
    """CSV text with formula-like text cells neutralised (a model named '=HYPERLINK(...)')."""
    from ..util import csv_safe

    return csv_safe(df).to_csv(index=False).encode("utf-8")


def _html(meta: dict[str, Any], records: list[dict[str, Any]], summary, pairs, breakdown,
          notes: list[str]) -> str:
    import numpy as np

    from ..stats import trials_by_config
    from . import records_of
    from .html import render
    from .thermal import job_temperatures

    samples = {cid: list(np.concatenate([np.asarray(v, dtype=float) for v in trials.values()]) / 1e6)
               for cid, trials in trials_by_config(records).items()}
    return render({**meta, "model_inputs": model_inputs(records), "job_temperatures": job_temperatures(records)},
                  records_of(summary), records_of(pairs),
                  records_of(breakdown), samples, notes)


def model_inputs(records: list[dict[str, Any]]) -> dict[str, str]:
    """Per model, the inputs its jobs were fed ("name [1, 3, 224, 224] float32; ..."), for the report."""
    out: dict[str, str] = {}
    for r in records:
        ins = r.get("inputs")
        if r.get("model") and isinstance(ins, list) and ins and r.get("model") not in out:
            out[r["model"]] = "; ".join(f"{i.get('name')} {list(i.get('shape') or [])} {i.get('dtype')}"
                                        for i in ins if isinstance(i, dict))
    return out
