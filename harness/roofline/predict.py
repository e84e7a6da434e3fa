"""The roofline prediction: each layer's time = max(MACs / peak, bytes / bandwidth) + fixed cost,
summed over the layers the runtime executes, plus the cost of one call; the predicted speedup of a
twin pair beside the MAC-ratio prediction and the measurement.

The ceilings come from the ceiling jobs of the same run (same device, runtime, precision, threads):
  fixed_s   slope of the two per-op chains' latencies over their op counts; call_s its intercept
  bandwidth bytes / (latency - call - ops x fixed) of each elementwise chain, at the bytes one op
            moves; a layer gets the bandwidth at its own bytes (interpolated in log size, clamped)
  peak      MACs / (latency - call - ops x fixed) of the 1x1-convolution chain; the 3x3 depthwise and
            3x3 standard chains give the compute roof of those layer kinds (`kernel_peaks`): a
            runtime's depthwise kernel reaches a fraction of its GEMM's rate, and that, not memory,
            is what holds a separable model back on a CPU with a large cache
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bytes import executed, row_bytes
from .spec import FAMILY, ROOF_OF_KIND, spec_of
from ..util import plain_cell as _norm

GROUP_KEYS = ("device", "runtime", "precision", "threads", "xnnpack")
BOUNDS = ("compute", "bandwidth", "per-op")
ROOFLINE_COLUMNS = ["roofline_separable_ms", "roofline_standard_ms", "predicted_speedup_roofline",
                    "roofline_error_pct", "mac_prediction_error_pct", "bound_separable", "bound_separable_pct"]


@dataclass(frozen=True)
class Ceilings:
    """A device's measured ceilings under one runtime, precision and thread count."""

    peak: float                                  # multiply-adds per second
    bandwidth: tuple[tuple[int, float], ...]     # (bytes one op moves, bytes per second), by size
    fixed_s: float                               # seconds per executed op
    call_s: float = 0.0                          # seconds per inference call
    kernel_peaks: tuple[tuple[str, float], ...] = ()  # (ceiling kind, MACs per second) by kernel

    def peak_of(self, kind: str) -> float:
        """The compute roof of a layer kind: its kernel's measured rate, else the 1x1 peak."""
        return dict(self.kernel_peaks).get(ROOF_OF_KIND.get(kind, ""), self.peak)

    def bandwidth_at(self, nbytes: float) -> float:
        """Bytes per second for a layer moving `nbytes`: log-linear between measured sizes."""
        pts = sorted(self.bandwidth)
        if nbytes <= pts[0][0] or len(pts) == 1:
            return pts[0][1]
        for (s0, b0), (s1, b1) in zip(pts, pts[1:]):
            if nbytes <= s1:
                f = (math.log(nbytes) - math.log(s0)) / (math.log(s1) - math.log(s0))
                return b0 + f * (b1 - b0)
        return pts[-1][1]


def derive(times: dict[Any, float]) -> Ceilings | None:
    """Ceilings from {CeilingSpec: median seconds per inference}; None without a compute, a bandwidth
    and a per-op ceiling."""
    perop = sorted(((s.total_ops, t) for s, t in times.items() if s.kind == "perop"))
    bws = [(s, t) for s, t in times.items() if s.kind == "bandwidth"]
    comp = [(s, t) for s, t in times.items() if s.kind == "compute"]
    if not perop or not bws or not comp:
        return None
    if len(perop) >= 2 and perop[-1][0] > perop[0][0]:
        (n0, t0), (n1, t1) = perop[0], perop[-1]
        fixed = max((t1 - t0) / (n1 - n0), 0.0)
        call = max(t0 - n0 * fixed, 0.0)
    else:
        fixed, call = perop[0][1] / perop[0][0], 0.0

    def busy(spec: Any, t: float) -> float:
        left = t - call - spec.total_ops * fixed
        return left if left > 0.05 * t else t  # fixed costs cannot explain it all: keep the time

    bandwidth = tuple(sorted((s.size, s.bytes / busy(s, t)) for s, t in bws))
    s, t = max(comp, key=lambda st: st[0].macs)
    kernels = tuple(sorted((sp.kind, sp.macs / busy(sp, tt)) for sp, tt in times.items()
                           if sp.kind in ROOF_OF_KIND.values()))
    return Ceilings(peak=s.macs / busy(s, t), bandwidth=bandwidth, fixed_s=fixed, call_s=call, kernel_peaks=kernels)


def group_key(row: dict[str, Any]) -> tuple:
    return tuple(_norm(row.get(k)) for k in GROUP_KEYS)


def rows_of(df) -> list[dict[str, Any]]:
    """DataFrame rows as dicts, NaN turned back into None (lists of dicts pass through)."""
    if isinstance(df, list):
        return df
    return [{k: _norm(v) if isinstance(v, float) else v for k, v in r.items()} for r in df.to_dict("records")]


def ceilings_from_summary(summary_rows: list[dict[str, Any]]) -> dict[tuple, Ceilings]:
    """Ceilings per (device, runtime, precision, threads, xnnpack) from the summary's ceiling rows
    (their min_ms, else median_ms)."""
    times: dict[tuple, dict[Any, float]] = {}
    for r in summary_rows:
        if r.get("family") != FAMILY:
            continue
        # a ceiling is the best the device does: the fastest run, the one least disturbed by other work
        spec, med = spec_of(r.get("model"), r.get("precision")), r.get("min_ms")
        if med is None or (isinstance(med, float) and math.isnan(med)):
            med = r.get("median_ms")
        if spec is None or med is None or (isinstance(med, float) and math.isnan(med)):
            continue
        times.setdefault(group_key(r), {})[spec] = float(med) / 1e3
    out = {}
    for key, t in times.items():
        c = derive(t)
        if c is not None:
            out[key] = c
    return out


def layer_time(row: dict[str, Any], c: Ceilings) -> tuple[float, str]:
    """(seconds, what bounds it) for one executed node."""
    nbytes = row_bytes(row)
    compute = row["macs"] / c.peak_of(row.get("kind", "")) if row["macs"] else 0.0
    memory = nbytes / c.bandwidth_at(nbytes) if nbytes else 0.0
    roof = max(compute, memory)
    bound = "per-op" if c.fixed_s >= roof else ("compute" if compute >= memory else "bandwidth")
    return roof + c.fixed_s, bound


def predict_model(result: dict[str, Any], c: Ceilings) -> dict[str, Any]:
    """Predicted seconds of one analyze() result, and the seconds by bound and by layer kind."""
    by_bound = dict.fromkeys(BOUNDS, 0.0)
    by_kind: dict[str, float] = {}
    total = c.call_s
    for r in result["nodes"]:
        if not executed(r, result.get("format", "onnx")):
            continue
        t, bound = layer_time(r, c)
        total += t
        by_bound[bound] += t
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0.0) + t
    return {"seconds": total, "by_bound": by_bound, "by_kind": by_kind}


def _pct_err(pred: float | None, meas: float | None) -> float | None:
    return 100.0 * (pred - meas) / meas if pred is not None and meas else None


def pair_columns(pairs, summary, records: list[dict[str, Any]]):
    """The roofline columns (ROOFLINE_COLUMNS) for each row of pairs.csv, in its order: predicted
    twin times and speedup, the error of the roofline and of the MAC ratio against the measured
    speedup (trial_speedup, else speedup), and what bounds the separable twin's predicted time."""
    import pandas as pd

    sums = rows_of(summary)
    ceilings = ceilings_from_summary(sums)
    by_id = {r.get("config_id"): r for r in sums}
    files = {r.get("config_id"): r.get("model_file") for r in records if r.get("model_file")}
    cache: dict[str, Any] = {}
    out = []
    for p in rows_of(pairs):
        row = dict.fromkeys(ROOFLINE_COLUMNS)
        c = ceilings.get(group_key(by_id.get(p.get("separable_config"), p)))
        measured = p.get("trial_speedup") or p.get("speedup")
        row["mac_prediction_error_pct"] = _pct_err(p.get("theoretical_speedup"), measured)
        sep = _predict_file(files.get(p.get("separable_config")), c, cache) if c else None
        std = _predict_file(files.get(p.get("standard_config")), c, cache) if c else None
        if sep and std:
            row["roofline_separable_ms"] = sep["seconds"] * 1e3
            row["roofline_standard_ms"] = std["seconds"] * 1e3
            row["predicted_speedup_roofline"] = std["seconds"] / sep["seconds"]
            row["roofline_error_pct"] = _pct_err(row["predicted_speedup_roofline"], measured)
            bound, t = max(sep["by_bound"].items(), key=lambda kv: kv[1])
            row["bound_separable"] = bound
            row["bound_separable_pct"] = 100.0 * t / sep["seconds"]
        out.append(row)
    return pd.DataFrame(out, columns=ROOFLINE_COLUMNS, index=pairs.index)


def _predict_file(path: str | None, c: Ceilings, cache: dict[str, Any]) -> dict[str, Any] | None:
    if not path or not Path(path).exists():
        return None
    if path not in cache:
        from ..zoo.analyze import analyze

        try:
            cache[path] = analyze(path)
        except Exception:  # noqa: BLE001 - an unreadable graph leaves the columns empty, never the report
            cache[path] = None
    return predict_model(cache[path], c) if cache[path] else None
