"""Step detection with asv's `asv.step_detect` (a weighted piecewise-constant fit, the method behind
asv's regressions page), run inside each segment of a series so that a runtime-version or device
change is a boundary, never a step. asv is an optional dependency: `pip install edgebench[history]`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..errors import HarnessError
from .series import Series

MIN_POINTS = 3  # a segment shorter than this has no step to find


@dataclass(frozen=True)
class Step:
    """A lasting change for the worse in one series: from `before` to `after` (ns or speedup ratio)."""

    step_id: str
    series: str
    kind: str
    device: str
    index: int  # the first point at the new level
    run_key: str
    run_id: str
    git_commit: str | None
    before: float
    after: float

    @property
    def change(self) -> float:
        """Relative change for the worse: +0.06 is 6% slower (latency) or a 6% smaller speedup."""
        if self.kind == "speedup":
            return self.before / self.after - 1.0
        return self.after / self.before - 1.0


def _step_detect() -> Any:
    try:
        from asv import step_detect
    except ImportError as exc:
        raise HarnessError("history check needs asv's step detection: pip install 'edgebench[history]' "
                           "(or pip install asv==0.6.6)") from exc
    return step_detect


def step_id(series: str, run_key: str) -> str:
    return hashlib.sha256(f"{series}\0{run_key}".encode()).hexdigest()[:10]


def segment_steps(series: Series, start: int, end: int, threshold: float) -> list[Step]:
    """Upward steps (worse) of one segment that explain the gap between its best and its latest level."""
    sd = _step_detect()
    pts = series.points[start:end]
    if len(pts) < MIN_POINTS:
        return []
    # asv looks for increases: latency as it is, a speedup as its inverse (a smaller speedup is worse)
    y = [1.0 / p["value"] if series.kind == "speedup" else p["value"] for p in pts]
    steps = sd.detect_steps(y)
    _latest, _best, positions = sd.detect_regressions(steps, threshold=threshold, min_size=2)
    out = []
    for _last_good, first_bad, v_before, v_after in positions or []:
        if first_bad is None:
            continue
        p = pts[first_bad]
        before, after = float(v_before), float(v_after)
        if series.kind == "speedup":
            before, after = 1.0 / before, 1.0 / after
        out.append(Step(step_id(series.name, p["run_key"]), series.name, series.kind, series.device,
                        start + first_bad, p["run_key"], p["run_id"], p.get("git_commit"), before, after))
    return out


def find_steps(series: Series, threshold: float) -> list[Step]:
    """Every step beyond `threshold` (relative, e.g. 0.05) within the segments of a series."""
    found: list[Step] = []
    for start, end in series.segments():
        found += [s for s in segment_steps(series, start, end, threshold) if abs(s.change) >= threshold]
    return found


def check(series_list: list[Series], threshold: float, recent: int | None = None,
          after_created: str | None = None, acked: set[str] | frozenset = frozenset()) -> list[Step]:
    """Unacknowledged steps that began within the last `recent` points of their series, or in a run
    created after `after_created` (a baseline); with neither, every step."""
    out = []
    for s in series_list:
        for step in find_steps(s, threshold):
            if step.step_id in acked:
                continue
            if recent is not None and step.index < len(s.points) - recent:
                continue
            if after_created is not None and s.points[step.index]["created_at"] <= after_created:
                continue
            out.append(step)
    return out
