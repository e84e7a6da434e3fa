"""The native benchmark tools: TFLite's `benchmark_model` and ONNX Runtime's `onnxruntime_perf_test`.

On a phone without Python these binaries are the runner. This module builds their command lines from
a job (the same job dict the Python runner reads); harness.native_output parses what they print into
the runner's record keys, so native and Python results sit in the same table. The tools print summaries, not samples:
records carry `latency_summary_ns` (mean, min, max, std, percentiles, count) and `latency_ns` None.

Both tools have changed their output over the years (INFO: prefixes or none, "no stats:",
"Average inference timings", "Inference timings ... First inference", "Peak memory footprint" vs
"Memory footprint delta", "Min Latency is X sec" vs "Min Latency: X s"). The parsers accept every
variant they know and list each line they could not read in `unparsed_lines`, so a new format is
noticed instead of silently dropped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .errors import HarnessError
from .native_output import TOOL_RUNTIME, NativeOutputError

RUNTIME_TOOL = {v: k for k, v in TOOL_RUNTIME.items()}


# -- command lines ---------------------------------------------------------------------------------

def tool_for_runtime(runtime: str) -> str:
    try:
        return RUNTIME_TOOL[runtime]
    except KeyError:
        raise HarnessError(f"no native tool for runtime {runtime!r}; use tflite (benchmark_model) "
                           f"or onnxruntime (onnxruntime_perf_test)") from None


def _num(value: Any) -> str:
    """Flag values as the tools read them: integers without a decimal point."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def benchmark_model_argv(job: dict, binary: str = "benchmark_model", model_path: str | None = None,
                         op_profiling: bool | None = None) -> list[str]:
    """TFLite benchmark_model flags for a job. It stops on runs AND time, like the Python runner."""
    warm = job.get("warmup") or {}
    meas = job.get("measure") or {}
    argv = [binary, f"--graph={model_path or job['model_path']}",
            f"--num_threads={int(job.get('threads') or 1)}"]
    if job.get("xnnpack") is not None:
        argv.append(f"--use_xnnpack={'true' if job['xnnpack'] else 'false'}")
    argv.append(f"--warmup_runs={int(warm.get('min_runs', 1))}")
    if "min_time_s" in warm:
        argv.append(f"--warmup_min_secs={_num(warm['min_time_s'])}")
    argv.append(f"--num_runs={int(meas.get('min_runs', 50))}")
    argv.append(f"--min_secs={_num(meas.get('min_time_s', 1.0))}")
    if "max_time_s" in meas:
        argv.append(f"--max_secs={_num(meas['max_time_s'])}")
    if op_profiling if op_profiling is not None else job.get("mode") == "profile":
        argv.append("--enable_op_profiling=true")
    return argv


def onnxruntime_perf_test_argv(job: dict, binary: str = "onnxruntime_perf_test",
                               model_path: str | None = None, profile_prefix: str | None = None) -> list[str]:
    """onnxruntime_perf_test flags: CPU provider, intra/inter threads, random inputs (-I), fixed seed,
    percentiles (-s); a fixed repeat count (-m times -r) or, without min_runs, a duration (-t)."""
    meas = job.get("measure") or {}
    argv = [binary, "-e", "cpu"]
    runs = int(meas.get("min_runs") or 0)
    if runs > 0:
        argv += ["-m", "times", "-r", str(runs)]
    else:
        argv += ["-m", "duration", "-t", str(max(1, math.ceil(float(meas.get("min_time_s", 1.0)))))]
    argv += ["-x", str(int(job.get("threads") or 1)), "-y", str(int(job.get("inter_op_threads") or 1)),
             "-S", str(int(job.get("seed", 1))), "-I", "-s"]
    if profile_prefix:
        argv += ["-p", profile_prefix]
    argv.append(model_path or job["model_path"])
    return argv


def read_output_file(path: Path) -> str:
    """A saved tool output as text; a missing or binary file is a clear error."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NativeOutputError(f"{path}: no such file") from None
    except OSError as exc:
        raise NativeOutputError(f"{path}: cannot read ({exc.strerror})") from None
    if b"\0" in data[:65536]:
        raise NativeOutputError(f"{path}: a binary file, not the text output of a benchmark tool")
    return data.decode("utf-8", errors="replace")
