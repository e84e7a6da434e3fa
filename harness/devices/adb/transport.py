"""The adb connection: the system `adb` command, so a USB phone, `adb connect` and a remote adb
server (-H/-P) all work as users already have them.

Every call is an argument list with a timeout; commands for the phone's shell are built with
shlex.quote, never pasted. The exit code of a remote command comes from the shell v2 protocol (what
every adbd since Android 7 speaks); on older phones the command echoes its status in a marker line.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from ...errors import DeviceError, DeviceLost, DeviceUnusable
from ...util import tail
from ..base import Children, CommandResult
from ..config import ADB_DEFAULT_WORKDIR, AdbConfig

COMMAND_TIMEOUT_S = 60.0  # any adb call that is not a job or a transfer
MIN_TRANSFER_BYTES_PER_S = 2e6  # USB 2 manages far more; slower means something is wrong
RC_MARKER = "__edgebench_rc="
# adb's own complaints that mean the phone went away mid-run (worth a retry, see DeviceLost).
_LOST = ("device offline", "no devices/emulators found", "not found", "device still", "closed",
         "protocol fault", "connection reset")


class AdbTransport:
    """Calls on one phone through adb; every adb client still running can be killed by kill_calls()."""

    def __init__(self, config: AdbConfig, adb: str) -> None:
        self.config = config
        self.name = config.name
        self.serial = config.serial
        self.adb = adb
        self._features: set[str] | None = None
        self._connected = False
        self._calls = Children()

    @property
    def label(self) -> str:
        serial = self.serial or "(only device)"
        return self.name if self.name == serial else f"{self.name} (adb {serial})"

    def _server(self) -> str:
        return f"{self.config.adb_host or 'localhost'}:{self.config.adb_port or 5037}"

    def _argv(self, args: Sequence[str]) -> list[str]:
        argv = [self.adb]
        if self.config.adb_host:
            argv += ["-H", self.config.adb_host]
        if self.config.adb_port:
            argv += ["-P", str(self.config.adb_port)]
        if self.serial:
            argv += ["-s", self.serial]
        return argv + list(args)

    def _adb(self, args: Sequence[str], timeout: float) -> CommandResult:
        argv = tuple(self._argv(args))
        start = time.monotonic()
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise DeviceError(f"{self.label}: adb not found at {self.adb}: install Android platform-tools "
                              f"or set [device] adb") from None
        self._calls.add(proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return CommandResult(argv, None, _text(out), _text(err), time.monotonic() - start, timed_out=True)
        except BaseException:  # Ctrl-C: never leave an adb client behind
            proc.kill()
            proc.communicate()
            raise
        finally:
            self._calls.discard(proc)
        return CommandResult(argv, proc.returncode, _text(out), _text(err), time.monotonic() - start)

    def kill_calls(self) -> None:
        """Kill every adb client of this device still running (Ctrl-C); safe from any thread."""
        self._calls.kill_all()

    def _adb_error(self, text: str) -> DeviceError | None:
        """adb's own error messages as an error that says what to do. Once the phone was reached,
        losing it is DeviceLost (the run retries, then records the rest as skipped)."""
        cls = DeviceLost if self._connected and any(p in text for p in _LOST) else DeviceUnusable
        if "unauthorized" in text:  # repeats until someone accepts the prompt on the phone
            return DeviceUnusable(f"{self.label} is unauthorized: unlock the phone and accept the 'Allow USB "
                               f"debugging' prompt for this computer (adb devices shows 'unauthorized' "
                               f"until then), then retry")
        if "device offline" in text:
            return cls(f"{self.label} is offline: reconnect the cable (or run `adb reconnect`) until "
                       f"`adb devices` lists it as 'device'")
        if "no devices/emulators found" in text or "no devices found" in text:
            return cls(f"{self.label}: no Android device is connected to the adb server at {self._server()}: "
                       f"plug the phone in with USB debugging on (see `adb devices`)")
        if m := re.search(r"device '([^']*)' not found", text):
            return cls(f"{self.label}: the adb server at {self._server()} has no device {m.group(1)!r}: "
                       f"check [device] serial (or ANDROID_SERIAL) against `adb devices`")
        if "more than one device" in text:
            return DeviceError(f"{self.label}: several devices are connected: set [device] serial (or "
                               f"ANDROID_SERIAL) to one listed by `adb devices`")
        if "cannot connect to daemon" in text or "failed to start daemon" in text \
                or "Connection refused" in text:
            return cls(f"{self.label}: cannot reach the adb server at {self._server()}: start it there "
                       f"(`adb start-server`) or fix [device] adb_host / adb_port")
        if self._connected and any(p in text for p in ("error: closed", "protocol fault")):
            return DeviceLost(f"{self.label}: the adb connection dropped ({tail(text.strip(), 200)})")
        return None

    def connect(self) -> None:
        """Check the phone is there and authorized (and learn its serial) before anything else."""
        if self._connected:
            return
        res = self._adb(["get-state" if self.serial else "get-serialno"], COMMAND_TIMEOUT_S)
        out = (res.stdout + res.stderr).strip()
        if res.timed_out:
            raise DeviceError(f"{self.label}: adb did not answer within {COMMAND_TIMEOUT_S:.0f}s; check "
                              f"`adb devices` and the USB connection")
        err = self._adb_error(out)
        if err is not None:
            raise err
        if res.returncode != 0:
            raise DeviceError(f"{self.label}: adb failed (exit {res.returncode}): {tail(out, 500)}")
        if not self.serial:
            self.serial = res.stdout.strip()
            res = self._adb(["get-state"], COMMAND_TIMEOUT_S)
        state = res.stdout.strip()
        if state != "device":
            raise self._adb_error(f"device {state}") or DeviceError(
                f"{self.label} is in state {state!r}, not 'device': wait until it has booted, then retry")
        self._connected = True

    def features(self) -> set[str]:
        """What the phone's adbd offers (shell_v2 gives exit codes; older phones lack it)."""
        if self._features is None:
            self.connect()
            res = self._adb(["features"], COMMAND_TIMEOUT_S)
            self._features = set(res.stdout.split()) if res.ok else set()
        return self._features

    def shell(self, command: str, timeout: float) -> CommandResult:
        """Run one shell command line (already quoted) on the phone; the exit code is the remote one."""
        self.connect()
        v2 = "shell_v2" in self.features()
        line = command if v2 else f"{command}; echo {RC_MARKER}$?"
        res = self._adb(["shell", line], timeout)
        if res.timed_out:
            return res
        if res.returncode != 0 and not res.stdout.strip() and re.match(r"^(adb: )?error: ", res.stderr):
            err = self._adb_error(res.stderr)
            if err is not None:
                raise err
        if v2:
            return res
        out = res.stdout.replace("\r\n", "\n")
        m = re.search(re.escape(RC_MARKER) + r"(\d+)\s*$", out)
        if m is None:
            raise self._adb_error(out + res.stderr) or DeviceLost(
                f"{self.label}: the shell ended before the command finished: {tail(out + res.stderr, 500)}")
        return CommandResult(res.argv, int(m.group(1)), out[: m.start()], res.stderr, res.duration_s)

    def run(self, argv: Sequence[str], timeout: float, cwd: str | None = None) -> CommandResult:
        """Run argv (a list, quoted here) on the phone, optionally in a folder there."""
        command = shlex.join([str(a) for a in argv])
        if cwd:
            command = f"cd {shlex.quote(cwd)} && {command}"
        return self.shell(command, timeout)

    def remote_hashes(self, paths: Sequence[str]) -> dict[str, str]:
        """sha256 of files already on the phone; missing files are absent from the answer."""
        found: dict[str, str] = {}
        batch: list[str] = []

        def flush() -> None:
            if batch:
                res = self.run(["sha256sum", "--", *batch], COMMAND_TIMEOUT_S)
                for line in res.stdout.splitlines():
                    parts = line.strip().split(None, 1)
                    if len(parts) == 2 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
                        found[parts[1].lstrip("*")] = parts[0]
                batch.clear()

        for path in paths:
            batch.append(path)
            if sum(len(p) + 3 for p in batch) > 3000:  # old adbd takes at most 4 kB per request
                flush()
        flush()
        return found

    def _push_one(self, local: Path, remote: str) -> None:
        timeout = COMMAND_TIMEOUT_S + local.stat().st_size / MIN_TRANSFER_BYTES_PER_S
        # adb pushes a symlink as a link: send the file it points to
        res = self._adb(["push", str(local.resolve()), remote], timeout)
        if res.ok:
            return
        out = (res.stdout + res.stderr).strip()
        if res.timed_out:
            raise DeviceLost(f"{self.label}: pushing {local.name} took longer than {timeout:.0f}s; check "
                             f"the USB connection")
        if "No space left" in out:
            raise DeviceUnusable(f"{self.label}: no space left on the phone for {remote}: free some space "
                              f"(`adb shell df {posixpath.dirname(remote)}`) or set [device] workdir to a "
                              f"folder on a bigger partition")
        if "Read-only file system" in out or "Permission denied" in out:
            raise DeviceUnusable(f"{self.label}: cannot write {remote} ({reason_of(out)}): set [device] workdir "
                              f"to a writable folder such as {ADB_DEFAULT_WORKDIR}")
        raise self._adb_error(out) or DeviceError(
            f"{self.label}: adb push {local} {remote} failed (exit {res.returncode}): {tail(out, 800)}")

    def pull(self, remote: str, local: Path) -> None:
        self.connect()
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        res = self._adb(["pull", remote, str(local)], COMMAND_TIMEOUT_S * 5)
        if not res.ok:
            out = (res.stdout + res.stderr).strip()
            raise self._adb_error(out) or DeviceError(
                f"{self.label}: adb pull {remote} failed (exit {res.returncode}): {tail(out, 800)}")


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def reason_of(output: str) -> str:
    """The phrase in a failed command's output that says why (for one-line errors)."""
    for phrase in ("Read-only file system", "Permission denied", "No such file or directory",
                   "Not a directory", "not found"):
        if phrase in output:
            return phrase
    return tail(output.strip(), 200) or "unknown error"
