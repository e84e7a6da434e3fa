"""The pairs view: each separable model beside its standard twin (same family, device, runtime,
precision, threads), with the measured speedup next to what the multiply-adds predict. Twins are a
zoo family's two models, or two models a profile declares as a pair ([[pairs]]: the plan gives them
the pair's name as family), so a declared pair gets every column a zoo pair gets.

  speedup          the headline. With pair jobs (the pair rule's rounds: both twins in one fresh
                   process, alternating 50 ms blocks): the geometric mean over processes of each
                   process's median(standard) / median(separable), Student t 95% interval over
                   processes (harness.states.paired_speedup). Without them: standard over separable at
                   each twin's fast speed state, the ratio of geometric means of per-trial medians,
                   Welch t interval (harness.states.fast_state_speedup). No interval from one process
                   per twin (the noise inside one process is not a CI)
  pooled_speedup   median(standard) / median(separable), pooled over trials, with a 95% bootstrap
                   interval (harness.stats: trials, then iterations); called `speedup` before
  trial_speedup    median over trials k of median(standard_k) / median(separable_k): the jobs of
                   trial k ran in the same time window, so this ratio cancels most of the drift
                   (harness.stats; its bootstrap interval in trial_speedup_ci_low/high)
  best_speedup     min(standard) / min(separable): the fastest runs, least disturbed by other work on
                   a busy machine (a floor for what the device can do, not a typical latency)
  mac_ratio        separable MACs / standard MACs, from the graphs (records' `macs`)
  formula_ratio    1/N + 1/Dk^2 weighted by each block's standard-conv MACs (from the graph of the
                   separable twin at the input shapes it ran at, ONNX first, else the family's layer
                   plan); empty when the separable graph has no depthwise blocks
  efficiency       speedup / (1 / mac_ratio), a fraction: 1.0 when the time falls as much as the MACs do
                   (pooled_efficiency: the same on pooled_speedup, called `efficiency` before)
  energy_ratio     separable / standard mJ per inference, where both twins have energy ([conditions])
  accuracy_gap_pts standard minus separable top-1, in points (measured; the reference when not), with
                   its source in words, a paired interval and McNemar's exact test (harness.report.gap)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..stats import median_window_ratio, pair_job_medians, ratio_of_medians, trials_by_config
from ..zoo.kinds import DEPTHWISE, POINTWISE, STANDARD
from .gap import GAP_COLUMNS, gap_columns
from ..util import finite_or_none as _num, plain_cell as _norm

PAIR_KEYS = ("device", "family", "runtime", "precision", "threads", "xnnpack")

PAIRS_COLUMNS = [
    "device", "family", "runtime", "precision", "threads", "separable_config", "standard_config",
    "separable_median_ms", "standard_median_ms", "speedup", "speedup_ci_low", "speedup_ci_high",
    "speedup_method", "speedup_ci_note", "pooled_speedup", "pooled_speedup_ci_low", "pooled_speedup_ci_high",
    "trial_speedup", "trial_speedup_ci_low", "trial_speedup_ci_high", "trial_speedup_min",
    "trial_speedup_max", "trials_paired", "trials_separable", "trials_standard", "pair_jobs",
    "speed_states_separable", "speed_states_standard", "pair_rule", "pair_stop", "best_speedup",
    "separable_macs", "standard_macs", "mac_ratio", "theoretical_speedup", "formula_ratio",
    "formula_source", "formula_n_min", "formula_n_max", "formula_dk", "efficiency", "pooled_efficiency",
    "params_ratio", "peak_rss_ratio", "energy_ratio", "model_bytes_ratio",
    "separable_accuracy_pct", "standard_accuracy_pct", "accuracy_gap_pts", "accuracy_source",
    *GAP_COLUMNS,
    "separable_depthwise_time_pct", "separable_depthwise_mac_pct", "separable_pointwise_time_pct",
    "separable_pointwise_mac_pct", "separable_depthwise_gmacs", "separable_pointwise_gmacs",
    "standard_conv_gmacs", "warnings",
]


def _ratio(a: Any, b: Any) -> float | None:
    a, b = _num(a), _num(b)
    return a / b if a is not None and b else None


def _key(row: dict[str, Any]) -> tuple:
    return tuple(_norm(row.get(k)) for k in PAIR_KEYS)


def _formula(sep_row: dict[str, Any], records: list[dict[str, Any]], cache: dict) -> dict[str, Any] | None:
    """From the separable twin's ONNX graph (any precision of it), else from the family config."""
    from .graph import formula_from_config, formula_from_graph, load_graph

    model = sep_row.get("model")
    if ("graph", model) not in cache:
        cache[("graph", model)] = None
        shapes: dict[str, dict[str, list[int]] | None] = {}
        for r in records:  # each file at the input shapes it ran at (a declared pair's own model files)
            f = str(r.get("model_file") or "")
            if r.get("model") == model and f.endswith((".onnx", ".tflite")):
                ins = r.get("inputs") if isinstance(r.get("inputs"), list) else None
                got = {i["name"]: list(i["shape"]) for i in ins or [] if isinstance(i, dict) and "shape" in i}
                if got or f not in shapes:
                    shapes[f] = got or None
        files = sorted(shapes, key=lambda p: (not p.endswith(".onnx"), "int8" in p, p))  # the float ONNX graph first
        for f in files:
            if Path(f).exists():
                try:
                    cache[("graph", model)] = formula_from_graph(load_graph(f, shapes[f]))
                except Exception:
                    cache[("graph", model)] = None
                if cache[("graph", model)]:
                    break
    if cache[("graph", model)]:
        return cache[("graph", model)]
    family = sep_row.get("family")
    if ("config", family) not in cache:
        cache[("config", family)] = None
        try:
            from ..manifest import load_manifest

            fam = load_manifest().families.get(family) or {}
            cache[("config", family)] = formula_from_config(fam.get("config") or {})
        except Exception:  # no zoo on this machine: the column stays empty
            pass
    return cache[("config", family)]


def _accuracy(sep: dict[str, Any], std: dict[str, Any]) -> tuple[float | None, float | None, str | None]:
    a, b = _num(sep.get("accuracy_pct")), _num(std.get("accuracy_pct"))
    if a is not None and b is not None:
        return a, b, "measured"
    a, b = _num(sep.get("reference_accuracy_pct")), _num(std.get("reference_accuracy_pct"))
    if a is not None and b is not None:
        return a, b, "reference (fp32 Keras)"
    return None, None, None


def _kind_stat(breakdown: list[dict[str, Any]], config_id: str, kind: str, col: str) -> float | None:
    for row in breakdown:
        if row["config_id"] == config_id and row["kind"] == kind:
            return _num(row.get(col))
    return None


SPEEDUP_METHOD = "fast-state geometric mean of trial medians"
PAIRED_METHOD = "paired: geometric mean of per-process ratios (both twins in one process), fast state"
ONE_TRIAL_NOTE = "within-process only: 1 trial per twin, no 95% CI"


def trial_medians(trials: dict[int, list[float]]) -> list[float]:
    """The median latency of each trial (ns), in trial order."""
    import numpy as np

    return [float(np.median(trials[k])) for k in sorted(trials) if len(trials[k])]


def headline_columns(std_trials: dict[int, list[float]], sep_trials: dict[int, list[float]],
                     paired: dict[int, tuple[float, float]] | None = None) -> dict[str, Any]:
    """The pair's headline speedup and its honesty notes: from the pair jobs (trial -> (separable
    median, standard median) of one process) when there are any (harness.states.paired_speedup; the
    speed states are then those of the pair jobs), else at each twin's fast state over the perf
    trials (harness.states.fast_state_speedup)."""
    from ..states import fast_state_speedup, paired_headline

    sep_m, std_m = trial_medians(sep_trials), trial_medians(std_trials)
    note = None
    if paired:
        h = paired_headline(paired, sep_m, std_m)
        method = PAIRED_METHOD
        if h.ci_low is None:
            note = "1 pair job: no 95% CI"
    else:
        h = fast_state_speedup(sep_m, std_m)
        method = SPEEDUP_METHOD
        if h.speedup is not None and h.ci_low is None:
            note = ONE_TRIAL_NOTE if min(len(sep_m), len(std_m)) <= 1 else "no 95% CI: 1 fast-state trial on a side"
    return {"speedup": h.speedup, "speedup_ci_low": h.ci_low, "speedup_ci_high": h.ci_high,
            "speedup_method": method if h.speedup is not None else None, "speedup_ci_note": note,
            "trials_separable": len(sep_m), "trials_standard": len(std_m), "pair_jobs": len(paired or {}),
            "speed_states_separable": h.sep_states.describe() or None,
            "speed_states_standard": h.std_states.describe() or None}


def build_pairs(summary, records: list[dict[str, Any]], breakdown: list[dict[str, Any]] | None = None):
    """One row per (separable, standard) pair found in the summary; columns PAIRS_COLUMNS."""
    import pandas as pd

    rows = summary.to_dict("records")
    standards = {_key(r): r for r in rows if r.get("twin") == "standard"}
    samples = trials_by_config(records)
    paired = pair_job_medians(records)
    breakdown = breakdown or []
    cache: dict = {}
    out = []
    for sep in rows:
        if sep.get("twin") != "separable" or not sep.get("family"):
            continue
        std = standards.get(_key(sep))
        if std is None:
            continue
        num, den = samples.get(std["config_id"], {}), samples.get(sep["config_id"], {})
        est = ratio_of_medians(num, den)
        win = median_window_ratio(num, den)
        mac_ratio = _ratio(sep.get("macs"), std.get("macs"))
        formula = _formula(sep, records, cache) or {}
        acc_sep, acc_std, acc_src = _accuracy(sep, std)
        warns = sorted({w for r in (sep, std) for w in str(r.get("warnings") or "").split(";") if w})
        row = {
            **{k: _norm(sep.get(k)) for k in PAIR_KEYS if k != "xnnpack"},
            "separable_config": sep["config_id"], "standard_config": std["config_id"],
            "separable_median_ms": _num(sep.get("median_ms")), "standard_median_ms": _num(std.get("median_ms")),
            **headline_columns(num, den, paired.get((sep["config_id"], std["config_id"]))),
            "pooled_speedup": est.ratio, "pooled_speedup_ci_low": est.ci_low, "pooled_speedup_ci_high": est.ci_high,
            "trial_speedup": win.ratio, "trial_speedup_ci_low": win.ci_low, "trial_speedup_ci_high": win.ci_high,
            "trial_speedup_min": min(win.per_window) if win.per_window else None,
            "trial_speedup_max": max(win.per_window) if win.per_window else None, "trials_paired": win.windows,
            "best_speedup": _ratio(std.get("min_ms"), sep.get("min_ms")),
            "separable_macs": sep.get("macs"), "standard_macs": std.get("macs"),
            "mac_ratio": mac_ratio, "theoretical_speedup": 1.0 / mac_ratio if mac_ratio else None,
            "formula_ratio": formula.get("formula_ratio"), "formula_source": formula.get("source"),
            "formula_n_min": formula.get("n_min"), "formula_n_max": formula.get("n_max"),
            "formula_dk": formula.get("dk"),
            "pooled_efficiency": est.ratio * mac_ratio if est.ratio is not None and mac_ratio else None,
            "params_ratio": _ratio(sep.get("params"), std.get("params")),
            "peak_rss_ratio": _ratio(sep.get("peak_rss_mb"), std.get("peak_rss_mb")),
            "energy_ratio": _ratio(sep.get("energy_mj_per_inference"), std.get("energy_mj_per_inference")),
            "model_bytes_ratio": _ratio(sep.get("model_bytes"), std.get("model_bytes")),
            "separable_accuracy_pct": acc_sep, "standard_accuracy_pct": acc_std,
            "accuracy_gap_pts": acc_std - acc_sep if acc_sep is not None and acc_std is not None else None,
            "accuracy_source": acc_src,
            "separable_depthwise_time_pct": _kind_stat(breakdown, sep["config_id"], DEPTHWISE, "time_pct"),
            "separable_depthwise_mac_pct": _kind_stat(breakdown, sep["config_id"], DEPTHWISE, "mac_pct"),
            "separable_pointwise_time_pct": _kind_stat(breakdown, sep["config_id"], POINTWISE, "time_pct"),
            "separable_pointwise_mac_pct": _kind_stat(breakdown, sep["config_id"], POINTWISE, "mac_pct"),
            "separable_depthwise_gmacs": _kind_stat(breakdown, sep["config_id"], DEPTHWISE, "gmacs_per_s"),
            "separable_pointwise_gmacs": _kind_stat(breakdown, sep["config_id"], POINTWISE, "gmacs_per_s"),
            "standard_conv_gmacs": _kind_stat(breakdown, std["config_id"], STANDARD, "gmacs_per_s"),
            "warnings": ";".join(warns) or None,
        }
        row.update(gap_columns(sep["config_id"], std["config_id"], acc_src, sep.get("precision"), records, cache))
        row["efficiency"] = row["speedup"] * mac_ratio if row.get("speedup") is not None and mac_ratio else None
        out.append(row)
    from ..roofline.predict import pair_columns  # the roofline prediction beside the measurement

    df = pd.DataFrame(out, columns=PAIRS_COLUMNS)
    return pd.concat([df, pair_columns(df, summary, records)], axis=1)
