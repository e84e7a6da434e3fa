"""Holding a lab place for one run: reserve (waiting up to a timeout), lock, name the run in the
place's comment, check the lock before each job, release in `finally`.

Every acquisition goes through a labgrid reservation, by tags or by `name=PLACE` (labgrid matches a
place's name as a tag): the coordinator then hands places out in order of request, so two runs
waiting for one board take turns instead of racing. A reservation is cancelled as soon as its place
is released, or the place would stay reserved to nobody for a minute.

labgrid records the lock holder as HOST/USER only, so two runs of one user on one host look alike
to it; the comment (run id, pid, reservation token) is what tells them apart, and `still_locked`
checks both. A coordinator restart drops every lock and reservation: `still_locked` then says False.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from .client import LabClient, LabError, identity
from .parse import Place, Resource

COMMENT_PREFIX = "edgebench run "
WAS = " | was: "
STOP_TIMEOUT_S = 5.0
MIN_WAIT_S = 5.0  # a free place is allocated at once, but reserve --wait still takes a call or two


@dataclass(frozen=True)
class Lease:
    """A place this process holds: what to put in run.json and records, and what release needs."""

    place: str
    token: str  # the labgrid reservation token
    holder: str  # HOST/USER, as labgrid records the lock
    comment: str  # the place's comment while we hold it (names the run)
    previous_comment: str  # restored at release
    coordinator: str
    resources: tuple[Resource, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    waited_s: float = 0.0  # time spent waiting for the reservation
    acquire_s: float = 0.0  # the whole acquisition, waiting included

    @property
    def exporters(self) -> tuple[str, ...]:
        return tuple(sorted({r.exporter for r in self.resources}))

    def record(self) -> dict[str, object]:
        """The keys run.json and every record carry for a lab device."""
        return {"lab_place": self.place, "lab_exporter": ",".join(self.exporters),
                "lab_reservation": self.token, "lab_coordinator": self.coordinator}


def run_comment(run: str, token: str, previous: str) -> str:
    """The comment that names the run holding the place (and keeps the place's own comment)."""
    text = f"{COMMENT_PREFIX}{run} (pid {os.getpid()} on {socket.gethostname()}, reservation {token})"
    previous = original_comment(previous)
    return text + (WAS + previous if previous else "")


def original_comment(comment: str) -> str:
    """The place's own comment under an edgebench run comment (a stale one from a killed run too)."""
    if not comment.startswith(COMMENT_PREFIX):
        return comment
    return comment.split(WAS, 1)[1] if WAS in comment else ""


def _described(place: Place) -> str:
    if place.acquired:
        note = f" ({place.comment})" if place.comment else ""
        return f"{place.name} locked by {place.acquired}{note}"
    if place.reservation:
        return f"{place.name} reserved for another waiting client (reservation {place.reservation})"
    return f"{place.name} free"


def candidates(client: LabClient, places: list[Place], *, place: str | None,
               tags: Mapping[str, str]) -> list[Place]:
    """The places a request can get; an unknown place or tags nothing has is an error now, not a
    reservation that waits forever."""
    where = client.where
    if place is not None:
        found = [p for p in places if p.name == place or place in p.aliases]
        if not found:
            known = ", ".join(p.name for p in places) or "none"
            raise LabError(f"labgrid coordinator {where} has no place {place!r} (places: {known}); fix the "
                           f"profile's place or create it: labgrid-client -p {place} create", "unknown-place")
        return found
    found = [p for p in places if p.has_tags(tags)]
    if not found:
        wanted = " ".join(f"{k}={v}" for k, v in sorted(tags.items()))
        seen = sorted({f"{k}={v}" for p in places for k, v in p.tags.items()})
        raise LabError(f"labgrid coordinator {where}: no place has tags {wanted} (tags in use: "
                       f"{', '.join(seen) or 'none'}); fix the profile's tags or tag a place: "
                       f"labgrid-client -p PLACE set-tags {wanted}", "no-match")
    return found


def _read_token(proc: subprocess.Popen, deadline: float) -> str | None:
    """The token `reserve --shell` prints at once ("export LG_TOKEN=..."), before it waits."""
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            return None
        if line.startswith("export LG_TOKEN="):
            return line.strip().split("=", 1)[1]
    return None


def _finish(proc: subprocess.Popen) -> str:
    """Kill the process if it still runs; its stderr."""
    if proc.poll() is None:
        proc.kill()
    try:
        return proc.communicate(timeout=STOP_TIMEOUT_S)[1] or ""
    except (subprocess.TimeoutExpired, ValueError, OSError):
        return ""


def _quietly(client: LabClient, *args: str, place: str | None = None) -> bool:
    try:
        client.call(*args, place=place)
        return True
    except LabError:
        return False


def _reserve(client: LabClient, filters: Mapping[str, str], deadline: float) -> tuple[str, bool]:
    """Reserve and wait until the deadline: (token, allocated). Cancels the reservation when the
    wait ends any other way than allocated (a timeout, an error, an interrupt)."""
    proc = client.popen("reserve", "--wait", "--shell", *[f"{k}={v}" for k, v in sorted(filters.items())])
    token: str | None = None
    try:
        token = _read_token(proc, max(deadline, time.monotonic() + client.call_timeout_s))
        if token is None:
            raise client.failure(("reserve",), _finish(proc) or "no reservation token printed")
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _finish(proc)
            _quietly(client, "cancel-reservation", token)
            return token, False
        if proc.returncode != 0:
            raise client.failure(("reserve",), _finish(proc))
        return token, True
    except BaseException:
        _finish(proc)
        if token is not None:
            _quietly(client, "cancel-reservation", token)
        raise


def _timed_out(client: LabClient, names: list[str], wanted: str, timeout_s: float) -> LabError:
    try:
        now = [p for p in client.places(resources=False) if p.name in names]
    except LabError:
        now = []
    states = "; ".join(_described(p) for p in now) or "state unknown"
    holders = sorted({p.acquired for p in now if p.acquired})
    reason = "locked" if holders else "timeout"
    ask = f"ask {', '.join(holders)} to release it, or " if holders else ""
    return LabError(f"{wanted}: no place became free within {timeout_s:g} s ({states}); {ask}raise the "
                    f"profile's lock_timeout", reason)


def _lock_failed(client: LabClient, error: LabError, token: str) -> LabError:
    """A lock refused after the reservation was allocated: most often the place's resources are
    gone (its lab host's exporter is down)."""
    text = str(error)
    if "has no matching remote resource" not in text:
        return error
    try:
        name = next(p.name for p in client.places(resources=False) if p.reservation == token)
    except (LabError, StopIteration):
        name = "the reserved place"
    missing = text.rsplit("Match ", 1)[-1].split(" ")[0]
    return LabError(f"labgrid coordinator {client.where}: {name} cannot be locked: no running exporter "
                    f"exports {missing}; start labgrid-exporter on that lab host (or fix the place's "
                    f"matches)", "orphaned")


def acquire(client: LabClient, *, run: str, place: str | None = None, tags: Mapping[str, str] | None = None,
            timeout_s: float) -> Lease:
    """Reserve a place (by name or by tags), wait for it up to timeout_s (0: only a place free now),
    lock it and name the run in its comment. Cleans up after itself on any failure or interrupt."""
    if (place is None) == (not tags):
        raise ValueError("acquire needs exactly one of place or tags")
    started = time.monotonic()
    tags = dict(tags or {})
    found = candidates(client, client.places(resources=False), place=place, tags=tags)
    filters = {"name": found[0].name} if place is not None else tags
    wanted = f"place {found[0].name}" if place is not None else "tags " + " ".join(
        f"{k}={v}" for k, v in sorted(tags.items()))
    token, allocated = _reserve(client, filters, max(started + timeout_s, time.monotonic() + MIN_WAIT_S))
    if not allocated:
        raise _timed_out(client, [p.name for p in found], wanted, timeout_s)
    waited = time.monotonic() - started
    name = None
    try:
        try:
            out = client.call("lock", place=f"+{token}")
        except LabError as exc:
            raise _lock_failed(client, exc, token) from None
        name = out.strip().rsplit(" ", 1)[-1]
        previous = next((p.comment for p in found if p.name == name), "")
        comment = run_comment(run, token, previous)
        client.call("set-comment", "--", comment, place=name)
        shown = client.show(name)
        if shown.acquired != identity() or shown.comment != comment:
            raise LabError(f"labgrid coordinator {client.where}: place {name} was locked but then shows "
                           f"{_described(shown)}; try again", "locked")
    except BaseException:
        if name is not None:
            _quietly(client, "unlock", place=name)
        _quietly(client, "cancel-reservation", token)
        raise
    return Lease(place=name, token=token, holder=identity(), comment=comment,
                 previous_comment=original_comment(previous), coordinator=client.where.address,
                 resources=shown.resources, tags=dict(shown.tags), waited_s=waited,
                 acquire_s=time.monotonic() - started)


def held_place(client: LabClient, lease: Lease) -> Place | None:
    """The place as the coordinator shows it now (orphaned resources named) while this run holds it;
    None when the lock is no longer ours. An unreachable coordinator raises LabUnreachable."""
    try:
        shown = client.show(lease.place)
    except LabError as exc:
        if exc.reason == "unknown-place":  # deleted (or never saved before a coordinator restart)
            return None
        raise
    return shown if _ours(shown, lease) else None


def still_locked(client: LabClient, lease: Lease) -> bool:
    """Whether the place is still locked by this run (False after a coordinator restart, or when
    someone unlocked it). An unreachable coordinator raises LabUnreachable (a lost device)."""
    return held_place(client, lease) is not None


def _ours(shown: Place, lease: Lease) -> bool:
    # The comment survives a coordinator restart (places are saved) and the reservation does not,
    # so a lock taken again afterwards by the same HOST/USER is told apart by the token.
    return (shown.name == lease.place and shown.acquired == lease.holder and shown.comment == lease.comment
            and shown.reservation == lease.token)


def release(client: LabClient, lease: Lease) -> Literal["released", "lost"]:
    """Give the place back: its own comment, unlock, cancel the reservation. "lost" when the lock was
    no longer ours: then only our stale run comment is taken off (a coordinator restart keeps it)."""
    try:
        shown: Place | None = client.show(lease.place)
    except LabError as exc:
        if exc.reason != "unknown-place":
            raise
        shown = None
    ours = shown is not None and _ours(shown, lease)
    if shown is not None and shown.comment == lease.comment:
        _quietly(client, "set-comment", "--", lease.previous_comment, place=lease.place)
    if ours:
        client.call("unlock", place=lease.place)
    _quietly(client, "cancel-reservation", lease.token)
    return "released" if ours else "lost"


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Let a release finish: Ctrl-C or SIGTERM during it is held back and raised afterwards (in the
    main thread; elsewhere signals do not reach this code)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = {s: signal.signal(s, lambda n, _f: caught.append(n)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if caught:
            raise KeyboardInterrupt


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C (so `finally` releases), unless the program handles it already."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def interrupt(_n: int, _f: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def hold(client: LabClient, *, run: str, place: str | None = None, tags: Mapping[str, str] | None = None,
         timeout_s: float) -> Iterator[Lease]:
    """`with hold(...) as lease:` the place is ours inside, released on the way out whatever happens."""
    with _sigterm_interrupts():
        lease = acquire(client, run=run, place=place, tags=tags, timeout_s=timeout_s)
        try:
            yield lease
        finally:
            with signals_deferred():
                release(client, lease)


def release_place(client: LabClient, name: str) -> str:
    """`edgebench lab release PLACE`: free a place this user holds (a run that was killed leaves its
    lock behind); someone else's lock is refused with their name."""
    places = client.places(resources=False)
    found = candidates(client, places, place=name, tags={})[0]
    if not found.acquired:
        raise LabError(f"place {found.name} is not locked (nothing to release)", "client")
    me = identity()
    if found.acquired.split("/")[-1] != me.split("/")[-1]:
        raise LabError(f"place {found.name} is locked by {found.acquired}"
                       f"{' (' + found.comment + ')' if found.comment else ''}, not by you ({me}): ask them "
                       f"to release it; a lab admin can force it with labgrid-client -p {found.name} unlock --kick",
                       "locked")
    if found.comment.startswith(COMMENT_PREFIX):
        _quietly(client, "set-comment", "--", original_comment(found.comment), place=found.name)
    client.call("unlock", place=found.name)
    if found.reservation:
        _quietly(client, "cancel-reservation", found.reservation)
    note = f" ({found.comment})" if found.comment else ""
    return f"released place {found.name}, held by {found.acquired}{note}"
