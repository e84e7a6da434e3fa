"""Where a fresh runner process lands: its input and output buffers start on a cache line in every
process, and the record says which CPU it ran on and where its buffers lie, so a speed state can be
traced to one of them."""

from __future__ import annotations

import numpy as np

from harness.runner.memory import BUFFER_ALIGNMENT, aligned_copy, aligned_empty, current_cpu
from test_runner import QUICK, artifact, run_runner


def test_aligned_buffers_start_on_a_cache_line_whatever_numpy_would_give():
    for shape, dtype in (((1, 32, 32, 3), np.float32), ((7,), np.int8), ((1, 10), np.float16), ((3, 5), np.int64)):
        a = aligned_empty(shape, dtype)
        assert a.ctypes.data % BUFFER_ALIGNMENT == 0 and a.shape == shape and a.dtype == dtype
        assert a.flags["C_CONTIGUOUS"] and a.flags["WRITEABLE"]
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    y = aligned_copy(x, np.float32)
    assert y.ctypes.data % BUFFER_ALIGNMENT == 0 and y.dtype == np.float32 and np.array_equal(y, x)


def test_the_current_cpu_is_one_this_process_may_run_on():
    import os

    assert current_cpu() in os.sched_getaffinity(0)


def test_an_onnx_runtime_perf_record_carries_its_placement(tmp_path, zoo_manifest):
    a = artifact(zoo_manifest, "digits-separable", "onnx", "fp32")
    rec = run_runner({"model_path": str(a.path), "runtime": "onnxruntime", "threads": 1, "mode": "perf",
                      **QUICK}, tmp_path)
    assert rec["status"] == "ok", rec.get("error")
    p = rec["placement"]
    assert p["buffer_alignment_bytes"] == BUFFER_ALIGNMENT
    assert isinstance(p["cpu"], int) and p["cpu"] >= 0
    assert len(p["buffer_page_offsets"]) == 2  # one input, one output
    assert all(off % BUFFER_ALIGNMENT == 0 for off in p["buffer_page_offsets"])


def test_a_litert_perf_record_has_no_buffers_of_ours(tmp_path, zoo_manifest):
    a = artifact(zoo_manifest, "digits-separable", "tflite", "fp32")
    rec = run_runner({"model_path": str(a.path), "runtime": "tflite", "threads": 1, "mode": "perf", **QUICK},
                     tmp_path)
    assert rec["status"] == "ok", rec.get("error")
    assert rec["placement"]["buffer_page_offsets"] == []
