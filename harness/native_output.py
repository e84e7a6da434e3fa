"""Parsers of what the native benchmark tools print: TFLite's `benchmark_model` and ONNX Runtime's
`onnxruntime_perf_test` (and its JSON profile), into the runner's record keys, so native and Python
results sit in the same table. The tools print summaries, not samples: records carry
`latency_summary_ns` (mean, min, max, std, percentiles, count) and `latency_ns` None.

Both tools have changed their output over the years (INFO: prefixes or none, "no stats:",
"Average inference timings", "Inference timings ... First inference", "Peak memory footprint" vs
"Memory footprint delta", "Min Latency is X sec" vs "Min Latency: X s"). The parsers accept every
variant they know and list each line they could not read in `unparsed_lines`, so a new format is
noticed instead of silently dropped. Per-op profile tables: harness.native_profile.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import HarnessError
from .native_profile import NUMBER as _NUMBER
from .native_profile import OpTable as _OpTable
from .records import RUNNER_KEYS, Status

TOOLS = ("benchmark_model", "onnxruntime_perf_test")
TOOL_RUNTIME = {"benchmark_model": "tflite", "onnxruntime_perf_test": "onnxruntime"}
SUMMARY_KEYS = ("mean", "min", "max", "std", "p5", "p50", "p90", "p95", "p99", "p999", "count")
MB = 1024 * 1024  # benchmark_model prints kB / 1024


class NativeOutputError(HarnessError):
    """A file or tool output is not benchmark_model / onnxruntime_perf_test output."""


# -- shared parsing helpers ------------------------------------------------------------------------

_LEVEL_PREFIX = re.compile(r"^(INFO|WARNING|WARN|ERROR|VERBOSE|DEBUG):\s?")
# absl / TensorFlow style: "2019-03-04 12:00:00.123456: I tensorflow/lite/tools/benchmark/x.cc:42] "
_TF_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?: ([IWEF]) \S+:\d+\]\s?")


def _strip_prefix(line: str) -> tuple[str, str]:
    """(level, message) with the logging prefix removed; level '' when there was none."""
    m = _LEVEL_PREFIX.match(line)
    if m:
        return m.group(1), line[m.end():]
    m = _TF_LOG_PREFIX.match(line)
    if m:
        return {"I": "INFO", "W": "WARNING", "E": "ERROR", "F": "ERROR"}[m.group(2)], line[m.end():]
    return "", line


def _ns(value: float, unit_ns: float) -> int:
    return round(float(value) * unit_ns)


def empty_record(tool: str) -> dict[str, Any]:
    """A runner-shaped record for a native tool: every runner key present, native extras added."""
    record: dict[str, Any] = {key: None for key in RUNNER_KEYS}
    record.update({
        "status": Status.FAILED.value, "runtime": TOOL_RUNTIME[tool], "runtime_impl": tool, "mode": "perf",
        "native_tool": tool, "latency_ns": None, "latency_summary_ns": None, "warmup_summary_ns": None,
        "memory_footprint_init_bytes": None, "memory_footprint_overall_bytes": None,
        "model_file_bytes": None, "rss_end_bytes": None, "op_profile": None, "op_profile_by_type": None,
        "op_profile_delegate": None, "op_profile_delegate_by_type": None,
        "log_messages": [], "unparsed_lines": [],
    })
    return record


def _summary(values: dict[str, float | int | None]) -> dict[str, Any]:
    return {key: values.get(key) for key in SUMMARY_KEYS}


def _finish(record: dict, recognised: int, source: str, tool: str, hint: str) -> dict:
    if recognised == 0:
        raise NativeOutputError(
            f"{source}: not {tool} output (no line recognised; expected lines such as {hint}). "
            f"Check the file and the --tool option.")
    summary = record.get("latency_summary_ns")
    record.pop("_failed", False)  # "Benchmarking failed" stays in log_messages; timings decide
    if summary and any(summary.get(k) is not None for k in ("mean", "p50", "min")):
        # latencies were read: an ok record, whatever else the output holds (lines not understood are
        # listed in unparsed_lines, not fatal)
        record["status"] = Status.OK.value
    else:
        record["status"] = Status.FAILED.value
        errors = [m["text"] for m in record["log_messages"] if m["level"] == "ERROR"]
        tail = [u["text"] for u in record["unparsed_lines"][-3:]]
        record["error"] = "; ".join(errors or tail) or \
            f"{tool} printed no timing results (did it crash or stop early?)"
    return record


# -- benchmark_model -------------------------------------------------------------------------------

_PARAM = re.compile(r"^([#A-Za-z][^:\[\]]*?)\s*:\s*\[(.*)\]\s*$")  # "Num threads: [4]", "Use gpu : [0]"
_COUNT = re.compile(r"^count=(\d+)((?:\s+\w+=" + _NUMBER + r")*)\s*$")
_KV = re.compile(r"(\w+)=(" + _NUMBER + r")")
_RUNNING = re.compile(r"^Running benchmark for at least (\d+) iterations")
_TIMINGS = re.compile(r"^(?:Average inference timings|Inference timings) in us:\s*(.*)$")
_FOOTPRINT = re.compile(r"^(?:Peak memory footprint|Memory footprint delta from the start of the tool)"
                        r" \(MB\):\s*init=(" + _NUMBER + r")\s+overall=(" + _NUMBER + r")")
_PERIODIC_PEAK = re.compile(r"^Overall peak memory footprint \(MB\) via periodic monitoring:\s*(" + _NUMBER + r")")
_VMRSS = re.compile(r"^- VmRSS\s*:\s*(" + _NUMBER + r")\s*MB")
_DELEGATE_NODES = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((\w+)\) node, "
                             r"yielding (\d+) partitions")
_TABLE_BANNER = re.compile(r"^=+ (.+?) =+$")
_IGNORED_BM = (
    re.compile(r"^STARTING!$"), re.compile(r"^Loaded model "), re.compile(r"^resolved reporter$"),
    re.compile(r"^Initialized TensorFlow Lite runtime"), re.compile(r"^Created TensorFlow Lite"),
    re.compile(r"^(Explicitly applied|Though) .*XNNPACK delegate"), re.compile(r"^Applied \w+ delegate"),
    re.compile(r"^Note: as the benchmark tool itself affects memory footprint"),
    re.compile(r"^Memory status at the end of exe(?:c)?ution:"), re.compile(r"^[+-] \w"),
    re.compile(r"^Number of nodes executed: \d+"), re.compile(r"^Memory \(bytes\): count="),
    re.compile(r"^\d+ nodes observed$"), re.compile(r"^Timings \(microseconds\): count="),
    re.compile(r"^(Operator-wise )?Profiling Info for "), re.compile(r"^Delegate internal:"),
    re.compile(r"^The model was invoked"), re.compile(r"^Benchmarking (failed|succeeded)"),
)


def _count_line(text: str) -> dict[str, float]:
    values = {k: float(v) for k, v in _KV.findall(text)}
    return values


def _count_summary(values: dict[str, float]) -> dict[str, Any]:
    us = 1000.0
    out: dict[str, Any] = {k: (_ns(values[k], us) if k in values else None)
                           for k in ("min", "max", "std", "p5", "p95")}
    out["mean"] = _ns(values["avg"], us) if "avg" in values else None
    out["p50"] = _ns(values["median"], us) if "median" in values else None
    out["count"] = int(values["count"]) if "count" in values else None
    if out["count"] == 1 and "curr" in values:  # one run: newer tools print only curr and percentiles
        for key in ("mean", "min", "max"):
            out[key] = out[key] if out[key] is not None else _ns(values["curr"], us)
    return _summary(out)


def _timing_fields(text: str) -> dict[str, float]:
    """'Init: 5579, First inference: 1357602, Warmup (avg): 1.3576e+06, Inference (avg): 1.24e+06'."""
    fields = {}
    for part in text.split(","):
        name, _, value = part.partition(":")
        value = value.strip()
        if re.fullmatch(_NUMBER, value):
            fields[name.strip().lower()] = float(value)
    return fields


def parse_benchmark_model(text: str, source: str = "<output>") -> dict[str, Any]:
    """Parse TFLite benchmark_model output (any known format) into a runner-shaped record."""
    record = empty_record("benchmark_model")
    counts: list[tuple[int | None, dict[str, float]]] = []
    running: list[int] = []
    timings: dict[str, float] = {}
    init_ms: float | None = None
    ops = _OpTable()
    recognised = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip():
            ops.columns = []  # a blank line ends a profiling table
            continue
        level, msg = _strip_prefix(line.strip())
        ok = True
        if m := _COUNT.match(msg):
            counts.append((running[-1] if running else None, _count_line(msg)))
        elif m := _RUNNING.match(msg):
            running.append(len(running))
        elif m := _TIMINGS.match(msg):
            timings = _timing_fields(m.group(1))
        elif m := re.match(r"^Initialized session in (" + _NUMBER + r")\s*ms", msg):
            init_ms = float(m.group(1))
        elif _benchmark_resources(record, msg):
            pass
        elif m := _TABLE_BANNER.match(msg):
            ops.banner(m.group(1))
        elif re.match(r"^(Operator-wise )?Profiling Info for |^Delegate internal:", msg):
            ops.section_line(msg)
        elif ops.header(msg) or ops.row(msg):
            pass
        elif m := _PARAM.match(msg):
            _benchmark_param(record, m.group(1).strip(), m.group(2))
        elif any(rx.match(msg) for rx in _IGNORED_BM):
            if msg.startswith("Benchmarking failed"):
                record["_failed"] = True
                record["log_messages"].append({"line": number, "level": "ERROR", "text": msg})
        elif level in ("ERROR", "WARNING"):
            record["log_messages"].append({"line": number, "level": level, "text": msg})
        else:
            ok = False
            record["unparsed_lines"].append({"line": number, "text": line})
        recognised += ok
    _benchmark_results(record, counts, timings, init_ms)
    if ops.rows:
        record["op_profile"] = ops.get("regular", "run order")
        record["op_profile_by_type"] = ops.get("regular", "summary by node type")
        record["op_profile_delegate"] = ops.get("delegate", "run order")
        record["op_profile_delegate_by_type"] = ops.get("delegate", "summary by node type")
        record["mode"] = "profile"
    return _finish(record, recognised, source, "benchmark_model",
                   "'Inference timings in us: ...' or 'count=50 first=... avg=...'")


def _benchmark_resources(record: dict, msg: str) -> bool:
    """Memory, model size and delegation lines into the record; False when `msg` is none of them."""
    if m := _FOOTPRINT.match(msg):
        record["memory_footprint_init_bytes"] = _ns(m.group(1), MB)
        record["memory_footprint_overall_bytes"] = _ns(m.group(2), MB)
    elif m := _PERIODIC_PEAK.match(msg):
        record["peak_rss_bytes"] = _ns(m.group(1), MB)
    elif m := _VMRSS.match(msg):
        record["rss_end_bytes"] = _ns(m.group(1), MB)
    elif m := re.match(r"^The input model file size \(MB\):\s*(" + _NUMBER + r")", msg):
        record["model_file_bytes"] = _ns(m.group(1), MB)
    elif m := _DELEGATE_NODES.search(msg):
        done, total, name, parts = int(m.group(1)), int(m.group(2)), m.group(3), int(m.group(4))
        record["delegation"] = {**(record["delegation"] or {}), "delegate": name,
                                "nodes_delegated": done, "nodes_total": total,
                                "delegate_kernels": parts, "ops_on_cpu": total - done}
    else:
        return False
    return True


def _benchmark_param(record: dict, name: str, value: str) -> None:
    key = name.lower()
    if key == "num threads" and re.fullmatch(r"-?\d+", value):
        record["threads"] = int(value)
    elif key == "use xnnpack" and value:
        record["xnnpack"] = value.lower() in ("1", "true")
    elif key == "graph":
        record["model_path"] = value


def _benchmark_results(record: dict, counts: list, timings: dict, init_ms: float | None) -> None:
    us = 1000.0
    # A count= line belongs to the "Running benchmark..." block above it: the first is the warm-up.
    # Without those headers, the first of several count lines is the warm-up and the last the runs.
    if any(block is not None for block, _ in counts):
        warm = next((v for block, v in counts if block == 0), None)
        regular = next((v for block, v in reversed(counts) if block is None or block >= 1), None)
    else:
        plain = [v for _, v in counts]
        warm = plain[0] if len(plain) > 1 else None
        regular = plain[-1] if plain else None
    if warm:
        record["warmup_summary_ns"] = _count_summary(warm)
    if regular:
        record["latency_summary_ns"] = _count_summary(regular)
    mean = timings.get("inference (avg)", timings.get("inference", timings.get("no stats")))
    if mean is not None:
        summary = record["latency_summary_ns"] or _summary({})
        summary["mean"] = _ns(mean, us)
        record["latency_summary_ns"] = summary
    if "init" in timings:
        record["init_ns"] = _ns(timings["init"], us)
    elif init_ms is not None:
        record["init_ns"] = _ns(init_ms, 1e6)
    if "first inference" in timings:
        record["first_inference_ns"] = _ns(timings["first inference"], us)
    elif warm and "first" in warm:
        record["first_inference_ns"] = _ns(warm["first"], us)
    elif warm and warm.get("count") == 1 and "curr" in warm:
        record["first_inference_ns"] = _ns(warm["curr"], us)


# -- onnxruntime_perf_test -------------------------------------------------------------------------

_ORT_LOG = re.compile(r"^.*?\[([VIWEF]):onnxruntime:[^\]]*\]\s*(.*)$")
_LATENCY = re.compile(r"^(Min|Max|P\d+) Latency(?::| is)\s*(" + _NUMBER + r")\s*(s|sec|ms)?\s*$")
_ORT_UNITS = {"s": 1e9, "sec": 1e9, "ms": 1e6, "us": 1e3}
_IGNORED_ORT = (
    re.compile(r"^Disabling intra-op thread spinning"), re.compile(r"^Total inference run time:"),
    re.compile(r"^Setting inter_op_num_threads to"), re.compile(r"^Using .*(random|default).*input",
                                                                 re.IGNORECASE),
)


def parse_onnxruntime_perf_test(text: str, source: str = "<output>") -> dict[str, Any]:
    """Parse onnxruntime_perf_test output (any known format) into a runner-shaped record."""
    record = empty_record("onnxruntime_perf_test")
    values: dict[str, Any] = {}
    providers: list[str] = []
    recognised = 0

    def timed(pattern: str, msg: str) -> int | None:
        m = re.match(pattern + r"\s*(" + _NUMBER + r")\s*(s|sec|ms|us)\s*$", msg)
        return _ns(m.group(1), _ORT_UNITS[m.group(2)]) if m else None

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        msg = line
        ok = True
        if m := _ORT_LOG.match(line):
            level = {"W": "WARNING", "E": "ERROR", "F": "ERROR"}.get(m.group(1))
            if level:
                record["log_messages"].append({"line": number, "level": level, "text": m.group(2)})
        elif (v := timed(r"^Session creation time cost:", msg)) is not None:
            record["init_ns"] = v
        elif (v := timed(r"^First inference time cost:", msg)) is not None:
            record["first_inference_ns"] = v
        elif (v := timed(r"^Average inference time cost:", msg)) is not None:
            values["mean"] = v
        elif (v := timed(r"^Total inference time cost:", msg)) is not None:
            record["total_inference_ns"] = v
        elif m := re.match(r"^Total inference requests:\s*(\d+)$", msg):
            values.setdefault("count", int(m.group(1)))
        elif m := re.match(r"^Runs:\s*(\d+)$", msg):
            values["count"] = int(m.group(1))
        elif m := re.match(r"^Number of inferences per second:\s*(" + _NUMBER + ")$", msg):
            record["inferences_per_second"] = float(m.group(1))
        elif m := re.match(r"^Avg CPU usage:\s*(" + _NUMBER + r")\s*%?$", msg):
            record["avg_cpu_percent"] = float(m.group(1))
        elif m := re.match(r"^Peak working set size:\s*(\d+)\s*(bytes)?$", msg):
            record["peak_rss_bytes"] = int(m.group(1))
        elif m := _LATENCY.match(msg):
            unit = _ORT_UNITS[m.group(3) or "s"]
            values[m.group(1).lower()] = _ns(m.group(2), unit)
        elif m := re.match(r"^Setting (?:intra_op_num_threads|thread pool size) to (\d+)", msg):
            record["threads"] = int(m.group(1))
        elif m := re.match(r"^Using (\w+ExecutionProvider)\b", msg, re.IGNORECASE):
            providers.append(m.group(1))
        elif any(rx.match(msg) for rx in _IGNORED_ORT):
            pass
        elif re.match(r"^(Error|Exception|terminate called|\s*what\(\):)", msg, re.IGNORECASE):
            record["log_messages"].append({"line": number, "level": "ERROR", "text": msg})
        else:
            ok = False
            record["unparsed_lines"].append({"line": number, "text": line})
        recognised += ok
    if "mean" not in values and values.get("count") and record.get("total_inference_ns"):
        values["mean"] = round(record["total_inference_ns"] / values["count"])  # total / requests
    if values:
        record["latency_summary_ns"] = _summary(values)
    if providers:
        record["delegation"] = {"providers": providers}
    return _finish(record, recognised, source, "onnxruntime_perf_test",
                   "'Average inference time cost: 82.3 ms' or 'P50 Latency: 0.08 s'")


PARSERS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "benchmark_model": parse_benchmark_model,
    "onnxruntime_perf_test": parse_onnxruntime_perf_test,
}


def parse_output(text: str, tool: str, source: str = "<output>") -> dict[str, Any]:
    if tool not in PARSERS:
        raise HarnessError(f"unknown native tool {tool!r}; use one of {', '.join(TOOLS)}")
    return PARSERS[tool](text, source)
