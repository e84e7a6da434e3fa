"""Android over adb, end to end: the REAL adb client (`adb -P PORT`) against the stand-in server of
tests/adbserver.py, which speaks adb's client-server protocol and runs the phone's commands in a
temporary folder. Push / shell / pull, the probe, the python runner (digits pair, real runtimes) and
the native runner (a stand-in benchmark_model printing a recorded real output), and the errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from adbserver import AdbServer, FakeDevice
from conftest import REPO, ZOO, edgebench, need, real_ort_profile

from harness.devices.adb import DEFAULT_WORKDIR, AdbDevice
from harness.errors import DeviceError, DeviceLost, ProfileError

TERMUX_PY = "/data/data/com.termux/files/usr/bin/python3"
DATA = Path(__file__).parent / "data" / "native"
TFLITE_OUT = (DATA / "tflite_benchmark_model_am62x.txt").read_text()
ORT_OUT = (DATA / "onnxruntime_perf_test_k1.txt").read_text()
QUICK = {"warmup": {"min_runs": 3, "min_time_s": 0.02},
         "measure": {"min_runs": 20, "min_time_s": 0.05, "max_time_s": 1.0}}


@pytest.fixture(autouse=True)
def adb_client(monkeypatch):
    """The real adb client must be there (CI installs it); ANDROID_SERIAL must not leak in."""
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    return need("adb")


def phone(srv: AdbServer, serial: str = "EDGE0001", **table) -> AdbDevice:
    return AdbDevice({"name": "pixel", "kind": "adb", "serial": serial, "adb_port": srv.port, **table})


def printing_tool(text: str, to_stderr: bool = True, rc: int = 0) -> str:
    """A stand-in native binary (sh script) that prints a recorded output, as the real tool does."""
    return f"cat >{'&2' if to_stderr else '&1'} <<'__END__'\n{text.rstrip()}\n__END__\nexit {rc}\n"


def digits(name: str) -> Path:
    path = ZOO / "digits" / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: the digits pair ships with the repository")
    return path


# -- transport: shell, push, pull ----------------------------------------------------------------

def test_shell_returns_the_remote_exit_code_and_separate_streams():
    with AdbServer() as srv:
        dev = phone(srv)
        res = dev.run(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout=30)
        assert (res.returncode, res.stdout, res.stderr) == (7, "out\n", "err\n")
        assert dev.run(["true"], timeout=30).returncode == 0
        # the client really used the shell v2 protocol (exit-code packets), through a tport switch
        assert any(r.startswith("shell,v2,") for r in srv.requests)
        assert "host:tport:serial:EDGE0001" in srv.requests


def test_shell_on_an_old_phone_without_shell_v2_still_gets_the_exit_code():
    with AdbServer([FakeDevice(features=())]) as srv:
        dev = phone(srv)
        res = dev.run(["sh", "-c", "echo out; exit 5"], timeout=30)
        assert res.returncode == 5 and res.stdout == "out\n"
        assert any(r.startswith("shell:") for r in srv.requests)  # the v1 shell: no exit code of its own
        assert not any(r.startswith("shell,v2") for r in srv.requests)


def test_arguments_reach_the_phone_quoted_not_interpreted():
    with AdbServer() as srv:
        dev = phone(srv)
        res = dev.run(["echo", "a b; touch /data/local/tmp/pwned", "$(id)", "'q'"], timeout=30)
        assert res.stdout == "a b; touch /data/local/tmp/pwned $(id) 'q'\n"
        assert not (srv.device().host_path("/data/local/tmp/pwned")).exists()


def test_push_skips_unchanged_files_on_a_second_run_and_resends_changed_ones(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(os.urandom(200_000))
    b.write_bytes(b"version 1")
    with AdbServer() as srv:
        first = phone(srv, runner="native")
        mapping = first.prepare([a, b])
        assert mapping == {str(a): f"{DEFAULT_WORKDIR}/files/a.bin", str(b): f"{DEFAULT_WORKDIR}/files/b.bin"}
        sends = [p for op, p in srv.sync_log if op == "SEND"]
        assert len(sends) == 2
        assert srv.device().host_path(mapping[str(a)]).read_bytes() == a.read_bytes()

        second = phone(srv, runner="native")  # a new run: it asks the phone for sha256 sums
        del srv.sync_log[:]
        assert second.prepare([a, b]) == mapping
        assert [op for op, _ in srv.sync_log if op == "SEND"] == []
        assert sorted(second.skipped) == sorted(mapping.values()) and second.pushed == []

        b.write_bytes(b"version 2")
        third = phone(srv, runner="native")
        third.prepare([a, b])
        assert third.pushed == [mapping[str(b)]]
        assert srv.device().host_path(mapping[str(b)]).read_bytes() == b"version 2"


def test_pull_brings_files_back_and_a_missing_file_is_a_clear_error(tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("measured\n")
    with AdbServer() as srv:
        dev = phone(srv)
        dev.push(src, "/sdcard/edgebench/x.txt")
        dev.pull("/sdcard/edgebench/x.txt", tmp_path / "back" / "x.txt")
        assert (tmp_path / "back" / "x.txt").read_text() == "measured\n"
        with pytest.raises(DeviceError, match=r"pixel \(adb EDGE0001\).*/sdcard/none\.txt.*No such file"):
            dev.pull("/sdcard/none.txt", tmp_path / "none.txt")


# -- probe -------------------------------------------------------------------------------------

def test_probe_reports_the_phone_big_little_cores_and_python():
    with AdbServer([FakeDevice(python=sys.executable)]) as srv:
        info = phone(srv, python=TERMUX_PY).probe()
    assert info["android_model"] == "Pixel 4" and info["android_soc"] == "SM8150"
    assert info["android_sdk"] == 33 and info["os_name"] == "Android 13"
    assert info["arch"] == "aarch64" and info["cpu_cores"] == 8
    assert info["cpu_big_little"] is True
    assert info["cpu_core_types"] == "4x Cortex-A55 @1.79GHz + 3x Cortex-A76 @2.42GHz + 1x Cortex-A76 @2.84GHz"
    assert info["cpu_max_freq_khz"][:4] == [1785600] * 4
    assert info["governor"] == "schedutil"
    assert info["ram_total_bytes"] == 5774048 * 1024
    assert info["thermal_zones"]["cpu-1-0-usr"] == 43.8 and info["temp_c"] == 43.8
    assert info["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert info["onnxruntime_version"] and info["numpy_version"]
    assert info["workdir_writable"] is True and info["adb_serial"] == "EDGE0001"
    assert "shell_v2" in info["adb_features"]


def test_probe_of_a_phone_without_python_still_describes_it():
    with AdbServer([FakeDevice(python=None)]) as srv:
        info = phone(srv).probe()
    assert info["python_version"] is None and info["android_model"] == "Pixel 4"
    assert info["native_tools"] == {"benchmark_model": None, "onnxruntime_perf_test": None}


# -- python runner -----------------------------------------------------------------------------

def test_python_runner_runs_the_digits_pair_under_both_runtimes(tmp_path):
    models = [digits(f"digits-{twin}-{fmt}") for twin in ("separable", "standard")
              for fmt in ("onnx-fp32.onnx", "tflite-fp32.tflite")]
    eval_data = digits("digits-eval.npz")
    with AdbServer([FakeDevice(python=sys.executable)]) as srv:
        dev = phone(srv, python=TERMUX_PY)
        mapping = dev.prepare([*models, eval_data])
        assert all(v.startswith(f"{DEFAULT_WORKDIR}/files/") for v in mapping.values())
        results = {}
        for model in models:
            runtime = "onnxruntime" if model.suffix == ".onnx" else "tflite"
            job = {"model_path": mapping[str(model)], "runtime": runtime, "threads": 1, "mode": "perf",
                   "xnnpack": True if runtime == "tflite" else None, **QUICK}
            results[model.name] = dev.execute(job, timeout=120)
        acc = dev.execute({"model_path": mapping[str(models[0])], "eval_path": mapping[str(eval_data)],
                           "runtime": "onnxruntime", "threads": 1, "mode": "accuracy", **QUICK}, timeout=120)
        dev.close()
        assert not srv.device().host_path(f"{DEFAULT_WORKDIR}/jobs").exists()  # job folders cleaned
    for name, rec in results.items():
        assert rec["status"] == "ok", (name, rec.get("error"))
        assert len(rec["latency_ns"]) >= 20 and rec["init_ns"] > 0 and rec["peak_rss_bytes"] > 0
        assert rec["temp_before_c"] == 43.8 and "temp_after_c" in rec
    assert results["digits-separable-onnx-fp32.onnx"]["runtime_impl"] == "onnxruntime"
    assert results["digits-standard-tflite-fp32.tflite"]["runtime_impl"] == "ai_edge_litert"
    assert acc["status"] == "ok" and acc["accuracy"] > 0.9 and acc["n_eval"] == len(acc["predictions"])


def test_edgebench_run_with_an_adb_profile_writes_records(tmp_path):
    """The whole pipeline: profile -> probe -> push -> jobs over adb -> records and run.json."""
    with AdbServer([FakeDevice(python=sys.executable)]) as srv:
        profile = tmp_path / "pixel.toml"
        profile.write_text(f'[device]\nname = "pixel"\nkind = "adb"\nserial = "EDGE0001"\n'
                           f'adb_port = {srv.port}\npython = "{TERMUX_PY}"\n\n'
                           '[matrix]\nmodels = ["digits"]\nruntimes = ["onnxruntime"]\nprecisions = ["fp32"]\n'
                           'threads = [1]\nmodes = ["perf"]\ntrials = 1\n')
        proc = edgebench("run", str(profile), "--quick", "--out", str(tmp_path / "results"), timeout=300,
                         env={"EDGEBENCH_RESULTS": str(tmp_path / "results")})
        assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = next(d for d in (tmp_path / "results").iterdir() if (d / "run.json").exists())
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert sorted(r["model"] for r in records) == ["digits-separable", "digits-standard"]
    assert all(r["status"] == "ok" and r["device"] == "pixel" and r["latency_ns"] for r in records)
    meta = json.loads((run_dir / "run.json").read_text())
    assert json.dumps(meta).count("Pixel 4") >= 1  # the phone's probe is stored once, in run.json


def test_the_pair_rule_runs_pair_jobs_over_adb_and_a_native_phone_gets_per_config_rounds(tmp_path):
    """Pair jobs push the partner's model too and run both twins in one process on the phone; a phone
    with runner = "native" (one model per benchmark_model process) cannot run them."""
    with AdbServer([FakeDevice(python=sys.executable)]) as srv:
        profile = tmp_path / "pixel.toml"
        profile.write_text(f'[device]\nname = "pixel"\nkind = "adb"\nserial = "EDGE0001"\n'
                           f'adb_port = {srv.port}\npython = "{TERMUX_PY}"\n\n'
                           '[matrix]\nmodels = ["digits"]\nruntimes = ["tflite"]\nprecisions = ["fp32"]\n'
                           'threads = [1]\nmodes = ["perf"]\ntrials = 3\nwarmup_runs = 2\nwarmup_time_s = 0.0\n'
                           'min_runs = 10\nmin_time_s = 0.02\nmax_time_s = 1.0\npair_target = 0.2\n')
        proc = edgebench("run", str(profile), "--out", str(tmp_path / "results"), "--run-id", "r", timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert phone(srv).pair_jobs and not phone(srv, runner="native").pair_jobs
    records = [json.loads(line) for line in (tmp_path / "results" / "r" / "records.jsonl").read_text().splitlines()]
    pair = [r for r in records if r["mode"] == "pair"]
    assert [r["trial"] for r in pair] == list(range(len(pair))) and len(pair) >= 3
    assert all(r["status"] == "ok" and r["partner_latency_ns"] and r["partner"]["inputs"] for r in pair), pair
    import pandas as pd

    row = pd.read_csv(tmp_path / "results" / "r" / "pairs.csv").iloc[0]
    assert row["pair_jobs"] == len(pair) and row["speedup"] > 2


def test_python_runner_missing_python_or_runtime_is_a_clear_error(tmp_path):
    bare = tmp_path / "python-without-packages"
    bare.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")  # no site-packages: no runtimes
    bare.chmod(0o755)
    job = {"model_path": "/data/local/tmp/m.onnx", "runtime": "onnxruntime", "threads": 1, "mode": "perf"}
    with AdbServer([FakeDevice(serial="NOPY", python=None), FakeDevice(serial="BARE", python=str(bare))]) as srv:
        nopy = phone(srv, "NOPY")
        problems = nopy.check(["onnxruntime"])
        assert len(problems) == 1 and "NOPY" in problems[0] and "Termux" in problems[0]
        with pytest.raises(DeviceError, match=r"NOPY.*no Python at 'python3'.*runner = \"native\""):
            nopy.execute(job, timeout=30)
        bare_dev = phone(srv, "BARE", python=TERMUX_PY)
        problems = bare_dev.check(["onnxruntime", "tflite"])
        assert any("onnxruntime is missing" in p and "pip install onnxruntime" in p for p in problems)
        assert any("no TFLite interpreter" in p and "ai-edge-litert" in p for p in problems)
        with pytest.raises(DeviceError, match="BARE.*onnxruntime is missing"):
            bare_dev.execute(job, timeout=30)


# -- native runner -----------------------------------------------------------------------------

def test_native_runner_parses_benchmark_model_and_onnxruntime_perf_test(tmp_path):
    local_bm = tmp_path / "benchmark_model"  # an "Android build" on this computer: it gets pushed
    local_bm.write_text("#!/bin/sh\n" + printing_tool(TFLITE_OUT))
    tools = {"/data/local/tmp/onnxruntime_perf_test": printing_tool(ORT_OUT, to_stderr=False)}
    with AdbServer([FakeDevice(executables=tools)]) as srv:
        dev = phone(srv, runner="native", benchmark_model=str(local_bm),
                    onnxruntime_perf_test="/data/local/tmp/onnxruntime_perf_test")
        assert dev.check(["tflite", "onnxruntime"]) == []
        mapping = dev.prepare([digits("digits-separable-tflite-fp32.tflite"),
                               digits("digits-separable-onnx-fp32.onnx")])
        assert f"{DEFAULT_WORKDIR}/bin/benchmark_model" in dev.pushed
        tfl, onnx = mapping.values()
        rec = dev.execute({"model_path": tfl, "runtime": "tflite", "threads": 4, "xnnpack": False,
                           "mode": "perf", "cores": [0], **QUICK}, timeout=60)
        ort = dev.execute({"model_path": onnx, "runtime": "onnxruntime", "threads": 4, "mode": "perf",
                           **QUICK}, timeout=60)
        skipped = dev.execute({"model_path": onnx, "runtime": "onnxruntime", "threads": 1,
                               "mode": "accuracy", **QUICK}, timeout=60)
    assert rec["status"] == "ok", rec["error"]
    assert rec["init_ns"] == 5_579_000 and rec["first_inference_ns"] == 1_357_602_000
    assert rec["latency_summary_ns"]["p50"] == 1_239_807_000 and rec["latency_ns"] is None
    assert rec["runtime_impl"] == "benchmark_model" and rec["affinity"] == [0]
    assert rec["native_argv"].startswith(f"taskset 1 {DEFAULT_WORKDIR}/bin/benchmark_model --graph={tfl} "
                                         "--num_threads=4 --use_xnnpack=false")
    assert rec["temp_before_c"] == 43.8
    assert ort["status"] == "ok" and ort["peak_rss_bytes"] == 78_946_304
    assert ort["latency_summary_ns"]["mean"] == 82_338_200
    assert ort["native_argv"].endswith(f"-x 4 -y 1 -S 1 -I -s {onnx}")
    assert skipped["status"] == "skipped" and "accuracy" in skipped["error"]


def test_native_profile_mode_keeps_the_op_tables_and_pulls_the_ort_profile(tmp_path):
    onnx_model = digits("digits-separable-onnx-fp32.onnx")
    ort_tool = ('p=""; while [ $# -gt 0 ]; do [ "$1" = -p ] && p="$2"; shift; done\n'
                'cp /data/local/tmp/trace.json "${p}_2024-05-01_10-00-00.json"\n' + printing_tool(ORT_OUT))
    bm_tool = printing_tool((DATA / "benchmark_model_tf2_3_profiling_format.txt").read_text())
    fake = FakeDevice(executables={"/data/local/tmp/bm": bm_tool, "/data/local/tmp/ort": ort_tool},
                      files={"/data/local/tmp/trace.json": real_ort_profile(onnx_model, tmp_path)})
    with AdbServer([fake]) as srv:
        dev = phone(srv, runner="native", benchmark_model="/data/local/tmp/bm",
                    onnxruntime_perf_test="/data/local/tmp/ort")
        tfl = dev.execute({"model_path": str(digits("digits-separable-tflite-fp32.tflite")), "runtime": "tflite",
                           "threads": 1, "xnnpack": False, "mode": "profile", **QUICK}, timeout=60)
        ops_file = tmp_path / "ops.json"
        ort = dev.execute({"model_path": str(onnx_model), "runtime": "onnxruntime", "threads": 1,
                           "mode": "profile", "profile_ops_path": str(ops_file), **QUICK}, timeout=60)
    assert tfl["status"] == "ok" and "--enable_op_profiling=true" in tfl["native_argv"]
    assert len(tfl["op_profile"]) == 12 and tfl["op_profile_by_type"][0]["node_type"] == "CONV_2D"
    assert f"{DEFAULT_WORKDIR}/files/digits-separable-tflite-fp32.tflite" in tfl["native_argv"]  # pushed
    assert ort["status"] == "ok" and " -p " in ort["native_argv"]
    assert ort["op_profile"] and "Conv" in {r["op_type"] for r in ort["op_profile"]}
    assert json.loads(ops_file.read_text())  # the raw trace, kept beside the record


def test_native_tool_that_fails_gives_a_failed_record_and_a_missing_tool_an_error():
    crash = printing_tool("INFO: STARTING!\nERROR: Failed to allocate tensors!\nERROR: Benchmarking failed.", rc=1)
    with AdbServer([FakeDevice(executables={"/data/local/tmp/bm": crash})]) as srv:
        dev = phone(srv, runner="native", benchmark_model="/data/local/tmp/bm")
        job = {"model_path": "/data/local/tmp/m.tflite", "runtime": "tflite", "threads": 1, "mode": "perf"}
        rec = dev.execute(job, timeout=60)
        assert rec["status"] == "failed"
        assert "Failed to allocate tensors!; Benchmarking failed." in rec["error"]
        assert "Failed to allocate tensors" in rec["native_output"]
        none = phone(srv, runner="native")
        with pytest.raises(DeviceError, match=r"onnxruntime_perf_test \(runtime onnxruntime\) not found"):
            none.execute({**job, "runtime": "onnxruntime"}, timeout=60)


def test_a_job_past_its_timeout_is_a_timeout_record_and_stops_on_the_phone():
    hang = "echo started >&2\nexec sleep 60\n"
    with AdbServer([FakeDevice(executables={"/data/local/tmp/bm": hang})]) as srv:
        dev = phone(srv, runner="native", benchmark_model="/data/local/tmp/bm")
        t0 = time.monotonic()
        rec = dev.execute({"model_path": "/data/local/tmp/m.tflite", "runtime": "tflite", "threads": 1,
                           "mode": "perf"}, timeout=2)
        assert time.monotonic() - t0 < 20
        assert rec["status"] == "timeout" and "2s" in rec["error"]
        deadline = time.monotonic() + 10
        while srv._procs and time.monotonic() < deadline:  # the client's exit closes the shell socket
            time.sleep(0.1)
        assert not srv._procs, "the hung tool was not stopped on the phone"


# -- errors ------------------------------------------------------------------------------------

def test_offline_and_unauthorized_phones_are_clear_errors():
    with AdbServer([FakeDevice(serial="OFF1", state="offline"),
                    FakeDevice(serial="UNA1", state="unauthorized")]) as srv:
        with pytest.raises(DeviceError, match=r"OFF1.*offline.*reconnect"):
            phone(srv, "OFF1").probe()
        with pytest.raises(DeviceError, match=r"UNA1.*unauthorized.*Allow USB debugging"):
            phone(srv, "UNA1").prepare([])


def test_no_device_wrong_serial_and_several_devices_are_clear_errors(monkeypatch):
    with AdbServer([]) as srv, pytest.raises(DeviceError, match=r"no Android device is connected.*adb devices"):
        AdbDevice({"name": "pixel", "kind": "adb", "adb_port": srv.port}).probe()
    with AdbServer([FakeDevice(serial="A1"), FakeDevice(serial="B2")]) as srv:
        with pytest.raises(DeviceError, match=r"pixel \(adb ZZ9\).*no device 'ZZ9'.*serial"):
            phone(srv, "ZZ9").probe()
        with pytest.raises(DeviceError, match="several devices.*set \\[device\\] serial"):
            AdbDevice({"name": "pixel", "kind": "adb", "adb_port": srv.port}).probe()
        monkeypatch.setenv("ANDROID_SERIAL", "B2")  # the serial may come from the environment
        dev = AdbDevice({"name": "pixel", "kind": "adb", "adb_port": srv.port})
        assert dev.serial == "B2" and dev.run(["true"], timeout=30).ok


def test_the_only_phone_is_found_without_a_serial_and_through_a_remote_server_address():
    with AdbServer() as srv:
        dev = AdbDevice({"name": "pixel", "kind": "adb", "adb_host": "127.0.0.1", "adb_port": srv.port})
        assert dev.run(["getprop", "ro.product.model"], timeout=30).stdout == "Pixel 4\n"
        assert dev.serial == "EDGE0001" and "pixel (adb EDGE0001)" in dev.label
        assert ["-H", "127.0.0.1"] == dev._argv([])[1:3]


def test_adb_missing_is_a_clear_error():
    with pytest.raises(DeviceError, match=r"adb not found.*apt install adb.*\[device\] adb"):
        AdbDevice({"name": "pixel", "kind": "adb", "adb": "/nonexistent/adb"})


def test_unwritable_workdir_is_a_clear_error():
    # Android's shell user (uid 2000) may not write /system; when tests run as root the stand-in runs
    # the phone's commands as that uid so the kernel, not the stand-in, says no.
    with AdbServer([FakeDevice(shell_uid=2000)]) as srv:
        dev = phone(srv, runner="native", workdir="/system/edgebench")
        problems = dev.check([])
        assert problems and "workdir /system/edgebench is not writable" in problems[0]
        with pytest.raises(DeviceError, match=r"pixel \(adb EDGE0001\): workdir /system/edgebench is not "
                                              r"writable.*/data/local/tmp/edgebench"):
            dev.prepare([])
        with pytest.raises(DeviceError, match="cannot write /system/x.bin.*Read-only file system"):
            dev.push(DATA / "README.md", "/system/x.bin")


def test_no_space_left_on_the_phone_is_a_clear_error():
    with AdbServer([FakeDevice(free_bytes=50_000)]) as srv:
        dev = phone(srv, runner="native")
        with pytest.raises(DeviceError, match=r"pixel \(adb EDGE0001\): no space left on the phone.*df"):
            dev.prepare([digits("digits-separable-onnx-fp32.onnx")])  # ~150 kB


def test_a_phone_lost_mid_run_raises_device_lost():
    with AdbServer([FakeDevice(python=sys.executable)]) as srv:
        dev = phone(srv, python=TERMUX_PY)
        mapping = dev.prepare([digits("digits-separable-onnx-fp32.onnx")])
        srv.device().state = "offline"  # cable pulled
        with pytest.raises(DeviceLost, match="EDGE0001.*offline"):
            dev.execute({"model_path": next(iter(mapping.values())), "runtime": "onnxruntime",
                         "threads": 1, "mode": "perf", **QUICK}, timeout=60)


def test_profile_mistakes_are_profile_errors():
    with pytest.raises(ProfileError, match="runner = 'java'"):
        AdbDevice({"name": "p", "kind": "adb", "runner": "java"})
    with pytest.raises(ProfileError, match="workdir = 'tmp/x'.*absolute"):
        AdbDevice({"name": "p", "kind": "adb", "workdir": "tmp/x"})
    with pytest.raises(ProfileError, match="unknown key.*colour"):
        AdbDevice({"name": "p", "kind": "adb", "colour": "red"})
    with pytest.raises(ProfileError, match="benchmark_model = 'bin/benchmark_model' is not a file here"):
        AdbDevice({"name": "p", "kind": "adb", "benchmark_model": "bin/benchmark_model"})


def test_android_example_profile_is_valid():
    from harness.profiles import load_profiles

    (prof,) = load_profiles([str(REPO / "devices" / "android.example.toml")])
    assert prof.kind == "adb"
    dev = AdbDevice(prof.device)
    assert dev.config.runner in ("python", "native") and dev.workdir == DEFAULT_WORKDIR


def test_stand_in_server_lists_device_states_like_adb():
    with AdbServer([FakeDevice(serial="A1"), FakeDevice(serial="B2", state="offline"),
                    FakeDevice(serial="C3", state="unauthorized")]) as srv:
        out = subprocess.run(["adb", "-P", str(srv.port), "devices", "-l"], capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL, check=False).stdout
    lines = out.splitlines()
    assert lines[0] == "List of devices attached"
    assert lines[1].split()[:2] == ["A1", "device"] and "model:Pixel_4" in lines[1]
    assert lines[2].split()[:2] == ["B2", "offline"] and lines[3].split()[:2] == ["C3", "unauthorized"]


def _raw_request(sock, request: str) -> bytes:
    sock.sendall(b"%04x" % len(request) + request.encode())
    return sock.recv(4)


def _read_all(sock) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_stand_in_server_also_speaks_the_older_transport_requests():
    """Older clients switch with host:transport:<serial> / transport-any / transport-id (no transport id
    in the answer) and may ask for a v1 or a v2 shell: each must work as on a real server."""
    import socket
    import struct

    with AdbServer() as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            assert _raw_request(s, "host:transport:EDGE0001") == b"OKAY"
            assert _raw_request(s, "shell:echo hi; exit 3") == b"OKAY"
            assert _read_all(s) == b"hi\n"  # v1: raw output, then the socket closes
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            assert _raw_request(s, "host:transport-any") == b"OKAY"
            assert _raw_request(s, "shell,v2,raw:echo hi; echo no >&2; exit 3") == b"OKAY"
            data, packets = _read_all(s), []
            while data:
                kind, n = struct.unpack("<BI", data[:5])
                packets.append((kind, data[5:5 + n]))
                data = data[5 + n:]
            assert (1, b"hi\n") in packets and (2, b"no\n") in packets and packets[-1] == (3, b"\x03")
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            assert _raw_request(s, "host:transport-id:1") == b"OKAY"
            assert _raw_request(s, "exec:getprop ro.soc.model") == b"OKAY"
            assert _read_all(s) == b"SM8150\n"
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            assert _raw_request(s, "host:frobnicate") == b"FAIL"
            n = int(s.recv(4), 16)
            assert b"unknown host service" in s.recv(n)
