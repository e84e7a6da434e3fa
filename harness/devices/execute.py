"""The one job protocol every device kind follows (asv's Spawner.run over a thin environment):

cores from the profile into the job -> output files named in the job's folder -> temperature
before -> the runner launched on job.json -> out.json read -> the exit mapped to a Status ->
output files fetched -> temperature after. What differs between kinds is only *how* the runner is
launched and files travel (a `launch` hook and a `fetch` hook); a failed job always has the same
shape (`failure`).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import DeviceError, DeviceLost, DeviceUnusable
from ..records import Status
from ..util import json_or_none, tail
from .base import CommandResult

JOB_FILE = "job.json"
OUT_FILE = "out.json"
INPUT_KEYS = ("model_path", "eval_path", "partner_model_path")  # host files the runner reads
OUTPUT_KEYS = ("profile_ops_path", "save_outputs_path")  # files the runner writes, wanted here
# Exits of a runner stopped by `timeout` on the device (TERM, then KILL).
DEADLINE_EXITS = (124, 137)
# The device keeps a long tail of the runner's stderr; the run writer scrubs secrets from all of it,
# then cuts it to the tail a record keeps (so a cut never leaves the end of a secret behind).
ERROR_TAIL_CHARS = 64 * 1024
STDERR_KEEP_CHARS = 64 * 1024
# What a job's record gains from the readings taken just before and just after it.
JOB_TEMPERATURE_KEYS = ("temp_before_c", "temp_after_c", "throttled_before", "throttled_after")


@dataclass(frozen=True)
class Launch:
    """What one launch of the runner gave back: the process (or the round trip that ran it), the
    text of out.json when there is one, a record the launcher built itself (native tools), and the
    temperatures when the launch read them itself (ssh's single round trip)."""

    res: CommandResult
    out_text: str | None = None
    record: dict[str, Any] | None = None
    temps: tuple[Mapping[str, Any] | None, Mapping[str, Any] | None] | None = None


def failure(status: Status, error: str, stderr: str | None = None, **extra: Any) -> dict[str, Any]:
    """The one shape of a job that produced no result of its own: status, error, the tail of the
    runner's stderr (when it wrote any), plus what the caller knows (`extra`)."""
    record: dict[str, Any] = {**extra, "status": Status(status).value, "error": error}
    if stderr and stderr.strip():
        record["stderr_tail"] = tail(stderr, STDERR_KEEP_CHARS)
    return record


def with_cores(job: Mapping[str, Any], cores: Sequence[int] | None) -> dict[str, Any]:
    """A copy of the job pinned to the profile's cores, unless the job names its own."""
    out = dict(job)
    if cores and not out.get("cores"):
        out["cores"] = list(cores)
    return out


def output_name(key: str, local: Path | str) -> str:
    """The name an output file gets in the job's folder on the device: 'profile_ops-x.json'."""
    return f"{key[: -len('_path')]}-{Path(str(local)).name}"


def place_outputs(job: dict[str, Any], job_dir: str) -> dict[str, Path]:
    """Point the job's output paths into its folder on the device; device path -> local path."""
    outputs: dict[str, Path] = {}
    for key in OUTPUT_KEYS:
        if job.get(key):
            local = Path(str(job[key]))
            job[key] = str(PurePosixPath(job_dir) / output_name(key, local))
            outputs[job[key]] = local
    return outputs


def describe_exit(res: CommandResult, timeout: float | None = None) -> str:
    """'timed out after 30s ...' / 'killed by SIGSEGV' / 'exit 3', plus the tail of stderr."""
    limit = res.duration_s if timeout is None else timeout
    if res.timed_out:
        what = (f"timed out after {format(limit, '.2f').rstrip('0').rstrip('.')}s (killed; a longer job needs a larger "
                f"matrix.job_timeout_s)")
    elif res.returncode is not None and res.returncode < 0:
        try:
            what = f"killed by {signal.Signals(-res.returncode).name}"
        except ValueError:
            what = f"killed by signal {-res.returncode}"
    else:
        what = f"exit {res.returncode}"
    err = tail((res.stderr or res.stdout or "").strip(), ERROR_TAIL_CHARS)
    return what + (f": {err}" if err else "")


def exit_status(res: CommandResult, deadline_exits: Sequence[int] = ()) -> Status:
    """The status of a runner that left no result: a timeout when it was stopped at the limit."""
    if res.timed_out or res.returncode in deadline_exits:
        return Status.TIMEOUT
    return Status.FAILED


def read_result(launch: Launch, *, label: str, timeout: float, deadline_exits: Sequence[int] = (),
                hint: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The runner's result from out.json, or a failure carrying the exit and the tail of stderr."""
    res = launch.res
    record = json_or_none(launch.out_text) if not res.timed_out else None
    if isinstance(record, dict) and record.get("status"):
        if record["status"] != Status.OK:
            if record.get("error") and hint:
                record["error"] = hint(str(record["error"]))
            if res.stderr and "stderr_tail" not in record:
                record["stderr_tail"] = tail(res.stderr, STDERR_KEEP_CHARS)
        return record
    status = exit_status(res, deadline_exits)
    if status is Status.TIMEOUT and not res.timed_out:
        error = f"{label}: the runner did not finish within {timeout:.0f}s and was stopped"
    else:
        error = f"{label}: runner {describe_exit(res, timeout)}"
    return failure(status, hint(error) if hint else error, res.stderr)


def execute_job(job: Mapping[str, Any], timeout: float, *, label: str, job_dir: str,
                cores: Sequence[int] | None, launch: Callable[[dict[str, Any]], Launch],
                fetch: Callable[[str, Path], None] | None = None,
                temperature: Callable[[], Mapping[str, Any]] | None = None,
                deadline_exits: Sequence[int] = (),
                hint: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Run one job through `launch` and return its record (see the module's docstring).

    `fetch(device_path, local)` brings output files back; without it the runner writes them where
    the job says (a device on this host). Losing the device raises DeviceLost; an output file the
    runner did not write (a failed job) is simply absent.
    """
    device_job = with_cores(job, cores)
    outputs: dict[str, Path] = {}
    if fetch is not None:
        outputs = place_outputs(device_job, job_dir)
        device_job["scratch_dir"] = job_dir
    else:
        device_job.setdefault("scratch_dir", job_dir)
    before = temperature() if temperature else None
    launched = launch(device_job)
    if launched.record is not None:
        record = launched.record
    else:
        record = read_result(launched, label=label, timeout=timeout, deadline_exits=deadline_exits,
                             hint=hint)
    for device_path, local in outputs.items():
        try:
            fetch(device_path, local)  # type: ignore[misc]
        except (DeviceLost, DeviceUnusable):
            raise
        except DeviceError:
            pass  # the runner says in its result why it wrote nothing
    if launched.temps is not None:
        record.update(job_temperature_fields(*launched.temps))
    elif temperature is not None:
        record.update(job_temperature_fields(before, temperature()))
    return record


def job_temperature_fields(before: Mapping[str, Any] | None,
                           after: Mapping[str, Any] | None) -> dict[str, Any]:
    """Flat record fields from two quick readings; None where a reading is missing."""
    before, after = before or {}, after or {}
    return {
        "temp_before_c": before.get("temp_c"),
        "temp_after_c": after.get("temp_c"),
        "throttled_before": before.get("throttled"),
        "throttled_after": after.get("throttled"),
    }
