"""The roofline table: for every twin pair of the zoo that is built, the measured speedup, the MAC-ratio
prediction and the roofline prediction side by side, per runtime and precision, at 1 thread on this
machine; and the device ceilings that the prediction used.

    python benchmarks/roofline_table.py                       # ORT + LiteRT, fp32 + int8, 3 trials
    python benchmarks/roofline_table.py --ceilings-only --repeat 2   # the ceilings of two separate runs

It runs `edgebench run devices/local.toml --modes perf,ceilings,profile --threads 1` (the ceilings are
ordinary perf jobs interleaved with the models), then reads the run's pairs.csv and summary.csv.
The machine's load is printed beside the figures: on a shared machine they move with it. "measured" is
the median of per-trial speedups (pairs.csv trial_speedup), "best" min(standard) / min(separable); the
ceilings are read from each ceiling's fastest run, so "vs best" compares like with like.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from benchlib import REPO, load_text

sys.path.insert(0, str(REPO))

from harness.roofline.predict import ceilings_from_summary, rows_of  # noqa: E402

FAMILIES = ("digits", "mobilenet_v1_1.0_224", "mobilenet_v1_0.5_224", "mobilenet_v1_1.0_128")


def built_families() -> list[str]:
    from harness.manifest import load_manifest

    m = load_manifest()
    return [f for f in FAMILIES if f in m.families
            and all(a.built for a in m.artifacts if a["family"] == f and a["precision"] in ("fp32", "int8"))]


def edgebench_run(models: list[str], runtimes: str, precisions: str, modes: str, trials: int, out: Path,
                  run_id: str) -> Path:
    cmd = [sys.executable, "-m", "harness.cli", "run", str(REPO / "devices" / "local.toml"),
           "--models", ",".join(models), "--runtime", runtimes, "--precisions", precisions, "--threads", "1",
           "--modes", modes, "--trials", str(trials), "--quick", "--out", str(out), "--run-id", run_id]
    print("$ edgebench " + " ".join(cmd[3:]), f"   [{load_text()} at start]", flush=True)
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    print(f"  done [{load_text()} at end]", flush=True)
    return out / run_id


def ceilings_text(summary) -> str:
    lines = [f"{'device/runtime/precision/threads':38} {'peak GMAC/s':>11} {'bandwidth GB/s by KiB per op':>40} "
             f"{'us/op':>6} {'us/call':>7}"]
    for key, c in ceilings_from_summary(rows_of(summary)).items():
        bw = "  ".join(f"{s >> 10}:{b / 1e9:.1f}" for s, b in c.bandwidth)
        lines.append(f"{'/'.join(str(k) for k in key[:4]):38} {c.peak / 1e9:11.1f} {bw:>40} "
                     f"{c.fixed_s * 1e6:6.2f} {c.call_s * 1e6:7.1f}")
    return "\n".join(lines)


def pairs_text(pairs) -> str:
    def f(v, spec=".2f"):
        return "-" if v is None else format(v, spec)

    out = []
    for (rt, prec), grp in pairs.groupby(["runtime", "precision"], sort=False):
        out.append(f"\n{rt} {prec}, 1 thread")
        out.append(f"{'family':22} {'measured':>8} {'best':>6} {'MAC pred':>8} {'MAC err':>8} {'roofline':>8} "
                   f"{'roof err':>8} {'vs best':>7} {'sep ms meas/pred':>17} {'std ms meas/pred':>17}  "
                   f"bound of the separable twin")
        for p in rows_of(grp):
            meas = p.get("trial_speedup") or p.get("speedup")
            best, roof = p.get("best_speedup"), p.get("predicted_speedup_roofline")
            vs_best = 100 * (roof - best) / best if best and roof else None
            out.append(f"{p['family']:22} {f(meas):>8} {f(best):>6} {f(p.get('theoretical_speedup')):>8} "
                       f"{f(p.get('mac_prediction_error_pct'), '+.0f'):>7}% "
                       f"{f(p.get('predicted_speedup_roofline')):>8} "
                       f"{f(p.get('roofline_error_pct'), '+.0f'):>7}% {f(vs_best, '+.0f'):>6}% "
                       f"{f(p.get('separable_median_ms'), '.3f'):>8}/{f(p.get('roofline_separable_ms'), '.3f'):<8} "
                       f"{f(p.get('standard_median_ms'), '.3f'):>8}/{f(p.get('roofline_standard_ms'), '.3f'):<8}  "
                       f"{p.get('bound_separable') or '-'} {f(p.get('bound_separable_pct'), '.0f')}%")
    return "\n".join(out)


def main() -> int:
    import pandas as pd

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default=None, help="comma-separated (default: every built twin family)")
    ap.add_argument("--runtimes", default="onnxruntime,tflite")
    ap.add_argument("--precisions", default="fp32,int8")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--ceilings-only", action="store_true", help="measure the ceilings only")
    ap.add_argument("--repeat", type=int, default=1, help="separate runs (for --ceilings-only)")
    ap.add_argument("--out", default="/tmp/edgebench-roofline")
    args = ap.parse_args()
    families = args.families.split(",") if args.families else built_families()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(args.repeat):
        modes = "ceilings" if args.ceilings_only else "perf,ceilings,profile"
        run = edgebench_run(families[:1] if args.ceilings_only else families, args.runtimes, args.precisions,
                            modes, args.trials, Path(args.out), f"roofline-{stamp}-{i + 1}")
        print(f"\nrun {i + 1}: {run}\n" + ceilings_text(pd.read_csv(run / "summary.csv")))
        if not args.ceilings_only:
            print(pairs_text(pd.read_csv(run / "pairs.csv")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
