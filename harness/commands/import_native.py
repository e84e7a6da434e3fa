"""`edgebench import-native FILE --tool TOOL [--into RUN_DIR]`: one record as JSON (unread lines named
on stderr), or, with --into, the record appended to a run's records.jsonl and the run reported again."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

TWINS = ("separable", "standard")


def identify(record: dict[str, Any], device: str | None, model: str | None, precision: str | None,
             path: Path, threads: int | None = None) -> dict[str, Any]:
    """The job identity a run needs (device, model, family/twin, precision, config_id): from the flags,
    else from the model path the tool printed (`Graph: [...]`) or the output file's name."""
    name = model or Path(str(record.get("model_path") or path)).stem
    prec = precision or ("int8" if "int8" in name.lower() else "fp32")
    stem = name.replace("_int8", "").replace("-int8", "")
    family, _, twin = stem.rpartition("-")
    threads = threads or record.get("threads") or 1
    return {"device": device or "native", "model": stem, "precision": prec, "threads": threads,
            "family": family if twin in TWINS else None, "twin": twin if twin in TWINS else None,
            "config_id": f"{device or 'native'}/{stem}/{record['runtime']}/{prec}/t{threads}"}


def add_to_run(record: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Append the record to RUN_DIR/records.jsonl (one fsynced line, harness.records) as the next trial
    of its config, then write the run's report again."""
    from ..collect import read_run
    from ..records import RECORDS_FILE, append_record
    from ..report.write import report_run

    meta, records = read_run(run_dir)
    same = [r for r in records if r.get("config_id") == record["config_id"] and r.get("mode") == record["mode"]]
    record["trial"] = max((int(r.get("trial") or 0) for r in same), default=-1) + 1
    record["run_id"] = meta.get("run_id")
    append_record(run_dir / RECORDS_FILE, record)
    report_run(run_dir)
    return record


def main(args: argparse.Namespace) -> int:
    from ..native import read_output_file
    from ..native_output import parse_output
    from ..records import RECORD_SCHEMA_VERSION

    path = Path(args.file)
    record = parse_output(read_output_file(path), args.tool, str(path))
    record["schema_version"] = RECORD_SCHEMA_VERSION
    record["imported_from"] = str(path)
    for item in record["unparsed_lines"]:
        print(f"{path}:{item['line']}: could not read: {item['text']}", file=sys.stderr)
    if getattr(args, "into", None):
        record.update(identify(record, args.device, args.model, args.precision, path, args.threads))
        add_to_run(record, Path(args.into))
        print(f"edgebench: added {record['config_id']} ({record['mode']} trial {record['trial']}, "
              f"{record['status']}) to {Path(args.into)}", file=sys.stderr)
        return 0
    json.dump(record, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0
