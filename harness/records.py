"""Result records: one JSON object per (device, job, trial), appended to records.jsonl as each job ends.

A record is a plain dict (JSON-friendly, stable keys, units in the names). Failures are records too
(status failed | timeout | skipped, with `error`), never missing rows. Metadata common to a run lives
once in run.json.

Schema changelog (bump RECORD_SCHEMA_VERSION and add an upgrade step in `upgrade_record`):
  1: first version.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from .errors import RunDirError

RECORD_SCHEMA_VERSION = 1
RUN_SCHEMA_VERSION = 1



class Status(str, Enum):
    """A job's outcome. A str enum: records store the plain value ("ok"), and Status.OK == "ok"."""

    OK = "ok"
    FAILED = "failed"      # the runner ran and failed, or the device refused the job
    TIMEOUT = "timeout"    # killed at matrix.job_timeout_s
    SKIPPED = "skipped"    # never ran (device lost or not ready); --resume runs it again

    def __str__(self) -> str:
        return self.value


STATUS_OK = Status.OK
STATUS_FAILED = Status.FAILED
STATUS_TIMEOUT = Status.TIMEOUT
STATUS_SKIPPED = Status.SKIPPED

RECORDS_FILE = "records.jsonl"
RUN_FILE = "run.json"

# Keys the runner fills (see harness/runner). The harness adds the job/config identity around them.
RUNNER_KEYS = (
    "status", "error", "runtime", "runtime_impl", "runtime_version", "numpy_version",
    "python_version", "arch", "mode", "threads", "xnnpack", "latency_ns", "warmup_ns",
    "init_ns", "first_inference_ns", "rss_after_imports_bytes", "rss_after_load_bytes",
    "rss_after_first_bytes", "peak_rss_bytes", "accuracy", "n_eval", "predictions", "delegation",
    "stop_reason", "affinity",
)


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one record as a single line, flushed and fsynced, so a crash never loses earlier ones."""
    line = json.dumps(record, separators=(",", ":"), sort_keys=True, default=_json_default)
    if "\n" in line:  # json.dumps never emits raw newlines; keep the one-line invariant explicit
        raise ValueError("record serialised to more than one line")
    data = (line + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            # disk full mid-line: cut the partial line so the file stays valid, then report
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise
    finally:
        os.close(fd)


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np  # local: records.py is imported by light commands

        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return float(obj)
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@dataclass
class ReadResult:
    """Records read from a file, plus what could not be read (line number and why)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def read_records(path: Path) -> ReadResult:
    """Read records.jsonl tolerantly: a line cut off by a crash (or any bad line) is skipped and reported."""
    result = ReadResult()
    if not path.exists():
        raise RunDirError(f"{path}: no such records file; is this a run folder made by `edgebench run`?")
    with open(path, "rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            last = lineno == len(lines) and not data.endswith(b"\n")
            why = "cut off (the run was interrupted while writing it)" if last else f"not valid JSON ({exc})"
            result.skipped.append((lineno, why))
            continue
        if not isinstance(obj, dict) or "status" not in obj:
            result.skipped.append((lineno, "not a record (no status)"))
            continue
        result.records.append(upgrade_record(obj))
    return result


def truncate_partial_line(path: Path) -> bool:
    """Drop a last line that was cut off (no trailing newline), so appending resumes cleanly."""
    if not path.exists():
        return False
    with open(path, "rb+") as fh:
        data = fh.read()
        if not data or data.endswith(b"\n"):
            return False
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def upgrade_record(record: dict[str, Any]) -> dict[str, Any]:
    """Bring an older record up to RECORD_SCHEMA_VERSION (a chain of steps, one per version)."""
    version = record.get("schema_version", 1)
    if version > RECORD_SCHEMA_VERSION:
        raise RunDirError(
            f"record schema_version {version} is newer than this edgebench understands "
            f"({RECORD_SCHEMA_VERSION}); upgrade edgebench"
        )
    return record


def job_key(record: dict[str, Any]) -> tuple:
    """What identifies a job within a run: (device, config_id, mode, trial)."""
    return (record.get("device"), record.get("config_id"), record.get("mode"), record.get("trial"))


def latest_per_job(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per job, the last one written: a job rerun by --resume (after it was skipped
    because its device was lost) replaces its earlier record. Order of first appearance is kept."""
    latest: dict[tuple, dict[str, Any]] = {}
    for rec in records:
        key = job_key(rec)
        if key in latest:
            del latest[key]  # re-insert: the rerun takes the place of its last occurrence
        latest[key] = rec
    return list(latest.values())


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON via a temp file + rename, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=_json_default)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_run(run_dir: Path) -> tuple[dict[str, Any], ReadResult]:
    """run.json and the records of a run folder, with a clear error if it is not one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a folder; give a run folder such as results/<run-id>")
    meta_path = run_dir / RUN_FILE
    if not meta_path.exists():
        raise RunDirError(
            f"{run_dir}: not a run folder (no {RUN_FILE}); give a folder written by `edgebench run`"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{meta_path}: not valid JSON ({exc})") from exc
    records_path = run_dir / RECORDS_FILE
    if not records_path.exists():
        return meta, ReadResult()
    return meta, read_records(records_path)
