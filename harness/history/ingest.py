"""A run folder (or a record imported from benchmark_model / onnxruntime_perf_test) -> store rows.

Only perf records that finished (`status` ok) with latencies become points: one per (device, config)
per run, the median of the latencies pooled over trials with a distribution-free 95% interval.
Twin pairs (a "separable" config beside its "standard" twin) add a speedup point.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RunDirError
from ..records import Status, latest_per_job, load_run, upgrade_record

# Probe keys that identify a device: a change of any of them starts a new segment of every series.
DEVICE_IDENTITY_KEYS = ("board_model", "soc", "android_soc", "android_model", "cpu_model", "cpu_core_types",
               "cpu_cores", "arch", "os_name", "os_version_id", "android_release", "emulated")
# Record keys that identify what was measured beside the series name (a change is a boundary).
CONFIG_KEYS = ("model_sha256", "runtime", "runtime_version", "runtime_impl", "precision", "threads",
               "cores", "xnnpack", "delegate")
PAIR_KEYS = ("device", "family", "runtime", "precision", "threads", "xnnpack", "runtime_impl")
Z95 = 1.959964


@dataclass
class Ingested:
    """What one run contributes to the store."""

    run: dict[str, Any]
    points: list[dict[str, Any]] = field(default_factory=list)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)


def short_hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def device_identity(probe: dict[str, Any] | None, emulated: bool | None) -> dict[str, Any]:
    """The probe fields that identify a device; RAM rounded to 256 MiB so a reboot does not count."""
    probe = probe or {}
    ident = {k: probe.get(k) for k in DEVICE_IDENTITY_KEYS}
    if ident["emulated"] is None:
        ident["emulated"] = bool(emulated)
    ram = probe.get("ram_total_bytes")
    ident["ram_gib"] = round(ram / 2**28) / 4 if isinstance(ram, (int, float)) else None
    return ident


def median_interval(samples: list[float]) -> tuple[float, float | None, float | None]:
    """Median with a distribution-free 95% interval from order statistics (normal approximation of
    the binomial ranks); None bounds below 6 samples, where no such interval exists."""
    import numpy as np

    x = np.sort(np.asarray(samples, dtype=float))
    n = len(x)
    med = float(np.median(x))
    if n < 6:
        return med, None, None
    half = Z95 * math.sqrt(n) / 2
    lo = max(int(math.floor(n / 2 - half)), 0)
    hi = min(int(math.ceil(n / 2 + half)), n - 1)
    return med, float(x[lo]), float(x[hi])


def series_name(rec: dict[str, Any], device: str) -> str:
    if rec.get("config_id"):
        return str(rec["config_id"])
    model = rec.get("model") or Path(str(rec.get("model_path") or rec.get("imported_from") or "model")).stem
    name = f"{device}/{model}/{rec.get('runtime_impl') or rec.get('runtime')}/{rec.get('precision') or 'fp32'}"
    return name + (f"/t{rec['threads']}" if rec.get("threads") else "")


def _cores(rec: dict[str, Any]) -> int | None:
    aff = rec.get("affinity")
    return len(aff) if isinstance(aff, list) else None


def _latency(recs: list[dict[str, Any]]) -> tuple[float, float | None, float | None, int] | None:
    """Pooled latency of a config's trials, or a native tool's own p50 when it kept no samples."""
    pooled = [v for r in recs for v in (r.get("latency_ns") or [])]
    if pooled:
        med, lo, hi = median_interval(pooled)
        return med, lo, hi, len(pooled)
    p50 = [r["latency_summary_ns"].get("p50") or r["latency_summary_ns"].get("mean")
           for r in recs if isinstance(r.get("latency_summary_ns"), dict)]
    p50 = [v for v in p50 if v]
    if not p50:
        return None
    count = sum(int(r["latency_summary_ns"].get("count") or 0) for r in recs
                if isinstance(r.get("latency_summary_ns"), dict))
    return float(sorted(p50)[len(p50) // 2]), None, None, count


def config_points(records: list[dict[str, Any]], devices: dict[str, dict[str, Any]],
                  run_key: str) -> list[dict[str, Any]]:
    """One latency point per (device, series) of finished perf records."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in records:
        if rec.get("status") != Status.OK or rec.get("mode", "perf") != "perf":
            continue
        device = str(rec.get("device") or "imported")
        groups.setdefault((device, series_name(rec, device)), []).append(rec)
    points = []
    for (device, series), recs in groups.items():
        lat = _latency(recs)
        if lat is None:
            continue
        first = recs[0]
        config = {k: first.get(k) for k in CONFIG_KEYS}
        config["cores"] = _cores(first)
        delegation = first.get("delegation")
        if isinstance(delegation, dict):
            config["delegate"] = delegation.get("delegate") or delegation.get("providers")
        ident = device_identity(devices.get(device), first.get("emulated"))
        fp = short_hash(ident)
        devices.setdefault(device, {})
        info = {k: first.get(k) for k in ("model", "family", "twin")}
        points.append({
            "run_key": run_key, "series": series, "kind": "latency", "device": device, "device_fp": fp,
            "segment": short_hash([fp, config]), "value": lat[0], "lo": lat[1], "hi": lat[2], "n": lat[3],
            "trials": len(recs), "config": {**config, **info}, "device_ident": ident,
        })
    return points


def pair_points(points: list[dict[str, Any]], run_key: str,
                records: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Speedup per twin pair of this run's points: pairs.csv's paired headline where the run has pair
    jobs for the pair (harness.states.paired_speedup; a new segment of the series, since the estimator
    changed), else median standard / median separable with its interval."""
    from ..stats import pair_job_medians, trial_medians_by_config
    from ..states import paired_headline

    paired = pair_job_medians(records or [])
    perf = trial_medians_by_config(records or [])

    def pair_key(p: dict[str, Any]) -> tuple:
        c = p["config"]
        return (p["device"], c.get("family"), c.get("runtime"), c.get("precision"), c.get("threads"),
                c.get("xnnpack"), c.get("runtime_impl"))

    standard = {pair_key(p): p for p in points if p["config"].get("twin") == "standard"}
    out = []
    for sep in points:
        if sep["config"].get("twin") != "separable" or pair_key(sep) not in standard:
            continue
        std = standard[pair_key(sep)]
        device, family, runtime, precision, threads, xnnpack, _impl = pair_key(sep)
        lo = std["lo"] / sep["hi"] if std["lo"] and sep["hi"] else None
        hi = std["hi"] / sep["lo"] if std["hi"] and sep["lo"] else None
        name = f"{device}/{family}/{runtime}/{precision}/t{threads}" + ("/no-xnnpack" if xnnpack is False else "")
        value, segment = std["value"] / sep["value"], short_hash([sep["segment"], std["segment"]])
        jobs = paired.get((sep["series"], std["series"]))
        if jobs:
            h = paired_headline(jobs, list(perf.get(sep["series"], {}).values()),
                                list(perf.get(std["series"], {}).values()))
            if h.speedup is not None:
                value, lo, hi = h.speedup, h.ci_low, h.ci_high
                segment = short_hash([sep["segment"], std["segment"], "paired"])
        out.append({
            "run_key": run_key, "series": name + " speedup", "kind": "speedup", "device": device,
            "device_fp": sep["device_fp"], "segment": segment,
            "value": value, "lo": lo, "hi": hi, "n": min(std["n"], sep["n"]),
            "trials": min(std["trials"], sep["trials"]),
            "config": {"family": family, "runtime": runtime, "precision": precision, "threads": threads,
                       "xnnpack": xnnpack, "runtime_version": sep["config"].get("runtime_version"),
                       "separable": sep["series"], "standard": std["series"]},
            "device_ident": sep["device_ident"],
        })
    return out


def _run_row(meta: dict[str, Any], source: str, commit: str | None, branch: str | None) -> dict[str, Any]:
    created = meta.get("created_at") or dt.datetime.now(dt.timezone.utc).isoformat()
    run_id = str(meta.get("run_id") or Path(source).name)
    return {
        "run_key": short_hash([run_id, created]), "run_id": run_id, "created_at": created,
        "git_commit": commit or meta.get("git_commit"), "git_branch": branch or meta.get("git_branch"),
        "edgebench_version": meta.get("edgebench_version"), "source": source,
    }


def _finish(run: dict[str, Any], records: list[dict[str, Any]], probes: dict[str, Any]) -> Ingested:
    devices = {name: dict(p or {}) for name, p in probes.items()}
    points = config_points(records, devices, run["run_key"])
    points += pair_points(points, run["run_key"], records)
    run["records"] = len(records)
    return Ingested(run=run, points=points,
                    devices={p["device_fp"]: {"name": p["device"], **p["device_ident"]} for p in points})


def ingest_run_dir(run_dir: Path, commit: str | None = None, branch: str | None = None) -> Ingested:
    """A run folder made by `edgebench run`: run.json + records.jsonl (the last record of each job)."""
    meta, read = load_run(run_dir)
    records = latest_per_job(read.records)
    return _finish(_run_row(meta, str(Path(run_dir).resolve()), commit, branch), records,
                   meta.get("devices") or {})


def ingest_native(path: Path, device: str | None = None, commit: str | None = None,
                  branch: str | None = None) -> Ingested:
    """A record printed by `edgebench import-native` (one JSON object, a list, or JSON lines)."""
    try:
        text = path.read_text(encoding="utf-8")
        try:
            loaded = json.loads(text)
            items = loaded if isinstance(loaded, list) else [loaded]
        except json.JSONDecodeError:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: not a run folder nor a JSON record from `edgebench import-native` "
                          f"({exc})") from exc
    if not items or not all(isinstance(r, dict) and "status" in r for r in items):
        raise RunDirError(f"{path}: no records in it; give the output of `edgebench import-native`")
    records = [upgrade_record(dict(r)) for r in items]
    for rec in records:
        rec["device"] = device or rec.get("device") or "imported"
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).isoformat()
    meta = {"run_id": path.stem, "created_at": records[0].get("started_at") or stamp}
    return _finish(_run_row(meta, str(path.resolve()), commit, branch), records, {})


def ingest_path(path: Path, device: str | None = None, commit: str | None = None,
                branch: str | None = None) -> Ingested:
    """A run folder, or a file of imported native records."""
    path = Path(path)
    if path.is_file():
        return ingest_native(path, device, commit, branch)
    return ingest_run_dir(path, commit, branch)
