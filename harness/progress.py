"""A progress line with an ETA on stderr: redrawn in place on a terminal, a line per step otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def _fmt(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """Counts finished jobs (and failed ones) for the run's device threads; safe to share between them."""

    def __init__(self, total: int, what: str = "jobs", stream: TextIO | None = None,
                 min_interval_s: float = 5.0) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.what = what
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.monotonic()
        self.min_interval_s = min_interval_s
        self._last = 0.0
        self._lock = threading.Lock()

    def eta(self) -> float | None:
        if self.done == 0:
            return None
        elapsed = time.monotonic() - self.start
        return elapsed / self.done * (self.total - self.done)

    def step(self, label: str, ok: bool = True) -> None:
        with self._lock:
            self.done += 1
            self.failed += 0 if ok else 1
            now = time.monotonic()
            last = self.done == self.total
            if not (self.tty or last or not ok or now - self._last >= self.min_interval_s):
                return
            self._last = now
            width = 24
            filled = int(width * self.done / max(1, self.total))
            bar = "#" * filled + "." * (width - filled)
            eta = self.eta()
            eta_s = f"ETA {_fmt(eta)}" if eta is not None and not last else f"took {_fmt(now - self.start)}"
            fail = f", {self.failed} failed" if self.failed else ""
            line = f"[{bar}] {self.done}/{self.total} {self.what}{fail}  {eta_s}  {label}"
            if self.tty:
                self.stream.write("\r\033[K" + line[:160] + ("\n" if last else ""))
            else:
                self.stream.write(line + "\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        """A line of its own (secrets redacted: the console ends up in CI logs)."""
        from .execution.secrets import scrub

        text = scrub(text)
        with self._lock:
            self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
            self.stream.flush()
