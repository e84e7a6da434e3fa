"""Device faults on the Android path (the real adb client, the stand-in adb server): cleanup never
removes a folder edgebench did not create, and a phone that turns unauthorized mid-run has its
remaining jobs skipped (after one retry) so that --resume runs them once it is authorized again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from adbserver import AdbServer, FakeDevice
from conftest import REPO, need, written_records as records

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


def write_profile(tmp_path: Path, port: int, trials: int, extra: str = "") -> Path:
    p = tmp_path / "pixel.toml"
    p.write_text(f'[device]\nname = "pixel"\nkind = "adb"\nserial = "EDGE0001"\nadb_port = {port}\n'
                 f'python = "{TERMUX_PY}"\n{extra}' + MATRIX.format(models='["digits-separable"]',
                                                                      trials=trials))
    return p


def cli(*args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "ANDROID_SERIAL"}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cleanup_keeps_a_workdir_that_held_the_users_photos(tmp_path):
    need("adb")
    phone = FakeDevice(python=sys.executable, files={"/sdcard/DCIM/photo.jpg": b"\xff\xd8 a photo"})
    with AdbServer([phone]) as srv:
        prof = write_profile(tmp_path, srv.port, 1, 'workdir = "/sdcard"\ncleanup = true\n')
        proc = cli("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report")
        out, err = proc.communicate(timeout=300)
        photo = srv.device().host_path("/sdcard/DCIM/photo.jpg")
        assert proc.returncode == 0, err
        assert photo.read_bytes() == b"\xff\xd8 a photo"
    assert [r["status"] for r in records(tmp_path / "res" / "r" / "records.jsonl")] == ["ok"]


def test_cleanup_removes_a_workdir_edgebench_created(tmp_path):
    need("adb")
    with AdbServer([FakeDevice(python=sys.executable)]) as srv:
        prof = write_profile(tmp_path, srv.port, 1, 'workdir = "/data/local/tmp/eb-run"\ncleanup = true\n')
        proc = cli("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report")
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert srv.device().host_path("/data/local/tmp").is_dir()
        assert not srv.device().host_path("/data/local/tmp/eb-run").exists()


def test_a_phone_turning_unauthorized_skips_its_remaining_jobs_and_resume_runs_them(tmp_path):
    need("adb")
    with AdbServer([FakeDevice(python=sys.executable)]) as srv:
        proc = cli("run", str(write_profile(tmp_path, srv.port, 6)), "--out", str(tmp_path / "res"),
                   "--run-id", "r", "--no-report")
        path = tmp_path / "res" / "r" / "records.jsonl"
        deadline = time.monotonic() + 180
        while len(records(path)) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        srv.device().state = "unauthorized"  # the phone revoked USB debugging
        out, err = proc.communicate(timeout=300)
        recs = records(path)
        assert len(recs) == 6, recs
        ok = [r for r in recs if r["status"] == "ok"]
        skipped = [r for r in recs if r["status"] == "skipped"]
        assert len(ok) >= 2 and len(skipped) >= 3 and len(ok) + len(skipped) == 6, \
            [(r["status"], r.get("error")) for r in recs]
        assert all("unauthorized" in r["error"] and "pixel" in r["error"] for r in skipped)
        assert "retrying once" in err
        srv.device().state = "device"  # accepted the prompt again
        resume = cli("run", "--resume", str(tmp_path / "res" / "r"), "--no-report")
        out, err = resume.communicate(timeout=300)
    assert resume.returncode == 0, err
    final = records(path)
    done = {(r["config_id"], r["trial"]) for r in final if r["status"] == "ok"}
    assert len(done) == 6, [(r["status"], r.get("error")) for r in final]
    assert json.loads((tmp_path / "res" / "r" / "run.json").read_text())["status"] != "running"
