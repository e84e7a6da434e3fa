"""A real labgrid lab on 127.0.0.1 for tests: a coordinator and an exporter as child processes on
free ports, and places made with the real labgrid-client.

    with Coordinator(tmp_path / "coord") as coord, Exporter(coord, tmp_path / "exp", groups) as exp:
        coord.client("-p", "pi-1", "create")
        exp.stop()      # the lab host dies: the places' resources become orphaned
        exp.start()     # and comes back
        coord.restart() # every lock and reservation is dropped; exporters must reconnect

The tools come from the `lab` extra (labgrid 26): missing, the tests fail under CI=true and skip
elsewhere.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 20.0
CALL_TIMEOUT_S = 30.0


def lab_tool(name: str) -> str:
    """Path of a labgrid program (beside this Python first: the venv need not be on PATH)."""
    import pytest

    here = Path(sys.executable).parent / name
    path = str(here) if here.is_file() else shutil.which(name)
    if path is None:
        message = f"{name} is not installed: pip install -e '.[lab]' (tox installs it)"
        (pytest.fail if os.environ.get("CI") else pytest.skip)(message)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Child:
    """A labgrid daemon: started in its own process group, its output in a log file."""

    ready = ""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.log = self.root / f"{type(self).__name__.lower()}.log"
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> _Child:
        if self.running:
            return self
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(self.argv(), cwd=self.root, stdin=subprocess.DEVNULL, stdout=fh,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.ready in self.log.read_text(errors="replace")[offset:]:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        text = self.log.read_text(errors="replace")[offset:]
        self.stop()
        raise RuntimeError(f"{self.argv()} did not get ready:\n{text[-3000:]}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Kill it (SIGKILL: as if its host lost power)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Coordinator(_Child):
    """labgrid-coordinator on 127.0.0.1:PORT; it keeps its places in ROOT/places.yaml."""

    ready = "Coordinator ready"

    def __init__(self, root: Path):
        super().__init__(root)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [lab_tool("labgrid-coordinator"), "-l", self.address]

    def restart(self) -> None:
        """Stop and start again on the same port, once its places are saved (it saves them a moment
        after each change, not on exit)."""
        names = [line.split("'")[1] for line in self.client("-v", "places").stdout.splitlines()
                 if line.startswith("Place '")]
        saved = self.root / "places.yaml"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = saved.read_text() if saved.exists() else ""
            if all(f"\n{name}:" in "\n" + text for name in names):
                break
            time.sleep(0.2)
        self.stop(signal.SIGTERM)
        self.start()

    def client(self, *args: str, check: bool = True, env: dict[str, str] | None = None,
               timeout: float = CALL_TIMEOUT_S) -> subprocess.CompletedProcess:
        """The real labgrid-client against this coordinator."""
        proc = subprocess.run([lab_tool("labgrid-client"), "-x", self.address, *args], capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, **(env or {})},
                              stdin=subprocess.DEVNULL, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"labgrid-client {' '.join(args)}: {proc.stderr}{proc.stdout}")
        return proc

    def add_place(self, name: str, *matches: str, tags: dict[str, str] | None = None) -> None:
        self.client("-p", name, "create")
        if matches:
            self.client("-p", name, "add-match", *matches)
        if tags:
            self.client("-p", name, "set-tags", *[f"{k}={v}" for k, v in tags.items()])


class Exporter(_Child):
    """labgrid-exporter NAME exporting `groups` ({group: {ResourceClass: params}})."""

    ready = "Exporter ready"

    def __init__(self, coordinator: Coordinator, root: Path, groups: dict[str, dict[str, Any]],
                 name: str = "labhost"):
        super().__init__(root)
        self.coordinator = coordinator
        self.name = name
        self.config = self.root / "exports.yaml"
        self.config.write_text(_yaml(groups))

    def argv(self) -> list[str]:
        return [lab_tool("labgrid-exporter"), "--name", self.name, "-c", self.coordinator.address,
                str(self.config)]


def network_service(port: int, username: str, address: str = "127.0.0.1") -> dict[str, Any]:
    return {"NetworkService": {"address": address, "username": username, "port": port}}


def _yaml(groups: dict[str, dict[str, Any]]) -> str:
    """Just enough YAML for an exporter config (groups -> classes -> scalar params)."""
    lines = []
    for group, resources in groups.items():
        lines.append(f"{group}:")
        for cls, params in resources.items():
            lines.append(f"  {cls}:")
            for key, value in params.items():
                lines.append(f"    {key}: {value!r}" if isinstance(value, str) else f"    {key}: {value}")
    return "\n".join(lines) + "\n"
