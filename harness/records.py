"""Result records: one JSON object per (device, job, trial), appended to records.jsonl as each job ends.

A record is a plain dict (JSON-friendly, stable keys, units in the names; harness.keys lists them).
Failures are records too (status failed | timeout | skipped, with `error`), never missing rows.
Metadata common to a run lives once in run.json.

Both files carry `schema_version`. A file from a newer edgebench is refused with one line naming it;
an older one is brought up to date on reading by a chain of `upgrade_to_N` steps (asv's pattern), one
per version, so a run recorded long ago still reports and compares.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from .errors import RunDirError
from .keys import RUNNER_RECORD_KEYS
from .runner import RUNNER_PROTOCOL_VERSION
from .util import atomic_write_json

# records.jsonl schema changelog (bump, then add `upgrade_to_N` to RECORD_UPGRADES):
#   1: first version (a record without `schema_version` is read as 1).
RECORD_SCHEMA_VERSION = 1

# run.json schema changelog (bump, then add `upgrade_to_N` to RUN_UPGRADES):
#   1: first version.
RUN_SCHEMA_VERSION = 1

Upgrade = Callable[[dict[str, Any]], dict[str, Any]]
# target version -> the step that turns a version N-1 object into version N
RECORD_UPGRADES: dict[int, Upgrade] = {}
RUN_UPGRADES: dict[int, Upgrade] = {}


class Status(str, Enum):
    """A job's outcome. A str enum: records store the plain value ("ok"), and Status.OK == "ok"."""

    OK = "ok"
    FAILED = "failed"      # the runner ran and failed, or the device refused the job
    TIMEOUT = "timeout"    # killed at matrix.job_timeout_s
    SKIPPED = "skipped"    # never ran (device lost or not ready); --resume runs it again

    def __str__(self) -> str:
        return self.value


RECORDS_FILE = "records.jsonl"
RUN_FILE = "run.json"

# Keys the runner fills (see harness/runner and harness.keys). The harness adds the job identity.
RUNNER_KEYS = tuple(RUNNER_RECORD_KEYS)


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


def check_records_path(path: Path) -> None:
    """A records file that exists but is not a plain file (a folder, a FIFO) is one clear line."""
    if (path.exists() or path.is_symlink()) and not path.is_file():
        raise RunDirError(f"{path}: is not a plain file (a folder or a device?); move it away, it cannot "
                          f"hold records")


def read_records(path: Path) -> ReadResult:
    """Read records.jsonl tolerantly: a line cut off by a crash (or any bad line) is skipped and reported."""
    result = ReadResult()
    check_records_path(path)
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
        result.records.append(upgrade_record(obj, f"{path}:{lineno}"))
    return result


def truncate_partial_line(path: Path) -> bool:
    """Drop a last line that was cut off (no trailing newline), so appending resumes cleanly."""
    check_records_path(path)
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


def upgrade(obj: dict[str, Any], current: int, steps: dict[int, Upgrade], source: str,
            what: str) -> dict[str, Any]:
    """`obj` brought up to schema `current` through `steps`; a newer or unknown version is refused
    with one line naming `source` (the file, and line)."""
    version = obj.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise RunDirError(f"{source}: {what} schema_version {version!r} is not a version number; "
                          f"the file is damaged or was not written by edgebench")
    if version > current:
        raise RunDirError(f"{source}: {what} schema_version {version} is newer than this edgebench "
                          f"reads ({current}); upgrade edgebench to read it")
    while version < current:
        step = steps.get(version + 1)
        if step is None:
            raise RunDirError(f"{source}: {what} schema_version {version} is older than this edgebench "
                              f"can upgrade; report it with an older edgebench")
        obj = step(dict(obj))
        version += 1
        obj["schema_version"] = version
    return obj


def upgrade_record(record: dict[str, Any], source: str = "record") -> dict[str, Any]:
    """A record at RECORD_SCHEMA_VERSION; refused when its schema or its runner protocol is newer."""
    protocol = record.get("runner_protocol")
    if isinstance(protocol, int) and protocol > RUNNER_PROTOCOL_VERSION:
        raise RunDirError(f"{source}: written by a runner of protocol {protocol}, newer than this "
                          f"edgebench reads ({RUNNER_PROTOCOL_VERSION}); upgrade edgebench to read it")
    if "schema_version" not in record:
        return record  # records before schema_version was written are version 1
    return upgrade(record, RECORD_SCHEMA_VERSION, RECORD_UPGRADES, source, "record")


def upgrade_run_meta(meta: dict[str, Any], source: str) -> dict[str, Any]:
    """run.json at RUN_SCHEMA_VERSION; refused when newer."""
    return upgrade(meta, RUN_SCHEMA_VERSION, RUN_UPGRADES, source, "run.json")


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
    """Write JSON via a temp file + fsync + rename, so a reader never sees half a file."""
    atomic_write_json(path, obj, default=_json_default)


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
    if not isinstance(meta, dict):
        raise RunDirError(f"{meta_path}: not a run.json (a JSON object is expected)")
    meta = upgrade_run_meta(meta, str(meta_path))
    records_path = run_dir / RECORDS_FILE
    if not records_path.exists():
        return meta, ReadResult()
    return meta, read_records(records_path)
