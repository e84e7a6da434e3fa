"""The ceiling jobs on emulated arm64: the generated ONNX and .tflite ceiling models run under the
aarch64 builds of ONNX Runtime and LiteRT, and the report marks the roofline as emulated (the
emulator's ceilings are not a device's, so its prediction is a functional check only)."""

from __future__ import annotations

import pytest
from conftest import REPO, edgebench, need

from harness.records import read_records
from harness.roofline.spec import CEILINGS
from harness.setup import arm64 as qemu_setup

pytestmark = pytest.mark.arm64


def test_ceiling_jobs_run_under_both_runtimes_on_emulated_arm64_and_the_report_says_emulated(tmp_path):
    need(qemu_setup.QEMU_NAME)
    qemu_setup.setup(cpu="cortex-a72")  # cached after `edgebench devices setup-qemu`
    proc = edgebench("run", str(REPO / "devices" / "qemu-arm64.toml"), "--modes", "perf,ceilings",
                     "--precisions", "fp32", "--out", str(tmp_path), "--run-id", "roof", timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = read_records(tmp_path / "roof" / "records.jsonl").records
    ceilings = [r for r in records if r.get("family") == "ceilings"]
    assert len(ceilings) == 2 * len(CEILINGS)
    for rec in ceilings:
        assert rec["status"] == "ok", (rec["config_id"], rec.get("error"))
        assert rec["arch"] == "aarch64" and rec["emulated"] is True
        assert rec["ceiling_kind"] in {k for k, _ in CEILINGS}
    html = (tmp_path / "roof" / "report.html").read_text()
    assert html.count('class="roofline"') == 2
    assert html.count("not a device prediction") == 2
