"""Native tool parsers and command lines: recorded real outputs from boards and the older formats
these tools printed (tests/data/native, see its README), golden values asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO, assert_clean_error, edgebench, real_ort_profile

from harness.native import benchmark_model_argv, onnxruntime_perf_test_argv
from harness.native_output import (
    NativeOutputError,
    parse_benchmark_model,
    parse_onnxruntime_perf_test,
    parse_output,
)
from harness.native_profile import parse_ort_profile
from harness.records import RUNNER_KEYS

DATA = Path(__file__).parent / "data" / "native"  # README.md there says where each file comes from
TFLITE_SAMPLE = DATA / "tflite_benchmark_model_am62x.txt"  # recorded real outputs
ORT_SAMPLE = DATA / "onnxruntime_perf_test_k1.txt"
MB = 1024 * 1024


def sample(path: Path) -> str:
    if not path.is_file():
        pytest.fail(f"{path} is missing: the recorded real outputs are part of the test data")
    return path.read_text()


def test_benchmark_model_recent_format_gives_init_first_inference_and_percentiles():
    rec = parse_benchmark_model(sample(TFLITE_SAMPLE), "am62x")
    assert rec["status"] == "ok" and rec["error"] is None
    assert rec["init_ns"] == 5_579_000  # "Init: 5579" us
    assert rec["first_inference_ns"] == 1_357_602_000
    s = rec["latency_summary_ns"]
    assert s["count"] == 50
    assert s["mean"] == 1_240_270_000  # avg=1.24027e+06 us
    assert (s["min"], s["max"], s["std"]) == (1_238_588_000, 1_252_566_000, 2_565_000)
    assert (s["p5"], s["p50"], s["p95"]) == (1_238_753_000, 1_239_807_000, 1_247_415_000)
    assert s["p90"] is None and s["p99"] is None  # benchmark_model does not print them
    assert rec["warmup_summary_ns"]["count"] == 1
    assert rec["warmup_summary_ns"]["mean"] == 1_357_602_000
    assert rec["memory_footprint_init_bytes"] == round(6.36328 * MB)
    assert rec["memory_footprint_overall_bytes"] == round(109.832 * MB)
    assert rec["model_file_bytes"] == round(67.3128 * MB)
    assert rec["xnnpack"] is False
    assert rec["latency_ns"] is None  # no per-run samples from a native tool
    assert rec["unparsed_lines"] == [] and rec["log_messages"] == []
    assert set(RUNNER_KEYS) <= set(rec)


def test_onnxruntime_perf_test_recent_format_gives_seconds_and_ms_in_ns():
    rec = parse_onnxruntime_perf_test(sample(ORT_SAMPLE), "k1")
    assert rec["status"] == "ok"
    assert rec["init_ns"] == 1_144_760_000  # Session creation time cost: 1.14476 s
    assert rec["first_inference_ns"] == 248_000_000
    s = rec["latency_summary_ns"]
    assert s["mean"] == 82_338_200 and s["count"] == 10
    assert (s["min"], s["max"], s["p50"]) == (80_812_900, 83_881_700, 82_609_500)
    assert s["p90"] == s["p95"] == s["p99"] == s["p999"] == 83_881_700
    assert rec["peak_rss_bytes"] == 78_946_304
    assert rec["threads"] == 4
    assert rec["delegation"] == {"providers": ["SpaceMITExecutionProvider"]}
    assert rec["avg_cpu_percent"] == 48.0 and rec["inferences_per_second"] == 12.1435
    assert rec["unparsed_lines"] == []
    assert set(RUNNER_KEYS) <= set(rec)


def test_benchmark_model_tf1_no_stats_format():
    rec = parse_benchmark_model((DATA / "benchmark_model_tf1_13_format.txt").read_text())
    assert rec["status"] == "ok" and rec["unparsed_lines"] == []
    assert rec["init_ns"] == 4_174_000  # "Initialized session in 4.174ms" and "Init: 4174"
    assert rec["latency_summary_ns"]["mean"] == 26_254_300  # "no stats: 26254.3"
    assert rec["latency_summary_ns"]["count"] == 50
    assert rec["first_inference_ns"] == 38_467_000  # the warm-up's first run
    assert rec["threads"] == 4


def test_benchmark_model_average_timings_and_peak_memory_format():
    rec = parse_benchmark_model((DATA / "benchmark_model_tf2_1_format.txt").read_text())
    assert rec["status"] == "ok" and rec["unparsed_lines"] == []
    assert rec["init_ns"] == 2_807_000
    assert rec["latency_summary_ns"]["mean"] == 17_893_600  # "Inference: 17893.6"
    assert rec["latency_summary_ns"]["min"] == 17_544_000
    assert rec["warmup_summary_ns"]["mean"] == 18_129_400
    assert rec["first_inference_ns"] == 21_388_000
    assert rec["memory_footprint_init_bytes"] == round(2.67969 * MB)
    assert rec["memory_footprint_overall_bytes"] == round(9.98828 * MB)
    assert rec["peak_rss_bytes"] is None  # a footprint delta is not a peak RSS


def test_benchmark_model_op_profiling_table_with_start_column():
    rec = parse_benchmark_model((DATA / "benchmark_model_tf2_3_profiling_format.txt").read_text())
    assert rec["status"] == "ok" and rec["unparsed_lines"] == []
    assert rec["mode"] == "profile"
    assert rec["first_inference_ns"] == 612_000
    rows = rec["op_profile"]
    assert len(rows) == 12  # the regular runs' Run Order table only (not init, not Top by time)
    assert rows[0] == {"node_type": "CONV_2D", "start_ms": 0.0, "first_ms": 0.054, "avg_ms": 0.041,
                       "pct": 14.809, "cdf_pct": 14.809, "mem_kb": 0.0, "times_called": 1,
                       "name": "[model/stem/Relu6]:0"}
    assert rows[-1]["node_type"] == "SOFTMAX" and rows[-1]["cdf_pct"] == 100.0
    by_type = {r["node_type"]: r for r in rec["op_profile_by_type"]}
    assert by_type["CONV_2D"]["count"] == 5 and by_type["CONV_2D"]["avg_ms"] == 0.218
    assert by_type["DEPTHWISE_CONV_2D"]["count"] == 4 and by_type["DEPTHWISE_CONV_2D"]["pct"] == 17.002
    assert "AllocateTensors" not in by_type


def test_litert_profile_with_xnnpack_delegate_internals_and_memory_monitor():
    rec = parse_benchmark_model((DATA / "benchmark_model_litert_xnnpack_profiling_format.txt").read_text())
    assert rec["status"] == "ok" and rec["unparsed_lines"] == []
    assert rec["xnnpack"] is True and rec["threads"] == 4
    assert rec["delegation"] == {"delegate": "TfLiteXNNPackDelegate", "nodes_delegated": 12,
                                 "nodes_total": 12, "delegate_kernels": 1, "ops_on_cpu": 0}
    assert rec["peak_rss_bytes"] == round(14.1211 * MB)  # periodic monitoring peak
    assert rec["rss_end_bytes"] == 14 * MB
    assert rec["latency_summary_ns"]["p50"] == 1_183_000
    assert [r["node_type"] for r in rec["op_profile"]] == ["TfLiteXNNPackDelegate"]
    inner = rec["op_profile_delegate"]
    assert len(inner) == 9
    assert inner[0]["node_type"] == "Convolution (NHWC, F32) IGEMM"  # node types with spaces
    assert inner[0]["name"] == "Delegate/Convolution (NHWC, F32) IGEMM:0"
    types = {r["node_type"]: r["count"] for r in rec["op_profile_delegate_by_type"]}
    assert types["Convolution (NHWC, F32) IGEMM"] == 5


def test_onnxruntime_perf_test_old_latency_is_sec_format():
    rec = parse_onnxruntime_perf_test((DATA / "onnxruntime_perf_test_1_8_format.txt").read_text())
    assert rec["status"] == "ok" and rec["unparsed_lines"] == []
    s = rec["latency_summary_ns"]
    assert s["p50"] == 58_710_800  # "P50 Latency is 0.0587108sec"
    assert s["mean"] == 58_992_100 and s["count"] == 100
    assert s["min"] == 57_188_200 and s["p999"] == 63_451_900
    assert rec["threads"] == 4  # "Setting thread pool size to 4"
    assert rec["first_inference_ns"] is None  # older builds did not print it
    assert rec["log_messages"][0]["level"] == "WARNING" and rec["log_messages"][0]["line"] == 2


def test_onnxruntime_perf_test_without_statistics_keeps_the_mean():
    rec = parse_onnxruntime_perf_test((DATA / "onnxruntime_perf_test_no_stats_format.txt").read_text())
    assert rec["status"] == "ok"
    assert rec["latency_summary_ns"]["mean"] == 731_458
    assert rec["latency_summary_ns"]["p50"] is None
    assert rec["first_inference_ns"] == 2_000_000


def test_unknown_lines_are_named_with_their_line_numbers():
    lines = sample(TFLITE_SAMPLE).splitlines()
    lines.insert(3, "INFO: Some future line nobody taught the parser")
    rec = parse_output("\n".join(lines), "benchmark_model")
    assert rec["status"] == "ok"
    assert rec["unparsed_lines"] == [{"line": 4, "text": "INFO: Some future line nobody taught the parser"}]


def test_tensorflow_style_log_prefixes_are_understood():
    prefix = "2019-03-04 12:00:00.123456: I tensorflow/lite/tools/benchmark/benchmark_model.cc:42]"
    lines = (DATA / "benchmark_model_tf2_1_format.txt").read_text().splitlines()
    text = "\n".join(f"{prefix} {line}" for line in lines if line)
    rec = parse_benchmark_model(text)
    assert rec["status"] == "ok" and rec["unparsed_lines"] == []
    assert rec["latency_summary_ns"]["mean"] == 17_893_600


def test_a_failed_benchmark_is_a_failed_record_with_the_tool_error():
    text = ("INFO: STARTING!\nINFO: Graph: [/data/local/tmp/x.tflite]\n"
            "ERROR: Didn't find op for builtin opcode 'CONV_2D' version '6'\n"
            "ERROR: Failed to allocate tensors!\nERROR: Benchmarking failed.\n")
    rec = parse_benchmark_model(text)
    assert rec["status"] == "failed"
    assert "Failed to allocate tensors" in rec["error"] or "Benchmarking failed" in rec["error"]
    assert rec["latency_summary_ns"] is None


def test_text_that_is_not_tool_output_is_a_clear_error():
    with pytest.raises(NativeOutputError, match=r"notes\.txt: not benchmark_model output"):
        parse_benchmark_model("hello\nthis is a shopping list\n", "notes.txt")
    with pytest.raises(NativeOutputError, match="not onnxruntime_perf_test output"):
        parse_onnxruntime_perf_test("", "empty.txt")
    # a benchmark_model output given as onnxruntime_perf_test output is not silently accepted
    with pytest.raises(NativeOutputError):
        parse_onnxruntime_perf_test(sample(TFLITE_SAMPLE), "am62x")


JOB = {"model_path": "/data/local/tmp/m.tflite", "runtime": "tflite", "threads": 4, "xnnpack": False,
       "mode": "perf", "inter_op_threads": 1,
       "warmup": {"min_runs": 5, "min_time_s": 0.2},
       "measure": {"min_runs": 50, "min_time_s": 1.0, "max_time_s": 10.0}}


def test_benchmark_model_argv_follows_the_job():
    argv = benchmark_model_argv(JOB, "/data/local/tmp/edgebench/bin/benchmark_model")
    assert argv == ["/data/local/tmp/edgebench/bin/benchmark_model", "--graph=/data/local/tmp/m.tflite",
                    "--num_threads=4", "--use_xnnpack=false", "--warmup_runs=5", "--warmup_min_secs=0.2",
                    "--num_runs=50", "--min_secs=1", "--max_secs=10"]
    prof = benchmark_model_argv({**JOB, "mode": "profile", "xnnpack": True}, model_path="/x.tflite")
    assert "--enable_op_profiling=true" in prof and "--use_xnnpack=true" in prof
    assert "--graph=/x.tflite" in prof


def test_onnxruntime_perf_test_argv_follows_the_job():
    job = {**JOB, "runtime": "onnxruntime", "model_path": "/d/m.onnx", "inter_op_threads": 2}
    argv = onnxruntime_perf_test_argv(job, "ort_test", profile_prefix="/d/jobs/1/ort_profile")
    assert argv == ["ort_test", "-e", "cpu", "-m", "times", "-r", "50", "-x", "4", "-y", "2", "-S", "1",
                    "-I", "-s", "-p", "/d/jobs/1/ort_profile", "/d/m.onnx"]
    timed = onnxruntime_perf_test_argv({**job, "measure": {"min_time_s": 2.5}})
    assert timed[3:7] == ["-m", "duration", "-t", "3"]


def test_ort_profile_rows_from_a_real_onnxruntime_profile(tmp_path, zoo_manifest):
    model = REPO / "models" / "zoo" / "digits" / "digits-separable-onnx-fp32.onnx"
    events = json.loads(real_ort_profile(model, tmp_path))
    rows = parse_ort_profile(events)
    assert rows and all(r["count"] == 3 for r in rows)
    assert {"Conv"} <= {r["op_type"] for r in rows}
    assert rows == sorted(rows, key=lambda r: -r["dur_us_total"])


# -- edgebench import-native ---------------------------------------------------------------------

def test_import_native_prints_one_record_as_json():
    proc = edgebench("import-native", str(TFLITE_SAMPLE), "--tool", "benchmark_model", timeout=120)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stdout)
    assert rec["init_ns"] == 5_579_000 and rec["latency_summary_ns"]["p50"] == 1_239_807_000
    assert rec["runtime"] == "tflite" and rec["imported_from"] == str(TFLITE_SAMPLE)
    assert "schema_version" in rec
    assert proc.stderr == ""


def test_import_native_names_unread_lines_on_stderr(tmp_path):
    path = tmp_path / "perf.txt"
    path.write_text(sample(ORT_SAMPLE) + "Quantum flux: 12 zJ\n")
    proc = edgebench("import-native", str(path), "--tool", "onnxruntime_perf_test", timeout=120)
    assert proc.returncode == 0, proc.stderr
    n = len(sample(ORT_SAMPLE).splitlines()) + 1
    assert f"{path}:{n}: could not read: Quantum flux: 12 zJ" in proc.stderr
    assert json.loads(proc.stdout)["latency_summary_ns"]["mean"] == 82_338_200


def test_import_native_rejects_a_file_that_is_not_tool_output(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# Notes\n\nNothing measured here.\n")
    assert_clean_error(edgebench("import-native", str(path), "--tool", "benchmark_model", timeout=120),
                       str(path), "not benchmark_model output")
    binary = tmp_path / "model.tflite"
    binary.write_bytes(b"\x1c\x00\x00\x00TFL3\x00\x00" * 8)
    assert_clean_error(edgebench("import-native", str(binary), "--tool", "benchmark_model", timeout=120),
                       str(binary), "binary file")
    assert_clean_error(edgebench("import-native", str(tmp_path / "nope.txt"), "--tool", "benchmark_model",
                                 timeout=120), "nope.txt", "no such file")


def test_import_native_into_a_closed_pipe_is_quiet():
    import subprocess
    import sys

    cmd = (f"{sys.executable} -m harness.cli import-native {DATA / 'tflite_benchmark_model_am62x.txt'} "
           f"--tool benchmark_model | head -c 10")
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and len(proc.stdout) == 10
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_an_output_whose_latencies_were_read_is_never_failed():
    """Summary lines a parser does not know (another release's) are listed as unread, not fatal; without
    the average line the mean comes from the total time and the request count."""
    lines = [line for line in sample(ORT_SAMPLE).splitlines() if not line.startswith("Average inference")]
    lines[5:5] = ["Average memory usage: 12 MB", "Total inference run time (all threads): 0.9 s"]
    rec = parse_onnxruntime_perf_test("\n".join(lines))
    assert rec["status"] == "ok" and rec["error"] is None
    assert [u["text"] for u in rec["unparsed_lines"]] == lines[5:7]
    assert rec["latency_summary_ns"]["mean"] == round(823_382_000 / 10)  # Total inference time cost / requests
    assert rec["latency_summary_ns"]["p50"] == 82_609_500
    only_percentiles = "\n".join(["P50 Latency: 0.0826095 s", "Something new: 3", "Min Latency: 0.0808129 s"])
    rec = parse_onnxruntime_perf_test(only_percentiles)
    assert rec["status"] == "ok" and rec["latency_summary_ns"]["p50"] == 82_609_500
    assert rec["unparsed_lines"] == [{"line": 2, "text": "Something new: 3"}]
    # benchmark_model: the newer count= line with curr/first and no timings line still gives an ok record
    text = ("INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds\n"
            "INFO: count=1 curr=2100\nINFO: Running benchmark for at least 50 iterations\n"
            "INFO: count=50 first=2050 curr=1990 min=1980 max=2300 avg=2012.5 std=40\n"
            "INFO: A line from a newer LiteRT\n")
    rec = parse_benchmark_model(text)
    assert rec["status"] == "ok" and rec["latency_summary_ns"]["mean"] == 2_012_500
    assert rec["first_inference_ns"] == 2_100_000 and rec["unparsed_lines"][0]["line"] == 5


def test_import_native_into_a_run_appends_the_record_and_reports_it(tmp_path):
    import pandas as pd

    from reportkit import OLD_RUN, copy_old_run

    run = copy_old_run(tmp_path / "run")
    before = (run / "records.jsonl").read_text().splitlines()
    proc = edgebench("import-native", str(TFLITE_SAMPLE), "--tool", "benchmark_model", "--into", str(run),
                     "--device", "am62x", "--model", "mobilenet_v1", "--threads", "4", timeout=120)
    assert proc.returncode == 0, proc.stderr
    after = (run / "records.jsonl").read_text().splitlines()
    assert after[: len(before)] == before and len(after) == len(before) + 1
    rec = json.loads(after[-1])
    assert rec["config_id"] == "am62x/mobilenet_v1/tflite/fp32/t4" and rec["trial"] == 0
    assert rec["status"] == "ok" and rec["run_id"] == json.loads((run / "run.json").read_text())["run_id"]
    summary = pd.read_csv(run / "summary.csv").set_index("config_id")
    row = summary.loc["am62x/mobilenet_v1/tflite/fp32/t4"]
    assert row["median_ms"] == pytest.approx(1239.807) and row["latency_source"] == "native tool summary"
    assert "added am62x/mobilenet_v1/tflite/fp32/t4" in proc.stderr and OLD_RUN.exists()
