"""The ssh connection: the system OpenSSH client, one quoted remote command per call.

Using `ssh` itself (not a Python SSH library) means an alias from ~/.ssh/config, an agent, a jump host
or a ControlMaster the user already set up just work. Every call is `ssh -T -o BatchMode=yes -o
ConnectTimeout=N ... -- HOST 'ONE QUOTED COMMAND'` with a subprocess timeout. The remote command is a
fixed `sh -c` script whose data (paths, python, limits) arrive as positional arguments joined with
shlex.join, so nothing from a profile or a file name is ever read as shell code by the device.
"""

from __future__ import annotations

import io
import math
import re
import shlex
import subprocess
import time
from collections.abc import Sequence
from typing import Any

from ...errors import DeviceError, DeviceLost, DeviceUnusable
from ..base import Children, CommandResult
from ..config import SshConfig


class SshError(DeviceError):
    """ssh itself failed. `reason`: unreachable | auth | hostkey | timeout (no answer within the
    connect timeout) | lost (mid-command) | command-timeout (a call ran past its limit) | client."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class SshLost(SshError, DeviceLost):
    """The device stopped answering (unreachable, lost mid-command, timed out): a retry may help."""


class SshUnusable(SshError, DeviceUnusable):
    """ssh answers but refuses us (authentication, host key): it repeats until someone fixes it."""


LOST_REASONS = ("unreachable", "timeout", "lost", "command-timeout")
UNUSABLE_REASONS = ("auth", "hostkey")


def ssh_error(message: str, reason: str) -> SshError:
    cls = SshLost if reason in LOST_REASONS else SshUnusable if reason in UNUSABLE_REASONS else SshError
    return cls(message, reason)


class SshTransport:
    """Calls on one device over ssh; every call's client process can be killed by kill_calls()."""

    def __init__(self, config: SshConfig) -> None:
        self.config = config
        self.host = config.host
        self.name = config.name
        self.user = config.user
        self.port = config.port
        self.identity = config.identity
        self.ssh_config = config.ssh_config
        self.ssh_options = config.ssh_options
        self.connect_timeout = config.connect_timeout
        self._calls = Children()

    @property
    def destination(self) -> str:
        dest = f"{self.user}@{self.host}" if self.user else self.host
        return f"{dest}:{self.port}" if self.port else dest

    @property
    def label(self) -> str:
        """How errors name the device: 'rpi4 (pi@192.168.1.20)'."""
        return f"{self.name} ({self.destination})" if self.name != self.host else self.destination

    def ssh_hint(self) -> str:
        parts = ["ssh"]
        if self.ssh_config:
            parts += ["-F", self.ssh_config]
        if self.port:
            parts += ["-p", str(self.port)]
        if self.identity:
            parts += ["-i", self.identity]
        parts.append(f"{self.user}@{self.host}" if self.user else self.host)
        return shlex.join(parts)

    def _copy_id_hint(self) -> str:
        parts = ["ssh-copy-id"] + (["-p", str(self.port)] if self.port else [])
        return shlex.join(parts + [f"{self.user}@{self.host}" if self.user else self.host])

    def ssh_argv(self, remote_command: str) -> list[str]:
        """The local argv: options first (BatchMode forced, the profile's next so they win over our
        defaults), then `--`, the host and the one remote command string."""
        argv = ["ssh", "-T"]
        if self.ssh_config:
            argv += ["-F", self.ssh_config]
        argv += ["-o", "BatchMode=yes"]
        for option in self.ssh_options:
            argv += ["-o", option]
        argv += ["-o", f"ConnectTimeout={max(1, math.ceil(self.connect_timeout))}",
                 "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3"]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.identity:
            argv += ["-i", self.identity]
        if self.user:
            argv += ["-l", self.user]
        return argv + ["--", self.host, remote_command]

    def call(self, script: str, args: Sequence[str], timeout: float, *, what: str,
             stdin: bytes | io.BufferedReader | None = None, stdout_file: Any = None) -> CommandResult:
        """Run `sh -c SCRIPT edgebench ARGS...` on the device. Raises SshError when ssh itself fails
        (exit 255 with a known message) or the call exceeds `timeout`."""
        remote = shlex.join(["sh", "-c", script, "edgebench", *[str(a) for a in args]])
        return self._ssh(remote, timeout, what=what, stdin=stdin, stdout_file=stdout_file)

    def kill_calls(self) -> None:
        """Kill every ssh client of this device still running (Ctrl-C); safe from any thread."""
        self._calls.kill_all()

    def _ssh(self, remote: str, timeout: float, *, what: str, stdin: Any = None,
             stdout_file: Any = None) -> CommandResult:
        argv = self.ssh_argv(remote)
        start = time.monotonic()
        data = stdin if isinstance(stdin, bytes) else None
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE if data is not None else (stdin or subprocess.DEVNULL),
                stdout=stdout_file if stdout_file is not None else subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            raise ssh_error(f"{self.label}: the OpenSSH client `ssh` is not installed on this machine; "
                            "install it (Debian/Ubuntu: apt-get install openssh-client)", "client") from None
        self._calls.add(proc)
        try:
            out, err = proc.communicate(input=data, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise ssh_error(f"{self.label}: {what} took longer than {timeout:.0f}s; check the device "
                            f"and the network (try `{self.ssh_hint()} true`)", "command-timeout") from None
        except BaseException:  # Ctrl-C: never leave an ssh client behind
            proc.kill()
            proc.communicate()
            raise
        finally:
            self._calls.discard(proc)
        result = CommandResult(
            argv=tuple(argv), returncode=proc.returncode,
            stdout=(out or b"").decode("utf-8", "replace"),
            stderr=(err or b"").decode("utf-8", "replace"),
            duration_s=time.monotonic() - start,
        )
        if result.returncode == 255:
            error = self.transport_error(result.stderr)
            if error is not None:
                raise error
        return result

    def transport_error(self, stderr: str) -> SshError | None:
        """Turn ssh's own failure (exit 255) into an error naming the device and the fix."""
        text = stderr or ""
        last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
        hint = self.ssh_hint()
        if "Permission denied (" in text or "Too many authentication failures" in text:
            methods = re.search(r"Permission denied \(([^)]*)\)", text)
            return ssh_error(
                f"{self.label}: authentication refused ({methods.group(1) if methods else 'too many keys tried'}); "
                f"add your key with `{self._copy_id_hint()}` or set identity = "
                "\"~/.ssh/id_ed25519\" in the profile (check with `" + hint + "`)", "auth")
        if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
            return ssh_error(
                f"{self.label}: the device's host key is unknown or changed; connect once by hand with "
                f"`{hint}` to check and accept it (or fix ~/.ssh/known_hosts)", "hostkey")
        if re.search(r"Could not resolve hostname|Name or service not known|"
                     r"Temporary failure in name resolution|nodename nor servname", text):
            return ssh_error(
                f"{self.label}: unknown host name {self.host!r}; fix host in the profile or add a Host "
                "entry for it to ~/.ssh/config", "unreachable")
        if re.search(r"Connection timed out|Operation timed out|timed out during banner exchange", text):
            return ssh_error(
                f"{self.label}: no answer within {self.connect_timeout:g}s; check that the device is "
                "on and on this network, or raise connect_timeout in the profile", "timeout")
        if re.search(r"Connection refused|No route to host|Network is unreachable|Connection reset|"
                     r"kex_exchange_identification|Connection closed by", text):
            return ssh_error(
                f"{self.label}: cannot connect ({last}); check that the device is on and that sshd "
                f"listens on port {self.port or 22} (try `{hint}`)", "unreachable")
        if re.search(r"closed by remote host|Broken pipe|Timeout, server .* not responding|"
                     r"client_loop: send disconnect", text):
            return ssh_error(f"{self.label}: connection lost ({last}); the device went away "
                             "mid-command (power, network or reboot)", "lost")
        return None
