"""The history store: SQLite (standard library) in WAL mode, so one process writes while others read.

Schema changelog (bump SCHEMA_VERSION and add a step to UPGRADES):
  1: runs, devices, configs (each config's JSON once), points (latency per config, speedup per twin
     pair), acks.
A store written by a newer edgebench is refused with one line, never guessed at.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
    rid INTEGER PRIMARY KEY, run_key TEXT NOT NULL UNIQUE, run_id TEXT NOT NULL, created_at TEXT NOT NULL,
    git_commit TEXT, git_branch TEXT, edgebench_version TEXT, source TEXT, records INTEGER, added_at TEXT
);
CREATE INDEX runs_created ON runs(created_at);
CREATE TABLE devices (fingerprint TEXT PRIMARY KEY, name TEXT, identity TEXT NOT NULL);
CREATE TABLE series (sid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, device TEXT NOT NULL);
CREATE TABLE configs (
    cid INTEGER PRIMARY KEY, config_key TEXT NOT NULL UNIQUE, segment TEXT NOT NULL, device_fp TEXT NOT NULL,
    config TEXT NOT NULL
);
CREATE TABLE points (
    sid INTEGER NOT NULL REFERENCES series(sid), rid INTEGER NOT NULL REFERENCES runs(rid),
    cid INTEGER NOT NULL REFERENCES configs(cid), value REAL NOT NULL, lo REAL, hi REAL, n INTEGER,
    trials INTEGER, PRIMARY KEY (sid, rid)
) WITHOUT ROWID;
CREATE INDEX points_run ON points(rid);
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

    def _id(self, con: sqlite3.Connection, table: str, key_col: str, key: str, row: tuple) -> int:
        """The integer id of a series or config, inserting it the first time it is seen."""
        found = con.execute(f"SELECT * FROM {table} WHERE {key_col} = ?", (key,)).fetchone()
        if found:
            return found[0]
        marks = ",".join("?" * (len(row) + 1))
        return con.execute(f"INSERT INTO {table} VALUES ({marks})", (None, *row)).lastrowid

    def _insert(self, con: sqlite3.Connection, ing: Ingested) -> None:
        run = ing.run
        old = con.execute("SELECT rid FROM runs WHERE run_key = ?", (run["run_key"],)).fetchone()
        if old:
            con.execute("DELETE FROM points WHERE rid = ?", old)
            con.execute("DELETE FROM runs WHERE rid = ?", old)
        rid = con.execute(
            "INSERT INTO runs VALUES (NULL,?,?,?,?,?,?,?,?,?)",
            (run["run_key"], run["run_id"], run["created_at"], run.get("git_commit"), run.get("git_branch"),
             run.get("edgebench_version"), run.get("source"), run.get("records"), _now())).lastrowid
        con.executemany("INSERT OR REPLACE INTO devices VALUES (?,?,?)",
                        [(fp, ident.get("name"), json.dumps(ident, sort_keys=True))
                         for fp, ident in ing.devices.items()])
        rows = []
        for p in ing.points:
            sid = self._id(con, "series", "name", p["series"], (p["series"], p["kind"], p["device"]))
            text = json.dumps(p["config"], sort_keys=True, default=str)
            key = hashlib.sha256(f"{p['segment']}\0{p['device_fp']}\0{text}".encode()).hexdigest()[:16]
            cid = self._id(con, "configs", "config_key", key, (key, p["segment"], p["device_fp"], text))
            rows.append((sid, rid, cid, p["value"], p["lo"], p["hi"], p["n"], p["trials"]))
        con.executemany("INSERT INTO points VALUES (?,?,?,?,?,?,?,?)", rows)

    def clear_runs(self) -> None:
        """Drop every run, device and point (acknowledgements stay: they are the users' decisions)."""
        with self.write() as con:
            con.execute("DELETE FROM points")
            con.execute("DELETE FROM runs")
            for table in ("devices", "series", "configs"):
                con.execute(f"DELETE FROM {table}")

    def ack(self, step_id: str, series: str, run_key: str, note: str | None) -> None:
        with self.write() as con:
            con.execute("INSERT OR REPLACE INTO acks VALUES (?,?,?,?,?)", (step_id, series, run_key, note, _now()))

    # reading -------------------------------------------------------------------------------
    def acked(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT step_id FROM acks")}

    def counts(self) -> dict[str, int]:
        return {t: self.con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("runs", "devices", "series", "configs", "points", "acks")}

    def points(self, last: int | None = None, device: str | None = None, model: str | None = None,
               since: str | None = None) -> list[dict[str, Any]]:
        """Points joined with their run, oldest first within each series; `last` keeps each series'
        newest N runs, `since` the runs created at or after that time."""
        where, args = [], []
        if device:
            where.append("s.device = ?")
            args.append(device)
        if model:
            where.append("(s.name LIKE ? OR json_extract(c.config, '$.family') = ?)")
            args += [f"%/{model}%", model]
        if since:
            where.append("r.created_at >= ?")
            args.append(since)
        cond = ("WHERE " + " AND ".join(where)) if where else ""
        sql = f"""
            SELECT * FROM (
              SELECT s.name AS series, s.kind, s.device, c.device_fp, c.segment, p.value, p.lo, p.hi, p.n,
                     p.trials, c.config, r.run_key, r.run_id, r.created_at, r.git_commit, r.git_branch,
                     r.edgebench_version,
                     ROW_NUMBER() OVER (PARTITION BY p.sid ORDER BY r.created_at DESC, r.run_key DESC) AS age
              FROM points p JOIN runs r ON r.rid = p.rid JOIN series s ON s.sid = p.sid
                            JOIN configs c ON c.cid = p.cid {cond})
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
        """Every stored row by content (names, not integer ids; not the time it was added): what a
        rebuild must reproduce."""
        q = self.con.execute
        return {
            "runs": q("SELECT run_key, run_id, created_at, git_commit, git_branch, edgebench_version, source, "
                      "records FROM runs ORDER BY run_key").fetchall(),
            "devices": q("SELECT * FROM devices ORDER BY fingerprint").fetchall(),
            "points": q("SELECT r.run_key, s.name, s.kind, s.device, c.config_key, c.segment, c.device_fp, "
                        "c.config, p.value, p.lo, p.hi, p.n, p.trials FROM points p JOIN runs r ON r.rid = p.rid "
                        "JOIN series s ON s.sid = p.sid JOIN configs c ON c.cid = p.cid "
                        "ORDER BY r.run_key, s.name").fetchall(),
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


def _retry_busy(step, deadline_s: float = BUSY_TIMEOUT_MS / 1000):
    """Run one step, again while another process holds the lock: switching a new file to WAL and
    creating the schema take a lock that SQLite's busy handler does not always wait for."""
    import time

    end = time.monotonic() + deadline_s
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > end:
                raise
            time.sleep(0.05)


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
        _retry_busy(lambda: con.execute("PRAGMA journal_mode = WAL"))
        con.execute("PRAGMA foreign_keys = ON")
        _retry_busy(lambda: _migrate(con, path))
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
