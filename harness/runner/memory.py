"""Process memory from /proc (Linux, Android), with a resource.getrusage fallback elsewhere."""

from __future__ import annotations

import os
import sys


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes() -> int | None:
    """Current resident set size."""
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb * 1024
    return peak_rss_bytes()


def peak_rss_bytes() -> int | None:
    """High-water mark of the resident set size of this process."""
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError):
        return None
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def set_affinity(cores: list[int] | None) -> list[int] | None:
    """Pin this process (and the runtime threads it will start) to the given cores."""
    if cores:
        os.sched_setaffinity(0, set(int(c) for c in cores))
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return None
