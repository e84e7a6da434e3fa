"""Series: the points of one (device, config) or one twin pair, oldest first, cut into segments.

A segment is a stretch of runs with the same device fingerprint and config key (model file, runtime
and its version, precision, threads, cores, delegate). Where it changes is a boundary: shown on the
plots, and never compared across by the step detection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Series:
    """One series of points (dicts from Store.points), and the indices where a new segment starts."""

    name: str
    kind: str  # "latency" (ns, lower is better) or "speedup" (standard / separable, higher is better)
    device: str
    points: list[dict[str, Any]] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [p["value"] for p in self.points]

    def segments(self) -> list[tuple[int, int]]:
        """[start, end) index ranges of consecutive points that share a segment key."""
        out: list[tuple[int, int]] = []
        start = 0
        for i in range(1, len(self.points) + 1):
            if i == len(self.points) or self.points[i]["segment"] != self.points[start]["segment"]:
                out.append((start, i))
                start = i
        return out

    def boundaries(self) -> list[tuple[int, str]]:
        """(index of the first point after a boundary, what changed)."""
        return [(start, boundary_label(self.points[start - 1], self.points[start]))
                for start, _ in self.segments()[1:]]


def _config(point: dict[str, Any]) -> dict[str, Any]:
    cfg = point.get("config")
    return json.loads(cfg) if isinstance(cfg, str) else dict(cfg or {})


def boundary_label(before: dict[str, Any], after: dict[str, Any]) -> str:
    """What changed between two points of a series, in words."""
    if before["device_fp"] != after["device_fp"]:
        return "device changed"
    a, b = _config(before), _config(after)
    parts = []
    if a.get("runtime_version") != b.get("runtime_version"):
        parts.append(f"{b.get('runtime') or 'runtime'} {a.get('runtime_version')} -> {b.get('runtime_version')}")
    for key, words in (("model_sha256", "model file changed"), ("cores", "cores"), ("delegate", "delegate"),
                       ("runtime_impl", "runtime")):
        if a.get(key) != b.get(key):
            parts.append(words if key == "model_sha256" else f"{words} {a.get(key)} -> {b.get(key)}")
    return ", ".join(parts) or "config changed"


def build_series(points: list[dict[str, Any]]) -> list[Series]:
    """Group store points (already sorted by series, then time) into Series."""
    by_name: dict[str, Series] = {}
    for p in points:
        s = by_name.get(p["series"])
        if s is None:
            s = by_name[p["series"]] = Series(p["series"], p["kind"], p["device"])
        s.points.append(p)
    return list(by_name.values())
