"""The `labgrid` device kind: a board or phone of the shared lab (harness/lab), held for the run.

The place is reserved, waited for (up to the profile's lock_timeout), locked and its comment set to
the run on first use (`check`, which the fleet calls before anything else), then the board is driven
by the existing kinds: ssh from the place's NetworkService, or adb (locking only, the adb server
named by the place's tags or comment, or the profile) for a phone. Before every job the lock is
checked again: a lock that is no longer this run's withdraws the device (DeviceWithdrawn: its jobs
are skipped, never run on a device it does not hold); a coordinator that does not answer or a lab
host whose exporter is gone is a lost device (DeviceLost: retried, then skipped). `close` releases
the place, also on Ctrl-C and SIGTERM; an atexit hook is the last resort.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import DeviceLost, DeviceWithdrawn, HarnessError
from ..lab import LabClient, LabConfig, LabError, LabUnreachable, Lease, acquire, device_table, held_place, release
from ..lab.lease import signals_deferred
from .base import CommandResult, Device

_HOLDING: set[int] = set()  # ids of the lab devices holding a place (SIGTERM unwinds while any does)


def _sigterm_unwinds(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _named(name: str, exc: LabError) -> LabError:
    """The lab's error with the device's name in front (same class and reason)."""
    if isinstance(exc, LabUnreachable):
        return LabUnreachable(f"{name}: {exc}")
    return LabError(f"{name}: {exc}", exc.reason)


class LabgridDevice(Device):
    """One lab place, locked for the run, run through the ssh (or adb) device its resources describe."""

    kind = "labgrid"

    def __init__(self, table: Mapping[str, Any], *, source: str | None = None) -> None:
        self.table = dict(table)
        self.config = LabConfig.from_table(self.table, source)
        self.name = str(self.table.get("name") or self.config.place or "lab")
        self.group: str | None = self.table.get("group")
        try:
            self.client = LabClient(self.config.coordinator, call_timeout_s=self.config.call_timeout_s)
        except LabError as exc:
            raise _named(self.name, exc) from None
        self.lease: Lease | None = None
        self.inner: Device | None = None
        self.withdrawn = False
        self.release_s: float | None = None  # how long giving the place back took
        self._released = False

    def __repr__(self) -> str:
        return f"LabgridDevice({self.name!r}, {self.lease.place if self.lease else 'not held'})"

    # holding the place ------------------------------------------------------------------------
    def held(self) -> Device:
        """The ssh/adb device of the held place, acquiring the place first if needed."""
        if self.inner is None:
            if self._released:
                raise DeviceWithdrawn(f"{self.name}: its lab place was released")
            self._acquire()
        assert self.inner is not None
        return self.inner

    def _acquire(self) -> None:
        from .registry import make_device

        self._catch_sigterm()
        run = self.run_id or "(devices check)"
        wanted = f"place {self.config.place}" if self.config.place else "a place with tags " + " ".join(
            f"{k}={v}" for k, v in sorted(self.config.tags.items()))
        print(f"edgebench: {self.name}: taking lab {wanted} from {self.client.where.address} (waiting up to "
              f"{self.config.lock_timeout_s:g} s while it is busy)", file=sys.stderr)
        try:
            self.lease = acquire(self.client, run=run, place=self.config.place, tags=self.config.tags or None,
                                 timeout_s=self.config.lock_timeout_s)
        except LabError as exc:
            self._restore_sigterm()
            raise _named(self.name, exc) from None
        except BaseException:
            self._restore_sigterm()
            raise
        atexit.register(self.close)
        try:
            table = device_table(self.lease, self.table, self.config)
            table["name"] = self.name
            self.inner = make_device(table)
        except BaseException as exc:
            self.close()
            if isinstance(exc, LabError):
                raise _named(self.name, exc) from None
            raise

    def _catch_sigterm(self) -> None:
        """While a place is held, SIGTERM unwinds like Ctrl-C (so `finally` releases it), unless the
        program handles SIGTERM itself already."""
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, _sigterm_unwinds):
            signal.signal(signal.SIGTERM, _sigterm_unwinds)
        _HOLDING.add(id(self))

    def _restore_sigterm(self) -> None:
        _HOLDING.discard(id(self))
        if not _HOLDING and threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGTERM) is _sigterm_unwinds:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def before_job(self) -> None:
        """The place must still be locked by this run, and its lab host's exporter alive."""
        self.held()
        assert self.lease is not None
        lease = self.lease
        if self.withdrawn:
            raise DeviceWithdrawn(f"lost its lock on lab place {lease.place}")
        try:
            shown = held_place(self.client, lease)
        except LabError as exc:  # the coordinator does not answer (or answers nonsense): a lost device
            raise DeviceLost(str(_named(self.name, exc))) from None
        if shown is None:
            self.withdrawn = True
            raise DeviceWithdrawn(
                f"lost its lock on lab place {lease.place} (coordinator {lease.coordinator} restarted, or "
                f"someone unlocked it); no job runs on a place this run does not hold: the remaining "
                f"jobs are skipped, `edgebench run --resume RUN_DIR` runs them")
        if shown.orphaned:
            raise DeviceLost(f"{self.name}: lab place {lease.place}: resources orphaned "
                             f"({', '.join(shown.orphaned)}): lab host {', '.join(lease.exporters)} is gone "
                             f"(its labgrid-exporter stopped)")

    def record_extra(self) -> dict[str, Any]:
        return dict(self.lease.record()) if self.lease is not None else {}

    def close(self) -> None:
        """Close the board's device, then give the place back (its own comment, unlock, no
        reservation left); a failure to release is said on stderr with the command that does it."""
        inner, self.inner = self.inner, None
        try:
            if inner is not None:
                inner.close()
        finally:
            self._give_back()

    def _give_back(self) -> None:
        lease = self.lease
        if lease is None or self._released:
            return
        self._released = True
        atexit.unregister(self.close)
        started = time.monotonic()
        try:
            with signals_deferred():
                release(self.client, lease)
        except LabError as exc:
            print(f"edgebench: {self.name}: could not release lab place {lease.place} ({exc}); release it "
                  f"with: edgebench lab -x {lease.coordinator} release {lease.place}", file=sys.stderr)
        finally:
            self.release_s = time.monotonic() - started
            self._restore_sigterm()

    # what the orchestrator calls, on the held board -------------------------------------------
    def check(self, runtimes: Sequence[str] = ("onnxruntime", "tflite")) -> list[str]:
        return list(self.held().check(runtimes))

    def probe(self) -> dict[str, Any]:
        """The board's probe, plus the place, its lab host, the reservation and the time it took."""
        inner = self.held()
        assert self.lease is not None
        try:
            info = dict(inner.probe())
        except HarnessError as exc:  # the lab keys go into run.json even when the probe fails
            info = {"probe_error": str(exc)}
        info.update(self.lease.record())
        info.update(lab_holder=self.lease.holder, lab_transport=inner.kind,
                    lab_waited_s=round(self.lease.waited_s, 3), lab_acquire_s=round(self.lease.acquire_s, 3))
        if self.group:
            info["lab_group"] = self.group
        return info

    def prepare(self, files: Sequence[Path]) -> dict[str, str]:
        return self.held().prepare(files)

    def execute(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self.held().execute(job, timeout)

    def interrupt(self) -> None:
        inner = self.inner
        if inner is not None:
            inner.interrupt()

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        return self.held().run(argv, timeout)

    def push(self, local: Path, remote: str) -> None:
        self.held().push(local, remote)

    def pull(self, remote: str, local: Path) -> None:
        self.held().pull(remote, local)
