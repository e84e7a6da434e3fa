"""Small helpers every room uses: file hashing, atomic writes, text tables, tails of long output.

Nothing here imports anything heavy (numpy, pandas, runtimes): the CLI and the device threads use it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

TAIL_CHARS = 2000


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (a 100 MB model never sits in memory whole)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def not_a_regular_file(path: Path | str, what: str) -> str | None:
    """Why `path` cannot be read as a file (missing, a folder, a FIFO, a device such as /dev/zero
    behind a symlink), or None when it is a regular file. Checked before opening, so a check never
    hangs on a FIFO or reads an endless device."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"{path}: {what} not found ({exc.strerror or exc})"
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else \
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
        return f"{path}: {what} is {kind}, not a regular file; give the path of the file itself"
    return None


def read_head(path: Path | str, size: int) -> bytes:
    """The first `size` bytes of a file (a format check needs no more)."""
    with open(path, "rb") as fh:
        return fh.read(size)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write via a temp file beside `path`, fsync, then rename: a reader (or a kill at any moment)
    sees the old file or the new one, never half of one. The temp file is removed if the write fails."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path | str, obj: Any, default: Any = None) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=default) + "\n")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (starting with = + - @, tab or CR) gets a
    leading single quote (OWASP's advice); numbers, and text that is a number ("-1.5"), stay as they are."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def csv_safe(df: Any) -> Any:
    """A copy of a DataFrame whose text cells are neutralised for spreadsheets (csv_safe_cell)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    out = df.copy()
    for col in out.columns:
        if not is_numeric_dtype(out[col]) and not is_bool_dtype(out[col]):
            out[col] = out[col].map(csv_safe_cell)
    return out


def tail(text: str | None, limit: int = TAIL_CHARS) -> str:
    """The last `limit` characters of a long output, marked with '...' when cut."""
    text = text or ""
    return text if len(text) <= limit else "..." + text[-limit:]


def shorten(text: str, limit: int = TAIL_CHARS, head: int = 300) -> str:
    """A long message cut in the middle: its head (what failed) and its tail (the last output)."""
    return text if len(text) <= limit else text[:head] + " ... " + text[-(limit - head):]


def text_table(header: Sequence[str], rows: Iterable[Sequence[Any]], right: Iterable[int] = (),
               rule: bool = True) -> str:
    """Fixed-width text: columns padded to their widest cell, those in `right` right-aligned,
    a rule of dashes under the header."""
    table = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    right = set(right)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
             .rstrip() for row in table]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def unknown_key_hint(key: str, allowed: Sequence[str]) -> str:
    """The end of an 'unknown key' line: the closest allowed key, or the list of them (in the order
    given)."""
    import difflib

    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f"; allowed: {', '.join(allowed)}"


def json_or_none(text: str | None) -> Any:
    """The JSON value of `text`; None when it is empty or not JSON (a file a killed process left)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


@contextlib.contextmanager
def deferred_signals(signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[list[int]]:
    """While a run stops (killing jobs on the devices, closing them, marking run.json), a second Ctrl-C
    or SIGTERM must not cut the cleanup short: such signals are held in the yielded list instead of
    raising. Outside the main thread (where handlers cannot be set) it does nothing."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    old = {sig: signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in signals}
    try:
        yield held
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def finite_or_none(v: Any) -> float | None:
    """A number as a float, or None for None, NaN or anything that is not a number (a CSV/pandas cell)."""
    import math

    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def plain_cell(v: Any) -> Any:
    """pandas turns None into NaN and ints into floats in mixed columns: undo both (for joining rows)."""
    import math

    if isinstance(v, float):
        if math.isnan(v):
            return None
        if v.is_integer():
            return int(v)
    return v
