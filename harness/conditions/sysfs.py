"""Reading and writing sysfs files on this host or on a device, behind one small interface.

Governor control, cooldown and energy sampling only need three operations on /sys; the same code
then works on this host (plain files; `root` points tests at a fake tree), over ssh (an argv runner,
with `sudo -n` where the profile asks) and on a rooted phone (`su -c`). Failures are OSError
subclasses either way (PermissionError, FileNotFoundError), so callers handle one family.
Commands are built from argument lists and quoted; a value never becomes part of a shell string
unquoted.
"""

from __future__ import annotations

import errno
import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import DeviceError

# argv, timeout -> an object with returncode, stdout, stderr, timed_out (devices.base.CommandResult).
Runner = Callable[[Sequence[str], float], Any]

SYSFS_TIMEOUT_S = 20.0
# printf writes the value exactly (no trailing newline, no escapes interpreted: %s); the value and
# the path arrive as positional parameters, never pasted into the script.
WRITE_SCRIPT = 'printf %s "$1" > "$2"'


class ConditionError(DeviceError):
    """A device condition the profile requires (governor, frequency range) cannot be set."""


@runtime_checkable
class SysfsAccess(Protocol):
    """Read, write and list sysfs paths (absolute device paths such as /sys/class/thermal)."""

    label: str

    def read_text(self, path: str) -> str: ...

    def write_text(self, path: str, text: str) -> None: ...

    def list_dir(self, path: str) -> list[str]: ...


class LocalSysfs:
    """This host's files; `root` is prefixed to every path (tests build a sysfs-shaped tree there)."""

    def __init__(self, root: str | os.PathLike[str] = "", label: str = "local") -> None:
        self.root = os.fspath(root).rstrip("/")
        self.label = label

    def _host(self, path: str) -> str:
        return self.root + "/" + path.lstrip("/") if self.root else path

    def read_text(self, path: str) -> str:
        with open(self._host(path), encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def write_text(self, path: str, text: str) -> None:
        # One write() without O_CREAT, as `echo > attr` does: a missing attribute stays
        # FileNotFoundError, sysfs ignores O_TRUNC, and a fake tree's file is replaced whole.
        fd = os.open(self._host(path), os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, text.encode("utf-8"))
        finally:
            os.close(fd)

    def list_dir(self, path: str) -> list[str]:
        return sorted(os.listdir(self._host(path)))


class CommandSysfs:
    """sysfs on a device reached through a runner (ssh or adb `run(argv, timeout)`).

    `sudo=True` prefixes `sudo -n` (never prompts: a missing NOPASSWD rule is an error, not a hang).
    """

    def __init__(self, run: Runner, label: str, *, sudo: bool = False,
                 timeout: float = SYSFS_TIMEOUT_S) -> None:
        self._run = run
        self.label = label
        self.sudo = sudo
        self.timeout = timeout

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """The argv actually sent: the command itself, behind `sudo -n` where asked."""
        return (["sudo", "-n", "--"] if self.sudo else []) + [str(a) for a in argv]

    def _call(self, argv: Sequence[str], path: str) -> str:
        res = self._run(self.wrap(argv), self.timeout)
        if getattr(res, "timed_out", False):
            raise TimeoutError(errno.ETIMEDOUT, f"{self.label}: no answer within {self.timeout:.0f} s", path)
        if res.returncode != 0:
            raise command_oserror(res.returncode, (res.stderr or "") + (res.stdout or ""), path, self.label)
        return res.stdout

    def read_text(self, path: str) -> str:
        return self._call(["cat", path], path)

    def write_text(self, path: str, text: str) -> None:
        self._call(["sh", "-c", WRITE_SCRIPT, "sh", text, path], path)

    def list_dir(self, path: str) -> list[str]:
        return sorted(line for line in self._call(["ls", "-1", path], path).splitlines() if line)


class AndroidRootSysfs(CommandSysfs):
    """sysfs on a rooted phone: each command runs as `su -c '<quoted argv>'` through adb.

    `su -c` takes one command line that the phone's shell parses again, so the inner argv is quoted
    with shlex.join; the transport quotes the outer argv once more for adb's own shell.
    """

    def __init__(self, run: Runner, label: str, *, timeout: float = SYSFS_TIMEOUT_S) -> None:
        super().__init__(run, label, sudo=False, timeout=timeout)

    def wrap(self, argv: Sequence[str]) -> list[str]:
        return ["su", "-c", shlex.join(str(a) for a in argv)]


def command_oserror(returncode: int | None, output: str, path: str, label: str) -> OSError:
    """A failed remote command as the OSError a local open() would have raised."""
    text = " ".join(output.split())[-300:] or f"exit {returncode}"
    low = text.lower()
    if "permission denied" in low or "operation not permitted" in low or "a password is required" in low \
            or "not allowed" in low or "not in the sudoers" in low:
        return PermissionError(errno.EACCES, f"{label}: {text}", path)
    if "no such file" in low or "not found" in low:
        return FileNotFoundError(errno.ENOENT, f"{label}: {text}", path)
    if "invalid argument" in low:
        return OSError(errno.EINVAL, f"{label}: {text}", path)
    return OSError(errno.EIO, f"{label}: {text}", path)


def why(exc: OSError) -> str:
    """A short reason for one line of output: 'permission denied', 'missing', or the message."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "missing"
    if exc.errno == errno.EINVAL:
        return "the kernel refused the value (invalid argument)"
    return exc.strerror or str(exc)


def read_int(sysfs: SysfsAccess, path: str) -> int | None:
    """An integer attribute, or None when it is absent, unreadable or not a number."""
    try:
        return int(sysfs.read_text(path).strip())
    except (OSError, ValueError):
        return None


def read_str(sysfs: SysfsAccess, path: str) -> str | None:
    try:
        return sysfs.read_text(path).strip()
    except OSError:
        return None


def list_or_empty(sysfs: SysfsAccess, path: str) -> list[str]:
    try:
        return sysfs.list_dir(path)
    except OSError:
        return []


@dataclass(frozen=True)
class LocalResult:
    """What local_run gives back: the fields CommandSysfs reads (as devices.base.CommandResult has)."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool = False


def local_run(argv: Sequence[str], timeout: float) -> LocalResult:
    """A runner for this host (used with `sudo -n` when the local profile asks for it)."""
    import subprocess

    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return LocalResult(None, "", "", timed_out=True)
    except OSError as exc:
        return LocalResult(127, "", f"{argv[0]}: {exc.strerror}")
    return LocalResult(proc.returncode, proc.stdout, proc.stderr)
