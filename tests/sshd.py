"""A real OpenSSH sshd on 127.0.0.1 for tests: its own host key, one authorized client key, a free port.

    with Sshd(tmp_path) as server:
        SshDevice(server.profile(workdir=str(tmp_path / "wd")))
        server.stop()      # the device goes away mid-test (open sessions are cut too)
        server.start()     # and comes back on the same port with the same keys

The client side is the system `ssh` with BatchMode, IdentitiesOnly and a known_hosts file that holds
the server's key as `[127.0.0.1]:PORT`, so nothing here reads or writes the user's ~/.ssh.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

SSHD = "/usr/sbin/sshd"  # sshd refuses to start unless called by its absolute path
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


def need(tool: str) -> str:
    """The tool's path; a missing tool fails the test under CI=true and skips it elsewhere."""
    import pytest

    path = tool if os.path.isabs(tool) and os.access(tool, os.X_OK) else shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (Debian: apt-get install openssh-server openssh-client)"
        (pytest.fail if os.environ.get("CI") else pytest.skip)(message)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path: Path, comment: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, timeout=30, stdin=subprocess.DEVNULL)
    return path


class Sshd:
    """One sshd child process; `stop()` kills it and every session it spawned."""

    host = "127.0.0.1"

    def __init__(self, root: Path, port: int | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.user = getpass.getuser()
        self.port = port or free_port()
        self.host_key = keygen(self.root / "ssh_host_ed25519_key", "edgebench-test-host")
        self.client_key = keygen(self.root / "client_ed25519", "edgebench-test-client")
        self.other_key = keygen(self.root / "stranger_ed25519", "edgebench-test-stranger")
        self.authorized_keys = self.root / "authorized_keys"
        self.authorized_keys.write_text((self.root / "client_ed25519.pub").read_text())
        self.known_hosts = self.root / "known_hosts"
        self.config = self.root / "sshd_config"
        self.log = self.root / "sshd.log"
        self.proc: subprocess.Popen | None = None
        self._log_fh = None
        self._write_files()

    def _write_files(self) -> None:
        host_pub = (self.root / "ssh_host_ed25519_key.pub").read_text().split()
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.config.write_text("\n".join([
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PidFile none",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin yes",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PrintMotd no",
            "PrintLastLog no",
            "MaxStartups 64:30:128",
            "MaxSessions 32",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            "",
        ]))

    # lifecycle -----------------------------------------------------------------------------------
    def start(self) -> Sshd:
        if self.running:
            return self
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
        for attempt in range(3):
            self._log_fh = open(self.log, "ab")
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=self._log_fh, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            if self._wait_listening():
                return self
            self.stop()
            text = self.log.read_text(errors="replace")
            if "Address already in use" in text and attempt < 2:
                self.port = free_port()  # lost the race for the port: take another
                self._write_files()
                continue
            raise RuntimeError(f"sshd did not start on port {self.port}:\n{text[-2000:]}")
        raise RuntimeError("sshd did not start")  # pragma: no cover

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Kill sshd and all its session processes (as if the device lost power)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            victims = _descendants(proc.pid)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for pid in victims:  # sessions that left the group (setsid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def __enter__(self) -> Sshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # client side ---------------------------------------------------------------------------------
    def ssh_options(self, key: Path | None = None) -> list[str]:
        """`-o` values for a profile's ssh_options (the client needs no ~/.ssh)."""
        return [
            "IdentitiesOnly=yes",
            f"IdentityFile={key or self.client_key}",
            f"UserKnownHostsFile={self.known_hosts}",
            "StrictHostKeyChecking=yes",
            "GlobalKnownHostsFile=/dev/null",
        ]

    def profile(self, **overrides: Any) -> dict[str, Any]:
        """A [device] table for SshDevice (or make_device)."""
        table: dict[str, Any] = {
            "name": "loopback-pi",
            "kind": "ssh",
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "ssh_options": self.ssh_options(),
            "connect_timeout": 5,
        }
        table.update(overrides)
        return table

    def ssh(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a command with the plain ssh client (for assertions that bypass the harness)."""
        argv = ["ssh", "-T", "-F", "/dev/null", "-o", "BatchMode=yes", "-p", str(self.port),
                "-l", self.user]
        for option in self.ssh_options():
            argv += ["-o", option]
        argv += ["--", self.host, *command]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, check=False)


def _descendants(pid: int) -> list[int]:
    """Child processes of pid, recursively, read from /proc (no third-party packages)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out
