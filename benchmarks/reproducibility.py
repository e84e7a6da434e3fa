"""Ratio reproducibility: the digits pair's speedup (standard over separable, 1 thread, fp32, under ONNX
Runtime and under LiteRT) from separate invocations, in batches, and how far apart they land.

  edgebench   `edgebench run devices/local.toml --models digits --precisions fp32 --threads 1 --modes perf`:
              trials interleaved across the four configs (each a fresh process), the profile's stopping
              rules (per job and per pair), and pairs.csv's `speedup`: the fast-state headline
              (harness/states.py) with its 95% interval.
  naive       as TFLite's benchmark_model is used: one config after the other, each once, a warm-up of
              1 run and 0.5 s, then fixed 50 runs and at least 1 s; speedup = ratio of the two medians.
              (The real runner does the timing, so only the method differs.)

Each batch runs `--invocations` of each method, alternating (edgebench, naive, edgebench, ...) so both
see the same machine; spread = max / min - 1 of a batch's invocations. Goal: edgebench within 2% on a
quiet machine and within 5% at load up to ~2 (`--busy 1`: one spinning process beside the benchmark
for the whole run, a load of ~2 on two cores). The machine (from the probe) and the load are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import benchlib as B


RUNTIMES = {"onnxruntime": "onnx", "tflite": "tflite"}
NAIVE_WARMUP = (1, 0.5)
NAIVE_MEASURE = {"min_runs": 50, "min_time_s": 1.0, "max_time_s": 150.0, "target_rel_ci": None}


def ours(tmp: Path, name: str, profile: str, trials: int | None) -> tuple[dict[str, Any], float]:
    extra = ["--trials", str(trials)] if trials else []
    wall, _ = B.run_cli(["run", profile, "--models", "digits", "--runtimes", ",".join(RUNTIMES),
                         "--precisions", "fp32", "--threads", "1", "--modes", "perf", "--out", str(tmp),
                         "--run-id", name, *extra], timeout=1800)
    import pandas as pd

    pairs = pd.read_csv(tmp / name / "pairs.csv")
    out = {}
    for rt in RUNTIMES:
        p = pairs[pairs.runtime == rt].iloc[0]
        jobs = int(p.pair_jobs) if "pair_jobs" in p and p.pair_jobs == p.pair_jobs else 0
        out[rt] = (float(p.speedup), _num(p.speedup_ci_low), _num(p.speedup_ci_high),
                   f"{int(p.trials_separable)}/{int(p.trials_standard)} trials + {jobs} pair jobs",
                   float(p.separable_median_ms) * 1e3, float(p.standard_median_ms) * 1e3)
    return out, wall


def _num(v: Any) -> float | None:
    return None if v != v else float(v)


def naive(runner: B.Runner) -> tuple[dict[str, Any], float]:
    import time

    out = {}
    t0 = time.monotonic()
    for rt, fmt in RUNTIMES.items():
        med = {}
        for twin in ("separable", "standard"):  # one after the other, as a user runs benchmark_model twice
            a = B.artifact(f"digits-{twin}", fmt, "fp32")
            res = runner.run(B.job(a.path, rt, warmup=NAIVE_WARMUP, measure=NAIVE_MEASURE), timeout=300)
            med[twin] = B.median(res["latency_ns"])
        out[rt] = (med["standard"] / med["separable"], None, None, "1 run each", med["separable"] / 1e3,
                   med["standard"] / 1e3)
    return out, time.monotonic() - t0


def spread(values: list[float]) -> float:
    """max / min - 1 of a batch's invocations."""
    return max(values) / min(values) - 1.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=3, help="batches (default 3)")
    ap.add_argument("--invocations", type=int, default=3, help="invocations of each method per batch (default 3)")
    ap.add_argument("--profile", default=str(B.REPO / "devices" / "local.toml"),
                    help="profile for the edgebench method (default devices/local.toml)")
    ap.add_argument("--trials", type=int, help="trials per config for the edgebench method (default: the profile's)")
    ap.add_argument("--busy", type=int, default=0, help="spinning processes beside the benchmark (default 0)")
    args = ap.parse_args(argv)
    with busy(args.busy):
        return batches(args)


@contextlib.contextmanager
def busy(n: int):
    """n processes that spin on a core until the benchmark ends: a known load beside it."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def batches(args: argparse.Namespace) -> int:
    if args.invocations < 2:
        raise SystemExit("--invocations must be at least 2")
    print(B.machine(), file=sys.stderr)
    rows, summary = [], []
    with tempfile.TemporaryDirectory(prefix="edgebench-repro-") as tmp_s, B.Runner() as runner:
        tmp = Path(tmp_s)
        for batch in range(args.batches):
            speedups: dict[tuple[str, str], list[float]] = {}
            loads = [B.load()]
            for i in range(args.invocations):
                for method in ("edgebench", "naive"):
                    print(f"batch {batch + 1} {method} #{i + 1} ({B.load_text()})", file=sys.stderr)
                    res, wall = (ours(tmp, f"b{batch}-{i}", args.profile, args.trials) if method == "edgebench"
                                 else naive(runner))
                    row = [f"{batch + 1}", f"{method} #{i + 1}"]
                    for rt in RUNTIMES:
                        r, lo, hi, how, sep_us, std_us = res[rt]
                        speedups.setdefault((method, rt), []).append(r)
                        row.append(f"{r:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None else ""))
                        row.append(f"{sep_us:.1f} / {std_us:.1f}")
                    loads.append(B.load())
                    row += [how, f"{wall:.1f}", f"{loads[-1]:.1f}"]
                    rows.append(row)
            summary.append([f"{batch + 1}", f"{min(loads):.1f}-{max(loads):.1f}"]
                           + [f"{100 * spread(speedups[(m, rt)]):.1f}"
                              for m in ("edgebench", "naive") for rt in RUNTIMES]
                           + [" / ".join(f"{v:.2f}" for v in speedups[("edgebench", rt)]) for rt in RUNTIMES])
    print()
    print(B.table(["batch", "invocation", "ORT fp32 speedup", "ORT sep / std us", "LiteRT fp32 speedup",
                   "LiteRT sep / std us", "per config", "wall s", "load"], rows,
                  title="digits pair, 1 thread (edgebench: pairs.csv speedup [95% CI]; naive: ratio of medians)"))
    print()
    print(B.table(["batch", "load", "edgebench ORT %", "edgebench LiteRT %", "naive ORT %", "naive LiteRT %",
                   "edgebench ORT speedups", "edgebench LiteRT speedups"], summary,
                  title=f"Spread of each batch's {args.invocations} invocations (max / min - 1)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
