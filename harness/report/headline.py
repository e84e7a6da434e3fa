"""The pair's answer in words, shared by the terminal and report.html: how much faster the separable
twin is (with its interval, or the one-trial note), what the multiply-adds predict, and what it costs
in top-1 accuracy (with where that gap comes from, its paired interval and McNemar's p)."""

from __future__ import annotations

from typing import Any

from ..util import finite_or_none as _num


def pair_name(p: dict[str, Any], with_device: bool = False) -> str:
    """'digits onnxruntime int8 t1' (with the device first when a run has several)."""
    name = f"{p.get('family')} {p.get('runtime')} {p.get('precision')} t{p.get('threads')}"
    return f"{p.get('device')}: {name}" if with_device else name


def speed_text(p: dict[str, Any]) -> str:
    """'separable is 3.41x faster [3.30-3.52] (MACs predict 7.71x)'; never a speedup for a failed side."""
    s = _num(p.get("speedup"))
    theory = _num(p.get("theoretical_speedup"))
    predict = f" (MACs predict {theory:.2f}x)" if theory else ""
    if s is None:
        return f"no speedup: a twin has no successful timed runs{predict}"
    lo, hi = _num(p.get("speedup_ci_low")), _num(p.get("speedup_ci_high"))
    if s < 1 and lo and hi:  # "1.25x slower [1.20-1.31]": the interval in the same direction as the words
        lo, hi = 1.0 / hi, 1.0 / lo
    if lo is not None and hi is not None:
        interval = f" [{lo:.2f}-{hi:.2f}]"
    else:
        note = p.get("speedup_ci_note") or "no 95% CI"
        interval = " (1 trial: within-process only, no CI)" if note.startswith("within-process only") \
            else f" ({note})"
    word = "faster" if s >= 1 else "slower"
    value = s if s >= 1 else 1.0 / s
    return f"separable is {value:.2f}x {word}{interval}{predict}"


def cost_text(p: dict[str, Any]) -> str:
    """'costs 1.56 points [0.4-2.7] of top-1 (measured, int8; McNemar p=0.02)' or the reference's note."""
    gap = _num(p.get("accuracy_gap_pts"))
    label = p.get("accuracy_gap_label") or p.get("accuracy_source") or ""
    if gap is None:
        return "accuracy not known (no accuracy pass, no reference)"
    verb = "costs" if gap >= 0 else "gains"
    lo, hi = _num(p.get("accuracy_gap_ci_low")), _num(p.get("accuracy_gap_ci_high"))
    interval = f" [{lo:+.2f} to {hi:+.2f}]" if lo is not None and hi is not None else ""
    pval = _num(p.get("mcnemar_p"))
    extra = f"; McNemar p={pval:.2g}" if pval is not None else ""
    return f"{verb} {abs(gap):.2f} points{interval} of top-1 ({label}{extra})"


def short_of_target(pairs: list[dict[str, Any]], with_device: bool = False) -> list[str]:
    """'digits onnxruntime fp32 t2: cannot reach +-2% ...' for each pair the pair rule stopped before its
    interval was within the target (pairs.csv's pair_stop)."""
    return [f"{pair_name(p, with_device)}: {p['pair_stop']}" for p in pairs
            if p.get("pair_stop") and not str(p["pair_stop"]).startswith("interval")]


def headline(p: dict[str, Any], with_device: bool = False) -> str:
    """The whole line: name, speed, cost."""
    return f"{pair_name(p, with_device)}: {speed_text(p)}, {cost_text(p)}"
