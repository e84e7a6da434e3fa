"""Per-op profiles from the native tools: the op-profiling tables benchmark_model prints
(`--enable_op_profiling`) and the JSON trace onnxruntime_perf_test writes (`-p`)."""

from __future__ import annotations

import re
from typing import Any

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
HEADER_KEYS = {"node type": "node_type", "start": "start_ms", "first": "first_ms", "avg ms": "avg_ms",
               "%": "pct", "avg %": "pct", "cdf%": "cdf_pct", "cdf %": "cdf_pct", "mem kb": "mem_kb",
               "times called": "times_called", "name": "name", "count": "count"}


class OpTable:
    """benchmark_model's op-profiling tables (Run Order, Top by Computation Time, Summary by node type)."""

    def __init__(self) -> None:
        self.section = "regular"  # init | regular | delegate
        self.table = ""
        self.columns: list[str] = []
        self.rows: dict[tuple[str, str], list[dict]] = {}

    def banner(self, title: str) -> None:
        self.table, self.columns = title.lower(), []

    def section_line(self, text: str) -> None:
        low = text.lower()
        self.section = ("init" if "initialization" in low else "delegate" if "delegate internal" in low
                        else "regular")
        self.table, self.columns = "", []

    def header(self, text: str) -> bool:
        names = re.findall(r"\[([^\]]+)\]", text)
        if not self.table or len(names) < 3 or not text.lstrip().startswith("["):
            return False
        self.columns = [HEADER_KEYS.get(n.strip().lower(), re.sub(r"\W+", "_", n.strip().lower()))
                        for n in names]
        return True

    def row(self, text: str) -> bool:
        if not self.columns:
            return False
        numeric_cols = [c for c in self.columns if c not in ("node_type", "name")]
        tokens = text.split()
        k = len(numeric_cols)
        for i in range(1, len(tokens) - k + 1):
            chunk = tokens[i:i + k]
            if all(re.fullmatch(NUMBER + "%?", t) for t in chunk):
                row: dict[str, Any] = {"node_type": " ".join(tokens[:i])}
                for col, tok in zip(numeric_cols, chunk):
                    val = float(tok.rstrip("%"))
                    row[col] = int(val) if col in ("times_called", "count") else val
                if "name" in self.columns:
                    row["name"] = " ".join(tokens[i + k:])
                elif i + k != len(tokens):
                    return False
                self.rows.setdefault((self.section, self.table), []).append(row)
                return True
        return False

    def get(self, section: str, table: str) -> list[dict] | None:
        return self.rows.get((section, table))


def parse_ort_profile(events: list[dict]) -> list[dict[str, Any]]:
    """Per-node rows from an ONNX Runtime profile (the JSON trace `-p` writes), slowest first."""
    nodes: dict[str, dict[str, Any]] = {}
    for ev in events:
        name = str(ev.get("name", ""))
        if ev.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        args = ev.get("args") or {}
        node = name[: -len("_kernel_time")]
        row = nodes.setdefault(node, {"node": node, "op_type": args.get("op_name"),
                                      "provider": args.get("provider"), "dur_us_total": 0.0, "count": 0})
        row["dur_us_total"] += float(ev.get("dur", 0))
        row["count"] += 1
    return sorted(nodes.values(), key=lambda r: -r["dur_us_total"])
