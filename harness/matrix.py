"""The [matrix] table of a profile: its keys with their meaning, the defaults, the ranges numbers must
fall in, and the checks of its values (harness/profiles.py reads the TOML and names file and line)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUNTIMES = ("onnxruntime", "tflite")
PRECISIONS = ("fp32", "fp16", "int8")
MODES = ("perf", "accuracy", "profile", "ceilings")

MATRIX_KEYS: dict[str, tuple[Any, str]] = {
    "models": (list, "zoo names or model file paths"),
    "runtimes": (list, "onnxruntime, tflite"),
    "precisions": (list, "fp32, fp16, int8"),
    "threads": (list, "thread counts"),
    "modes": (list, "perf, accuracy, profile, ceilings"),
    "trials": (int, "trials per config, each a fresh process"),
    "order": (str, "interleaved | shuffled"),
    "xnnpack": (bool, "TFLite XNNPACK delegate on/off"),
    "warmup_runs": (int, "warm-up runs (at least)"),
    "warmup_time_s": ((int, float), "warm-up time (at least)"),
    "min_runs": (int, "measured runs (at least)"),
    "min_time_s": ((int, float), "measured time (at least)"),
    "max_time_s": ((int, float), "measured time (at most)"),
    "target_rel_ci": ((int, float), "stop when the median's 95% CI is within +- this fraction (0: off)"),
    "job_timeout_s": ((int, float), "a job taking longer is killed and recorded as a timeout"),
    "pair_target": ((int, float), "more pair jobs (both twins in one process) until each twin pair's "
                                  "speedup 95% CI is within +- this fraction (0: off; runs of 1-2 trials are "
                                  "never extended)"),
    "pair_max_trials": (int, "the pair rule's limit: pair jobs per pair (at least 3); on a device without pair "
                             "jobs (adb runner = native), trials per config, the planned ones included"),
    "pair_max_time_s": ((int, float), "the pair rule's limit: seconds of extra rounds"),
    "eval_data": (str, ".npz with one array per input name (or x) and labels y, for model files given by path"),
    "inter_op_threads": (int, "ONNX Runtime inter-op threads"),
    "input_shapes": (dict, "input name -> full shape, for every model; or model -> { input name -> shape }"),
    "input_ranges": (dict, "integer input name -> [low, high) of generated data; or model -> { ... }"),
}
# Top-level [[pairs]] tables: two models of the matrix to compare as twins.
PAIR_TABLE_KEYS = ("name", "separable", "standard")
MODEL_SUFFIXES = (".onnx", ".tflite")

DEFAULT_MATRIX: dict[str, Any] = {
    "models": ["digits"],
    "runtimes": ["onnxruntime", "tflite"],
    "precisions": ["fp32", "int8"],
    "threads": [1],
    "modes": ["perf", "accuracy"],
    "trials": 3,
    "order": "interleaved",
    "xnnpack": True,
    "warmup_runs": 10,
    "warmup_time_s": 0.2,
    "min_runs": 20,
    "min_time_s": 0.1,
    "max_time_s": 10.0,
    "target_rel_ci": 0.01,
    "job_timeout_s": None,
    "pair_target": 0.02,
    "pair_max_trials": 12,
    "pair_max_time_s": 120.0,
    "eval_data": None,
    "inter_op_threads": 1,
    "input_shapes": {},
    "input_ranges": {},
}

# numeric [matrix] values: (low, high, low excluded); finite always (nan and inf are refused)
NUMBER_RANGES: dict[str, tuple[float, float, bool]] = {
    "warmup_time_s": (0, 3600, False),
    "min_time_s": (0, 3600, False),
    "max_time_s": (0, 3600, False),
    "job_timeout_s": (0, 7 * 86400, True),
}

QUICK = {"trials": 1, "warmup_runs": 3, "warmup_time_s": 0.05, "min_runs": 20, "min_time_s": 0.1,
         "max_time_s": 2.0, "target_rel_ci": None, "pair_target": 0}



def is_model_file(name: str) -> bool:
    return Path(name).suffix.lower() in MODEL_SUFFIXES


def check_matrix_values(m: dict, where: Callable[[str], str], problems: list[str]) -> None:
    """The values of a [matrix] table (after defaults and overrides); `where(key)` names the file and line."""

    for key, allowed in (("runtimes", RUNTIMES), ("precisions", PRECISIONS), ("modes", MODES)):
        if not isinstance(m.get(key), list):
            continue
        for v in m[key]:
            if v not in allowed:
                problems.append(f"{where(key)}: matrix.{key} has unknown value {v!r}; use "
                                f"{', '.join(allowed)}")
        if not m[key]:
            problems.append(f"{where(key)}: matrix.{key} is empty")
    if isinstance(m.get("threads"), list):
        if not m["threads"] or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 1
                                       for t in m["threads"]):
            problems.append(f"{where('threads')}: matrix.threads must list integers >= 1")
    if isinstance(m.get("models"), list) and (not m["models"] or
                                              not all(isinstance(x, str) for x in m["models"])):
        problems.append(f"{where('models')}: matrix.models must list zoo names or model paths")
    for key in ("trials", "min_runs", "warmup_runs"):
        if isinstance(m.get(key), int) and m[key] < (1 if key != "warmup_runs" else 0):
            problems.append(f"{where(key)}: matrix.{key} must be at least 1")
    for key, (low, high, low_open) in NUMBER_RANGES.items():
        v = m.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not (
                math.isfinite(v) and (low < v if low_open else low <= v) and v <= high):
            problems.append(f"{where(key)}: matrix.{key} = {v!r} is out of range; give a number "
                            f"{'above' if low_open else 'from'} {low:g} {'up ' if low_open else ''}to {high:g}")
    if (isinstance(m.get("min_time_s"), (int, float)) and isinstance(m.get("max_time_s"), (int, float))
            and m["max_time_s"] < m["min_time_s"]):
        problems.append(f"{where('max_time_s')}: matrix.max_time_s ({m['max_time_s']}) is below "
                        f"min_time_s ({m['min_time_s']})")
    t = m.get("target_rel_ci")
    if t is not None and isinstance(t, (int, float)) and not 0 <= t < 1:
        problems.append(f"{where('target_rel_ci')}: matrix.target_rel_ci is a fraction, e.g. 0.02 for 2% "
                        f"(0 turns the interval rule off)")
    check_pair_rule(m, where, problems)
    for key in ("input_shapes", "input_ranges"):
        for k, v in (m.get(key) or {}).items():
            if not isinstance(v, (list, dict)):
                problems.append(f"{where(key)}: matrix.{key}.{k} must be a list of integers (for the input "
                                f"named {k!r} of every model) or a table keyed by input name (for model {k!r})")
    if m.get("order") not in ("interleaved", "shuffled"):
        problems.append(f"{where('order')}: matrix.order must be 'interleaved' or 'shuffled'")


def check_pair_rule(m: dict[str, Any], where: Any, problems: list[str]) -> None:
    t = m.get("pair_target")
    if isinstance(t, (int, float)) and not (t == t and 0 <= t < 0.5):
        problems.append(f"{where('pair_target')}: matrix.pair_target is a fraction, e.g. 0.02 for +-2% "
                        f"(0 turns the pair rule off)")
    n = m.get("pair_max_trials")
    if isinstance(n, int) and n < 1:
        problems.append(f"{where('pair_max_trials')}: matrix.pair_max_trials must be at least 1 (the rule "
                        f"never goes below matrix.trials)")
    s = m.get("pair_max_time_s")
    if isinstance(s, (int, float)) and not (s == s and 0 <= s < 86400):
        problems.append(f"{where('pair_max_time_s')}: matrix.pair_max_time_s must be between 0 and 86400 s")
