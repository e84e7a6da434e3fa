"""An emulated Raspberry Pi 4: the `ssh` device kind against a real sshd on loopback whose python3 is
the arm64 Python under qemu-aarch64 -cpu cortex-a72, so the Pi path (upload, remote runner, probe,
temperatures, results back over ssh) runs with an ARM interpreter and ARM kernels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import edgebench, need

from harness.setup import arm64 as qemu_setup

pytestmark = pytest.mark.arm64

MATRIX = """
[matrix]
models = ["digits-separable"]
runtimes = ["onnxruntime", "tflite"]
precisions = ["int8"]
threads = [1]
modes = ["accuracy", "perf"]
trials = 1
warmup_runs = 2
warmup_time_s = 0.0
min_runs = 10
min_time_s = 0.2
max_time_s = 5.0
job_timeout_s = 300
"""


def test_an_ssh_device_whose_python_is_emulated_arm64_runs_like_a_pi(tmp_path):
    need(qemu_setup.QEMU_NAME)
    need("/usr/sbin/sshd")
    need("ssh")
    from sshd import Sshd

    wrapper = Path(qemu_setup.setup(cpu="cortex-a72")["python3"])
    with Sshd(tmp_path / "sshd") as server:
        assert server.ssh(str(wrapper), "-c", "'import platform; print(platform.machine())'").stdout.strip() \
            == "aarch64"
        table = server.profile(name="emulated-pi4", python=str(wrapper), workdir=str(tmp_path / "wd"))
        profile = tmp_path / "pi.toml"
        profile.write_text("[device]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items()) + MATRIX)

        check = edgebench("devices", "check", str(profile), timeout=300)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "aarch64, " in check.stdout and "x Cortex-A72" in check.stdout, check.stdout

        proc = edgebench("run", str(profile), "--out", str(tmp_path / "res"), "--run-id", "pi", "--no-report",
                         timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = tmp_path / "res" / "pi"
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert len(records) == 4  # 2 runtimes x (accuracy + perf)
    for rec in records:
        assert rec["status"] == "ok", (rec["config_id"], rec["mode"], rec.get("error"))
        assert rec["device"] == "emulated-pi4" and rec["arch"] == "aarch64"
        assert rec["python_version"].startswith("3.11.")
    for rec in (r for r in records if r["mode"] == "accuracy"):
        assert rec["accuracy"] > 0.95 and rec["n_eval"] > 100
    for rec in (r for r in records if r["mode"] == "perf"):
        assert len(rec["latency_ns"]) >= 10
    probe = json.loads((run_dir / "run.json").read_text())["devices"]["emulated-pi4"]
    assert probe["arch"] == "aarch64" and probe["cpu_model"] == "Cortex-A72"
    assert probe["onnxruntime_version"] == qemu_setup.ARM64_WHEELS["onnxruntime"]
    assert probe["ai_edge_litert_version"] == qemu_setup.ARM64_WHEELS["ai-edge-litert"]
