"""The runner's memory footprint per runtime: resident set size (RSS) after imports, after loading the
model, after the first inference, and the process's peak, from the runner's own readings
(/proc/self/status VmRSS / VmHWM) in a fresh runner process per job.

Baselines in fresh processes: the Python interpreter alone, and Python + numpy + the runner package
(what every job carries before a runtime is imported), so each runtime's own share shows. The
TensorFlow fallback (tensorflow.lite) is measured only with --tensorflow: importing TensorFlow takes
seconds and ~700 MB, which is why the runner prefers ai_edge_litert.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import benchlib as B

MB = 2**20

BASELINES = {
    "python": "",
    "python + numpy + runner": "import numpy, harness.runner.__main__, harness.runner.measure",
    "tensorflow.lite (fallback)": "import numpy, tensorflow.lite",
}


def baseline_rss(code: str) -> int:
    """VmRSS of a fresh interpreter after running `code`, read the way the runner reads it."""
    script = f"{code}\nfrom harness.runner.memory import rss_bytes\nprint(rss_bytes())"
    env = {**os.environ, "PYTHONPATH": str(B.REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    if res.returncode != 0:
        raise SystemExit(f"baseline {code!r} failed: {res.stderr[-800:]}")
    return int(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per row (default 3; medians)")
    ap.add_argument("--families", default=None,
                    help="zoo families, comma-separated (default: every family with built artifacts)")
    ap.add_argument("--precisions", default="fp32", help="precisions to load (default fp32)")
    ap.add_argument("--tensorflow", action="store_true", help="also measure the tensorflow.lite import")
    args = ap.parse_args(argv)

    fams = args.families.split(",") if args.families else None
    arts = B.built_artifacts(fams, precisions=args.precisions.split(","))
    if not arts:
        raise SystemExit("no built zoo artifacts; run `edgebench models build`")
    names = [n for n in BASELINES if args.tensorflow or "tensorflow" not in n]
    base: dict[str, list[int]] = {n: [] for n in names}
    runs: dict[str, list[dict]] = {a.name: [] for a in arts}
    with B.Runner() as runner:
        for rep in range(args.repeats):  # interleaved: every row once per round
            print(f"round {rep + 1}/{args.repeats} ({B.load_text()})", file=sys.stderr)
            for n in names:
                base[n].append(baseline_rss(BASELINES[n]))
            for a in arts:
                job = B.job(a.path, B.RUNTIME_OF_FORMAT[a["format"]], warmup=(3, 0.0),
                            measure={"min_runs": 20, "min_time_s": 0.05, "max_time_s": 5.0})
                runs[a.name].append(runner.run(job))

    numpy_base = B.median(base["python + numpy + runner"])
    per_rt: dict[str, list[int]] = {}
    for a in arts:
        for r in runs[a.name]:
            per_rt.setdefault(f"{r['runtime_impl']} {r['runtime_version']}", []).append(r["rss_after_imports_bytes"])
    rows = [[n, f"{B.median(v) / MB:.1f}", "-" if n == "python" else f"{(B.median(v) - numpy_base) / MB:+.1f}",
             len(v)] for n, v in base.items()]
    rows += [[f"runner, {rt} imported", f"{B.median(v) / MB:.1f}", f"{(B.median(v) - numpy_base) / MB:+.1f}",
              len(v)] for rt, v in per_rt.items()]
    print()
    print(B.table(["process", "RSS after imports MB", "over python+numpy+runner MB", "processes"], rows,
                  title=f"Runner memory footprint after imports, per runtime (medians; {B.load_text()})"))
    rows = []
    for a in arts:
        rs = runs[a.name]
        med = {k: B.median(r[k] for r in rs) for k in ("rss_after_imports_bytes", "rss_after_load_bytes",
                                                        "rss_after_first_bytes", "peak_rss_bytes")}
        rows.append([B.short(a), f"{a['bytes'] / MB:.2f}", f"{med['rss_after_imports_bytes'] / MB:.1f}",
                     f"{med['rss_after_load_bytes'] / MB:.1f}", f"{med['rss_after_first_bytes'] / MB:.1f}",
                     f"{med['peak_rss_bytes'] / MB:.1f}", f"{B.median(r['load'] for r in rs):.1f}"])
    print()
    print(B.table(["model", "file MB", "after imports MB", "after load MB", "after 1st inference MB", "peak MB",
                   "load"], rows, title=f"Per model (runner perf jobs, medians of {args.repeats} fresh processes)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
