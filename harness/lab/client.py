"""Talking to a labgrid coordinator through `labgrid-client` subprocesses.

Why subprocesses: labgrid allows one client session per process (a second one in the same process
is refused), while edgebench drives several devices from one process; `labgrid-client` is labgrid's
documented interface (the commands the README tells people to type), each call is isolated and can
be killed at its timeout, and its messages reach the user unchanged. One call costs about 0.3 s,
nearly all of it Python importing labgrid and gRPC, which a helper process on the Python API pays
too. Every call has a timeout, and runs in its own session so a Ctrl-C at the terminal does not kill
an unlock half-way (the caller decides what an interrupt means).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeviceError, DeviceLost
from .parse import Place, combine, parse_places, parse_resources, parse_show

DEFAULT_COORDINATOR = "127.0.0.1:20408"  # labgrid's own default
CALL_TIMEOUT_S = 30.0
INSTALL_HINT = "install the lab extra: pip install 'edgebench[lab]' (labgrid 26)"


class LabError(DeviceError):
    """The lab refused or failed a request. `reason`: unreachable | unknown-place | no-match |
    timeout | locked | orphaned | not-installed | client."""

    def __init__(self, message: str, reason: str = "client"):
        super().__init__(message)
        self.reason = reason


class LabUnreachable(LabError, DeviceLost):
    """The coordinator did not answer: the lab (or the network to it) is down; worth a retry."""

    def __init__(self, message: str):
        super().__init__(message, "unreachable")


@dataclass(frozen=True)
class Coordinator:
    """Where the coordinator is and where that setting came from (named in every error)."""

    address: str
    origin: str

    def __str__(self) -> str:
        return f"{self.address} (from {self.origin})"


def coordinator(configured: str | None = None, origin: str = "--coordinator") -> Coordinator:
    """The address to use: the configured one (a profile key, a flag), else LG_COORDINATOR, else
    labgrid's default 127.0.0.1:20408."""
    if configured:
        return Coordinator(configured, origin)
    env = os.environ.get("LG_COORDINATOR")
    if env:
        return Coordinator(env, "LG_COORDINATOR")
    return Coordinator(DEFAULT_COORDINATOR, "labgrid's default; set LG_COORDINATOR or the profile's coordinator")


def identity() -> str:
    """The lock holder labgrid records for this process: HOST/USER (LG_HOSTNAME, LG_USERNAME win)."""
    host = os.environ.get("LG_HOSTNAME") or socket.gethostname()
    user = os.environ.get("LG_USERNAME") or getpass.getuser()
    return f"{host}/{user}"


def client_path() -> str:
    """labgrid-client beside this Python (a venv need not be on PATH), else on PATH."""
    here = Path(sys.executable).parent / "labgrid-client"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("labgrid-client")
    if found is None:
        raise LabError(f"labgrid-client not found (looked beside {sys.executable} and on PATH): {INSTALL_HINT}",
                       "not-installed")
    return found


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


class LabClient:
    """One coordinator, reached with `labgrid-client -x ADDRESS ...` per call."""

    def __init__(self, where: Coordinator, *, call_timeout_s: float = CALL_TIMEOUT_S):
        self.where = where
        self.call_timeout_s = call_timeout_s
        self.program = client_path()
        self.calls = 0  # labgrid-client processes started (for logs and tests)

    def argv(self, *args: str, place: str | None = None) -> list[str]:
        head = [self.program, "-x", self.where.address]
        return head + (["-p", place] if place else []) + list(args)

    def env(self) -> dict[str, str]:
        # labgrid-client reads LG_PLACE/LG_TOKEN/LG_ENV: never let the user's shell pick the place.
        drop = ("LG_PLACE", "PLACE", "LG_TOKEN", "LG_ENV", "LG_STATE", "LG_INITIAL_STATE")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def popen(self, *args: str, place: str | None = None) -> subprocess.Popen:
        """A long call (reserve --wait) the caller waits for, with its own deadline."""
        self.calls += 1
        return subprocess.Popen(self.argv(*args, place=place), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env(), start_new_session=True)

    def call(self, *args: str, place: str | None = None, timeout_s: float | None = None) -> str:
        """Run one labgrid-client command; its stdout, or a LabError naming what failed."""
        timeout_s = self.call_timeout_s if timeout_s is None else timeout_s
        self.calls += 1
        try:
            proc = subprocess.run(self.argv(*args, place=place), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout_s,
                                  env=self.env(), start_new_session=True, check=False)
        except subprocess.TimeoutExpired:
            raise LabUnreachable(f"labgrid coordinator {self.where}: `labgrid-client {args[0]}` got no "
                                 f"answer within {timeout_s:g} s; check that the coordinator runs and "
                                 f"is reachable from this host") from None
        if proc.returncode != 0:
            raise self.failure(args, proc.stderr + proc.stdout)
        return proc.stdout

    def failure(self, args: tuple[str, ...], output: str) -> LabError:
        if "Could not connect to coordinator" in output or "coordinator is unavailable" in output:
            return LabUnreachable(f"labgrid coordinator {self.where} cannot be reached: start "
                                  f"labgrid-coordinator there or fix the address")
        line = _last_line(output).removeprefix("labgrid-client: ").removeprefix("Error: ")
        if "matches nothing" in line:
            return LabError(f"labgrid coordinator {self.where}: {line}", "unknown-place")
        return LabError(f"labgrid coordinator {self.where}: `labgrid-client {' '.join(args)}` failed: {line}")

    # reading state ---------------------------------------------------------------------------
    def places(self, *, resources: bool = True) -> list[Place]:
        """Every place and its state; with `resources` (a second call) also what each holds or
        matches, orphaned and unmatched ones named."""
        places = parse_places(self.call("-v", "places"))
        if not resources:
            return places
        return combine(places, parse_resources(self.call("-v", "-v", "resources")))

    def show(self, name: str) -> Place:
        """One place and the resources it holds (or, free, matches), orphaned ones named."""
        return parse_show(self.call("show", place=name))
