"""The history store at scale: time and peak memory of `edgebench history add`, `check` and `show`
on a store of N runs x M configs (generated rows inserted through the store API), and the store's
size per run.

Each command runs in a fresh process (its peak RSS read from wait4); the store is built once.
Configs come in twin pairs, so each run holds M latency points and M/2 speedup points.

    python benchmarks/history_scale.py                     # 10,000 runs x 50 configs
    python benchmarks/history_scale.py --runs 1000         # a quicker look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib as B

from harness.history.ingest import Ingested, pair_points, short_hash
from harness.history.store import open_store
from harness.records import Status

MB = 2**20


def generated_run(i: int, configs: int, start: dt.datetime, rng: random.Random) -> Ingested:
    """One run's rows: `configs` latency points (twin pairs) and their speedups, with 1% noise, and a
    +8% step in the first config for the newest 10 runs (what `check --last 20` must find)."""
    created = (start + dt.timedelta(minutes=30 * i)).isoformat()
    run = {"run_key": short_hash(["gen", i]), "run_id": f"gen-{i:05d}", "created_at": created,
           "git_commit": f"{i:040x}", "git_branch": "main", "edgebench_version": "0.1.0", "source": "generated",
           "records": configs * 2}
    ident = {"name": "board", "cpu_model": "Cortex-A72", "cpu_cores": 4, "emulated": False}
    fp = short_hash(ident)
    points = []
    for c in range(configs):
        family, twin = f"fam{c // 2}", ("separable", "standard")[c % 2]
        base = 1e6 * (1 + c // 2) * (3.0 if twin == "standard" else 1.0)
        step = 1.08 if c == 0 and i >= RUNS - 10 else 1.0
        v = base * step * (1 + rng.gauss(0, 0.01))
        config = {"model_sha256": short_hash([family, twin]), "runtime": "onnxruntime", "runtime_version": "1.32.0",
                  "precision": "fp32", "threads": 1, "cores": 4, "xnnpack": None, "delegate": None,
                  "runtime_impl": "onnxruntime", "model": f"{family}-{twin}", "family": family, "twin": twin}
        points.append({"run_key": run["run_key"], "series": f"board/{family}-{twin}/onnxruntime/fp32/t1",
                       "kind": "latency", "device": "board", "device_fp": fp, "segment": short_hash([fp, config]),
                       "value": v, "lo": v * 0.99, "hi": v * 1.01, "n": 300, "trials": 2, "config": config,
                       "device_ident": ident})
    points += pair_points(points, run["run_key"])
    return Ingested(run=run, points=points, devices={fp: ident})


RUNS = 10_000


def build_store(path: Path, runs: int, configs: int) -> float:
    rng = random.Random(7)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    t0 = time.perf_counter()
    with open_store(path) as db:
        for lo in range(0, runs, 500):
            db.add_many([generated_run(i, configs, start, rng) for i in range(lo, min(lo + 500, runs))])
        db.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - t0


def run_folder(folder: Path, configs: int) -> Path:
    """A run folder shaped like `edgebench run` writes it: 2 trials x 300 latencies per config."""
    folder.mkdir(parents=True)
    rng = random.Random(3)
    with open(folder / "records.jsonl", "w") as fh:
        for c in range(configs):
            family, twin = f"fam{c // 2}", ("separable", "standard")[c % 2]
            for trial in range(2):
                rec = {"status": Status.OK.value, "mode": "perf", "device": "board", "trial": trial, "family": family,
                       "twin": twin, "model": f"{family}-{twin}", "runtime": "onnxruntime",
                       "runtime_impl": "onnxruntime", "runtime_version": "1.32.0", "precision": "fp32",
                       "threads": 1, "xnnpack": None, "model_sha256": short_hash([family, twin]),
                       "config_id": f"board/{family}-{twin}/onnxruntime/fp32/t1", "affinity": [0, 1, 2, 3],
                       "latency_ns": [int(1e6 * (1 + c // 2) * (1 + rng.gauss(0, 0.02))) for _ in range(300)]}
                fh.write(json.dumps(rec) + "\n")
    meta = {"run_id": "new-run", "created_at": "2099-01-01T00:00:00+00:00", "git_commit": "f" * 40,
            "edgebench_version": "0.1.0", "devices": {"board": {"cpu_model": "Cortex-A72", "cpu_cores": 4}}}
    (folder / "run.json").write_text(json.dumps(meta))
    return folder


CHILD = """
import argparse, sys
sys.path.insert(0, {repo!r})
from harness.commands import history
p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command"); history.add_parser(sub)
a = p.parse_args(sys.argv[1:]); rc = a.func(a); sys.exit(0 if rc in (0, 2) else rc)
"""


def timed(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MB) of one `history` command in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(repo=str(B.REPO)), "history", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"history {args[0]} failed ({proc.returncode}):\n{out[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out


def main() -> None:
    global RUNS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--configs", type=int, default=50, help="configs per run (an even number: twin pairs)")
    args = ap.parse_args()
    RUNS = args.runs
    with tempfile.TemporaryDirectory(prefix="history-scale-") as tmp:
        store = Path(tmp) / "history.sqlite"
        build_s = build_store(store, args.runs, args.configs)
        size = store.stat().st_size
        folder = run_folder(Path(tmp) / "new-run", args.configs)
        rows = []
        for name, cmd in (("add (one run folder)", ["add", str(folder)]),
                          ("check (last 20, window 200)", ["check"]),
                          ("show (last 100) + history.html", ["show", "--html", str(Path(tmp) / "h.html")])):
            wall, rss, out = timed([*cmd, "--store", str(store)])
            rows.append([name, f"{wall:.2f}", f"{rss:.0f}"])
            if name.startswith("check"):
                found = sum(1 for line in out.splitlines() if "gen-" in line and "%" in line)
                rows[-1].append(f"{found} step(s) found")
        print(B.table(["command", "wall s", "peak RSS MB", "note"], [r + [""] * (4 - len(r)) for r in rows],
                      title=f"history at {args.runs:,} runs x {args.configs} configs "
                            f"({args.runs * args.configs * 3 // 2:,} points; {B.load_text()})"))
        print(f"\nstore: {size / MB:.1f} MB for {args.runs:,} runs = {size / args.runs / 1024:.1f} KiB per run "
              f"({size / (args.runs * args.configs * 3 // 2):.0f} bytes per point); built in {build_s:.1f} s "
              f"through Store.add_many")


if __name__ == "__main__":
    main()
