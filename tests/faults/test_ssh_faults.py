"""Hostile names through the ssh path end to end (`edgebench run` against a real sshd on loopback):
paths with spaces, quotes, `;`, `$()` and backticks travel as data and never run as commands, and a
workdir that tries to escape with `..` is refused before anything runs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from conftest import REPO, ZOO, assert_clean_error, edgebench
from sshd import Sshd, need

MATRIX = """
[matrix]
models = {models}
runtimes = ["onnxruntime", "tflite"]
precisions = ["fp32"]
threads = [1]
modes = ["perf", "accuracy"]
trials = 1
eval_data = {eval}
warmup_runs = 1
warmup_time_s = 0.0
min_runs = 10
min_time_s = 0.05
max_time_s = 1.0
"""


def write_profile(path: Path, table: dict, models: list[str], eval_data: Path) -> Path:
    body = "[device]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())
    path.write_text(body + MATRIX.format(models=json.dumps(models), eval=json.dumps(str(eval_data))))
    return path


def test_hostile_names_through_ssh_run_nothing_else(tmp_path):
    need("/usr/sbin/sshd")
    pwned = f"PWNED{os.getpid()}"
    evil = tmp_path / f"a b'c\"d;touch {pwned};$(touch {pwned})`touch {pwned}`"
    evil.mkdir()
    onnx = evil / "sep; x.onnx"
    tfl = evil / "sep $(y).tflite"
    onnx.write_bytes((ZOO / "digits" / "digits-separable-onnx-fp32.onnx").read_bytes())
    tfl.write_bytes((ZOO / "digits" / "digits-separable-tflite-fp32.tflite").read_bytes())
    data = evil / "eval 'x'.npz"
    data.write_bytes((ZOO / "digits" / "digits-eval.npz").read_bytes())
    workdir = tmp_path / f"wd `touch {pwned}`"
    with Sshd(tmp_path / "sshd") as server:
        table = server.profile(name="pi", python=sys.executable, workdir=str(workdir))
        prof = write_profile(tmp_path / "pi.toml", table, [str(onnx), str(tfl)], data)
        proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report",
                         timeout=300)
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(line) for line in (tmp_path / "res" / "r" / "records.jsonl").read_text().splitlines()]
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs), [r.get("error") for r in recs]
    assert {r["accuracy"] for r in recs if r["mode"] == "accuracy"} == {separable_reference_accuracy()}
    places = [tmp_path, workdir, REPO, Path.home()]
    assert [p for p in places if (p / pwned).exists()] == []
    assert not any(workdir.rglob(pwned))


def separable_reference_accuracy() -> float:
    from harness.manifest import load_manifest

    return load_manifest().find("digits-separable", "onnx", "fp32")["reference_accuracy"]


def test_a_workdir_escaping_with_dotdot_is_refused_before_anything_runs(tmp_path):
    need("/usr/sbin/sshd")
    with Sshd(tmp_path / "sshd") as server:
        table = server.profile(name="pi", python=sys.executable, workdir="~/edgebench/../../etc")
        prof = write_profile(tmp_path / "pi.toml", table, ["digits-separable"], ZOO / "digits" / "digits-eval.npz")
        proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), timeout=120)
    assert_clean_error(proc, "..")
    assert not (tmp_path / "res").exists()
