"""python3 -m harness.runner JOB.json OUT.json  (OUT '-' prints the result to stdout)

Modes: perf (warm-up, then timed runs under the stopping rule), accuracy (the eval set at batch 1),
profile (ONNX Runtime profiling pass: per-node times and ORT's own model_run times; never timed),
pair (a twin pair in one process: the job's model and `partner_model_path` under the same runtime and
threads, timed in alternating blocks of `pair_block_s`; `latency_ns` is the job's model,
`partner_latency_ns` the partner's, so their ratio cancels what slows the machine for seconds).
Inputs: a job's `inputs` ([{name, shape, dtype, low, high}], resolved on the host) gives every input;
perf and profile modes then feed seeded generated data (inputs.py). Without it the eval data or the
model's single input gives the shape, and a symbolic dimension other than the batch is an error.
NaN or inf in the first inference or in accuracy mode fails the job.
Exit status: 0 ok, 3 the job failed (the result file says why), 2 bad invocation.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import traceback
from typing import Any

from . import RUNNER_PROTOCOL_VERSION
from .inputs import InputError, check_finite, described, generate, load_eval, sample
from .memory import peak_rss_bytes, placement, rss_bytes, set_affinity


def _perf(backend: Any, job: dict, result: dict) -> None:
    from .measure import StopRule, measure, warm_up

    rule = StopRule.from_dict(job.get("measure"))
    w = job.get("warmup") or {}
    warm = warm_up(backend.invoke, int(w.get("min_runs", 5)), float(w.get("min_time_s", 0.2)),
                   max(rule.max_time_s, 1.0))
    samples, reason = measure(backend.invoke, rule)
    result["warmup_ns"] = warm
    result["latency_ns"] = samples
    result["stop_reason"] = reason


def _model_file(path: str) -> str:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: model file not found on the device")
    return path


def _paired(backend: Any, job: dict, result: dict) -> None:
    """Both twins loaded and warmed, then timed in alternating blocks (measure.measure_paired)."""
    from .backends import make_backend
    from .measure import StopRule, measure_paired, warm_up

    if not job.get("partner_model_path"):
        raise ValueError("pair mode needs partner_model_path (the other twin's model)")
    partner_job = {**job, "model_path": _model_file(job["partner_model_path"]), "inputs": job.get("partner_inputs"),
                   "eval_path": None, "mode": "perf"}
    partner = make_backend(partner_job)
    side: dict[str, Any] = {}
    _first_inference(partner, partner_job, side)
    result["partner"] = {k: side.get(k) for k in ("inputs", "first_inference_ns", "delegation")}
    rule = StopRule.from_dict(job.get("measure"))
    w = job.get("warmup") or {}
    warm = [warm_up(b.invoke, int(w.get("min_runs", 5)), float(w.get("min_time_s", 0.2)), max(rule.max_time_s, 1.0))
            for b in (backend, partner)]
    result["warmup_ns"], result["partner"]["warmup_ns"] = warm
    a, b, blocks, reason = measure_paired(backend.invoke, partner.invoke, rule, float(job.get("pair_block_s", 0.05)))
    result["latency_ns"] = a
    result["partner_latency_ns"] = b
    result["pair_blocks"] = blocks
    result["stop_reason"] = reason


def _accuracy(backend: Any, job: dict, result: dict, arrays: dict, y: Any) -> None:
    import numpy as np

    if y is None:
        raise ValueError(f"{job.get('eval_path')}: accuracy mode needs labels 'y' in the eval data")
    preds = []
    outs = []
    for i in range(len(next(iter(arrays.values())))):
        backend.set_inputs(sample(arrays, i))
        backend.invoke()
        check_finite(backend.all_outputs(), f"on eval sample {i}")
        out = backend.outputs()
        outs.append(out.reshape(-1))
        preds.append(int(np.argmax(out)))
    preds_a = np.asarray(preds)
    result["predictions"] = preds
    result["n_eval"] = int(len(preds))
    result["accuracy"] = float(np.mean(preds_a == np.asarray(y).reshape(-1)))
    if job.get("save_outputs_path"):
        np.savez_compressed(job["save_outputs_path"], outputs=np.stack(outs), predictions=preds_a)


def _profile(backend: Any, job: dict, result: dict) -> None:
    """ORT profiling pass: per-node time and ORT's own model_run time. Never used as a latency."""
    from .measure import StopRule, measure, warm_up

    if backend.name != "onnxruntime":
        raise ValueError("profile mode needs runtime onnxruntime (TFLite op profiles come from benchmark_model)")
    rule = StopRule.from_dict(job.get("measure"))
    warm_up(backend.invoke, 3, 0.05, 5.0)
    samples, _ = measure(backend.invoke, rule)
    path = backend.end_profiling()
    try:
        with open(path, encoding="utf-8") as fh:
            events = json.load(fh)
    finally:
        try:
            os.remove(path)
        except OSError:
            pass
    nodes: dict[str, dict[str, Any]] = {}
    model_run_us: list[float] = []
    for ev in events:
        if ev.get("cat") == "Session" and ev.get("name") == "model_run":
            model_run_us.append(float(ev.get("dur", 0)))
        if ev.get("cat") != "Node" or not str(ev.get("name", "")).endswith("_kernel_time"):
            continue
        args = ev.get("args", {})
        name = ev["name"][: -len("_kernel_time")]
        row = nodes.setdefault(name, {"node": name, "op_type": args.get("op_name"),
                                      "provider": args.get("provider"), "dur_us_total": 0.0, "count": 0})
        row["dur_us_total"] += float(ev.get("dur", 0))
        row["count"] += 1
    # The first model_run events are the warm-up; keep the ones matching the measured calls.
    result["model_run_us"] = model_run_us[-len(samples):] if samples else model_run_us
    result["latency_ns"] = samples
    result["op_profile"] = sorted(nodes.values(), key=lambda r: -r["dur_us_total"])
    providers: dict[str, int] = {}
    for row in nodes.values():
        providers[row["provider"] or "unknown"] = providers.get(row["provider"] or "unknown", 0) + 1
    result["delegation"] = {**(result.get("delegation") or {}), "nodes_by_provider": providers}


def _first_feed(backend: Any, job: dict, arrays: dict | None) -> dict:
    """What the first inference (and the timed loop) reads: generated data for the job's inputs in
    perf and profile modes, else the first eval sample, else generated data for the single input."""
    import numpy as np

    if job.get("inputs") and (job.get("mode", "perf") != "accuracy" or arrays is None):
        return generate(job["inputs"], int(job.get("seed", 0)))
    if arrays is not None:
        return sample(arrays, 0)
    names = backend.input_names()
    if len(names) != 1:
        raise InputError(f"{job['model_path']}: the model has {len(names)} inputs ({', '.join(names)}) and the "
                         f"job lists none; the host resolves every input into the job's 'inputs'")
    return {names[0]: np.random.default_rng(0).standard_normal(backend.input_shape()).astype(np.float32)}


def _first_inference(backend: Any, job: dict, result: dict) -> tuple[dict | None, Any]:
    """Feed every input, time the first inference and check its outputs are finite; returns the eval
    arrays by input name (None without eval data) and the labels."""
    arrays, y = (load_eval(job["eval_path"], backend.input_names()) if job.get("eval_path") else (None, None))
    backend.set_inputs(_first_feed(backend, job, arrays))
    result["inputs"] = described(backend.fed())
    t0 = time.perf_counter_ns()
    backend.invoke()
    result["first_inference_ns"] = time.perf_counter_ns() - t0
    result["rss_after_first_bytes"] = rss_bytes()
    check_finite(backend.all_outputs(), "after the first inference")
    if job.get("mode", "perf") != "accuracy":
        backend.bind_after_first()
    result["delegation"] = backend.delegation()
    return arrays, y


def run_job(job: dict) -> dict:
    result: dict[str, Any] = {
        "status": "ok", "error": None, "runner_protocol": RUNNER_PROTOCOL_VERSION,
        "runtime": job.get("runtime"), "mode": job.get("mode", "perf"), "threads": job.get("threads", 1),
        "xnnpack": job.get("xnnpack", True) if job.get("runtime") == "tflite" else None,
        "arch": platform.machine(), "python_version": platform.python_version(),
        "pid": os.getpid(),
    }
    try:
        result["affinity"] = set_affinity(job.get("cores"))
        import numpy as np

        result["numpy_version"] = np.__version__
        from .backends import load_tflite_interpreter_module, make_backend

        if job.get("runtime") == "onnxruntime":
            import onnxruntime  # noqa: F401  (imported before the RSS reading on purpose)
        elif job.get("runtime") == "tflite":
            load_tflite_interpreter_module()
        result["rss_after_imports_bytes"] = rss_bytes()

        _model_file(job["model_path"])
        t0 = time.perf_counter_ns()
        backend = make_backend(job)
        result["init_ns"] = time.perf_counter_ns() - t0
        result["runtime_impl"] = backend.impl
        result["runtime_version"] = backend.version
        result["rss_after_load_bytes"] = rss_bytes()

        arrays, y = _first_inference(backend, job, result)
        mode = job.get("mode", "perf")
        if mode == "perf":
            _perf(backend, job, result)
            result["placement"] = placement(backend.buffers())
        elif mode == "pair":
            _paired(backend, job, result)
            result["placement"] = placement(backend.buffers())
        elif mode == "accuracy":
            if arrays is None:
                raise ValueError("accuracy mode needs eval_path (a labelled .npz)")
            _accuracy(backend, job, result, arrays, y)
        elif mode == "profile":
            _profile(backend, job, result)
        else:
            raise ValueError(f"unknown mode {mode!r}; use perf, pair, accuracy or profile")
    except Exception as exc:  # the runner reports every failure as a result, never a traceback alone
        result["status"] = "failed"
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc(limit=8)[-4000:]
    result["peak_rss_bytes"] = peak_rss_bytes()
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python3 -m harness.runner JOB.json OUT.json", file=sys.stderr)
        return 2
    job_path, out_path = argv
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    result = run_job(job)
    text = json.dumps(result, separators=(",", ":"))
    if out_path == "-":
        sys.stdout.write(text + "\n")
    else:
        tmp = out_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out_path)
    return 0 if result["status"] == "ok" else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
