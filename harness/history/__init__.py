"""Results over time: an SQLite store of every finished run, series per config and per twin pair,
step detection for a CI gate, and a self-contained history.html.

records.jsonl stays the source of truth; the store is an index that `edgebench history rebuild`
recreates from run folders. Heavy imports (numpy, asv) happen inside the functions that need them.
"""

from __future__ import annotations

import os
from pathlib import Path

# The exit status of `edgebench history check` when an unacknowledged step is found: the same code
# `edgebench compare` uses for a regression, one argparse's usage errors (2) never share.
EXIT_REGRESSION = 4

STORE_ENV = "EDGEBENCH_HISTORY"
STORE_FILE = "history.sqlite"


def default_store_path() -> Path:
    """$EDGEBENCH_HISTORY, else results/history.sqlite (results/ follows $EDGEBENCH_RESULTS)."""
    from ..paths import results_dir

    env = os.environ.get(STORE_ENV)
    return Path(env) if env else results_dir() / STORE_FILE


def add_run(run_dir: Path, store: Path | None = None) -> int:
    """Add one finished run folder to the store (replacing it if it was added before); the number of
    rows (config points and twin pairs) written. Raises HarnessError only: a caller at the end of
    `edgebench run` catches it and prints one line, so the history never makes a run fail."""
    import sqlite3

    from .ingest import ingest_run_dir
    from .store import HistoryError, open_store

    path = Path(store) if store else default_store_path()
    try:
        with open_store(path) as db:
            return db.add(ingest_run_dir(Path(run_dir)))
    except (sqlite3.Error, OSError) as exc:
        raise HistoryError(f"{path}: could not add {run_dir} to the history ({exc}); the run itself is "
                           "complete: add it later with `edgebench history add`") from exc


__all__ = ["EXIT_REGRESSION", "STORE_ENV", "add_run", "default_store_path"]
