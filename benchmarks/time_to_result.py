"""Time to result of the demo: the stopping rule against fixed counts, at equal precision.

Precision is the 95% confidence interval of each trial's median (distribution-free, order statistics:
harness.runner.measure.median_ci_rel), as a +- fraction of the median: the quantity the stopping rule
watches. "Equal precision" means every config-trial of the demo within the same width.

Three steps, in one invocation:
  1. trace run: `edgebench run` of the demo matrix (perf), every job measuring a fixed --trace-time,
     so each trial's full sequence of latencies is on record;
  2. replay on those same sequences (paired, exact for the measuring part): when would the stopping
     rule have stopped, when do fixed counts (min_runs AND min_time_s, no interval) stop, and which
     fixed time is the shortest that gives EVERY config-trial the width the rule guarantees (fixed
     counts must be sized for the worst config, in hindsight here, which favours them);
  3. two real `edgebench run` invocations: the stopping rule (the [matrix] values of
     devices/local.toml) and fixed counts at the calibrated time (--trace-time when no time sufficed);
     their wall time and the widths and speedup intervals they reached.

The replay also gives the fixed time whose MEDIAN width matches the rule's (a weaker "equal").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import benchlib as B

from harness.profiles import parse_profile
from harness.records import Status
from harness.stats import median_window_ratio, trials_of
from harness.runner.measure import median_ci_rel

DEMO = {"models": ["digits"], "runtimes": ["onnxruntime", "tflite"], "precisions": ["fp32", "int8"],
        "threads": [1, 2], "modes": ["perf"]}
OLD_FIXED = {"min_runs": 50, "min_time_s": 0.3, "max_time_s": 3.0, "target_rel_ci": None}


def replay(lat: list[int], min_runs: int, min_time_s: float, max_time_s: float,
           target: float | None) -> tuple[int, float, str]:
    """(runs, measuring seconds, stop reason) had harness.runner.measure.measure run on this sequence.
    The same checks on the same schedule; the loop's own cost between calls (~0.1 us) is left out."""
    min_ns, max_ns = min_time_s * 1e9, max_time_s * 1e9
    next_check = max(min_runs, 10)
    elapsed = 0.0
    for i, v in enumerate(lat):
        n = i + 1
        elapsed += v
        if elapsed >= max_ns:
            return n, elapsed / 1e9, "max_time"
        if n >= min_runs and elapsed >= min_ns:
            if target is None:
                return n, elapsed / 1e9, "fixed"
            if n >= next_check:
                if median_ci_rel(sorted(lat[:n])) <= target:
                    return n, elapsed / 1e9, "ci_reached"
                next_check = int(n * 1.2) + 5
    return len(lat), elapsed / 1e9, "trace_end"


def width(lat: list[int], n: int) -> float:
    return median_ci_rel(sorted(lat[:n]))


def profile_text(matrix: dict[str, Any]) -> str:
    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return repr(v)

    lines = ['[device]', 'name = "local"', 'kind = "local"', '', '[matrix]']
    lines += [f"{k} = {val(v)}" for k, v in matrix.items() if v is not None]
    return "\n".join(lines) + "\n"


def edgebench_run(tmp: Path, name: str, matrix: dict[str, Any], report: bool, timeout: float
                  ) -> tuple[float, float, list[dict[str, Any]]]:
    """One real `edgebench run`; (wall seconds, load at the end, perf records)."""
    prof = tmp / f"{name}.toml"
    prof.write_text(profile_text(matrix), encoding="utf-8")
    args = ["run", str(prof), "--out", str(tmp / "results"), "--run-id", name, "--seed", "8"]
    if not report:
        args.append("--no-report")
    wall, _ = B.run_cli(args, timeout=timeout)
    recs = [r for r in B.read_records(tmp / "results" / name) if r.get("mode") == "perf"]
    bad = [r for r in recs if r.get("status") != Status.OK]
    if bad:
        raise SystemExit(f"{name}: {len(bad)} perf jobs failed, e.g. {bad[0].get('error')}")
    return wall, B.load(), recs


def pair_widths(records: list[dict[str, Any]]) -> list[float]:
    """+- half-width of each twin pair's speedup interval (median of per-trial ratios, bootstrap)."""
    out = []
    by_cfg = {r["config_id"]: r for r in records}
    for cid, r in by_cfg.items():
        if r.get("twin") != "separable":
            continue
        std_id = cid.replace("-separable/", "-standard/")
        if std_id not in by_cfg:
            continue
        est = median_window_ratio(trials_of(records, std_id), trials_of(records, cid))
        if est.rel_half_width is not None:
            out.append(est.rel_half_width)
    return out


def summarize_real(name: str, wall: float, load: float, recs: list[dict[str, Any]], target: float) -> list:
    widths = [median_ci_rel(sorted(r["latency_ns"])) for r in recs]
    meas = sum(sum(r["latency_ns"]) for r in recs) / 1e9
    reasons: dict[str, int] = {}
    for r in recs:
        reasons[r.get("stop_reason", "?")] = reasons.get(r.get("stop_reason", "?"), 0) + 1
    pw = pair_widths(recs)
    return [name, f"{wall:.1f}", f"{meas:.1f}", f"{100 * B.median(widths):.2f}", f"{100 * max(widths):.2f}",
            sum(w > target for w in widths), f"{100 * B.median(pw):.2f}" if pw else "-",
            ",".join(f"{k}:{v}" for k, v in sorted(reasons.items())), f"{load:.1f}"]


def demo_arm(tmp: Path) -> None:
    """`edgebench demo` as a user runs it (the per-job rule, the pair rule, accuracy and profile
    passes): its wall time and the share of it spent in timed inferences."""
    import pandas as pd

    out = tmp / "demo"
    load0 = B.load()
    wall, _ = B.run_cli(["demo", "--out", str(out)], timeout=1800)
    run = next(p for p in out.iterdir() if (p / "run.json").exists())
    recs = B.read_records(run)
    perf = [r for r in recs if r.get("mode") in ("perf", "pair") and r.get("latency_ns")]
    meas = sum(sum(r["latency_ns"]) + sum(r.get("partner_latency_ns") or ()) for r in perf) / 1e9
    n_pair = sum(r.get("mode") == "pair" for r in perf)
    pairs = pd.read_csv(run / "pairs.csv")
    rows = [[f"{p.family} {p.runtime} {p.precision} t{p.threads}", f"{p.speedup:.2f}",
             "-" if pd.isna(p.speedup_ci_low) else f"{p.speedup_ci_low:.2f}-{p.speedup_ci_high:.2f}",
             f"{int(p.trials_separable)}/{int(p.trials_standard)}", f"{int(p.pair_jobs)}",
             p.pair_stop if isinstance(p.pair_stop, str) else "-"]
            for p in pairs.itertuples()]
    print(B.table(["pair", "speedup", "95% CI", "trials sep/std", "pair jobs", "why the pair rule stopped"], rows,
                  title=f"4. edgebench demo: {wall:.1f} s wall, {len(recs)} jobs ({len(perf)} timed, {n_pair} of "
                        f"them pair jobs), "
                        f"{meas:.1f} s measuring = {100 * meas / wall:.0f}% of the wall time "
                        f"(load {load0:.1f} -> {B.load():.1f})"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=str(B.REPO / "devices" / "local.toml"),
                    help="profile whose [matrix] stopping values are the rule under test "
                         "(default devices/local.toml, the demo's)")
    ap.add_argument("--target", type=float, help="override the profile's target_rel_ci (e.g. 0.01)")
    ap.add_argument("--min-runs", type=int, help="override the profile's min_runs for the rule")
    ap.add_argument("--min-time-s", type=float, help="override the profile's min_time_s for the rule")
    ap.add_argument("--trials", type=int, default=2, help="trials per config (the demo uses 3; default 2)")
    ap.add_argument("--trace-time", type=float, default=1.0,
                    help="seconds each trace job measures (bounds the fixed times tried; default 1.0)")
    ap.add_argument("--threads", default="1,2", help="demo thread counts (default 1,2)")
    ap.add_argument("--no-real", action="store_true", help="trace + replay only (skip step 3)")
    ap.add_argument("--demo-only", action="store_true",
                    help="only step 4: `edgebench demo` itself, its wall time and the share spent measuring")
    args = ap.parse_args(argv)

    problems: list[str] = []
    prof = parse_profile(args.profile, problems)
    if prof is None:
        raise SystemExit("; ".join(problems))
    m = prof.matrix
    rule = {"min_runs": args.min_runs or m["min_runs"],
            "min_time_s": args.min_time_s if args.min_time_s is not None else m["min_time_s"],
            "max_time_s": m["max_time_s"],
            "target_rel_ci": args.target if args.target is not None else m.get("target_rel_ci")}
    if not rule["target_rel_ci"]:
        raise SystemExit(f"{args.profile}: no target_rel_ci in [matrix]; give --target 0.01")
    target = float(rule["target_rel_ci"])
    base = {**DEMO, "threads": [int(t) for t in args.threads.split(",")], "trials": args.trials,
            "order": "interleaved", "warmup_runs": m["warmup_runs"], "warmup_time_s": m["warmup_time_s"]}
    print(f"stopping rule under test: min_runs {rule['min_runs']}, min_time_s {rule['min_time_s']}, "
          f"max_time_s {rule['max_time_s']}, target_rel_ci {target} (+-{100 * target:g}% at 95%)")

    if args.demo_only:
        with tempfile.TemporaryDirectory(prefix="edgebench-ttr-") as tmp_s:
            demo_arm(Path(tmp_s))
        return 0
    with tempfile.TemporaryDirectory(prefix="edgebench-ttr-") as tmp_s:
        tmp = Path(tmp_s)
        print(f"1. trace run: {args.trials} trials x {args.trace_time:g} s per job ({B.load_text()}) ...",
              file=sys.stderr)
        wall_t, load_t, traces = edgebench_run(
            tmp, "trace", {**base, "min_runs": 10, "min_time_s": args.trace_time,
                           "max_time_s": args.trace_time}, report=False, timeout=1800)
        per_job_fixed = B.median(r["duration_s"] - sum(r["latency_ns"]) / 1e9 for r in traces)
        # 2. replay. A trace too noisy to reach the target within --trace-time would have gone on to
        # max_time_s under the rule: it is censored, and left out of every arm so all compare alike.
        every = [r["latency_ns"] for r in traces]
        censored = [s for s in every if replay(s, rule["min_runs"], rule["min_time_s"], rule["max_time_s"],
                                               target)[2] != "ci_reached"]
        seqs = [s for s in every if not any(s is c for c in censored)]
        if not seqs:
            raise SystemExit(f"no trace reached +-{100 * target:g}% within {args.trace_time:g} s; "
                             f"the machine is too loaded ({B.load_text()}) or --trace-time too short")

        def arm(name: str, params: dict[str, Any]) -> tuple[list, list[float]]:
            res = [replay(s, params["min_runs"], params["min_time_s"], params["max_time_s"],
                          params["target_rel_ci"]) for s in seqs]
            ws = [width(s, n) for s, (n, _, _) in zip(seqs, res)]
            t = sum(x[1] for x in res)
            reasons: dict[str, int] = {}
            for _, _, why in res:
                reasons[why] = reasons.get(why, 0) + 1
            return [name, f"{t:.2f}", f"{t + per_job_fixed * len(seqs):.1f}", f"{100 * B.median(ws):.2f}",
                    f"{100 * max(ws):.2f}", sum(w > target for w in ws),
                    ",".join(f"{k}:{v}" for k, v in sorted(reasons.items()))], ws

        rows = []
        row, rule_ws = arm(f"stopping rule (+-{100 * target:g}%)", rule)
        rows.append(row)
        rows.append(arm("fixed: 50 runs, 0.3 s (old local default)", OLD_FIXED)[0])
        steps = int(round(args.trace_time / 0.05))
        grid = [round(0.05 * i, 2) for i in range(1, steps + 1)]

        def fixed_at(t_fix: float) -> dict[str, Any]:
            return {"min_runs": 50, "min_time_s": t_fix, "max_time_s": args.trace_time, "target_rel_ci": None}

        cal_t = None
        for t_fix in grid:  # fixed counts sized so that every config-trial is as precise as the rule made it
            row, ws = arm(f"fixed: 50 runs, {t_fix:g} s (shortest with all <= +-{100 * target:g}%)",
                          fixed_at(t_fix))
            if max(ws) <= target:
                cal_t = t_fix
                rows.append(row)
                break
        if cal_t is None:
            rows.append([f"fixed: no time <= {args.trace_time:g} s gets all within +-{100 * target:g}%",
                         "-", "-", "-", "-", "-", "-"])
        rule_med = B.median(rule_ws)
        for t_fix in grid:  # a weaker notion of equal: the same median width
            row, ws = arm(f"fixed: 50 runs, {t_fix:g} s (shortest with median <= +-{100 * rule_med:.2f}%)",
                          fixed_at(t_fix))
            if B.median(ws) <= rule_med:
                rows.append(row)
                break
        shortest = min(len(s) for s in seqs)
        for n_fix in sorted({50, 100, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, shortest}):
            if n_fix > shortest:
                rows.append([f"fixed: no run count <= {shortest} gets all within +-{100 * target:g}%",
                             "-", "-", "-", "-", "-", "-"])
                break
            if all(width(s, n_fix) <= target for s in seqs):
                t = sum(sum(s[:n_fix]) for s in seqs) / 1e9
                rows.append([f"fixed: {n_fix} runs (fewest with all <= +-{100 * target:g}%)", f"{t:.2f}",
                             f"{t + per_job_fixed * len(seqs):.1f}", "-", "-", 0, "fixed"])
                break
        print()
        print(B.table(["arm (replayed on the same sequences)", "measuring s", "est. run s",
                       "width med %", "width max %", "over target", "stops"], rows,
                      title=f"2. Replay of {len(seqs)} config-trials of the demo (trace run: {wall_t:.0f} s wall, "
                            f"load {load_t:.1f}; per-job start+load+warm-up {per_job_fixed:.2f} s)"))
        if censored:
            print(f"   {len(censored)} more config-trial(s) did not reach +-{100 * target:g}% within "
                  f"{args.trace_time:g} s (the rule would go on to max_time_s = {rule['max_time_s']:g} s); "
                  f"left out of every arm above")

        if args.no_real:
            return 0
        # 3. real invocations
        print("3. real runs ...", file=sys.stderr)
        real = []
        wall_r, load_r, recs_r = edgebench_run(tmp, "rule", {**base, **rule}, report=True, timeout=1800)
        real.append(summarize_real(f"stopping rule (+-{100 * target:g}%)", wall_r, load_r, recs_r, target))
        fixed_t = cal_t if cal_t is not None else args.trace_time
        fixed = {"min_runs": 50, "min_time_s": fixed_t, "max_time_s": max(fixed_t, 3.0)}
        wall_f, load_f, recs_f = edgebench_run(tmp, "fixed", {**base, **fixed}, report=True, timeout=1800)
        real.append(summarize_real(f"fixed: 50 runs, {fixed_t:g} s", wall_f, load_f, recs_f, target))
        print()
        print(B.table(["arm (edgebench run, demo matrix, perf)", "wall s", "measuring s", "width med %",
                       "width max %", "over target", "speedup +-%", "stops", "load"], real,
                      title=f"3. Two real invocations ({len(recs_r)} jobs each)"))
        print(f"\nthe stopping rule took {wall_r:.1f} s, fixed counts sized for the same worst-case width "
              f"{wall_f:.1f} s: {100 * (1 - wall_r / wall_f):.0f}% less time"
              + ("" if cal_t is not None else f" (and fixed counts still missed the width: "
                 f"{args.trace_time:g} s was the longest tried)"))
        print()
        demo_arm(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
