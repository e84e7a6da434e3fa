"""The accuracy gap of a twin pair (standard minus separable top-1, points) with where it comes from,
and, when both twins' predictions on the same eval images are known, a paired 95% interval and
McNemar's exact test.

On the same images the two twins' answers are paired: only the discordant images count, b (the
separable twin right, the standard wrong) and c (the reverse). The gap is (c - b) / n; its interval is
the paired (Wald) interval for a difference of two proportions on the same items; McNemar's exact
p-value is the two-sided binomial test of b against b + c at one half.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

GAP_COLUMNS = ["accuracy_gap_label", "accuracy_gap_ci_low", "accuracy_gap_ci_high", "accuracy_discordant_sep",
               "accuracy_discordant_std", "mcnemar_p"]


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs (1.0 when there are none)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class PairedGap:
    gap_pts: float          # standard minus separable, points
    ci_low: float
    ci_high: float
    b: int                  # separable right, standard wrong
    c: int                  # separable wrong, standard right
    n: int
    p_value: float


def paired_gap(sep_correct: list[bool], std_correct: list[bool]) -> PairedGap | None:
    """The gap with its paired interval and McNemar's exact test; None without paired answers."""
    n = len(sep_correct)
    if n == 0 or n != len(std_correct):
        return None
    b = sum(1 for s, t in zip(sep_correct, std_correct) if s and not t)
    c = sum(1 for s, t in zip(sep_correct, std_correct) if t and not s)
    d = (c - b) / n
    var = max(((b + c) / n - d * d) / n, 0.0)
    half = 1.959964 * math.sqrt(var)
    return PairedGap(100.0 * d, 100.0 * (d - half), 100.0 * (d + half), b, c, n, mcnemar_exact(b, c))


def gap_label(source: str | None, precision: Any) -> str | None:
    """Where the gap comes from, in words: 'measured, int8' or 'fp32 reference (not measured at int8)'."""
    if source is None:
        return None
    if source == "measured":
        return f"measured, {precision}"
    return f"fp32 reference (not measured at {precision})"


def _labels(record: dict[str, Any], cache: dict) -> list[int] | None:
    """The eval labels of a zoo model's records (from its manifest entry), cached; None when unknown."""
    key = ("labels", record.get("model"), record.get("format"), record.get("precision"))
    if key not in cache:
        cache[key] = None
        try:
            import numpy as np

            from ..manifest import load_manifest

            art = load_manifest().find(record.get("model"), record.get("format"), record.get("precision"))
            if art is not None and art.eval_path is not None and art.eval_path.exists():
                with np.load(art.eval_path) as data:
                    cache[key] = [int(v) for v in np.asarray(data["y"]).reshape(-1)]
        except Exception:  # no zoo, no labels: the paired columns stay empty
            cache[key] = None
    return cache[key]


def _predictions(records: list[dict[str, Any]], config_id: str) -> tuple[dict[str, Any] | None, list[int]]:
    for r in records:
        if r.get("config_id") == config_id and r.get("mode") == "accuracy" and r.get("status") == "ok" \
                and r.get("predictions"):
            return r, [int(v) for v in r["predictions"]]
    return None, []


def gap_columns(sep_config: str, std_config: str, source: str | None, precision: Any,
                records: list[dict[str, Any]], cache: dict) -> dict[str, Any]:
    """GAP_COLUMNS for one pair: the label always; the interval and McNemar when both twins' measured
    predictions on the same labelled images are in the records."""
    out: dict[str, Any] = {k: None for k in GAP_COLUMNS}
    out["accuracy_gap_label"] = gap_label(source, precision)
    if source != "measured":
        return out
    rec_sep, pred_sep = _predictions(records, sep_config)
    rec_std, pred_std = _predictions(records, std_config)
    if rec_sep is None or rec_std is None or len(pred_sep) != len(pred_std):
        return out
    labels = _labels(rec_sep, cache)
    if labels is None or len(labels) != len(pred_sep):
        return out
    gap = paired_gap([p == y for p, y in zip(pred_sep, labels)], [p == y for p, y in zip(pred_std, labels)])
    if gap is None:
        return out
    out.update(accuracy_gap_ci_low=gap.ci_low, accuracy_gap_ci_high=gap.ci_high,
               accuracy_discordant_sep=gap.b, accuracy_discordant_std=gap.c, mcnemar_p=gap.p_value)
    return out
