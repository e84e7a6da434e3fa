"""Runner overhead per call, against ONNX Runtime's internal time and a LiteRT invoke()-only loop.

For every built zoo model (the digits pair in all formats; MobileNetV1 when built), at 1 thread:

  vs ORT internal   the runner's profile mode (a real runner process) times each call with its own clock
                    while ORT records its own `model_run` time of the same call; overhead = the median of
                    the per-call differences. Profiling slows ORT inside and outside model_run, so this
                    is an upper bound for a perf run.
  vs bare loop      in one fresh process, on the same backend object: chunks of the runner's measuring
                    loop (harness.runner.measure around the runner's backend.invoke, a clock pair per
                    call) alternate with chunks of the bare runtime call in a loop under one clock pair
                    (session.run_with_iobinding, as the runner calls ORT / interpreter.invoke());
                    overhead = the median over
                    neighbouring chunk pairs of mean(runner) - mean(bare loop), with its 95% interval.

Targets: at most 10 us per call, and at most 1% of the median. A second table shows what
run_with_iobinding (the input and a preallocated output bound once, as the runner does) saves per call against
session.run on the same session, beside the floor of one ORT call from Python (a one-op model).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib as B



# ------------------------------------------------------------------------------------------------
# worker: runs in its own fresh process, one model

def _identity_session(ort: Any, shape: list[int], threads: int) -> Any:
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])


def _per_call(fn: Any, n: int) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    for _ in range(n):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


def _block(fn: Any, k: int) -> float:
    """Mean time of k calls under one clock pair: the bare loop, no per-call timing."""
    clock = time.perf_counter_ns
    t0 = clock()
    for _ in range(k):
        fn()
    return (clock() - t0) / k


def _paired(a: Any, b: Any, k: int, pairs: int) -> tuple[list[float], list[float]]:
    """Alternate chunks of k calls of a and b (ABBA order, so neither always goes first); returns the
    per-pair differences mean(a) - mean(b) and every value of a. Neighbouring chunks share the
    machine's state, so the difference cancels drift; means against means, so skew cancels too."""
    diffs, a_all = [], []
    for p in range(pairs):
        if p % 2:
            vb = b(k)
            va = a(k)
        else:
            va = a(k)
            vb = b(k)
        a_vals = va if isinstance(va, list) else [va]
        a_all.extend(a_vals)
        diffs.append(sum(a_vals) / len(a_vals) - (sum(vb) / len(vb) if isinstance(vb, list) else vb))
    return diffs, a_all


def _median_ci(values: list[float]) -> tuple[float, float, float]:
    from harness.stats import order_statistic_interval

    lo, hi, _ = order_statistic_interval(values)
    return B.median(values), lo, hi


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from harness.runner.backends import make_backend
    from harness.runner.measure import StopRule, measure, warm_up

    job = B.job(spec["model_path"], spec["runtime"], threads=spec["threads"])
    backend = make_backend(job)
    x = np.random.default_rng(0).standard_normal(backend.input_shape()).astype(np.float32)
    backend.set_input(x)
    warm_up(backend.invoke, 3, 0.3, 5.0)
    t0 = time.perf_counter_ns()
    for _ in range(5):
        backend.invoke()
    per_call_s = max((time.perf_counter_ns() - t0) / 5 / 1e9, 1e-6)
    k = max(1, min(50, int(0.005 / per_call_s)))  # ~5 ms chunks
    pairs = max(6, min(2000, int(spec["budget_s"] / (2 * k * per_call_s))))

    def runner_chunk(n: int) -> list[int]:  # the runner's own loop and backend, n calls
        return measure(backend.invoke, StopRule(min_runs=n, min_time_s=0.0, max_time_s=60.0, max_runs=n))[0]

    out: dict[str, Any] = {"k": k, "pairs": pairs}
    if spec["runtime"] == "onnxruntime":
        sess, feed = backend.session, backend.feed
        bound = backend._io  # the runner calls ORT through IOBinding: the bare loop does the same
        raw = (lambda: sess.run_with_iobinding(bound)) if bound is not None else (lambda: sess.run(None, feed))
    else:
        raw = backend.interp.invoke
    diffs, lat = _paired(runner_chunk, lambda n: _block(raw, n), k, pairs)
    out["runner_median_ns"] = B.median(lat)
    out["overhead_ns"] = _median_ci(diffs)
    out["timer_ns"] = B.median(measure(lambda: None, StopRule(min_runs=20000, min_time_s=0.0, max_time_s=5.0,
                                                              max_runs=20000))[0])
    if spec["runtime"] == "onnxruntime":
        ort = backend.ort
        name, out_name = sess.get_inputs()[0].name, sess.get_outputs()[0].name
        io = sess.io_binding()
        io.bind_cpu_input(name, feed[name])
        y = ort.OrtValue.ortvalue_from_shape_and_type(list(sess.run(None, feed)[0].shape), np.float32, "cpu", 0)
        io.bind_ortvalue_output(out_name, y)
        plain = lambda: sess.run(None, feed)  # noqa: E731
        saved, _ = _paired(lambda n: _block(plain, n), lambda n: _block(lambda: sess.run_with_iobinding(io), n),
                           k, max(6, pairs // 2))
        out["iobinding_saves_ns"] = _median_ci(saved)
        ident = _identity_session(ort, list(x.shape), spec["threads"])
        ifeed = {"x": x}
        iio = ident.io_binding()
        iio.bind_cpu_input("x", x)
        iio.bind_ortvalue_output("y", ort.OrtValue.ortvalue_from_shape_and_type(list(x.shape), np.float32, "cpu", 0))
        out["identity_run_ns"] = B.median(_per_call(lambda: ident.run(None, ifeed), 3000))
        out["identity_iobinding_ns"] = B.median(_per_call(lambda: ident.run_with_iobinding(iio), 3000))
    return out


# ------------------------------------------------------------------------------------------------
# driver

def run_worker(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh)
        path = fh.name
    try:
        env = {**os.environ, "PYTHONPATH": str(B.REPO)}
        res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", path],
                             capture_output=True, text=True, timeout=timeout, env=env)
    finally:
        os.unlink(path)
    if res.returncode != 0:
        raise SystemExit(f"worker failed for {spec['model_path']}: {res.stderr[-1500:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", default=None,
                    help="zoo families, comma-separated (default: every family with built artifacts)")
    ap.add_argument("--threads", type=int, default=1, help="runtime threads (default 1)")
    ap.add_argument("--budget-s", type=float, default=1.0,
                    help="seconds of paired runner/bare chunks per model (default 1.0; more narrows the "
                         "intervals of the big models)")
    ap.add_argument("--profile-runs", type=int, default=300,
                    help="calls in the ORT profiling pass, at most 1.5 s (runner profile mode; default 300)")
    ap.add_argument("--formats", default=None, help="onnx, tflite (default both)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        spec = json.loads(Path(args.worker).read_text(encoding="utf-8"))
        print(json.dumps(worker(spec)))
        return 0

    fams = args.families.split(",") if args.families else None
    arts = B.built_artifacts(fams, formats=args.formats.split(",") if args.formats else None)
    if not arts:
        raise SystemExit("no built zoo artifacts; run `edgebench models build`")
    rows, ort_rows = [], []
    with B.Runner() as runner:
        for a in arts:
            rt = B.RUNTIME_OF_FORMAT[a["format"]]
            print(f"{B.short(a)} ... ({B.load_text()})", file=sys.stderr)
            if rt == "onnxruntime":
                prof = runner.run(B.job(a.path, rt, mode="profile", threads=args.threads,
                                        measure={"min_runs": args.profile_runs, "min_time_s": 0.0,
                                                 "max_time_s": 1.5, "max_runs": args.profile_runs}))
                lat, inner = prof["latency_ns"], prof["model_run_us"]
                k = min(len(lat), len(inner))
                diffs = [lat[len(lat) - k + i] / 1e3 - inner[len(inner) - k + i] for i in range(k)]
                med, lo, hi = _median_ci(diffs)
                rows.append(_row(a, "ORT model_run (profiled)", B.median(v / 1e3 for v in lat[-k:]),
                                 B.median(inner[-k:]), med, lo, hi, prof["load"]))
            w = run_worker({"model_path": str(a.path), "runtime": rt, "threads": args.threads,
                            "budget_s": args.budget_s}, timeout=600)
            load_w = B.load()
            med, lo, hi = (v / 1e3 for v in w["overhead_ns"])
            runner_us = w["runner_median_ns"] / 1e3
            ref = "run_with_iobinding() loop" if rt == "onnxruntime" else "invoke() loop"
            rows.append(_row(a, ref, runner_us, runner_us - med, med, lo, hi, load_w))
            if rt == "onnxruntime":
                sv, slo, shi = (v / 1e3 for v in w["iobinding_saves_ns"])
                ort_rows.append([B.short(a), f"{runner_us:.1f}", f"{sv:+.1f} [{slo:+.1f},{shi:+.1f}]",
                                 f"{100 * sv / runner_us:.1f}", f"{w['identity_run_ns'] / 1e3:.1f}",
                                 f"{w['identity_iobinding_ns'] / 1e3:.1f}", f"{w['timer_ns']:.0f}",
                                 f"{load_w:.1f}"])
    print()
    print(B.table(["model", "reference", "runner us", "reference us", "overhead us [95% CI]", "% of median",
                   "<=10us", "<=1%", "load"], rows,
                  title=f"Runner overhead per call ({args.threads} thread, medians; the runner = "
                        f"harness.runner.measure around the runner's backend)"))
    print("  ORT model_run: profiling on slows ORT inside and outside model_run; an upper bound, never a perf figure.\n"
          "  loop rows: runner chunks paired with neighbouring bare-loop chunks (one clock pair per chunk).\n"
          "  yes / NO: the whole 95% interval is within / beyond the target; ?: the machine's noise hides it.")
    if ort_rows:
        print()
        print(B.table(["model", "runner us", "iobinding saves us [95% CI]", "% of median",
                       "Identity run() us", "Identity iobinding us", "timer ns", "load"], ort_rows,
                      title="ONNX Runtime: what run_with_iobinding (input + preallocated output bound once, "
                            "as the runner does) saves per call, paired with session.run on the same session"))
        print("  Identity: a one-op ONNX model on the same input: the floor of one ORT call from Python.")
    return 0


def _verdict(lo: float, hi: float, limit: float) -> str:
    """yes: the whole interval is within the limit; NO: all of it beyond; ?: the noise hides it."""
    return "yes" if hi <= limit else ("NO" if lo > limit else "?")


def _row(a: Any, ref: str, runner_us: float, ref_us: float, over_us: float, lo: float, hi: float,
         load: float) -> list[str]:
    pct = 100.0 * over_us / runner_us if runner_us else float("nan")
    return [B.short(a), ref, f"{runner_us:.1f}", f"{ref_us:.1f}", f"{over_us:+.2f} [{lo:+.1f},{hi:+.1f}]",
            f"{pct:+.2f}", _verdict(lo, hi, 10.0), _verdict(lo, hi, 0.01 * runner_us), f"{load:.1f}"]


if __name__ == "__main__":
    sys.exit(main())
