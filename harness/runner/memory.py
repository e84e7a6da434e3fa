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


BUFFER_ALIGNMENT = 64  # bytes: a cache line; where a buffer starts inside a line is then the same in every process


def aligned_empty(shape, dtype, alignment: int = BUFFER_ALIGNMENT):
    """An uninitialised C-contiguous array whose data starts on an `alignment`-byte boundary, so a
    fresh process never lands its inputs or outputs at an unlucky offset by chance."""
    import numpy as np

    dtype = np.dtype(dtype)
    count = 1
    for d in shape:
        count *= int(d)
    raw = np.empty(count * dtype.itemsize + alignment, dtype=np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset:offset + count * dtype.itemsize].view(dtype).reshape(tuple(int(d) for d in shape))


def aligned_copy(x, dtype=None):
    """x (cast to dtype) in an aligned buffer of its own."""
    import numpy as np

    x = np.asarray(x)
    out = aligned_empty(x.shape, dtype or x.dtype)
    out[...] = x
    return out


def current_cpu() -> int | None:
    """The CPU this process last ran on (field 39 of /proc/self/stat), None where unknown."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            stat = fh.read()
        return int(stat.rsplit(")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return None


def placement(buffers) -> dict:
    """Where this process ran and where its buffers lie (page offsets): the facts that can decide
    which speed state a fresh process lands in, recorded so a state can be traced to one of them."""
    return {"cpu": current_cpu(), "buffer_alignment_bytes": BUFFER_ALIGNMENT,
            "buffer_page_offsets": [int(b.ctypes.data % 4096) for b in buffers]}
