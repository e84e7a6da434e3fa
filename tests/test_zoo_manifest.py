"""The shipped zoo: manifest.json lists every digits artifact exactly as it is on disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.manifest import MANIFEST_SCHEMA_VERSION, load_manifest
from harness.util import sha256_file
from harness.zoo.analyze import analyze, describe_io
from harness.zoo.config import FORMATS, TWINS, load_zoo

REPO = Path(__file__).resolve().parent.parent
ZOO = REPO / "models" / "zoo"
MANIFEST = json.loads((ZOO / "manifest.json").read_text())
ARTIFACTS = {a["name"]: a for a in MANIFEST["artifacts"]}


def test_manifest_has_the_schema_version_the_reader_expects():
    assert MANIFEST["schema_version"] == MANIFEST_SCHEMA_VERSION
    assert {a["model"] for a in MANIFEST["artifacts"]} == {"digits-separable", "digits-standard"}
    assert {"digits-separable", "digits-standard"} <= set(load_manifest(ZOO).models())


def test_manifest_lists_both_digits_twins_in_all_five_formats():
    expected = {f"digits-{t}-{f}-{p}" for t in TWINS for f, p in FORMATS}
    assert set(ARTIFACTS) == expected
    for a in ARTIFACTS.values():
        assert a["name"] == f"{a['model']}-{a['format']}-{a['precision']}"
        assert a["model"] == f"{a['family']}-{a['twin']}"
        assert a["path"] == f"digits/{a['name']}.{a['format']}"


@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_every_shipped_artifact_matches_its_sha256_and_size(name):
    a = ARTIFACTS[name]
    path = ZOO / a["path"]
    assert path.stat().st_size == a["bytes"]
    assert sha256_file(path) == a["sha256"], \
        f"{path} changed: rebuild with `edgebench models build --family digits --force`"
    load_manifest(ZOO).find(a["model"], a["format"], a["precision"]).verify()


def test_eval_set_matches_its_sha256_and_is_nhwc_float32_with_int64_labels():
    fam = MANIFEST["families"]["digits"]
    ev = fam["eval"]
    path = ZOO / ev["path"]
    assert sha256_file(path) == ev["sha256"]
    with np.load(path) as data:
        x, y = data["x"], data["y"]
    assert x.dtype == np.float32 and x.shape == (ev["n"], 32, 32, 1) and ev["layout"] == "NHWC"
    assert y.dtype == np.int64 and y.shape == (ev["n"],) and set(np.unique(y)) == set(range(10))
    assert 0.0 <= x.min() and x.max() <= 1.0
    for a in ARTIFACTS.values():
        assert a["eval"] == {"path": ev["path"], "sha256": ev["sha256"]}


def test_shipped_zoo_fits_in_15_megabytes():
    total = sum((ZOO / a["path"]).stat().st_size for a in ARTIFACTS.values())
    total += (ZOO / MANIFEST["families"]["digits"]["eval"]["path"]).stat().st_size
    assert total <= 15 * 1024 * 1024


def test_shipped_artifacts_were_built_from_the_current_zoo_toml():
    digits = load_zoo(REPO / "models" / "zoo.toml")["digits"]
    assert MANIFEST["families"]["digits"]["inputs_sha256"] == digits.inputs_sha256(), (
        "models/zoo.toml (or CODE_VERSION) changed since the digits pair was built: "
        "run `edgebench models build --family digits` and commit the result")
    assert MANIFEST["families"]["digits"]["config"] == digits.config()
    assert MANIFEST["families"]["digits"]["shipped"] is True


@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_inputs_and_outputs_are_listed_as_the_file_declares_them(name):
    a = ARTIFACTS[name]
    io = describe_io(ZOO / a["path"])
    assert a["inputs"] == io["inputs"] and a["outputs"] == io["outputs"]
    (inp,), (out,) = a["inputs"], a["outputs"]
    assert inp["shape"] == [1, 32, 32, 1] and inp["layout"] == "NHWC"
    assert out["shape"] == [1, 10]
    full_int8 = a["format"] == "tflite" and a["precision"] == "int8"
    assert inp["dtype"] == out["dtype"] == ("int8" if full_int8 else "float32")
    if full_int8:
        assert inp["scale"] > 0 and -128 <= inp["zero_point"] <= 127
        assert out["scale"] > 0 and -128 <= out["zero_point"] <= 127
    else:
        assert inp["scale"] is None and inp["zero_point"] is None


@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_params_and_macs_are_the_analyzers_count_of_the_file(name):
    a = ARTIFACTS[name]
    assert analyze(ZOO / a["path"])["total"] == {"macs": a["macs"], "params": a["params"]}


def test_reference_accuracy_is_the_keras_figure_of_each_twin_and_separable_is_below_standard():
    refs = MANIFEST["families"]["digits"]["reference_accuracy"]
    for a in ARTIFACTS.values():
        assert a["reference_accuracy"] == refs[a["twin"]]
    assert 0.95 < refs["separable"] < refs["standard"] <= 1.0


def test_separable_twin_needs_several_times_fewer_mult_adds_than_standard():
    sep, std = ARTIFACTS["digits-separable-onnx-fp32"], ARTIFACTS["digits-standard-onnx-fp32"]
    assert 5 < std["macs"] / sep["macs"] < 9
    assert 5 < std["params"] / sep["params"] < 9
