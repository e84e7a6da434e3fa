"""Drive a real headless Chromium over the DevTools protocol (a small stdlib WebSocket client).

`load_page(path)` opens a local HTML file, waits for the load event, and returns what the page did:
console messages, log entries and uncaught exceptions, every network request, the results of the
JavaScript expressions asked for (evaluated after render), and a full-page PNG screenshot.
Every wait has a deadline, and Chromium is killed on the way out.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--mute-audio",
                  "--hide-scrollbars", "--remote-allow-origins=*"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"):
        path = shutil.which(name)
        if path:
            return path
    return None


class WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol: text frames, client masking, ping/close."""

    def __init__(self, url: str, timeout: float):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        if not m:
            raise ValueError(f"not a ws:// URL: {url}")
        host, port, path = m.group(1), int(m.group(2)), m.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(f"WebSocket handshake refused: {status!r}")
        self.buf = head.split(b"\r\n\r\n", 1)[1]

    def _recv_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text: str) -> None:
        payload = text.encode()
        header = bytearray([0x81])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack(">H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack(">Q", n)
        mask = os.urandom(4)
        header += mask
        self.sock.sendall(bytes(header) + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self) -> str:
        message = b""
        while True:
            b0, b1 = self._recv_exact(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            mask = self._recv_exact(4) if b1 & 0x80 else None
            data = self._recv_exact(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            if opcode == 0x9:  # ping -> pong
                continue
            message += data
            if b0 & 0x80:
                return message.decode()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


@dataclass
class PageResult:
    console: list[dict[str, Any]] = field(default_factory=list)     # Runtime.consoleAPICalled
    log: list[dict[str, Any]] = field(default_factory=list)         # Log.entryAdded
    exceptions: list[dict[str, Any]] = field(default_factory=list)  # Runtime.exceptionThrown
    requests: list[str] = field(default_factory=list)               # every URL the page asked for
    values: dict[str, Any] = field(default_factory=dict)            # evaluated expressions
    screenshot: bytes | None = None
    shots: dict[str, bytes] = field(default_factory=dict)           # element screenshots by name

    @property
    def errors(self) -> list[str]:
        out = [f"console.{c.get('type')}: {c.get('args')}" for c in self.console
               if c.get("type") in ("error", "assert")]
        out += [f"log {e.get('level')}: {e.get('text')} ({e.get('url')})" for e in self.log
                if e.get("level") == "error"]
        for e in self.exceptions:
            d = e.get("exceptionDetails", {})
            out.append(f"exception: {d.get('text')} {d.get('exception', {}).get('description', '')}".strip())
        return out


class Chromium:
    """A headless Chromium with remote debugging on a free loopback port; a context manager."""

    def __init__(self, binary: str, timeout: float = 30.0):
        self.binary = binary
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="edgebench-chromium-")
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def __enter__(self) -> Chromium:
        self.proc = subprocess.Popen(
            [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
             "--remote-debugging-address=127.0.0.1", "--window-size=1280,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        active = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-2000:] if self.proc.stderr else ""
                raise RuntimeError(f"chromium exited with {self.proc.returncode}: {err}")
            if active.exists():
                lines = active.read_text().split("\n")
                if lines and lines[0].strip().isdigit():
                    self.port = int(lines[0])
                    break
            time.sleep(0.05)
        if self.port is None:
            self.__exit__(None, None, None)
            raise TimeoutError(f"chromium did not open its DevTools port within {self.timeout:.0f}s")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def page_ws_url(self) -> str:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=5) as resp:
                targets = json.loads(resp.read().decode())
            pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.1)
        raise TimeoutError("chromium shows no page target")

    def load_page(self, path: Path, expressions: dict[str, str] | None = None,
                  screenshot: bool = True, width: int = 1280,
                  clip: tuple[int, int, int, int] | None = None, height: int = 900,
                  full_page: bool = True, shots: dict[str, str] | None = None) -> PageResult:
        """Open file://path at width x height, wait for load, evaluate the expressions, take a screenshot:
        the full page, or only the first viewport (full_page=False). `shots`: name -> CSS selector, one
        PNG of each element's box into result.shots."""
        result = PageResult()
        ws = WebSocket(self.page_ws_url(), timeout=self.timeout)
        next_id = [0]
        deadline = time.monotonic() + self.timeout

        def handle_event(msg: dict[str, Any]) -> None:
            method, params = msg.get("method"), msg.get("params", {})
            if method == "Runtime.consoleAPICalled":
                result.console.append({"type": params.get("type"),
                                       "args": [a.get("value", a.get("description")) for a in params.get("args", [])]})
            elif method == "Log.entryAdded":
                result.log.append(params.get("entry", {}))
            elif method == "Runtime.exceptionThrown":
                result.exceptions.append(params)
            elif method == "Network.requestWillBeSent":
                result.requests.append(params.get("request", {}).get("url", ""))

        def call(method: str, **params: Any) -> dict[str, Any]:
            next_id[0] += 1
            my_id = next_id[0]
            ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer to {method} within {self.timeout:.0f}s")
                msg = json.loads(ws.recv())
                if msg.get("id") == my_id:
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    return msg.get("result", {})
                handle_event(msg)

        def wait_event(name: str) -> None:
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv())
                handle_event(msg)
                if msg.get("method") == name:
                    return
            raise TimeoutError(f"no {name} within {self.timeout:.0f}s")

        try:
            for domain in ("Page", "Runtime", "Log", "Network"):
                call(f"{domain}.enable")
            call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
            call("Page.navigate", url=Path(path).resolve().as_uri())
            wait_event("Page.loadEventFired")
            for name, expr in (expressions or {}).items():
                res = call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
                if "exceptionDetails" in res:
                    raise RuntimeError(f"evaluating {name}: {res['exceptionDetails'].get('text')}")
                result.values[name] = res.get("result", {}).get("value")
            for name, selector in (shots or {}).items():
                box = call("Runtime.evaluate", returnByValue=True, expression=(
                    f"(() => {{const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
                    f" const r = e.getBoundingClientRect();"
                    f" return [r.x + scrollX, r.y + scrollY, r.width, r.height];}})()"
                )).get("result", {}).get("value")
                if box:
                    x, y, w, h = box
                    shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                clip={"x": x, "y": y, "width": w, "height": h, "scale": 1})
                    result.shots[name] = base64.b64decode(shot["data"])
            if screenshot and not full_page:
                shot = call("Page.captureScreenshot", format="png")
                result.screenshot = base64.b64decode(shot["data"])
            elif screenshot:
                metrics = call("Page.getLayoutMetrics")
                size = metrics.get("cssContentSize") or metrics.get("contentSize")
                h = int(min(size["height"], 16000))
                call("Emulation.setDeviceMetricsOverride", width=width, height=h, deviceScaleFactor=1, mobile=False)
                extra = {"clip": dict(zip(("x", "y", "width", "height"), clip), scale=1)} if clip else {}
                shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=True, **extra)
                result.screenshot = base64.b64decode(shot["data"])
            # let late console messages arrive: a harmless round trip flushes the event queue
            call("Runtime.evaluate", expression="1", returnByValue=True)
        finally:
            ws.close()
        return result
