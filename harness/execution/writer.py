"""The run folder as the run goes: records appended one line at a time (flush + fsync), run.json
rewritten atomically, secrets scrubbed from both (records' text is scrubbed whole, then cut to its
tail, so no secret's end survives a cut; run.json's plan keeps secrets out as references resume can
follow: secrets.scrub_plan). The records file stays the truth for --resume."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import HarnessError, RunDirError
from ..records import (RECORD_SCHEMA_VERSION, RECORDS_FILE, RUN_FILE, Status, append_record,
                       check_records_path, job_key, latest_per_job, read_records)
from ..util import TAIL_CHARS, atomic_write_json, shorten, tail
from .secrets import scrub, scrub_plan, secret_values

if TYPE_CHECKING:
    from ..devices.base import Device
    from ..plan import JobSpec

JobKey = tuple[str, str, str, int]
ERROR_CHARS = 2000  # a record's error: its head (what failed) and the tail of what the runner said
ERROR_HEAD_CHARS = 300


def for_people(record: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    """The record as written: secrets redacted from the whole text first, then long text cut."""
    rec = scrub(record, secrets)
    if isinstance(rec.get("stderr_tail"), str):
        rec["stderr_tail"] = tail(rec["stderr_tail"], TAIL_CHARS)
    if isinstance(rec.get("error"), str):
        rec["error"] = shorten(rec["error"], ERROR_CHARS, ERROR_HEAD_CHARS)
    return rec


def job_record(spec: JobSpec, result: dict[str, Any], run_id: str, device: Device, started: float,
               duration: float) -> dict[str, Any]:
    """A record: the config's identity, the device's result, and where/when the job ran."""
    emulated = bool(device.emulated)
    rec = {**spec.config.identity(), **result, **device.record_extra()}
    rec.update({
        "schema_version": RECORD_SCHEMA_VERSION, "run_id": run_id, "mode": spec.mode,
        "trial": spec.trial, "emulated": emulated,
        "started_at": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(),
        "duration_s": round(duration, 3),
    })
    if emulated:
        rec["emulated_cpu"] = device.cpu
    if spec.partner is not None:  # a pair job: which config partner_latency_ns belongs to
        rec["partner_config_id"] = spec.partner.config_id
        rec["partner_model_file"] = str(spec.partner.model_path)
        rec["partner_model_sha256"] = spec.partner.model_sha256
    rec.setdefault("status", Status.FAILED)
    return rec


@dataclass
class RunWriter:
    """Writes one run folder; shared by the device threads (a lock orders their writes)."""

    run_dir: Path
    meta: dict[str, Any]
    lock: threading.Lock = field(default_factory=threading.Lock)
    secrets: list[str] = field(default_factory=list)
    fatal: HarnessError | None = None

    def __post_init__(self) -> None:
        self.secrets = secret_values({"profiles": self.meta.get("profiles", [])})
        check_records_path(self.records_path)

    @property
    def records_path(self) -> Path:
        return self.run_dir / RECORDS_FILE

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    def recorded_key(self, spec: JobSpec) -> tuple:
        """The job's key as its record carries it (a secret inside a model path is redacted there)."""
        return tuple(scrub(list(spec.key), self.secrets))

    def done_jobs(self, jobs: dict[str, list[JobSpec]], include_skipped: bool) -> set[JobKey]:
        """Planned job keys that have a current record (skipped ones only if include_skipped)."""
        if not self.records_path.exists():
            return set()
        recorded = {job_key(r) for r in latest_per_job(read_records(self.records_path).records)
                    if include_skipped or r.get("status") != Status.SKIPPED}
        return {j.key for js in jobs.values() for j in js if self.recorded_key(j) in recorded}

    def append(self, record: dict[str, Any]) -> None:
        """Append a record; a write that fails (disk full) stops the run with the records so far intact."""
        with self.lock:
            try:
                append_record(self.records_path, for_people(record, self.secrets))
            except OSError as exc:
                self.fatal = RunDirError(
                    f"{self.records_path}: cannot write a record ({exc.strerror or exc}); the records "
                    f"before it are intact. Free some space, then: edgebench run --resume {self.run_dir}")
                raise self.fatal from exc

    def update_meta(self, **changes: Any) -> None:
        """Merge `changes` into run.json and rewrite it atomically: the plan (profiles) as resume needs
        it, the rest scrubbed for people. A failed write (a full disk) is one line."""
        with self.lock:
            self.meta.update(changes)
            shown = scrub({k: v for k, v in self.meta.items() if k != "profiles"}, self.secrets)
            if "profiles" in self.meta:
                shown["profiles"] = scrub_plan(self.meta["profiles"])
            try:
                atomic_write_json(self.run_dir / RUN_FILE, shown, default=str)
            except OSError as exc:
                raise RunDirError(f"{self.run_dir / RUN_FILE}: cannot update the run file ({exc.strerror or exc}); "
                                  f"the records are intact. Free some space, then: edgebench run --resume "
                                  f"{self.run_dir}") from exc
