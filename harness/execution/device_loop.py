"""One device's jobs, one at a time, each outcome a record; all devices side by side, one thread each.

The retry/skip policy: a lost connection (DeviceLost) is retried after each pause in `retry_delays`;
if the device stays away, its remaining jobs are recorded as skipped with the reason and the other
devices go on. A device that answers but cannot run jobs until someone acts (DeviceUnusable:
unauthorized, no space left, workdir unwritable) is retried once, then skipped the same way, so
`--resume` runs those jobs once it is fixed. A HarnessError from a job is a failed record. A job
killed by an interrupt gets no record, so `edgebench run --resume` runs it again. Devices on the
same physical CPUs (Device.host_lock, set by fleet.py) take turns, one job at a time between them.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DeviceLost, DeviceUnusable, DeviceWithdrawn, HarnessError, RunDirError
from ..plan import job_dict
from ..records import Status
from ..util import deferred_signals
from .writer import JobKey, RunWriter, job_record

if TYPE_CHECKING:
    from ..conditions.hooks import ConditionHooks
    from ..devices.base import Device
    from ..plan import Config, JobSpec
    from ..profiles import Profile
    from ..progress import Progress

RETRY_DELAYS_S = (1.0, 3.0, 9.0)  # a lost device is retried after these pauses, then given up


class _GaveUp(Exception):
    """The device stayed lost after every retry; its remaining jobs are skipped."""


class DeviceLoop:
    """Runs one profile's pending jobs on its device (one thread per device)."""

    def __init__(self, profile: Profile, device: Device, writer: RunWriter, progress: Progress,
                 stop: threading.Event, retry_delays: Sequence[float] = RETRY_DELAYS_S,
                 hooks: ConditionHooks | None = None) -> None:
        self.profile = profile
        self.hooks = hooks  # [conditions]: cooldown before, energy around, governor fields after each job
        self.device = device
        self.writer = writer
        self.progress = progress
        self.stop = stop
        self.retry_delays = tuple(retry_delays)
        self.finished: set[JobKey] = set()  # keys of the jobs that got a record
        self.mapping: dict[str, str] = {}   # local file -> path on the device
        self._span = (0.0, 0.0)  # the last job's start (epoch s) and duration (s)

    def run(self, jobs: list[JobSpec], done: set[JobKey]) -> None:
        """Every pending job gets a record, unless the run is interrupted or its folder is unwritable."""
        pending = [j for j in jobs if j.key not in done]
        try:
            self._run_pending(pending)
        except RunDirError:
            self.stop.set()  # the records file cannot be written: stop every device, keep what is on disk
        except Exception as exc:  # a bug or an OS error in this device's thread: the others go on
            self.progress.note(f"edgebench: {self.profile.name}: internal error, its remaining jobs are "
                               f"recorded as failed:\n{traceback.format_exc(limit=6)}")
            if not self.stop.is_set():
                rest = [j for j in pending if j.key not in self.finished]
                try:
                    self._record_all(rest, Status.FAILED, f"internal error: {type(exc).__name__}: {exc}")
                except RunDirError:
                    self.stop.set()

    def _prepare(self, configs: list[Config]) -> None:
        files = sorted({c.model_path for c in configs} | {c.eval_path for c in configs if c.eval_path})
        self.mapping = self.device.prepare(files)

    def _run_pending(self, pending: list[JobSpec]) -> None:
        if not pending:
            return
        configs = list({c.config_id: c for j in pending
                        for c in (j.config, j.partner) if c is not None}.values())  # a pair job's partner too
        try:
            self._prepare(configs)
        except HarnessError as exc:
            self._record_all(pending, Status.SKIPPED, f"device not ready: {exc}")
            return
        for i, spec in enumerate(pending):
            if self.stop.is_set():
                return
            if self.hooks is not None:
                self.hooks.before_job(spec)
            try:
                result, attempts = self._execute(spec, configs)
            except _GaveUp as exc:
                self.progress.note(f"edgebench: {exc}; its remaining jobs are recorded as skipped")
                self._record_all(pending[i:], Status.SKIPPED, str(exc))
                return
            if result is None or (self.stop.is_set() and result.get("status") != Status.OK):
                return  # killed by the interrupt: no record, so --resume runs it again
            if attempts:
                result["retries"] = attempts
            rec = job_record(spec, result, self.writer.run_id, self.device, *self._span)
            self._append(spec, rec)

    def _job(self, spec: JobSpec) -> dict[str, Any]:
        c = spec.config
        return job_dict(spec, self.profile.matrix, self.mapping[str(c.model_path)],
                        self.mapping.get(str(c.eval_path)) if c.eval_path else None,
                        self.profile.device.get("cores"),
                        self.mapping[str(spec.partner.model_path)] if spec.partner is not None else None)

    def _execute(self, spec: JobSpec, configs: list[Config]) -> tuple[dict[str, Any] | None, int]:
        """(the device's result, retries); None if interrupted while the device was away."""
        attempts, unusable, first = 0, False, None
        while True:
            try:
                lock = self.device.host_lock or contextlib.nullcontext()
                with lock:  # devices on one machine take turns
                    first = first or (time.time(), time.monotonic())
                    try:
                        self.device.before_job()  # e.g. a lab device checks its place is still locked by this run

                        def execute() -> dict[str, Any]:
                            return self.device.execute(self._job(spec), self.profile.job_timeout_s)

                        return (self.hooks.around_job(spec, execute) if self.hooks else execute()), attempts
                    finally:
                        self._span = (first[0], time.monotonic() - first[1])  # started, duration
            except DeviceWithdrawn as exc:
                raise _GaveUp(f"device {self.profile.name}: {exc}") from exc
            except DeviceLost as exc:
                if self.stop.is_set():
                    return None, attempts
                if attempts >= len(self.retry_delays):
                    raise _GaveUp(f"device {self.profile.name} lost after {attempts + 1} attempts: "
                                  f"{exc}") from exc
                delay = self.retry_delays[attempts]
                self.progress.note(f"edgebench: {self.profile.name}: connection lost ({exc}); retrying "
                                   f"in {delay:.0f}s")
                self.stop.wait(delay)
                attempts += 1
                try:  # the device may have come back with an empty workdir
                    self._prepare(configs)
                except HarnessError:
                    pass
            except DeviceUnusable as exc:
                if self.stop.is_set():
                    return None, attempts
                if unusable:
                    raise _GaveUp(f"device {self.profile.name} unusable: {exc}") from exc
                unusable = True
                self.progress.note(f"edgebench: {self.profile.name}: {exc}; retrying once")
                self.stop.wait(self.retry_delays[0] if self.retry_delays else 0.0)
                attempts += 1
                try:
                    self._prepare(configs)
                except HarnessError:
                    pass
            except HarnessError as exc:
                return {"status": Status.FAILED, "error": str(exc)}, attempts

    def _append(self, spec: JobSpec, rec: dict[str, Any]) -> None:
        self.writer.append(rec)
        self.finished.add(spec.key)
        ok = rec["status"] == Status.OK
        self.progress.step(spec.label() + ("" if ok else f" {rec['status']}"), ok=ok)

    def _record_all(self, specs: list[JobSpec], status: Status, reason: str) -> None:
        """A record of `status` with `reason` for each of these jobs (they did not run)."""
        for spec in specs:
            self._append(spec, job_record(spec, {"status": status, "error": reason}, self.writer.run_id,
                                          self.device, time.time(), 0.0))


def run_device(profile: Profile, device: Device, jobs: list[JobSpec], done: set[JobKey], writer: RunWriter,
               progress: Progress, stop: threading.Event,
               retry_delays: Sequence[float] = RETRY_DELAYS_S, hooks: ConditionHooks | None = None) -> None:
    """One device's jobs in order, one at a time; every outcome becomes a record (see DeviceLoop)."""
    DeviceLoop(profile, device, writer, progress, stop, retry_delays, hooks).run(jobs, done)


def run_devices(profiles: list[Profile], devices: dict[str, Device], jobs: dict[str, list[JobSpec]],
                done: set[JobKey], writer: RunWriter,
                retry_delays: Sequence[float] = RETRY_DELAYS_S,
                hooks: dict[str, ConditionHooks] | None = None) -> bool:
    """Every device's jobs concurrently; False if interrupted (Ctrl-C, or SIGTERM raised as one):
    then the running jobs are killed and left without a record."""
    from ..progress import Progress

    total = sum(1 for js in jobs.values() for j in js if j.key not in done)
    progress = Progress(total)
    stop = threading.Event()
    threads = [threading.Thread(target=run_device, name=f"device-{p.name}",
                                args=(p, devices[p.name], jobs[p.name], done, writer, progress, stop,
                                      retry_delays, (hooks or {}).get(p.name)), daemon=True) for p in profiles]
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.2)
    except KeyboardInterrupt:
        with deferred_signals():  # a second Ctrl-C/SIGTERM must not cut the stopping short
            stop.set()
            interrupt_devices(devices)
            for t in threads:
                if t.is_alive():
                    t.join(timeout=30)
            interrupt_devices(devices)  # a job started between the first interrupt and the stop flag
        return False
    if writer.fatal is not None:
        raise writer.fatal
    return True


def interrupt_devices(devices: dict[str, Device]) -> None:
    """Kill the job running on every device (a remote runner, a local process)."""
    for dev in devices.values():
        dev.interrupt()
