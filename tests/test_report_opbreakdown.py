"""Per-op breakdown: real ONNX Runtime profiles joined to the ONNX graph's layers, whatever ORT renamed."""

from __future__ import annotations

import pytest

from conftest import ZOO
from harness.report.graph import formula_from_config, formula_from_graph, load_graph
from harness.report.opbreakdown import breakdown, match_profile
from reportkit import TINY_CONFIG, ort_profile, quantize_qdq, tiny_twin

MAC_OPS = {"Conv", "FusedConv", "QLinearConv", "Gemm", "QGemm", "MatMul"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    sep = tiny_twin(d / "tiny-separable.onnx", "separable")
    std = tiny_twin(d / "tiny-standard.onnx", "standard")
    shape = (1, TINY_CONFIG["resolution"], TINY_CONFIG["resolution"], TINY_CONFIG["channels"])
    return {"separable": sep, "standard": std,
            "separable-int8": quantize_qdq(sep, d / "tiny-separable-int8.onnx", shape)}


def test_graph_classifies_each_conv_and_counts_its_macs(tiny):
    g = load_graph(tiny["separable"])
    kinds = {layer.name: (layer.kind, layer.macs) for layer in g.layers if layer.macs}
    # 16x16x1 input, stem 8 filters stride 2 -> 8x8; block0 dw 8ch + pw 16; block1 dw stride 2 -> 4x4, pw 32
    assert kinds == {
        "stem_conv": ("standard conv", 8 * 8 * 8 * 1 * 9),
        "block0_dw": ("depthwise conv", 8 * 8 * 8 * 9), "block0_pw": ("pointwise conv", 8 * 8 * 16 * 8),
        "block1_dw": ("depthwise conv", 4 * 4 * 16 * 9), "block1_pw": ("pointwise conv", 4 * 4 * 32 * 16),
        "logits": ("dense", 32 * 10),
    }


def test_formula_from_the_graph_equals_the_formula_from_the_layer_plan(tiny):
    from_graph = formula_from_graph(load_graph(tiny["separable"]))
    from_config = formula_from_config(TINY_CONFIG)
    assert from_graph["formula_ratio"] == pytest.approx(from_config["formula_ratio"])
    assert (from_graph["n_min"], from_graph["n_max"], from_graph["dk"]) == (16, 32, 3)
    # per block 1/N + 1/9, weighted by the standard conv's MACs (H W M N 9)
    w0, w1 = 8 * 8 * 8 * 16 * 9, 4 * 4 * 16 * 32 * 9
    expect = (w0 * (1 / 16 + 1 / 9) + w1 * (1 / 32 + 1 / 9)) / (w0 + w1)
    assert from_graph["formula_ratio"] == pytest.approx(expect)
    assert formula_from_graph(load_graph(tiny["standard"])) is None  # no separable blocks


def test_mobilenet_v1_layer_plan_gives_the_papers_ratio():
    plan = {"width": 1.0, "resolution": 224, "stem": [32, 2],
            "blocks": [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2]] + [[512, 1]] * 5
            + [[1024, 2], [1024, 1]]}
    f = formula_from_config(plan)
    # the paper: 569M vs 4866M mult-adds for the whole nets (0.117); the blocks alone are a bit lower
    assert 0.11 < f["formula_ratio"] < 569 / 4866
    assert (f["n_min"], f["n_max"], f["blocks"]) == (64, 1024, 13)


@pytest.mark.parametrize("model,level,renamed", [
    ("separable", "ORT_ENABLE_ALL", "_nchwc"),           # NCHWc nodes named after the activation output
    ("separable", "ORT_ENABLE_EXTENDED", None),          # FusedConv keeps the Conv's name
    ("separable-int8", "ORT_ENABLE_ALL", "_token_"),     # QDQ -> QLinearConv with a token suffix
    ("standard", "ORT_ENABLE_ALL", "_nchwc"),
])
def test_every_profiled_mac_node_is_joined_to_its_graph_layer(tiny, model, level, renamed):
    prof = ort_profile(tiny[model], level)
    if renamed:
        assert any(renamed in r["node"] for r in prof), [r["node"] for r in prof]  # ORT did rename
    graph = load_graph(tiny[model])
    matches = match_profile(graph, prof)
    mac_nodes = [m for m in matches if m.op_type in MAC_OPS]
    assert mac_nodes and all(m.layer is not None and m.how in ("name", "tensor") for m in mac_nodes), \
        [(m.node, m.how) for m in mac_nodes]
    joined = sorted(m.layer.name for m in mac_nodes)
    assert joined == sorted(layer.name for layer in graph.layers if layer.macs)  # each layer exactly once
    rows = {r["kind"]: r for r in breakdown(graph, prof)}
    assert sum(r["time_pct"] for r in rows.values()) == pytest.approx(100.0)
    assert sum(r["mac_pct"] for r in rows.values()) == pytest.approx(100.0)
    assert all(r["coverage_pct"] == pytest.approx(100.0) for r in rows.values())
    if model.startswith("separable"):
        assert rows["depthwise conv"]["nodes"] == 2 and rows["pointwise conv"]["nodes"] == 2
        assert rows["depthwise conv"]["gmacs_per_s"] > 0 and rows["pointwise conv"]["gmacs_per_s"] > 0
    else:
        assert "depthwise conv" not in rows and rows["standard conv"]["nodes"] == 3


def test_names_nothing_resembles_are_joined_by_op_type_and_order(tmp_path):
    plan = {**TINY_CONFIG, "blocks": [[16, 1], [32, 1]]}
    graph = load_graph(tiny_twin(tmp_path / "plain.onnx", "standard", plan))
    prof = [{"node": "opaque_a", "op_type": "Conv", "dur_us_total": 90.0, "count": 1},
            {"node": "opaque_b", "op_type": "Conv", "dur_us_total": 30.0, "count": 1},
            {"node": "opaque_c", "op_type": "Conv", "dur_us_total": 5.0, "count": 1},
            {"node": "mystery", "op_type": "Gemm", "dur_us_total": 1.0, "count": 1},
            {"node": "ReorderOutput", "op_type": "ReorderOutput", "dur_us_total": 2.0, "count": 1}]
    matches = {m.node: m for m in match_profile(graph, prof)}
    # descending time against descending MACs: block1 (8x8x32x16x9) > block0 (8x8x16x8x9) > stem (8x8x8x9)
    assert matches["opaque_a"].layer.name == "block1_conv" and matches["opaque_a"].how == "order"
    assert matches["opaque_b"].layer.name == "block0_conv"
    assert matches["opaque_c"].layer.name == "stem_conv"
    assert matches["mystery"].layer.name == "logits"
    assert matches["ReorderOutput"].layer is None  # no MAC op: counted as other, and certain


def test_unjoinable_mac_nodes_lower_the_coverage_instead_of_guessing(tiny):
    graph = load_graph(tiny["standard"])
    prof = [{"node": "opaque_a", "op_type": "Conv", "dur_us_total": 75.0, "count": 1},  # 1 node, 3 layers
            {"node": "stem_conv", "op_type": "Conv", "dur_us_total": 25.0, "count": 1}]
    rows = {r["kind"]: r for r in breakdown(graph, prof)}
    assert rows["other"]["time_pct"] == pytest.approx(75.0)
    assert rows["standard conv"]["time_pct"] == pytest.approx(25.0)
    assert rows["standard conv"]["coverage_pct"] == pytest.approx(25.0)


def test_graph_macs_are_the_zoo_analyzers_with_its_kind_names():
    from harness.zoo.analyze import analyze
    from harness.zoo.kinds import LAYER_KINDS

    files = sorted(ZOO.glob("digits/*.onnx"))
    assert files, "the shipped digits pair is missing from models/zoo"
    for f in files:
        mine = load_graph(f)
        theirs = analyze(f)
        assert mine.total_macs == theirs["total"]["macs"] > 0, f
        assert set(mine.macs_by_kind()) == set(LAYER_KINDS)
        for kind, macs in mine.macs_by_kind().items():
            assert macs == theirs["kinds"][kind]["macs"], (f, kind)
