"""Per-op breakdown: ONNX Runtime's profile (per-node kernel time) joined to the ONNX graph's layers,
grouped by layer kind: share of time against share of multiply-adds, and achieved GMAC/s per kind.

ORT renames what it fuses, so a profiled node name is resolved in steps:
  1. the name as it is, then with ORT's suffixes stripped ('_token_12', '_nchwc', '_kernel_time'...):
     a graph node of that name (fusions that keep the Conv's name, QDQ -> QLinearConv);
  2. a tensor of that name: NCHWc nodes are named after their output, which for a fused Conv+ReLU is
     the activation's output; walk back through activations, BN and Q/DQ to the MAC node;
  3. what is still unmatched is joined by op type and order: unmatched MAC nodes of the profile
     take the unmatched MAC layers of the graph of the same family of ops (conv or dense) when their
     counts agree, by descending MACs against descending time.
Whatever stays unmatched counts as 'other'; coverage_pct is the share of time whose kind is certain
(joined nodes, and nodes that are no MAC op at all, such as ORT's layout transposes). The kinds and
their multiply-adds are the analyzer's (harness/zoo/analyze.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable

from ..records import Status
from ..zoo.kinds import DENSE, LAYER_KINDS, OTHER
from .graph import PASS_THROUGH, Graph, Layer

PROFILE_CONV_OPS = {"Conv", "FusedConv", "NhwcFusedConv", "QLinearConv", "ConvInteger", "NhwcConv",
                    "QLinearConvTranspose"}
PROFILE_DENSE_OPS = {"Gemm", "MatMul", "FusedMatMul", "QGemm", "QLinearMatMul", "MatMulInteger",
                     "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "FusedGemm"}
SUFFIXES = (r"_kernel_time$", r"_token_\d+$", r"_nchwc$", r"_fence_(before|after)$",
            r"_DequantizeLinear$", r"_QuantizeLinear$", r"/duplicated$")

BREAKDOWN_COLUMNS = ["config_id", "model", "kind", "nodes", "time_us", "time_pct", "macs", "mac_pct",
                     "gmacs_per_s", "coverage_pct"]


@dataclass(frozen=True)
class Match:
    node: str
    op_type: str | None
    time_us: float          # per inference
    layer: Layer | None
    how: str                # name | tensor | order | unmatched


def _family(op_type: str | None) -> str | None:
    if op_type in PROFILE_CONV_OPS:
        return "conv"
    if op_type in PROFILE_DENSE_OPS:
        return "dense"
    return None


def _candidates(name: str) -> list[str]:
    """The name, then the name with one more of ORT's suffixes stripped each time."""
    out = [name]
    cur = name
    for _ in range(6):
        for pat in SUFFIXES:
            new = re.sub(pat, "", cur)
            if new != cur and new:
                cur = new
                out.append(cur)
                break
        else:
            break
    return out


def _mac_behind(graph: Graph, layer: Layer, depth: int = 6) -> Layer | None:
    """The MAC layer that feeds `layer` through activations / BN / Q-DQ (fused away by ORT)."""
    cur: Layer | None = layer
    for _ in range(depth):
        if cur is None:
            return None
        if cur.kind != OTHER:
            return cur
        if cur.op_type not in PASS_THROUGH or not cur.inputs:
            return None
        nxt = None
        for t in cur.inputs:  # the data input: the one produced by another node
            if t in graph.producer:
                nxt = graph.by_name.get(graph.producer[t])
                if nxt is not None and (nxt.kind != OTHER or nxt.op_type in PASS_THROUGH):
                    break
        cur = nxt
    return None


def _resolve(graph: Graph, node: str, op_type: str | None) -> tuple[Layer | None, str]:
    fam = _family(op_type)
    for cand in _candidates(node):
        producer = graph.producer.get(cand)
        by_tensor = graph.by_name.get(producer) if producer is not None else None
        for layer, how in ((graph.by_name.get(cand), "name"), (by_tensor, "tensor")):
            found = layer if layer is None or fam is None else _mac_behind(graph, layer)
            if found is not None:
                return found, how
    return None, "unmatched"


def match_profile(graph: Graph, op_profile: Iterable[dict[str, Any]]) -> list[Match]:
    """Join profiled nodes to graph layers (see the module docstring for the rules)."""
    rows = [r for r in op_profile if r.get("node")]
    matches: list[Match] = []
    used: set[str] = set()
    for r in rows:
        per_run = float(r.get("dur_us_total") or 0.0) / max(int(r.get("count") or 1), 1)
        layer, how = _resolve(graph, str(r["node"]), r.get("op_type"))
        if layer is not None and layer.kind != OTHER and layer.name in used:
            layer, how = None, "unmatched"  # two profiled nodes cannot both be one MAC layer
        if layer is not None and layer.kind != OTHER:
            used.add(layer.name)
        matches.append(Match(str(r["node"]), r.get("op_type"), per_run, layer, how))
    # by op family and order: descending time against descending MACs, only when the counts agree
    for fam in ("conv", "dense"):
        left = [i for i, m in enumerate(matches) if m.layer is None and _family(m.op_type) == fam]
        free = [layer for layer in graph.layers if layer.name not in used and layer.macs > 0
                and ((layer.kind == DENSE) == (fam == "dense"))]
        if left and len(left) == len(free):
            left.sort(key=lambda i: -matches[i].time_us)
            free.sort(key=lambda layer: -layer.macs)
            for i, layer in zip(left, free):
                m = matches[i]
                matches[i] = Match(m.node, m.op_type, m.time_us, layer, "order")
                used.add(layer.name)
    return matches


def breakdown(graph: Graph, op_profile: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per layer kind: time per inference and its share, MACs and their share, GMAC/s."""
    matches = match_profile(graph, op_profile)
    total_t = sum(m.time_us for m in matches) or 0.0
    total_macs = graph.total_macs or 0
    # time whose kind is certain: joined nodes, and nodes that are no MAC op (transposes, pools...)
    known_t = sum(m.time_us for m in matches if m.layer is not None or _family(m.op_type) is None)
    macs_by_kind = graph.macs_by_kind()
    rows = []
    for kind in LAYER_KINDS:
        ms = [m for m in matches if (m.layer.kind if m.layer is not None else OTHER) == kind]
        t = sum(m.time_us for m in ms)
        macs = macs_by_kind.get(kind, 0)
        if not ms and not macs:
            continue
        rows.append({
            "kind": kind, "nodes": len(ms), "time_us": t,
            "time_pct": 100.0 * t / total_t if total_t else None,
            "macs": macs, "mac_pct": 100.0 * macs / total_macs if total_macs else None,
            "gmacs_per_s": (macs / t / 1e3) if t > 0 and macs else None,
            "coverage_pct": 100.0 * (known_t / total_t) if total_t else None,  # exactly 100 when all known
        })
    return rows


def profile_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ok profile-mode records that carry an op profile."""
    return [r for r in records if r.get("mode") == "profile" and r.get("status") == Status.OK and r.get("op_profile")]


def breakdown_rows(records: list[dict[str, Any]], notes: list[str]) -> list[dict[str, Any]]:
    """Breakdown rows for every profiled config of a run; what cannot be joined goes to notes."""
    from pathlib import Path

    from .graph import load_graph

    out: list[dict[str, Any]] = []
    graphs: dict[str, Graph | None] = {}
    for rec in profile_records(records):
        path = rec.get("model_file")
        if not path or not str(path).endswith(".onnx"):
            continue
        if path not in graphs:
            try:
                graphs[path] = load_graph(Path(path)) if Path(path).exists() else None
            except Exception as exc:  # a model that cannot be read: say so, keep the rest of the report
                notes.append(f"per-op breakdown of {rec.get('config_id')}: cannot read {path} ({exc})")
                graphs[path] = None
            if graphs[path] is None and not Path(path).exists():
                notes.append(f"per-op breakdown of {rec.get('config_id')}: the model file {path} is not "
                             f"on this machine; run `edgebench report` where the zoo is")
        graph = graphs[path]
        if graph is None:
            continue
        for row in breakdown(graph, rec["op_profile"]):
            out.append({"config_id": rec.get("config_id"), "model": rec.get("model"), **row})
    return out
