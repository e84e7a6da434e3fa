"""Faults on the Android path, end to end through `edgebench run`, the real adb client and the stand-in
adb server: a phone lost mid-run, and hostile model names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from adbserver import AdbServer, FakeDevice
from conftest import REPO, ZOO, need, written_records as records

TERMUX_PY = "/data/data/com.termux/files/usr/bin/python3"
MATRIX = """
[matrix]
models = {models}
runtimes = ["onnxruntime"]
precisions = ["fp32"]
threads = [1]
modes = ["perf"]
trials = {trials}
pair_target = 0
warmup_runs = 2
warmup_time_s = 0.0
min_runs = 10
min_time_s = 0.2
max_time_s = 1.0
"""


def profile(tmp_path: Path, port: int, models: str, trials: int) -> Path:
    p = tmp_path / "pixel.toml"
    p.write_text(f'[device]\nname = "pixel"\nkind = "adb"\nserial = "EDGE0001"\nadb_port = {port}\n'
                 f'python = "{TERMUX_PY}"\n' + MATRIX.format(models=models, trials=trials))
    return p


def start(prof: Path, out: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "ANDROID_SERIAL"}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(prof), "--out", str(out),
                             "--run-id", "r", "--no-report"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_phone_lost_mid_run_keeps_its_records_and_marks_the_rest_skipped(tmp_path):
    need("adb")
    with AdbServer([FakeDevice(python=sys.executable)]) as srv:
        proc = start(profile(tmp_path, srv.port, '["digits"]', 4), tmp_path / "res")
        path = tmp_path / "res" / "r" / "records.jsonl"
        deadline = time.monotonic() + 180
        while len(records(path)) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        srv.device().state = "offline"  # the cable is pulled
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err  # jobs skipped, records kept
    recs = records(path)
    assert len(recs) == 8  # 2 twins x 4 trials: every planned job has a record
    ok = [r for r in recs if r["status"] == "ok"]
    skipped = [r for r in recs if r["status"] == "skipped"]
    assert len(ok) >= 2 and len(ok) + len(skipped) == 8
    assert all("device pixel lost" in r["error"] and "EDGE0001" in r["error"] for r in skipped)
    assert all(r["latency_ns"] for r in ok)


def test_hostile_model_names_travel_to_the_phone_as_data(tmp_path):
    need("adb")
    pwned = f"PWNED{os.getpid()}"
    evil = tmp_path / f"a b'c\"d;touch {pwned};$(touch {pwned})`touch {pwned}`"
    evil.mkdir()
    model = evil / "m; x.onnx"
    model.write_bytes((ZOO / "digits" / "digits-separable-onnx-fp32.onnx").read_bytes())
    with AdbServer([FakeDevice(python=sys.executable)]) as srv:
        proc = start(profile(tmp_path, srv.port, json.dumps([str(model)]), 1), tmp_path / "res")
        out, err = proc.communicate(timeout=300)
        phone_root = Path(srv.device().host_path("/"))
        assert any(phone_root.rglob("m; x.onnx")), "the model never reached the phone's folder"
        hits = [str(p) for p in phone_root.rglob(pwned)]
    assert proc.returncode == 0, err
    recs = records(tmp_path / "res" / "r" / "records.jsonl")
    assert [r["status"] for r in recs] == ["ok"], recs
    assert hits == [] and not (tmp_path / pwned).exists() and not (REPO / pwned).exists()
