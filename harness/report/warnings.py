"""Warnings about a measurement, each a code with a message that says what to do about it.

The codes go into summary.csv's `warnings` column (';'-joined) and the messages into
`warning_text`, so a script can filter on the code and a person can read the advice.
"""

from __future__ import annotations

import enum
from typing import Any
from collections.abc import Iterable, Mapping

import numpy as np

from ..records import Status

CV_LIMIT_PCT = 10.0
MAX_OVER_MEDIAN = 3.0
MIN_RUNS = 30
FIRST_OVER_MEDIAN = 2.0
TRIAL_SPREAD_PCT = 10.0


class Warn(enum.Enum):
    """Each member's value is its code; `advice` formats the message."""

    HIGH_CV = "high-cv"
    MAX_OUTLIER = "max-outlier"
    FEW_RUNS = "few-runs"
    FIRST_RUN_SLOW = "first-run-slow"
    TRIALS_DISAGREE = "trials-disagree"
    GOVERNOR = "governor"
    THROTTLED = "throttled"
    EMULATED = "emulated"
    STARTED_HOT = "started-hot"

    def advice(self, **kw: Any) -> str:
        return MESSAGES[self].format(**kw)


MESSAGES = {
    Warn.HIGH_CV: "CV {cv:.0f}% is above 10%: other work or clock changes disturbed the runs; close other "
                  "programs, pin the job to cores (device.cores), set the governor to performance, and "
                  "run more trials",
    Warn.MAX_OUTLIER: "the slowest run took {x:.1f}x the median: something interrupted the benchmark; look at "
                      "p90/p99 rather than the mean, and rerun on a quiet machine",
    Warn.FEW_RUNS: "only {n} timed runs: the statistics are rough; raise matrix.min_runs or min_time_s "
                   "(or drop --quick)",
    Warn.FIRST_RUN_SLOW: "the first timed run took {x:.1f}x the median: the warm-up was too short; raise "
                         "matrix.warmup_runs or warmup_time_s",
    Warn.TRIALS_DISAGREE: "trial medians differ (CV {cv:.0f}%): the machine's speed changed between trials; "
                          "trust the per-trial ratios of the pairs view over absolute times, and rerun",
    Warn.GOVERNOR: "CPU governor is '{governor}', not performance: clocks ramp during the run; set it with "
                   "`sudo cpupower frequency-set -g performance` (or write performance to "
                   "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor)",
    Warn.THROTTLED: "the device throttled ({what}): the times are slower than the device can do; cool it "
                    "(heatsink, fan), check the power supply, and rerun",
    Warn.EMULATED: "emulated device ({cpu}): latency under emulation is not a device latency; use this run "
                   "as a functional check and measure on the real device",
    Warn.STARTED_HOT: "{n} job(s) started hot ({what}): the device may have "
                      "throttled; set [conditions] cooldown_below_c (and cooldown_max_wait_s) so each job "
                      "waits for the device to cool, or give it a heatsink or fan",
}

# what to do, in a few words, for the terminal's end-of-run summary (MESSAGES has the whole advice)
SHORT = {
    Warn.HIGH_CV: "runs disturbed: close other programs, pin cores, performance governor",
    Warn.MAX_OUTLIER: "a run was interrupted: read p90/p99, rerun on a quiet machine",
    Warn.FEW_RUNS: "too few timed runs: raise min_runs/min_time_s or drop --quick",
    Warn.FIRST_RUN_SLOW: "warm-up too short: raise warmup_runs/warmup_time_s",
    Warn.TRIALS_DISAGREE: "trials disagree: trust the pairs' headline over absolute times, run more trials",
    Warn.GOVERNOR: "governor not performance: cpupower frequency-set -g performance",
    Warn.THROTTLED: "device throttled: cool it, check the power supply, rerun",
    Warn.EMULATED: "emulated: a functional check, not a device latency",
    Warn.STARTED_HOT: "jobs started hot: set [conditions] cooldown_below_c",
}


def top_reasons(codes: Iterable[Any], limit: int = 3) -> list[tuple[str, int, str]]:
    """(code, configs carrying it, what to do) for the most frequent warning codes of a summary's
    `warnings` column, most frequent first."""
    counts: dict[str, int] = {}
    for c in codes:
        for code in {w for w in str(c or "").split(";") if w and w != "nan"}:
            counts[code] = counts.get(code, 0) + 1
    by_code = {w.value: w for w in Warn}
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [(code, n, SHORT[by_code[code]] if code in by_code else "") for code, n in ranked]


THROTTLE_NOW_BITS = 0x7  # under-voltage, frequency capped, throttled (Raspberry Pi get_throttled)


def _throttle_mask(value: Any) -> int:
    if value in (None, ""):
        return 0
    try:
        return int(str(value), 0)
    except ValueError:
        return 0


def config_warnings(row: Mapping[str, Any], recs: Iterable[Mapping[str, Any]],
                    probe: Mapping[str, Any] | None) -> list[tuple[Warn, str]]:
    """Warnings for one summary row, from its statistics, its perf records and its device probe."""
    out: list[tuple[Warn, str]] = []
    perf = [r for r in recs if r.get("mode") == "perf" and r.get("status") == Status.OK and r.get("latency_ns")]
    probe = probe or {}

    def num(key: str) -> float | None:
        v = row.get(key)
        try:
            v = float(v)
        except (TypeError, ValueError):
            return None
        return None if np.isnan(v) else v

    cv, med, mx, n, tcv = num("cv_pct"), num("median_ms"), num("max_ms"), num("n"), num("trial_cv_pct")
    if perf:
        if cv is not None and cv > CV_LIMIT_PCT:
            out.append((Warn.HIGH_CV, Warn.HIGH_CV.advice(cv=cv)))
        if med and mx is not None and mx > MAX_OVER_MEDIAN * med:
            out.append((Warn.MAX_OUTLIER, Warn.MAX_OUTLIER.advice(x=mx / med)))
        if n is not None and n < MIN_RUNS:
            out.append((Warn.FEW_RUNS, Warn.FEW_RUNS.advice(n=int(n))))
        firsts = [float(r["latency_ns"][0]) / 1e6 for r in perf]
        if med and float(np.median(firsts)) > FIRST_OVER_MEDIAN * med:
            out.append((Warn.FIRST_RUN_SLOW, Warn.FIRST_RUN_SLOW.advice(x=float(np.median(firsts)) / med)))
        if tcv is not None and tcv > TRIAL_SPREAD_PCT:
            out.append((Warn.TRIALS_DISAGREE, Warn.TRIALS_DISAGREE.advice(cv=tcv)))
    governor = probe.get("governor")
    if governor and any(g.strip() != "performance" for g in str(governor).split(",")):
        out.append((Warn.GOVERNOR, Warn.GOVERNOR.advice(governor=governor)))
    seen = set(probe.get("throttled_flags") or [])
    if _throttle_mask(probe.get("throttled")) & THROTTLE_NOW_BITS and not seen:
        seen.add(f"get_throttled {probe.get('throttled')}")
    for r in perf:
        for key in ("throttled_before", "throttled_after"):
            mask = _throttle_mask(r.get(key))
            if mask & THROTTLE_NOW_BITS:
                seen.add(f"get_throttled {r.get(key)} during trial {r.get('trial')}")
    if seen:
        out.append((Warn.THROTTLED, Warn.THROTTLED.advice(what=", ".join(sorted(seen)))))
    emulated = bool(row.get("emulated")) or bool(probe.get("emulated"))
    if emulated:
        cpu = next((r.get("emulated_cpu") for r in recs if r.get("emulated_cpu")), None) or "qemu"
        out.append((Warn.EMULATED, Warn.EMULATED.advice(cpu=cpu)))
    return out


def add_warnings(summary, records: list[dict[str, Any]], meta: Mapping[str, Any]):
    """Return the summary with `warnings` (codes) and `warning_text` (messages) columns."""
    from .thermal import started_hot

    probes = meta.get("devices") or {}
    hot = started_hot(meta, records)
    by_cfg: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_cfg.setdefault(r.get("config_id", "?"), []).append(r)
    codes, texts = [], []
    for row in summary.to_dict("records"):
        ws = config_warnings(row, by_cfg.get(row.get("config_id"), []), probes.get(row.get("device")))
        if row.get("config_id") in hot:
            h = hot[row["config_id"]]
            what = (", ".join(f"{m} #{t} at {c:.1f} C" for m, t, c in h["jobs"])
                    + f"; above {h['threshold']:.1f} C: {h['basis']}")
            ws.append((Warn.STARTED_HOT, Warn.STARTED_HOT.advice(n=len(h["jobs"]), what=what)))
        codes.append(";".join(w.value for w, _ in ws) or None)
        texts.append(" | ".join(f"{w.value}: {msg}" for w, msg in ws) or None)
    summary = summary.copy()
    summary["warnings"] = codes
    summary["warning_text"] = texts
    return summary
