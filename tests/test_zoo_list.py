"""`edgebench models list [--verify]`: the shipped pair with sizes, params, MACs and reference accuracy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ZOO = REPO / "models" / "zoo"
MANIFEST = json.loads((ZOO / "manifest.json").read_text())


def _list(*args: str, zoo: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if zoo:
        env["EDGEBENCH_ZOO"] = str(zoo)
    return subprocess.run([sys.executable, "-m", "harness.cli", "models", "list", *args], check=False,
                          capture_output=True,
                          text=True, timeout=120, cwd=REPO, env=env)


def _copy_zoo(tmp_path: Path) -> Path:
    out = tmp_path / "zoo"
    shutil.copytree(ZOO / "digits", out / "digits")
    shutil.copy(ZOO / "manifest.json", out / "manifest.json")
    return out


def test_list_prints_every_shipped_artifact_with_size_params_macs_and_accuracy(tmp_path):
    p = _list(zoo=_copy_zoo(tmp_path))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["model", "format", "precision", "size", "params", "MACs", "reference", "acc."]
    rows = [line.split() for line in lines[1:] if line.startswith("digits-")]
    assert len(rows) == len(MANIFEST["artifacts"]) == 10
    for a, row in zip(MANIFEST["artifacts"], rows):
        assert row[:3] == [a["model"], a["format"], a["precision"]]
        assert row[-1] == f"{a['reference_accuracy'] * 100:.2f}%"
    sep = next(r for r in rows if r[:3] == ["digits-separable", "onnx", "fp32"])
    std = next(r for r in rows if r[:3] == ["digits-standard", "onnx", "fp32"])
    assert (sep[5], sep[6]) == ("36.1k", "1.1M") and (std[5], std[6]) == ("283.0k", "8.3M")
    assert "eval set (digits): digits/digits-eval.npz (450 images, NHWC)" in p.stdout


def test_list_verify_checks_every_sha256(tmp_path):
    p = _list("--verify", zoo=_copy_zoo(tmp_path))
    assert p.returncode == 0, p.stderr
    assert p.stdout.count(" ok\n") == 10
    assert "verified: all 10 artifacts match" in p.stdout


def test_list_of_the_repository_zoo_shows_the_shipped_pair():
    p = _list()
    assert p.returncode == 0, p.stderr
    for a in MANIFEST["artifacts"]:
        assert any(line.split()[:3] == [a["model"], a["format"], a["precision"]] for line in p.stdout.splitlines())


def test_list_verify_fails_with_one_line_naming_a_changed_file(tmp_path):
    zoo = _copy_zoo(tmp_path)
    victim = zoo / "digits" / "digits-separable-tflite-int8.tflite"
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    p = _list("--verify", zoo=zoo)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    (line,) = p.stderr.strip().splitlines()
    assert str(victim) in line and "does not match the manifest" in line and "--force" in line
    assert "MISMATCH" in p.stdout


def test_list_shows_on_demand_families_from_the_local_manifest_as_not_built(tmp_path):
    zoo = _copy_zoo(tmp_path)
    art = dict(MANIFEST["artifacts"][0], name="mobilenet_v1_1.0_224-separable-onnx-fp32",
               family="mobilenet_v1_1.0_224", model="mobilenet_v1_1.0_224-separable",
               path="mobilenet_v1_1.0_224/mobilenet_v1_1.0_224-separable-onnx-fp32.onnx",
               params=4221032, macs=568740352, eval=None, reference_accuracy=None)
    local = {"schema_version": 1, "families": {"mobilenet_v1_1.0_224": {"config": {}, "shipped": False}},
             "artifacts": [art]}
    (zoo / "manifest.local.json").write_text(json.dumps(local))
    p = _list(zoo=zoo)
    assert p.returncode == 0, p.stderr
    row = next(line.split() for line in p.stdout.splitlines() if line.startswith("mobilenet"))
    assert row == ["mobilenet_v1_1.0_224-separable", "onnx", "fp32", "not", "built", "4.2M", "569M", "-"]
    p = _list("--verify", zoo=zoo)
    assert p.returncode != 0 and "is not built" in p.stderr and "--family mobilenet_v1_1.0_224" in p.stderr


def test_list_without_a_manifest_says_how_to_build_one(tmp_path):
    p = _list(zoo=tmp_path)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert str(tmp_path / "manifest.json") in p.stderr and "edgebench models build" in p.stderr
