"""x86 against emulated arm64: the shipped digits pair, both runtimes, fp32 and int8, in accuracy mode.

The same artifact files run on this host (LocalDevice) and under qemu-aarch64 (QemuDevice, the
aarch64 wheels' ARM kernels); the runner saves the raw outputs of every eval image on both sides.
The agreement table is printed in pytest's closing summary and written to agreement.md under pytest's
basetemp.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import need

from harness.setup import arm64 as qemu_setup
from harness.devices.local import LocalDevice
from harness.devices.qemu import QemuDevice

pytestmark = pytest.mark.arm64

CPU = "cortex-a72"
MODELS = ("digits-separable", "digits-standard")
RUNTIMES = (("onnxruntime", "onnx"), ("tflite", "tflite"))
PRECISIONS = ("fp32", "int8")
CASES = [(m, r, f, p) for m in MODELS for r, f in RUNTIMES for p in PRECISIONS]
JOB_TIMEOUT_S = 900

ORT_FP32_MAX_ABS = 1e-4
LITERT_FP32_MAX_ABS = 1e-5
ACCURACY_POINTS = 0.5


def _output_step(model_path: Path) -> float | None:
    """Quantization step of a model's output: the TFLite output tensor's scale, or the scale of the
    DequantizeLinear that makes an ONNX QDQ model's output. None for a float output."""
    if model_path.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        detail = Interpreter(model_path=str(model_path)).get_output_details()[0]
        scale, _ = detail["quantization"]
        return float(scale) if np.issubdtype(detail["dtype"], np.integer) and scale else None
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model_path)).graph
    producer = {o: n for n in graph.node for o in n.output}.get(graph.output[0].name)
    if producer is None or producer.op_type != "DequantizeLinear":
        return None
    inits = {i.name: i for i in graph.initializer}
    return float(numpy_helper.to_array(inits[producer.input[1]]).reshape(-1)[0])


class _Summary:
    """Prints the agreement table in pytest's closing summary (output capture would hide a print)."""

    def __init__(self, text: str, path: Path):
        self.text, self.path = text, path

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.section("x86 against emulated arm64 (qemu-aarch64)")
        terminalreporter.write_line(self.text)
        terminalreporter.write_line(f"(also in {self.path})")


@pytest.fixture(scope="module")
def table(zoo_manifest, tmp_path_factory, request):
    need(qemu_setup.QEMU_NAME)
    qemu_setup.setup(cpu=CPU)  # cached after `edgebench devices setup-qemu`: seconds
    out = tmp_path_factory.mktemp("agreement")
    local = LocalDevice({"name": "x86", "kind": "local"})
    arm = QemuDevice({"name": "qemu-arm64", "kind": "qemu", "cpu": CPU})
    rows = []
    try:
        for model, runtime, fmt, precision in CASES:
            art = zoo_manifest.find(model, fmt, precision)
            assert art is not None and art.built, f"{model} {fmt} {precision} missing from the shipped zoo"
            row = {"model": model, "runtime": runtime, "precision": precision}
            for side, dev in (("x86", local), ("arm64", arm)):
                saved = out / f"{art.name}-{side}.npz"
                dev.prepare([art.path, art.eval_path])
                res = dev.execute({"model_path": str(art.path), "runtime": runtime, "threads": 1,
                                   "mode": "accuracy", "eval_path": str(art.eval_path),
                                   "save_outputs_path": str(saved)}, JOB_TIMEOUT_S)
                row[side] = res
                if res.get("status") == "ok":
                    with np.load(saved) as d:
                        row[f"{side}_outputs"] = d["outputs"]
            if "x86_outputs" in row and "arm64_outputs" in row:
                a, b = row["x86_outputs"], row["arm64_outputs"]
                row["max_abs"] = float(np.max(np.abs(a - b)))
                row["identical"] = bool(np.array_equal(a, b))
                row["top1"] = float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))
                row["step"] = _output_step(art.path)
            rows.append(row)
    finally:
        local.close()
        arm.close()
    text = render(rows)
    (out / "agreement.md").write_text(text + "\n")
    request.config.pluginmanager.register(_Summary(text, out / "agreement.md"), "arm64-agreement")
    return rows


def render(rows: list[dict]) -> str:
    head = ("| model | runtime | precision | x86 acc % | arm64 acc % | diff pts | max abs output diff "
            "| identical | top-1 agreement % | versions x86 / arm64 |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        x, a = r.get("x86", {}), r.get("arm64", {})
        if x.get("status") != "ok" or a.get("status") != "ok":
            lines.append(f"| {r['model']} | {r['runtime']} | {r['precision']} | x86 {x.get('status')}: "
                         f"{x.get('error')} | arm64 {a.get('status')}: {a.get('error')} | | | | | |")
            continue
        diff = 100 * (a["accuracy"] - x["accuracy"])
        max_abs = f"{r['max_abs']:.2e}" + (f" ({r['max_abs'] / r['step']:.0f} step)" if r.get("step") else "")
        lines.append(
            f"| {r['model']} | {r['runtime']} | {r['precision']} | {100 * x['accuracy']:.2f} | "
            f"{100 * a['accuracy']:.2f} | {diff:+.2f} | {max_abs} | {'yes' if r['identical'] else 'no'} | "
            f"{100 * r['top1']:.2f} | {x.get('runtime_version')} / {a.get('runtime_version')} |")
    return "\n".join(lines)


def test_every_job_runs_on_both_sides_and_the_guest_is_aarch64(table):
    for r in table:
        assert r["x86"]["status"] == "ok", (r["model"], r["runtime"], r["precision"], r["x86"].get("error"))
        assert r["arm64"]["status"] == "ok", (r["model"], r["runtime"], r["precision"],
                                              r["arm64"].get("error"), r["arm64"].get("stderr_tail"))
        assert r["arm64"]["arch"] == "aarch64"
        assert r["arm64"]["emulated"] is True and r["arm64"]["emulated_cpu"] == CPU
        assert r["x86"]["arch"] != "aarch64"
        assert r["arm64"]["n_eval"] == r["x86"]["n_eval"] == len(r["arm64_outputs"]) > 100


def test_onnxruntime_fp32_outputs_agree_within_1e_4(table):
    rows = [r for r in table if r["runtime"] == "onnxruntime" and r["precision"] == "fp32"]
    assert len(rows) == 2
    for r in rows:
        assert r["max_abs"] <= ORT_FP32_MAX_ABS, (r["model"], r["max_abs"])


def test_litert_fp32_outputs_are_identical_or_within_1e_5(table):
    rows = [r for r in table if r["runtime"] == "tflite" and r["precision"] == "fp32"]
    assert len(rows) == 2
    for r in rows:
        assert r["identical"] or r["max_abs"] <= LITERT_FP32_MAX_ABS, (r["model"], r["max_abs"])


def test_int8_outputs_differ_by_at_most_one_quantization_step(table):
    # x86 and ARM int8 kernels may round an accumulator differently: one step of the output's scale
    rows = [r for r in table if r["precision"] == "int8"]
    assert len(rows) == 4
    for r in rows:
        assert r["step"], (r["model"], r["runtime"], "int8 model without a quantized output")
        assert r["max_abs"] <= r["step"] * 1.0001, (r["model"], r["runtime"], r["max_abs"], r["step"])


def test_top1_agreement_is_total_for_fp32_and_at_least_99_percent_for_int8(table):
    for r in table:
        limit = 1.0 if r["precision"] == "fp32" else 0.99
        assert r["top1"] >= limit, (r["model"], r["runtime"], r["precision"], r["top1"])


def test_arm64_accuracy_is_within_half_a_point_of_x86(table):
    for r in table:
        gap = 100 * abs(r["arm64"]["accuracy"] - r["x86"]["accuracy"])
        assert gap <= ACCURACY_POINTS, (r["model"], r["runtime"], r["precision"], gap)
