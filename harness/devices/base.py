"""The one small device interface every transport implements (local, ssh, adb, qemu).

`run` never throws the exit code away: it returns a CommandResult; `check()` turns a non-zero exit
into a DeviceError that shows the command, the exit code and the tail of stderr.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from collections.abc import Sequence

from ..errors import DeviceError

STDERR_TAIL_CHARS = 2000


def tail(text: str, limit: int = STDERR_TAIL_CHARS) -> str:
    text = text or ""
    return text if len(text) <= limit else "..." + text[-limit:]


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def check(self, device: str) -> CommandResult:
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


@runtime_checkable
class Device(Protocol):
    """A place where the runner runs. Paths on the device are strings (they may not be local)."""

    name: str
    kind: str

    def probe(self) -> dict[str, Any]:
        """Arch, CPU, cores, RAM, OS, Python and runtime versions, governor, temperature..."""

    def prepare(self, files: Sequence[Path]) -> dict[str, str]:
        """Make the runner bundle and these local files available; return local path -> device path."""

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        """Run argv (a list, never a shell string) with a timeout."""

    def push(self, local: Path, remote: str) -> None: ...

    def pull(self, remote: str, local: Path) -> None: ...

    def close(self) -> None: ...
