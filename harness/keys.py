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
    unit: str | None     # ns, us, ms, s, bytes, MB, pct, pts, count, ratio, fraction, GMAC/s, C, mJ, J, W, Hz, or None
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
    ("mode", "str", None, "perf | pair | accuracy | profile"),
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
    ("placement", "dict", None, "cpu the runner last ran on, buffer alignment and page offsets (perf mode)"),
    ("partner_latency_ns", "list", "ns", "pair mode: the partner twin's samples, timed in the same process"),
    ("pair_blocks", "int", "count", "pair mode: alternating blocks timed (both twins)"),
    ("partner", "dict", None, "pair mode: the partner's inputs, first inference, delegation and warm-up"),
)

HARNESS_RECORD_KEYS = _keys(
    ("schema_version", "int", None, "record schema (harness.records.RECORD_SCHEMA_VERSION)"),
    ("runner_protocol", "int", None, "protocol of the runner that wrote the result"),
    ("run_id", "str", None, "the run folder's id"),
    ("device", "str", None, "device name from the profile"),
    ("lab_place", "str", None, "the labgrid place the job ran on (kind labgrid)"),
    ("lab_exporter", "str", None, "the lab host(s) exporting the place's resources"),
    ("lab_reservation", "str", None, "labgrid's reservation token of the run's lock"),
    ("lab_coordinator", "str", None, "the labgrid coordinator HOST:PORT"),
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
    ("inputs", "list", None, "every model input as fed: name, shape, dtype (resolved before any job)"),
    ("input_notes", "list", None, "how each symbolic input dimension was decided (batch 1, input_shapes, eval data)"),
    ("declared_pair", "str", None, "the profile's [[pairs]] name this model belongs to"),
    ("partner_config_id", "str", None, "pair mode: the config partner_latency_ns belongs to (the standard twin)"),
    ("partner_model_file", "str", None, "pair mode: the partner's model path on this host"),
    ("partner_model_sha256", "str", None, "pair mode: sha256 of the partner's model file"),
    ("ceiling_kind", "str", None, "ceiling job (harness/roofline): compute | depthwise | standard | bandwidth | perop"),
    ("ceiling_size", "int", None, "ceiling size: channels (convolutions), bytes one op moves (bandwidth), ops (perop)"),
    ("ceiling_ops", "int", "count", "ops the ceiling model executes per inference"),
    ("ceiling_macs", "int", "count", "multiply-adds of one inference of the ceiling model"),
    ("ceiling_bytes", "int", "bytes", "bytes the ceiling model's ops move per inference"),
)

# Keys [conditions] adds to a job's record (harness.conditions: cooldown, governor, energy).
CONDITION_RECORD_KEYS = _keys(
    ("cooldown_wait_s", "float", "s", "seconds waited for the device to cool before the job"),
    ("cooldown_reason", "str", None, "why the wait ended: below the threshold, stopped falling, time limit, "
     "no temperature sensor"),
    ("cooldown_start_c", "float", "C", "hottest watched SoC zone when the wait began"),
    ("cooldown_temp_c", "float", "C", "hottest watched SoC zone when the wait ended"),
    ("cpufreq_governor", "dict", None, "cpufreq policy -> governor, seen at the job"),
    ("cpufreq_cur_khz", "dict", None, "cpufreq policy -> current kHz, seen at the job"),
    ("cpufreq_min_khz", "dict", None, "cpufreq policy -> scaling_min_freq kHz"),
    ("cpufreq_max_khz", "dict", None, "cpufreq policy -> scaling_max_freq kHz"),
    ("governor_requested", "str", None, "[conditions] governor"),
    ("governor_applied", "bool", None, "the governor / frequency range asked for holds"),
    ("governor_note", "str", None, "why it could not be applied"),
    ("energy_source", "str", None, "where energy came from (rapl:..., hwmon:..., battery:..., command:...)"),
    ("energy_mj_per_inference", "float", "mJ", "mean power over the job x mean latency"),
    ("energy_ci95_mj", "list", "mJ", "95% interval from the spread of the per-sample powers"),
    ("energy_net_mj_per_inference", "float", "mJ", "above the idle baseline's power"),
    ("energy_net_ci95_mj", "list", "mJ", "95% interval of the net figure"),
    ("energy_mean_w", "float", "W", "mean power over the measured window"),
    ("energy_idle_w", "float", "W", "mean power of the idle baseline before it"),
    ("energy_window_s", "float", "s", "length of the measured window"),
    ("energy_window_j", "float", "J", "energy of the measured window"),
    ("energy_sample_hz", "float", "Hz", "real sampling rate"),
    ("energy_samples", "int", "count", "samples in the window"),
    ("energy_note", "str", None, "'not measurable: <why>', or a warning (a charging battery)"),
)

RECORD_KEYS: dict[str, Key] = {**RUNNER_RECORD_KEYS, **HARNESS_RECORD_KEYS, **CONDITION_RECORD_KEYS}

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
    ("speed_states", "str", "us", "speed states of the trial medians ('2 speed states: 3 trials at 36 us, "
     "2 at 52 us'); empty for one state"),
    ("energy_mj_per_inference", "float", "mJ", "energy per inference, mean over the ok perf trials (runs with "
     "[conditions] energy)"),
    ("energy_ci_low_mj", "float", "mJ", "95% t interval across trials, low (one trial: its samples' interval)"),
    ("energy_ci_high_mj", "float", "mJ", "95% interval, high"),
    ("energy_source", "str", None, "where the energy came from"),
    ("energy_note", "str", None, "why it is not measurable, or a warning about the readings"),
)

# pairs.csv: one row per twin pair (harness.report.pairs.PAIRS_COLUMNS)
PAIRS = _keys(
    ("device", "str", None, "device name"), ("family", "str", None, "zoo family of the twins"),
    ("runtime", "str", None, "onnxruntime | tflite"), ("precision", "str", None, "fp32 | fp16 | int8"),
    ("threads", "int", "count", "intra-op threads"),
    ("separable_config", "str", None, "config_id of the separable twin"),
    ("standard_config", "str", None, "config_id of the standard twin"),
    ("separable_median_ms", "float", "ms", "separable twin's pooled median latency"),
    ("standard_median_ms", "float", "ms", "standard twin's pooled median latency"),
    ("speedup", "float", "ratio", "headline: with pair jobs, the geometric mean over processes of each "
     "process's standard / separable median (both twins in one process); else standard / separable at each "
     "twin's fast speed state (geometric mean of per-trial medians)"),
    ("speedup_ci_low", "float", "ratio", "95% t interval of the headline (over pair jobs, else Welch over "
     "trials), low; empty with one process"),
    ("speedup_ci_high", "float", "ratio", "95% interval of the headline, high"),
    ("speedup_method", "str", None, "how the headline was estimated"),
    ("speedup_ci_note", "str", None, "why there is no interval (one trial: within-process only)"),
    ("pooled_speedup", "float", "ratio", "median(standard) / median(separable), all samples pooled (was "
     "`speedup` in run-v1 reports)"),
    ("pooled_speedup_ci_low", "float", "ratio", "95% hierarchical bootstrap interval, low"),
    ("pooled_speedup_ci_high", "float", "ratio", "95% hierarchical bootstrap interval, high"),
    ("trial_speedup", "float", "ratio", "median over trials k of the ratio of trial k's medians"),
    ("trial_speedup_ci_low", "float", "ratio", "its bootstrap interval, low"),
    ("trial_speedup_ci_high", "float", "ratio", "its bootstrap interval, high"),
    ("trial_speedup_min", "float", "ratio", "smallest per-trial ratio"),
    ("trial_speedup_max", "float", "ratio", "largest per-trial ratio"),
    ("trials_paired", "int", "count", "trials run by both twins"),
    ("trials_separable", "int", "count", "ok perf trials of the separable twin"),
    ("trials_standard", "int", "count", "ok perf trials of the standard twin"),
    ("pair_jobs", "int", "count", "ok pair jobs (both twins in one process) behind a paired headline"),
    ("speed_states_separable", "str", "us", "speed states of the separable twin's process medians (perf "
     "trials, and pair jobs when there are any)"),
    ("speed_states_standard", "str", "us", "speed states of the standard twin's process medians (perf trials, "
     "and pair jobs when there are any)"),
    ("pair_rule", "str", None, "the pair stopping rule this run used (matrix.pair_target and its limits)"),
    ("pair_stop", "str", None, "why the rule stopped adding rounds for this pair (within target, a limit)"),
    ("best_speedup", "float", "ratio", "min(standard) / min(separable): the fastest runs, a floor"),
    ("separable_macs", "int", "count", "separable multiply-adds per inference"),
    ("standard_macs", "int", "count", "standard multiply-adds per inference"),
    ("mac_ratio", "float", "ratio", "separable MACs / standard MACs"),
    ("theoretical_speedup", "float", "ratio", "1 / mac_ratio: what the MACs predict"),
    ("formula_ratio", "float", "ratio", "1/N + 1/Dk^2 weighted over the separable blocks"),
    ("formula_source", "str", None, "where formula_ratio's layers came from: the ONNX graph or the family's "
     "layer plan"),
    ("formula_n_min", "int", "count", "fewest output channels N of a separable block"),
    ("formula_n_max", "int", "count", "most output channels N of a separable block"),
    ("formula_dk", "int", "count", "kernel size Dk"),
    ("efficiency", "float", "fraction", "speedup x mac_ratio: 1.0 when time falls as much as the MACs "
     "predict"),
    ("pooled_efficiency", "float", "fraction", "pooled_speedup x mac_ratio (called efficiency before)"),
    ("params_ratio", "float", "ratio", "separable / standard parameters"),
    ("peak_rss_ratio", "float", "ratio", "separable / standard peak resident memory"),
    ("energy_ratio", "float", "ratio", "separable / standard mJ per inference, where both twins have energy"),
    ("model_bytes_ratio", "float", "ratio", "separable / standard model file size"),
    ("separable_accuracy_pct", "float", "pct", "separable top-1 (measured, else the reference)"),
    ("standard_accuracy_pct", "float", "pct", "standard top-1 (measured, else the reference)"),
    ("accuracy_gap_pts", "float", "pts", "standard minus separable top-1"),
    ("accuracy_source", "str", None, "measured | reference (fp32 Keras)"),
    ("accuracy_gap_label", "str", None, "the gap's source in words: 'measured, int8' or 'fp32 reference "
     "(not measured at int8)'"),
    ("accuracy_gap_ci_low", "float", "pts", "paired 95% interval of the gap on the same images, low"),
    ("accuracy_gap_ci_high", "float", "pts", "paired 95% interval of the gap, high"),
    ("accuracy_discordant_sep", "int", "count", "images only the separable twin got right"),
    ("accuracy_discordant_std", "int", "count", "images only the standard twin got right"),
    ("mcnemar_p", "float", None, "McNemar's exact two-sided p-value on the discordant images"),
    ("separable_depthwise_time_pct", "float", "pct", "separable twin's kernel time in depthwise convs"),
    ("separable_depthwise_mac_pct", "float", "pct", "separable twin's MACs in depthwise convs"),
    ("separable_pointwise_time_pct", "float", "pct", "separable twin's kernel time in pointwise convs"),
    ("separable_pointwise_mac_pct", "float", "pct", "separable twin's MACs in pointwise convs"),
    ("separable_depthwise_gmacs", "float", "GMAC/s", "depthwise throughput of the separable twin"),
    ("separable_pointwise_gmacs", "float", "GMAC/s", "pointwise throughput of the separable twin"),
    ("standard_conv_gmacs", "float", "GMAC/s", "standard-conv throughput of the standard twin"),
    ("warnings", "str", None, "warning codes of either twin, ';'-joined"),
)

# keys of a device probe (run.json `devices`) two runs must share to compare their latencies
COMPARABLE_PROBE_KEYS = ("arch", "cpu_model", "cpu_core_types", "board_model", "android_model", "soc")


def comparable_columns() -> list[str]:
    """Summary columns two runs must agree on (compare marks the config "not comparable" otherwise)."""
    return [k.name for k in SUMMARY.values() if k.comparable]


def columns_table(name: str) -> str:
    """A Markdown table (column, unit, meaning) of summary.csv or pairs.csv: the README's tables."""
    keys = [*SUMMARY.values(), *SUMMARY_EXTRA.values()] if name == "summary.csv" else list(PAIRS.values())
    lines = ["| column | unit | meaning |", "|---|---|---|"]
    lines += [f"| `{k.name}` | {k.unit or ''} | {k.description.replace('|', '/')} |" for k in keys]
    return "\n".join(lines)


def describe_columns() -> str:
    """summary.csv's columns, one line each (name, unit, meaning): the README's list."""
    lines = []
    for key in (*SUMMARY.values(), *SUMMARY_EXTRA.values()):
        unit = f" [{key.unit}]" if key.unit else ""
        lines.append(f"{key.name}{unit}: {key.description}")
    return "\n".join(lines)
