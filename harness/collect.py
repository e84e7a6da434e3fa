"""The collector: records -> a tidy pandas DataFrame, one row per config (what summary.csv holds; the
report room writes it), and its text table. Nothing here writes a file.

Latency statistics pool the per-iteration samples of every perf trial of a config; the spread between
trials is kept too (median of each trial, and their CV). Accuracy comes from the accuracy job of the
same config; the accuracy gap is the Keras fp32 reference minus the measured accuracy, in points.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RunDirError
from .keys import SUMMARY_COLUMNS  # summary.csv's columns in order, with units: harness.keys.SUMMARY
from .records import RECORDS_FILE, Status, latest_per_job, load_run
from .util import text_table

# the worst status of a config's jobs is the config's status
STATUS_RANK = {s.value: rank for rank, s in enumerate((Status.OK, Status.SKIPPED, Status.TIMEOUT, Status.FAILED))}


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def _mb(v: float | None) -> float | None:
    return None if v is None else round(v / 2**20, 2)


def _ms(v: float | None) -> float | None:
    return None if v is None else v / 1e6


def summarize_records(records: list[dict[str, Any]]):
    """One row per config, in first-seen order."""
    import pandas as pd

    groups: dict[str, list[dict[str, Any]]] = {}
    for rec in latest_per_job(records):
        groups.setdefault(rec.get("config_id", "?"), []).append(rec)
    rows = []
    for recs in groups.values():
        first = recs[0]
        perf = [r for r in recs if r.get("mode") == "perf"]
        perf_ok = [r for r in perf if r.get("status") == Status.OK and r.get("latency_ns")]
        # native tools (benchmark_model, onnxruntime_perf_test) print statistics, not samples
        perf_native = [r for r in perf if r.get("status") == Status.OK and not r.get("latency_ns")
                       and r.get("latency_summary_ns")]
        acc = [r for r in recs if r.get("mode") == "accuracy" and r.get("status") == Status.OK]
        statuses = [r.get("status", Status.FAILED.value) for r in recs if r.get("mode") in ("perf", "accuracy")]
        worst = max(statuses or [Status.OK.value], key=lambda s: STATUS_RANK.get(s, 3))
        errors = [r.get("error") for r in recs if r.get("status") != Status.OK and r.get("error")]
        row: dict[str, Any] = {k: first.get(k) for k in (
            "device", "config_id", "model", "family", "twin", "runtime", "precision", "threads",
            "xnnpack", "model_bytes", "params", "macs", "emulated")}
        row["status"] = worst
        row["error"] = errors[-1] if errors else None
        src = (perf_ok or acc or recs)[0]
        row["runtime_version"] = src.get("runtime_version")
        row["arch"] = src.get("arch")
        row["trials"] = len(perf_ok)
        if perf_ok:
            _sample_stats(row, perf_ok)
        elif perf_native:
            _native_stats(row, perf_native)
        else:
            row["n"] = 0
        if any("energy_note" in r for r in perf):  # [conditions] energy asked: a figure or why not
            row.update(energy_columns(perf))
        if acc:
            row["accuracy_pct"] = 100.0 * float(acc[-1]["accuracy"])
            row["n_eval"] = acc[-1].get("n_eval")
        ref = first.get("reference_accuracy")
        if ref is not None:
            row["reference_accuracy_pct"] = 100.0 * float(ref)
            if row.get("accuracy_pct") is not None:
                row["accuracy_gap_pts"] = row["reference_accuracy_pct"] - row["accuracy_pct"]
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in SUMMARY_COLUMNS:
        if col not in df.columns:
            df[col] = None
    return df[SUMMARY_COLUMNS + [c for c in df.columns if c not in SUMMARY_COLUMNS]]


def _sample_stats(row: dict[str, Any], perf_ok: list[dict[str, Any]]) -> None:
    """Latency statistics pooled over the samples of every ok perf trial, and the spread between trials."""
    samples = np.concatenate([np.asarray(r["latency_ns"], dtype=np.float64) for r in perf_ok])
    row["n"] = int(samples.size)
    row["median_ms"] = float(np.median(samples)) / 1e6
    row["mean_ms"] = float(samples.mean()) / 1e6
    row["p90_ms"] = float(np.percentile(samples, 90)) / 1e6
    row["p99_ms"] = float(np.percentile(samples, 99)) / 1e6
    row["std_ms"] = float(samples.std(ddof=1)) / 1e6 if samples.size > 1 else 0.0
    row["cv_pct"] = 100.0 * row["std_ms"] / row["mean_ms"] if row["mean_ms"] else None
    row["min_ms"] = float(samples.min()) / 1e6
    row["max_ms"] = float(samples.max()) / 1e6
    tmeds = [float(np.median(r["latency_ns"])) / 1e6 for r in perf_ok]
    row["trial_medians_ms"] = ";".join(f"{m:.4f}" for m in tmeds)
    row["trial_cv_pct"] = (100.0 * float(np.std(tmeds, ddof=1)) / float(np.mean(tmeds))
                           if len(tmeds) > 1 else None)
    row["init_ms"] = _ms(_median([r.get("init_ns") for r in perf_ok]))
    row["first_inference_ms"] = _ms(_median([r.get("first_inference_ns") for r in perf_ok]))
    row["peak_rss_mb"] = _mb(_median([r.get("peak_rss_bytes") for r in perf_ok]))
    row["rss_after_load_mb"] = _mb(_median([r.get("rss_after_load_bytes") for r in perf_ok]))
    row["delegation"] = _delegation_text(perf_ok[0].get("delegation"))


def energy_columns(perf: list[dict[str, Any]]) -> dict[str, Any]:
    """mJ per inference of a config: the mean over its ok perf trials with a 95% t interval across
    them (one trial: that trial's own interval from its samples), the source, or why not measurable."""
    from .states import t975

    ok = [r for r in perf if r.get("status") == Status.OK and r.get("energy_mj_per_inference") is not None]
    out: dict[str, Any] = {"energy_mj_per_inference": None, "energy_ci_low_mj": None, "energy_ci_high_mj": None,
                           "energy_source": None, "energy_note": None}
    if not ok:
        out["energy_note"] = next((r["energy_note"] for r in perf if r.get("energy_note")), None)
        return out
    values = [float(r["energy_mj_per_inference"]) for r in ok]
    out["energy_mj_per_inference"] = float(np.mean(values))
    out["energy_source"] = ";".join(dict.fromkeys(str(r.get("energy_source")) for r in ok))
    if len(values) > 1:
        half = t975(len(values) - 1) * float(np.std(values, ddof=1)) / len(values) ** 0.5
        out["energy_ci_low_mj"], out["energy_ci_high_mj"] = out["energy_mj_per_inference"] - half, \
            out["energy_mj_per_inference"] + half
    elif isinstance(ok[0].get("energy_ci95_mj"), list):
        out["energy_ci_low_mj"], out["energy_ci_high_mj"] = ok[0]["energy_ci95_mj"]
    notes = [r["energy_note"] for r in ok if r.get("energy_note")]
    out["energy_note"] = notes[-1] if notes else None
    return out


def _native_stats(row: dict[str, Any], recs: list[dict[str, Any]]) -> None:
    """Statistics from the summaries native tools print (medians across trials; no raw samples)."""
    def pick(key: str) -> float | None:
        return _ms(_median([r["latency_summary_ns"].get(key) for r in recs]))

    row["trials"] = len(recs)
    row["n"] = int(sum(r["latency_summary_ns"].get("count") or 0 for r in recs))
    row["median_ms"] = pick("p50")
    row["mean_ms"] = pick("mean")
    row["p90_ms"] = pick("p90")
    row["p99_ms"] = pick("p99")
    row["std_ms"] = pick("std")
    row["min_ms"] = pick("min")
    row["max_ms"] = pick("max")
    if row["std_ms"] is not None and row["mean_ms"]:
        row["cv_pct"] = 100.0 * row["std_ms"] / row["mean_ms"]
    row["init_ms"] = _ms(_median([r.get("init_ns") for r in recs]))
    row["first_inference_ms"] = _ms(_median([r.get("first_inference_ns") for r in recs]))
    row["peak_rss_mb"] = _mb(_median([r.get("peak_rss_bytes") for r in recs]))
    row["latency_source"] = "native tool summary"


def _delegation_text(d: Any) -> str | None:
    if not d:
        return None
    if "providers" in d:
        return ",".join(d["providers"])
    if "delegate_kernels" in d:
        return (f"{d.get('ops_delegated')}/{d.get('model_ops')} ops delegated "
                f"({d['delegate_kernels']} delegate kernel(s))")
    return str(d)


def format_table(df) -> str:
    """The columns a user looks at first, as fixed-width text."""
    cols = [("model", "model"), ("runtime", "runtime"), ("precision", "prec"), ("threads", "thr"),
            ("median_ms", "median ms"), ("p90_ms", "p90 ms"), ("cv_pct", "CV %"),
            ("peak_rss_mb", "peak MB"), ("accuracy_pct", "acc %"), ("accuracy_gap_pts", "gap to fp32 ref"),
            ("status", "status")]
    if df["device"].nunique() > 1:
        cols.insert(0, ("device", "device"))

    def fmt(v: Any, key: str) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "-"
        if key in ("median_ms", "p90_ms"):
            return f"{v:.3f}"
        if key == "cv_pct" and isinstance(v, float) and v > 100:
            return ">100"
        if isinstance(v, float):
            return f"{v:.1f}" if key != "accuracy_gap_pts" else f"{v:+.1f}"
        return str(v)

    rows = [[fmt(r[k], k) for k, _ in cols] for r in df.to_dict("records")]
    return text_table([h for _, h in cols], rows, right=range(4, len(cols)))


def read_run_and_skipped(run_dir: Path, label: str = ""
                         ) -> tuple[dict[str, Any], list[dict[str, Any]], list[tuple[int, str]]]:
    """run.json, the readable records (the latest of each job) and the (line, why) of the lines that
    could not be read, which are named on stderr; a run with no readable record is an error."""
    run_dir = Path(run_dir)
    meta, read = load_run(run_dir)
    for lineno, why in read.skipped:
        print(f"edgebench: {run_dir / RECORDS_FILE}:{lineno}: skipped a line: {why}", file=sys.stderr)
    if not read.records:
        raise RunDirError(f"{run_dir}{f' ({label})' if label else ''}: no readable records yet; run the "
                          f"profile again or resume it")
    return meta, latest_per_job(read.records), read.skipped


def read_run(run_dir: Path, label: str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """run.json and the readable records of a run folder (see `read_run_and_skipped`)."""
    meta, records, _ = read_run_and_skipped(run_dir, label)
    return meta, records

