"""The history store: SQLite (standard library) in WAL mode, so one process writes while others read.

Schema changelog (bump SCHEMA_VERSION and add a step to UPGRADES):
  1: runs, devices, points (latency per config, speedup per twin pair), acks.
A store written by a newer edgebench is refused with one line, never guessed at.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import HarnessError
from .ingest import Ingested

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 60_000

SCHEMA_1 = """
CREATE TABLE runs (
    run_key TEXT PRIMARY KEY, run_id TEXT NOT NULL, created_at TEXT NOT NULL, git_commit TEXT,
    git_branch TEXT, edgebench_version TEXT, source TEXT, records INTEGER, added_at TEXT
);
CREATE TABLE devices (fingerprint TEXT PRIMARY KEY, name TEXT, identity TEXT NOT NULL);
CREATE TABLE points (
    run_key TEXT NOT NULL REFERENCES runs(run_key) ON DELETE CASCADE, series TEXT NOT NULL,
    kind TEXT NOT NULL, device TEXT NOT NULL, device_fp TEXT NOT NULL, segment TEXT NOT NULL,
    value REAL NOT NULL, lo REAL, hi REAL, n INTEGER, trials INTEGER, config TEXT NOT NULL,
    PRIMARY KEY (run_key, series)
);
CREATE INDEX points_series ON points(series);
CREATE TABLE acks (step_id TEXT PRIMARY KEY, series TEXT NOT NULL, run_key TEXT NOT NULL,
                   note TEXT, acked_at TEXT NOT NULL);
"""

# version reached -> the step that brings a store from version-1 to it
UPGRADES: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: lambda con: _script(con, SCHEMA_1),
}


def _script(con: sqlite3.Connection, script: str) -> None:
    """Statements one by one: executescript() would commit the upgrade's transaction half way."""
    for statement in script.split(";"):
        if statement.strip():
            con.execute(statement)


class HistoryError(HarnessError):
    """The history store cannot be opened, or holds something this edgebench cannot read."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Store:
    """One open store. Writes run in `BEGIN IMMEDIATE` transactions: concurrent writers queue."""

    def __init__(self, path: Path, con: sqlite3.Connection):
        self.path = path
        self.con = con

    # writing -------------------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        self.con.execute("BEGIN IMMEDIATE")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def add(self, ingested: Ingested) -> int:
        """Insert (or replace) one run and its points; the number of points written."""
        with self.write() as con:
            self._insert(con, ingested)
        return len(ingested.points)

    def add_many(self, items: list[Ingested]) -> int:
        with self.write() as con:
            for item in items:
                self._insert(con, item)
        return sum(len(i.points) for i in items)

    def _insert(self, con: sqlite3.Connection, ing: Ingested) -> None:
        run = ing.run
        con.execute("DELETE FROM points WHERE run_key = ?", (run["run_key"],))
        con.execute(
            "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?)",
            (run["run_key"], run["run_id"], run["created_at"], run.get("git_commit"), run.get("git_branch"),
             run.get("edgebench_version"), run.get("source"), run.get("records"), _now()))
        con.executemany("INSERT OR REPLACE INTO devices VALUES (?,?,?)",
                        [(fp, ident.get("name"), json.dumps(ident, sort_keys=True))
                         for fp, ident in ing.devices.items()])
        con.executemany(
            "INSERT INTO points VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [(p["run_key"], p["series"], p["kind"], p["device"], p["device_fp"], p["segment"], p["value"],
              p["lo"], p["hi"], p["n"], p["trials"], json.dumps(p["config"], sort_keys=True, default=str))
             for p in ing.points])

    def clear_runs(self) -> None:
        """Drop every run, device and point (acknowledgements stay: they are the users' decisions)."""
        with self.write() as con:
            con.execute("DELETE FROM points")
            con.execute("DELETE FROM runs")
            con.execute("DELETE FROM devices")

    def ack(self, step_id: str, series: str, run_key: str, note: str | None) -> None:
        with self.write() as con:
            con.execute("INSERT OR REPLACE INTO acks VALUES (?,?,?,?,?)", (step_id, series, run_key, note, _now()))

    # reading -------------------------------------------------------------------------------
    def acked(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT step_id FROM acks")}

    def counts(self) -> dict[str, int]:
        return {t: self.con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("runs", "devices", "points", "acks")}

    def points(self, last: int | None = None, device: str | None = None, model: str | None = None,
               since: str | None = None) -> list[dict[str, Any]]:
        """Points joined with their run, oldest first within each series; `last` keeps each series'
        newest N runs, `since` the runs created at or after that time."""
        where, args = [], []
        if device:
            where.append("p.device = ?")
            args.append(device)
        if model:
            where.append("(p.series LIKE ? OR json_extract(p.config, '$.family') = ?)")
            args += [f"%/{model}%", model]
        if since:
            where.append("r.created_at >= ?")
            args.append(since)
        cond = ("WHERE " + " AND ".join(where)) if where else ""
        sql = f"""
            SELECT * FROM (
              SELECT p.series, p.kind, p.device, p.device_fp, p.segment, p.value, p.lo, p.hi, p.n,
                     p.trials, p.config, r.run_key, r.run_id, r.created_at, r.git_commit, r.git_branch,
                     r.edgebench_version,
                     ROW_NUMBER() OVER (PARTITION BY p.series ORDER BY r.created_at DESC, r.run_key DESC) AS age
              FROM points p JOIN runs r ON r.run_key = p.run_key {cond})
            {"WHERE age <= ?" if last else ""}
            ORDER BY series, created_at, run_key"""
        if last:
            args.append(last)
        cur = self.con.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur]

    def find_run(self, ref: str) -> dict[str, Any] | None:
        """A run by its key, id or (a prefix of) its git commit; the newest when several match."""
        cur = self.con.execute(
            "SELECT run_key, run_id, created_at, git_commit FROM runs WHERE run_key = ? OR run_id = ? "
            "OR git_commit LIKE ? ORDER BY created_at DESC LIMIT 1", (ref, ref, f"{ref}%"))
        row = cur.fetchone()
        return dict(zip(("run_key", "run_id", "created_at", "git_commit"), row)) if row else None

    def rows(self) -> dict[str, list[tuple]]:
        """Every stored row except the time it was added: what a rebuild must reproduce."""
        return {
            "runs": self.con.execute("SELECT run_key, run_id, created_at, git_commit, git_branch, "
                                     "edgebench_version, source, records FROM runs ORDER BY run_key").fetchall(),
            "devices": self.con.execute("SELECT * FROM devices ORDER BY fingerprint").fetchall(),
            "points": self.con.execute("SELECT * FROM points ORDER BY run_key, series").fetchall(),
        }

    def close(self) -> None:
        self.con.close()


def _migrate(con: sqlite3.Connection, path: Path) -> None:
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise HistoryError(f"{path}: history schema {version} is newer than this edgebench understands "
                           f"({SCHEMA_VERSION}); upgrade edgebench, or give another store with --store")
    if version == SCHEMA_VERSION:
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
        for step in range(version + 1, SCHEMA_VERSION + 1):
            UPGRADES[step](con)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


@contextmanager
def open_store(path: Path, create: bool = True) -> Iterator[Store]:
    """Open (and create or upgrade) a store; a missing store is an error unless `create`."""
    path = Path(path)
    if not path.exists():
        if not create:
            raise HistoryError(f"{path}: no history store here; add runs with `edgebench history add RUN_DIR` "
                               "or point --store (or EDGEBENCH_HISTORY) at one")
        path.parent.mkdir(parents=True, exist_ok=True)
    con = None
    try:
        con = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA foreign_keys = ON")
        _migrate(con, path)
    except BaseException as exc:
        if con is not None:
            con.close()
        if not isinstance(exc, sqlite3.DatabaseError):
            raise
        raise HistoryError(f"{path}: not a readable history store ({exc}); move it aside and run "
                           "`edgebench history rebuild`") from exc
    store = Store(path, con)
    try:
        yield store
    finally:
        store.close()
