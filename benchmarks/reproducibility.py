"""Ratio reproducibility: the digits pair's speedup (standard / separable median, 1 thread, fp32, under
ONNX Runtime and under LiteRT) from separate invocations, and how far apart they land.

  edgebench   `edgebench run devices/local.toml` on the pair: trials interleaved across the four configs
              (each trial a fresh process), the stopping rule of the profile, and the speedup taken as
              the median of the per-trial ratios (harness.stats, with its 95% bootstrap interval).
  naive       as TFLite's benchmark_model is used: one config after the other, each once, a warm-up of
              1 run and 0.5 s, then fixed 50 runs and at least 1 s; speedup = ratio of the two medians.
              (The real runner does the timing, so only the method differs.)

The invocations alternate (edgebench, naive, edgebench, naive, ...) so both see the same machine.
Agreement = the largest difference between two invocations of a method, relative to their mean.
Target: edgebench's invocations agree within 5%.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path
from typing import Any

import benchlib as B

from harness.stats import median_window_ratio, trials_of

RUNTIMES = {"onnxruntime": "onnx", "tflite": "tflite"}
NAIVE_WARMUP = (1, 0.5)
NAIVE_MEASURE = {"min_runs": 50, "min_time_s": 1.0, "max_time_s": 150.0, "target_rel_ci": None}


def ours(tmp: Path, i: int, profile: str, trials: int | None) -> tuple[dict[str, Any], float]:
    run_id = f"ours-{i}"
    extra = ["--trials", str(trials)] if trials else []
    wall, _ = B.run_cli(["run", profile, "--models", "digits", "--runtimes", ",".join(RUNTIMES),
                         "--precisions", "fp32", "--threads", "1", "--modes", "perf", "--out", str(tmp),
                         "--run-id", run_id, "--no-report", *extra], timeout=1800)
    recs = B.read_records(tmp / run_id)
    out = {}
    for rt in RUNTIMES:
        ids = {r["twin"]: r["config_id"] for r in recs if r.get("runtime") == rt and r.get("mode") == "perf"}
        std, sep = trials_of(recs, ids["standard"]), trials_of(recs, ids["separable"])
        est = median_window_ratio(std, sep)
        out[rt] = (est.ratio, est.ci_low, est.ci_high, f"{est.windows} trials",
                   B.median(B.median(v) for v in sep.values()) / 1e3,
                   B.median(B.median(v) for v in std.values()) / 1e3)
    return out, wall


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


def agreement(values: list[float]) -> float:
    """Largest pairwise difference relative to the pair's mean."""
    return max((abs(a - b) / ((a + b) / 2) for a, b in itertools.combinations(values, 2)), default=float("nan"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--invocations", type=int, default=3, help="invocations of each method (default 3, at least 2)")
    ap.add_argument("--profile", default=str(B.REPO / "devices" / "local.toml"),
                    help="profile for the edgebench method (default devices/local.toml)")
    ap.add_argument("--trials", type=int, help="trials per config for the edgebench method (default: the profile's)")
    args = ap.parse_args(argv)
    if args.invocations < 2:
        raise SystemExit("--invocations must be at least 2")

    rows, speedups = [], {("edgebench", rt): [] for rt in RUNTIMES} | {("naive", rt): [] for rt in RUNTIMES}
    with tempfile.TemporaryDirectory(prefix="edgebench-repro-") as tmp_s, B.Runner() as runner:
        tmp = Path(tmp_s)
        for i in range(args.invocations):
            for method in ("edgebench", "naive"):
                print(f"{method} #{i + 1} ({B.load_text()})", file=sys.stderr)
                res, wall = ours(tmp, i, args.profile, args.trials) if method == "edgebench" else naive(runner)
                row = [f"{method} #{i + 1}"]
                for rt in RUNTIMES:
                    r, lo, hi, how, sep_us, std_us = res[rt]
                    speedups[(method, rt)].append(r)
                    row.append(f"{r:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None else ""))
                    row.append(f"{sep_us:.1f} / {std_us:.1f}")
                row += [how, f"{wall:.1f}", f"{B.load():.1f}"]
                rows.append(row)
    print()
    print(B.table(["invocation", "ORT fp32 speedup", "ORT sep / std us", "LiteRT fp32 speedup",
                   "LiteRT sep / std us", "per config", "wall s", "load"], rows,
                  title="digits pair, standard / separable median latency, 1 thread "
                        "(edgebench: median of per-trial ratios [95% CI])"))
    print()
    arows = []
    for method in ("edgebench", "naive"):
        row = [method]
        for rt in RUNTIMES:
            v = speedups[(method, rt)]
            first_two = abs(v[0] - v[1]) / ((v[0] + v[1]) / 2)
            row += [f"{100 * first_two:.1f}", f"{100 * agreement(v):.1f}"]
        v2 = [speedups[(method, rt)][:2] for rt in RUNTIMES]
        vn = [speedups[(method, rt)] for rt in RUNTIMES]
        row.append("yes" if all(agreement(v) <= 0.05 for v in v2) else "NO")
        row.append("yes" if all(agreement(v) <= 0.05 for v in vn) else "NO")
        arows.append(row)
    print(B.table(["method", "ORT #1 vs #2 %", f"ORT max of {args.invocations} %", "LiteRT #1 vs #2 %",
                   f"LiteRT max of {args.invocations} %", "#1,#2 within 5%", "all within 5%"], arows,
                  title="Agreement between invocations (difference relative to the mean)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
