"""The registry of record keys and summary.csv columns: name, kind, unit and what each means, in one
place (after pyperf's `_metadata.py`). The collector, the report and `compare` read it; the README's
column list is made from it.

`comparable` marks what two runs must agree on for their latencies to be compared (`edgebench
compare` marks a config "not comparable" otherwise), as pyperf checks metadata before merging runs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    """One key of a record or one column of summary.csv."""

    name: str
    kind: str            # str | int | float | bool | list | dict
    unit: str | None     # ns, ms, s, bytes, MB, pct, pts, count, C, or None
    description: str
    comparable: bool = False


def _keys(*rows: tuple) -> dict[str, Key]:
    return {row[0]: Key(*row) for row in rows}


# Keys the runner fills (harness/runner); the harness adds the job identity around them.
RUNNER_RECORD_KEYS = _keys(
    ("status", "str", None, "ok | failed | timeout | skipped (harness.records.Status)"),
    ("error", "str", None, "why the job did not succeed; None when ok"),
    ("runtime", "str", None, "onnxruntime | tflite"),
    ("runtime_impl", "str", None, "the Python module or native tool that ran the model"),
    ("runtime_version", "str", None, "version of the runtime", True),
    ("numpy_version", "str", None, "numpy on the device"),
    ("python_version", "str", None, "Python on the device"),
    ("arch", "str", None, "machine architecture the runner saw (platform.machine())", True),
    ("mode", "str", None, "perf | accuracy | profile"),
    ("threads", "int", "count", "intra-op threads"),
    ("xnnpack", "bool", None, "LiteRT XNNPACK delegate on; None for ONNX Runtime"),
    ("latency_ns", "list", "ns", "one sample per timed iteration"),
    ("warmup_ns", "list", "ns", "the warm-up iterations, not counted"),
    ("init_ns", "int", "ns", "load the model and create the session"),
    ("first_inference_ns", "int", "ns", "the first inference after load"),
    ("rss_after_imports_bytes", "int", "bytes", "resident memory once the runtime is imported"),
    ("rss_after_load_bytes", "int", "bytes", "resident memory once the model is loaded"),
    ("rss_after_first_bytes", "int", "bytes", "resident memory after the first inference"),
    ("peak_rss_bytes", "int", "bytes", "peak resident memory of the runner process"),
    ("accuracy", "float", None, "top-1 accuracy on the eval set, 0..1 (accuracy mode)"),
    ("n_eval", "int", "count", "eval examples scored"),
    ("predictions", "list", None, "predicted class per eval example"),
    ("delegation", "dict", None, "providers / delegated ops the runtime reported"),
    ("stop_reason", "str", None, "why the timed loop stopped (runs, time, max time)"),
    ("affinity", "list", None, "CPU cores the runner was pinned to"),
)

HARNESS_RECORD_KEYS = _keys(
    ("schema_version", "int", None, "record schema (harness.records.RECORD_SCHEMA_VERSION)"),
    ("runner_protocol", "int", None, "protocol of the runner that wrote the result"),
    ("run_id", "str", None, "the run folder's id"),
    ("device", "str", None, "device name from the profile"),
    ("config_id", "str", None, "device/model/runtime/precision/threads: one measured configuration"),
    ("model", "str", None, "zoo model name"),
    ("family", "str", None, "zoo family (the twins share it)"),
    ("twin", "str", None, "separable | standard"),
    ("format", "str", None, "onnx | tflite"),
    ("precision", "str", None, "fp32 | fp16 | int8"),
    ("model_file", "str", None, "model path on this host"),
    ("model_sha256", "str", None, "sha256 of the model file"),
    ("model_bytes", "int", "bytes", "size of the model file"),
    ("params", "int", "count", "parameters of the model"),
    ("macs", "int", "count", "multiply-adds of one inference"),
    ("reference_accuracy", "float", None, "fp32 Keras top-1 accuracy, 0..1"),
    ("trial", "int", None, "trial number: trial k of every config ran in the same time window"),
    ("emulated", "bool", None, "ran under an emulator (qemu)", True),
    ("emulated_cpu", "str", None, "the emulated CPU"),
    ("started_at", "str", None, "ISO 8601 UTC start of the job"),
    ("duration_s", "float", "s", "wall time of the job, harness side"),
    ("pid", "int", None, "runner process id"),
    ("temp_before_c", "float", "C", "SoC temperature before the job"),
    ("temp_after_c", "float", "C", "SoC temperature after the job"),
    ("throttled_before", "str", None, "Raspberry Pi get_throttled before the job"),
    ("throttled_after", "str", None, "Raspberry Pi get_throttled after the job"),
    ("latency_summary_ns", "dict", "ns", "statistics a native tool printed (no samples)"),
    ("ceiling_kind", "str", None, "ceiling job (harness/roofline): compute | depthwise | standard | bandwidth | perop"),
    ("ceiling_size", "int", None, "ceiling size: channels (convolutions), bytes one op moves (bandwidth), ops (perop)"),
    ("ceiling_ops", "int", "count", "ops the ceiling model executes per inference"),
    ("ceiling_macs", "int", "count", "multiply-adds of one inference of the ceiling model"),
    ("ceiling_bytes", "int", "bytes", "bytes the ceiling model's ops move per inference"),
)

RECORD_KEYS: dict[str, Key] = {**RUNNER_RECORD_KEYS, **HARNESS_RECORD_KEYS}

# summary.csv: one row per config, these columns in this order (harness.collect.summarize_records).
# Columns copied from the config's records keep the record key's entry.
def _copied(*names: str) -> dict[str, Key]:
    return {name: RECORD_KEYS[name] for name in names}


SUMMARY: dict[str, Key] = {
    **_copied("device", "config_id", "model", "family", "twin", "runtime", "runtime_version", "precision",
              "threads", "xnnpack"),
    **_keys(
        ("status", "str", None, "the worst status of the config's jobs"),
        ("trials", "int", "count", "ok perf trials"),
        ("n", "int", "count", "timed iterations, all trials"),
        ("median_ms", "float", "ms", "median latency, samples of all trials pooled"),
        ("mean_ms", "float", "ms", "mean latency"),
        ("p90_ms", "float", "ms", "90th percentile latency"),
        ("p99_ms", "float", "ms", "99th percentile latency"),
        ("std_ms", "float", "ms", "standard deviation of the latency"),
        ("cv_pct", "float", "pct", "coefficient of variation, std / mean"),
        ("min_ms", "float", "ms", "fastest iteration"),
        ("max_ms", "float", "ms", "slowest iteration"),
        ("trial_medians_ms", "str", "ms", "median of each trial, ';'-joined"),
        ("trial_cv_pct", "float", "pct", "CV of the trial medians: how much the trials disagree"),
        ("init_ms", "float", "ms", "median load + session creation"),
        ("first_inference_ms", "float", "ms", "median first inference"),
        ("peak_rss_mb", "float", "MB", "median peak resident memory (MiB)"),
        ("rss_after_load_mb", "float", "MB", "median resident memory after load (MiB)"),
    ),
    **_copied("model_bytes", "params", "macs"),
    **_keys(
        ("accuracy_pct", "float", "pct", "measured top-1 accuracy"),
        ("reference_accuracy_pct", "float", "pct", "fp32 Keras top-1 accuracy"),
        ("accuracy_gap_pts", "float", "pts", "reference minus measured accuracy, points"),
    ),
    **_copied("n_eval"),
    **_keys(("delegation", "str", None, "providers or delegated ops, as text")),
    **_copied("emulated", "arch"),
    **_keys(("error", "str", None, "the last error of the config's jobs")),
}
SUMMARY_COLUMNS: list[str] = list(SUMMARY)

# columns added after SUMMARY_COLUMNS: by the collector when present, and by the report's warnings
SUMMARY_EXTRA = _keys(
    ("latency_source", "str", None, "'native tool summary' when a native tool printed the statistics"),
    ("warnings", "str", None, "warning codes, ';'-joined (harness.report.warnings.Warn)"),
    ("warning_text", "str", None, "each warning with what to do about it, ' | '-joined"),
)

# keys of a device probe (run.json `devices`) two runs must share to compare their latencies
COMPARABLE_PROBE_KEYS = ("arch", "cpu_model", "cpu_core_types", "board_model", "android_model", "soc")


def comparable_columns() -> list[str]:
    """Summary columns two runs must agree on (compare marks the config "not comparable" otherwise)."""
    return [k.name for k in SUMMARY.values() if k.comparable]


def describe_columns() -> str:
    """summary.csv's columns, one line each (name, unit, meaning): the README's list."""
    lines = []
    for key in (*SUMMARY.values(), *SUMMARY_EXTRA.values()):
        unit = f" [{key.unit}]" if key.unit else ""
        lines.append(f"{key.name}{unit}: {key.description}")
    return "\n".join(lines)
