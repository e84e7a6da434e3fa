"""The qemu device kind with the real arm64 environment: the cached setup, the shipped profile run end
to end by `edgebench run`, the probe, the runner bundle, and a job killed at its timeout."""

from __future__ import annotations

import json
import time

import pytest
from conftest import REPO, edgebench, need

from harness.setup import arm64 as qemu_setup
from harness.devices.qemu import QemuDevice
from harness.records import read_records

pytestmark = pytest.mark.arm64


@pytest.fixture(scope="module")
def arm64():
    need(qemu_setup.QEMU_NAME)
    return qemu_setup.setup(cpu="cortex-a72")  # cached after `edgebench devices setup-qemu`


def test_a_second_setup_reuses_the_cache_in_seconds(arm64):
    t0 = time.monotonic()
    proc = edgebench("devices", "setup-qemu", timeout=300)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert "sysroot: cached" in proc.stderr and "wheels: cached" in proc.stderr, proc.stderr
    assert elapsed < 30, elapsed
    info = json.loads(proc.stdout)
    assert info["versions"]["arch"] == "aarch64"
    for name, key in (("numpy", "numpy"), ("onnxruntime", "onnxruntime"), ("ai-edge-litert", "ai_edge_litert")):
        assert info["versions"][key] == qemu_setup.ARM64_WHEELS[name]


def test_the_shipped_profile_runs_every_job_under_emulation(arm64, tmp_path):
    proc = edgebench("run", str(REPO / "devices" / "qemu-arm64.toml"), "--modes", "perf",
                     "--out", str(tmp_path), "--run-id", "arm64", timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = tmp_path / "arm64"
    records = read_records(run_dir / "records.jsonl").records
    assert len(records) == 8  # digits pair x 2 runtimes x fp32/int8, 1 trial
    for rec in records:
        assert rec["status"] == "ok", (rec["config_id"], rec.get("error"))
        assert rec["arch"] == "aarch64"
        assert rec["emulated"] is True and rec["emulated_cpu"] == "cortex-a72"
        assert len(rec["latency_ns"]) >= 10 and min(rec["latency_ns"]) > 0
    assert {(r["runtime"], r["precision"]) for r in records} == {
        (rt, p) for rt in ("onnxruntime", "tflite") for p in ("fp32", "int8")}
    meta = json.loads((run_dir / "run.json").read_text())
    probe = meta["devices"]["qemu-arm64"]
    assert probe["emulated"] is True and probe["arch"] == "aarch64"
    assert probe["cpu_model"] == "Cortex-A72" and probe["emulated_cpu"] == "cortex-a72"
    assert "not a device latency" in (run_dir / "report.html").read_text()  # the report says so


def test_the_probe_sees_the_emulated_cpu_and_names_the_host(arm64):
    dev = QemuDevice({"name": "pi5", "kind": "qemu", "cpu": "cortex-a76"})
    try:
        info = dev.probe()
    finally:
        dev.close()
    assert info["arch"] == "aarch64" and info["emulated"] is True
    assert info["cpu_model"] == "Cortex-A76" and info["emulated_cpu"] == "cortex-a76"
    assert "asimddp" in info["cpu_features"]  # the A76's dot product, from qemu's hwcaps
    assert info["host_arch"] and info["host_cores"] >= 1 and info["host_cpu_model"] != info["cpu_model"]
    assert info["python_version"].startswith("3.11.")
    assert info["onnxruntime_version"] == qemu_setup.ARM64_WHEELS["onnxruntime"]
    assert info["ai_edge_litert_version"] == qemu_setup.ARM64_WHEELS["ai-edge-litert"]
    assert info["qemu_version"]


def test_the_guest_imports_only_the_runner_bundle(arm64):
    dev = QemuDevice({"name": "qemu-arm64", "kind": "qemu"})
    try:
        dev.prepare([])
        code = ("import harness, harness.runner, importlib.util as u, platform;"
                "print(harness.__file__, u.find_spec('harness.devices') is None, platform.machine())")
        res = dev.run(["python3", "-c", code], 120)
        # an absolute guest path runs the sysroot's aarch64 program, not the host's file
        res2 = dev.run(["/usr/bin/python3.11", "-c", "import platform; print(platform.machine())"], 120)
    finally:
        dev.close()
    assert res.ok, res.stderr
    path, no_devices, machine = res.stdout.split()
    assert "/bundle/harness/__init__.py" in path and not path.startswith(str(REPO))
    assert no_devices == "True" and machine == "aarch64"
    assert res2.ok and res2.stdout.strip() == "aarch64", res2.stderr


def test_a_job_past_its_timeout_is_killed_and_returned_as_a_timeout(arm64, zoo_manifest):
    import psutil

    art = zoo_manifest.find("digits-standard", "onnx", "fp32")
    dev = QemuDevice({"name": "qemu-arm64", "kind": "qemu"})
    scratch = str(dev._scratch_dir())
    try:
        dev.prepare([art.path, art.eval_path])
        t0 = time.monotonic()
        res = dev.execute({"model_path": str(art.path), "runtime": "onnxruntime", "threads": 1,
                           "mode": "accuracy", "eval_path": str(art.eval_path)}, 3)
        elapsed = time.monotonic() - t0
    finally:
        leftovers = [p for p in psutil.process_iter(["cmdline"])
                     if any(scratch in part for part in (p.info["cmdline"] or []))]
        dev.close()
    assert res["status"] == "timeout" and "timed out" in res["error"]
    assert res["emulated"] is True
    assert elapsed < 15
    assert leftovers == []
