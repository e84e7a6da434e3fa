"""The Device every transport is (local, qemu, ssh, adb), the result of one command on it, and the
record of a device's running child processes (so interrupt() can kill them from any thread).

The orchestrator is typed against `Device`. A subclass supplies the transport's primitives
(`run`, `push`, `pull`) and what only it knows (`probe`, `prepare`, `check`); the job protocol
itself lives once in devices/execute.py. `run` never throws the exit code away: it returns a
CommandResult, and `raise_for_status()` turns a failed one into a DeviceError showing the
command, the exit code and the tail of its output.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DeviceError
from ..util import tail


@dataclass(frozen=True)
class CommandResult:
    """One command on a device: its argv, exit code (None: killed at the timeout) and output."""

    argv: tuple[str, ...]
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def raise_for_status(self, device: str) -> CommandResult:
        """Self when the command succeeded; else a DeviceError naming the device and the command."""
        if self.timed_out:
            raise DeviceError(
                f"{device}: command timed out after {self.duration_s:.0f}s: {shlex.join(self.argv)}"
            )
        if self.returncode != 0:
            raise DeviceError(
                f"{device}: command failed (exit {self.returncode}): {shlex.join(self.argv)}\n"
                f"{tail(self.stderr.strip() or self.stdout.strip())}"
            )
        return self


class Device(ABC):
    """A place where the runner runs, built from a profile's [device] table (see registry.py).
    Paths on the device are strings (they may not exist on this machine)."""

    name: str
    kind: str
    emulated: bool = False
    cpu: str | None = None  # the emulated CPU (qemu), else None
    # shared by devices on the same physical CPUs (execution/fleet.py): their jobs take turns
    host_lock: threading.Lock | None = None
    run_id: str | None = None  # the run it serves (set by the fleet; a lab lock's comment names it)
    # the runner can time both twins of a pair in one process (mode "pair"); a native tool cannot
    pair_jobs: bool = True

    # what the orchestrator calls ------------------------------------------------------------
    @abstractmethod
    def probe(self) -> dict[str, Any]:
        """Arch, CPU, cores, RAM, OS, Python and runtime versions, governor, temperature..."""

    @abstractmethod
    def prepare(self, files: Sequence[Path]) -> dict[str, str]:
        """Make the runner and these local files available (uploads skipped by sha256);
        return local path -> device path."""

    @abstractmethod
    def execute(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run one job in a fresh runner process: the runner's result dict, or a failure result
        (execute.failure). Raises DeviceLost when the connection is lost, another HarnessError
        when the device cannot run jobs at all."""

    @abstractmethod
    def check(self, runtimes: Sequence[str] = ("onnxruntime", "tflite")) -> list[str]:
        """What the device lacks to run these runtimes, each with its fix; [] when ready."""

    @abstractmethod
    def interrupt(self) -> None:
        """Ctrl-C / SIGTERM: kill everything this device started, here and on the device.
        Safe to call twice and from another thread."""

    @abstractmethod
    def close(self) -> None:
        """Release what the device holds (scratch folders, a workdir with cleanup = true)."""

    def before_job(self) -> None:
        """Called right before each job: raise DeviceLost (retried) or DeviceWithdrawn (its jobs are
        skipped) when the device may not run it now, e.g. a lab place whose lock is gone."""
        return None  # most devices may always run the next job

    def record_extra(self) -> dict[str, Any]:
        """Keys every record of this device carries besides the job's own (a lab place, its lock)."""
        return {}

    def sysfs(self, sudo: bool = False, su: bool = False) -> Any:
        """The device's /sys for [conditions] (a harness.conditions.sysfs.SysfsAccess: cooldown,
        governor, energy), or None where the kind has none of its own (qemu). By default `cat` and
        `sh` through run() (ssh), behind `sudo -n` where asked; local and adb have their own."""
        from ..conditions.sysfs import CommandSysfs

        return CommandSysfs(self.run, getattr(self, "label", None) or self.name, sudo=sudo)

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the transport's primitives --------------------------------------------------------------
    @abstractmethod
    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        """Run argv (a list, never a shell string) with a timeout; a timeout is a result."""

    @abstractmethod
    def push(self, local: Path, remote: str) -> None: ...

    @abstractmethod
    def pull(self, remote: str, local: Path) -> None: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Children:
    """The running children of one owner (a device), so interrupt() can kill them from any thread."""

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(proc)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self) -> int:
        """Kill every child still running (its whole process group); safe to call twice."""
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            kill_group(proc)
        return len(procs)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group `proc` leads; the process alone when it leads none."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
