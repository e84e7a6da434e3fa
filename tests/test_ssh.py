"""The ssh device kind against a real OpenSSH sshd on 127.0.0.1 (key auth, a free port): probe,
prepare with skip-by-hash, jobs under both runtimes, and every way reaching a device can go wrong."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ZOO, assert_clean_error, edgebench, small_tmpfs
from sshd import Sshd, free_port, need

from harness.devices import probe as probe_mod
from harness.devices.execute import JOB_TEMPERATURE_KEYS
from harness.devices.local import LocalDevice
from harness.devices.ssh import (
    PROFILE_KEYS,
    SshDevice,
    SshError,
    parse_sha256sum,
    runner_bundle,
)
from harness.util import sha256_file
from harness.errors import DeviceError, DeviceLost, ProfileError

DIGITS = ZOO / "digits"
MODELS = {("separable", "onnxruntime"): DIGITS / "digits-separable-onnx-fp32.onnx",
          ("standard", "onnxruntime"): DIGITS / "digits-standard-onnx-fp32.onnx",
          ("separable", "tflite"): DIGITS / "digits-separable-tflite-fp32.tflite",
          ("standard", "tflite"): DIGITS / "digits-standard-tflite-fp32.tflite"}
EVAL = DIGITS / "digits-eval.npz"
QUICK = {"warmup": {"min_runs": 2, "min_time_s": 0.0},
         "measure": {"min_runs": 10, "min_time_s": 0.02, "max_time_s": 1.0, "target_rel_ci": None}}


def job(model: Path, runtime: str, mode: str = "perf", **extra) -> dict:
    return {"model_path": str(model), "runtime": runtime, "threads": 1, "inter_op_threads": 1,
            "mode": mode, "eval_path": str(EVAL) if mode == "accuracy" else None,
            "xnnpack": True if runtime == "tflite" else None, "cores": None, **QUICK, **extra}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    for tool in ("/usr/sbin/sshd", "ssh", "ssh-keygen"):
        need(tool)
    with Sshd(tmp_path_factory.mktemp("sshd")) as srv:
        yield srv


@pytest.fixture
def device(server, tmp_path):
    return SshDevice(server.profile(python=sys.executable, workdir=str(tmp_path / "wd")))


def remote_sha(server: Sshd, path: str) -> str:
    out = server.ssh("sha256sum", "--", shlex.quote(path))
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[0]


# ------------------------------------------------------------------------------------------------
# building the ssh command

def test_every_call_is_batch_mode_with_a_connect_timeout_and_one_quoted_remote_command():
    dev = SshDevice({"name": "rpi4", "kind": "ssh", "host": "pi.local", "user": "pi", "port": 2222,
                     "connect_timeout": 7, "ssh_options": ["ProxyJump=gateway"]})
    argv = dev.ssh_argv("echo 'a b'")
    assert argv[:2] == ["ssh", "-T"] and argv[-3:] == ["--", "pi.local", "echo 'a b'"]
    opts = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
    assert opts[0] == "BatchMode=yes"  # first: a profile cannot turn it off (ssh keeps the first value)
    assert "ConnectTimeout=7" in opts and "ProxyJump=gateway" in opts
    assert opts.index("ProxyJump=gateway") < opts.index("ConnectTimeout=7")
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "pi"
    assert dev.label == "rpi4 (pi@pi.local:2222)"


@pytest.mark.parametrize("table, needle", [
    ({"host": "pi; rm -rf /"}, "host"),
    ({"host": "-oProxyCommand=evil"}, "host"),
    ({"host": "pi", "port": "22"}, "port"),
    ({"host": "pi", "ssh_options": "ProxyJump=gw"}, "ssh_options"),
    ({"host": "pi", "ssh_options": ["-oProxyCommand=evil"]}, "ssh_options"),
    ({"host": "pi", "workdir": "~/../etc"}, "workdir"),
    ({"host": "pi", "workdir": "/"}, "workdir"),
    ({"host": "pi", "workdir": "edgebench"}, "workdir"),
    ({"host": "pi", "identity": "/nonexistent/key"}, "identity"),
    ({"host": "pi", "connect_timeout": 0}, "connect_timeout"),
    ({"host": "pi", "cleanup": "yes"}, "cleanup"),
])
def test_bad_profile_values_are_refused_naming_the_key(table, needle):
    with pytest.raises(ProfileError, match=needle):
        SshDevice({"name": "rpi4", "kind": "ssh", **table}, source="devices/rpi4.toml")


def test_sha256sum_output_with_escaped_names_is_parsed():
    digest = "a" * 64
    text = (f"{digest}  files/plain.onnx\n\\{digest}  files/odd\\\\name\\nx.onnx\n"
            f"{digest} *files/bin.onnx\nsha256sum: x: No such file\n")
    assert parse_sha256sum(text) == {"files/plain.onnx": digest, "files/odd\\name\nx.onnx": digest,
                                     "files/bin.onnx": digest}


def test_the_example_raspberry_pi_profile_validates_and_builds_an_ssh_device():
    from harness.devices import make_device
    from harness.profiles import load_profiles

    (profile,) = load_profiles([str(ZOO.parents[1] / "devices" / "rpi4.example.toml")])
    dev = make_device(profile.device)
    assert isinstance(dev, SshDevice) and dev.label == "rpi4 (pi@raspberrypi.local)"
    assert dev.workdir == "~/edgebench" and dev.python == "~/edgebench-venv/bin/python"
    assert set(profile.device) <= set(PROFILE_KEYS) | {"description"}


# ------------------------------------------------------------------------------------------------
# the real sshd: probe, prepare, jobs

def test_the_sshd_fixture_starts_and_stops_without_leaving_a_process(tmp_path):
    need("/usr/sbin/sshd")
    srv = Sshd(tmp_path).start()
    pid = srv.proc.pid
    assert srv.ssh("echo", "up").stdout.strip() == "up"
    srv.stop()
    assert not Path(f"/proc/{pid}").exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", srv.port)) != 0


def test_probe_over_ssh_reports_the_devices_python_and_runtimes(device):
    info = device.probe()
    assert set(info) == set(probe_mod.PROBE_KEYS)
    import onnxruntime

    assert info["python_executable"] == sys.executable
    assert info["onnxruntime_version"] == onnxruntime.__version__ and info["ai_edge_litert_version"]
    assert info["cpu_cores"] == os.cpu_count() and info["ram_total_bytes"] > 0
    assert set(device.temperature()) == set(probe_mod.TEMPERATURE_KEYS)


def test_a_second_prepare_skips_every_unchanged_upload(server, device, tmp_path):
    files = [MODELS["separable", "onnxruntime"], MODELS["standard", "tflite"], EVAL]
    first = device.prepare(files)
    report = device.last_prepare
    bundle = {f"runner/{rel}" for _, rel in runner_bundle()}
    assert bundle | {"runner/harness/runner/__main__.py"} <= set(report.uploaded)
    assert {first[str(f)] for f in files} == {f"{device.paths[str(f)]}" for f in files}
    assert report.skipped == () and report.bytes_uploaded >= sum(f.stat().st_size for f in files)
    for f in files:  # the device copies are byte for byte the local files
        assert first[str(f)].startswith(str(tmp_path / "wd") + "/files/")
        assert remote_sha(server, first[str(f)]) == sha256_file(f)

    second = device.prepare(files)
    assert second == first
    assert device.last_prepare.uploaded == () and device.last_prepare.bytes_uploaded == 0
    assert set(device.last_prepare.skipped) == set(report.uploaded)

    # a file changed on the device (a truncated copy) is sent again, and only that one
    target = first[str(EVAL)]
    assert server.ssh("sh", "-c", shlex.quote(f": > {shlex.quote(target)}")).returncode == 0
    device.prepare(files)
    assert device.last_prepare.uploaded == (target[len(str(tmp_path / "wd")) + 1:],)
    assert remote_sha(server, target) == sha256_file(EVAL)

    # a fresh device object (a new run) also skips: the hashes live on the device, not in memory
    again = SshDevice(server.profile(python=sys.executable, workdir=str(tmp_path / "wd")))
    again.prepare(files)
    assert again.last_prepare.uploaded == ()


def test_the_digits_pair_runs_under_both_runtimes_with_records_shaped_like_local_ones(device, tmp_path):
    files = sorted(set(MODELS.values())) + [EVAL]
    device.prepare(files)
    local = LocalDevice({"name": "local", "kind": "local"})
    try:
        for (twin, runtime), model in MODELS.items():
            result = device.execute(job(model, runtime), timeout=120)
            assert result["status"] == "ok", result.get("error")
            assert len(result["latency_ns"]) >= 10 and min(result["latency_ns"]) > 0
            assert result["runtime"] == runtime and result["runtime_impl"]
            assert set(JOB_TEMPERATURE_KEYS) <= set(result)
            reference = local.execute(job(model, runtime), timeout=120)
            assert reference["status"] == "ok", reference.get("error")
            # the same keys as the local device gives, temperature readings included
            assert set(result) == set(reference), twin
        acc = device.execute(job(MODELS["separable", "tflite"], "tflite", mode="accuracy"), timeout=120)
        assert acc["status"] == "ok", acc.get("error")
        assert acc["n_eval"] == 450 and acc["accuracy"] > 0.9 and len(acc["predictions"]) == 450
    finally:
        local.close()
    # job folders do not pile up on the device
    assert not list((tmp_path / "wd" / "jobs").glob("*"))


def test_a_job_with_an_unprepared_local_model_uploads_it_first(device):
    result = device.execute(job(MODELS["standard", "onnxruntime"], "onnxruntime"), timeout=120)
    assert result["status"] == "ok", result.get("error")
    assert str(MODELS["standard", "onnxruntime"]) in device.paths


def runners_in(workdir: Path) -> list[int]:
    """Runner processes working in this workdir (the loopback "device" is this machine)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd") == str(workdir) \
                    and b"harness.runner" in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_a_job_past_its_timeout_becomes_a_timeout_result_and_is_stopped_on_the_device(device):
    device.prepare([MODELS["standard", "onnxruntime"]])
    slow = job(MODELS["standard", "onnxruntime"], "onnxruntime",
               measure={"min_runs": 10**9, "min_time_s": 120, "max_time_s": 120})
    start = time.monotonic()
    result = device.execute(slow, timeout=3)
    assert result["status"] == "timeout" and "3s" in result["error"] and "loopback-pi" in result["error"]
    assert time.monotonic() - start < 30
    assert runners_in(Path(device.workdir)) == []


def test_interrupt_stops_the_job_here_and_on_the_device(device):
    device.prepare([MODELS["standard", "onnxruntime"]])
    slow = job(MODELS["standard", "onnxruntime"], "onnxruntime",
               measure={"min_runs": 10**9, "min_time_s": 120, "max_time_s": 120})
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.update(result=device.execute(slow, timeout=120)))
    start = time.monotonic()
    worker.start()
    deadline = time.monotonic() + 30
    while not runners_in(Path(device.workdir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert runners_in(Path(device.workdir)), "the job never started"
    device.interrupt()  # what Ctrl-C does in `edgebench run`
    worker.join(timeout=30)
    assert not worker.is_alive() and time.monotonic() - start < 60
    assert outcome["result"]["status"] != "ok"
    deadline = time.monotonic() + 10
    while runners_in(Path(device.workdir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert runners_in(Path(device.workdir)) == []


def test_a_failing_job_comes_back_as_a_failed_result_naming_the_device(device, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    result = device.execute(job(broken, "onnxruntime"), timeout=60)
    assert result["status"] == "failed" and result["error"]


def test_hostile_file_names_travel_as_data_and_never_run_as_commands(server, device, tmp_path):
    # were any part run by a shell, it would create PWNED* in the remote working folder (workdir or home)
    hostile = tmp_path / "m o'd\"e;touch PWNED;$(touch PWNED2)`touch PWNED3`\\.onnx"
    hostile.write_bytes(MODELS["separable", "onnxruntime"].read_bytes())
    mapping = device.prepare([hostile])
    assert mapping[str(hostile)].endswith(hostile.name)
    result = device.execute(job(hostile, "onnxruntime"), timeout=120)
    assert result["status"] == "ok", result.get("error")
    device.push(hostile, "extra/" + hostile.name)
    device.pull("extra/" + hostile.name, tmp_path / "back.onnx")
    assert (tmp_path / "back.onnx").read_bytes() == hostile.read_bytes()
    echoed = device.run(["echo", "a;touch PWNED4", "$(id)"], timeout=30)
    assert echoed.ok and echoed.stdout == "a;touch PWNED4 $(id)\n"
    for folder in (tmp_path, Path.home(), Path.cwd(), tmp_path / "wd"):
        assert not list(folder.rglob("PWNED*") if folder == tmp_path / "wd" else folder.glob("PWNED*"))


def test_paths_outside_the_workdir_are_refused(device, tmp_path):
    for bad in ("../escape", "files/../../escape", "/etc/passwd", str(tmp_path / "wd") + "/../x"):
        with pytest.raises(DeviceError, match="workdir"):
            device.device_path(bad)
    with pytest.raises(DeviceError, match="outside the workdir"):
        device.push(EVAL, "/tmp/elsewhere.npz")


def test_an_alias_from_an_ssh_config_file_and_an_identity_key_work(server, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text(f"Host edgebench-pi\n  HostName 127.0.0.1\n  Port {server.port}\n  User {server.user}\n"
                      f"  UserKnownHostsFile {server.known_hosts}\n  IdentitiesOnly yes\n")
    dev = SshDevice({"name": "pi", "kind": "ssh", "host": "edgebench-pi", "ssh_config": str(config),
                     "identity": str(server.client_key), "python": sys.executable,
                     "workdir": str(tmp_path / "wd")})
    assert dev.probe()["python_executable"] == sys.executable
    assert dev.check() == []


def test_cleanup_true_removes_the_workdir_and_never_a_top_level_folder(server, tmp_path):
    wd = tmp_path / "wd"
    dev = SshDevice(server.profile(python=sys.executable, workdir=str(wd), cleanup=True))
    dev.prepare([EVAL])
    assert wd.is_dir()
    dev.close()
    assert not wd.exists()
    top = SshDevice(server.profile(python=sys.executable, workdir="/tmp"))
    with pytest.raises(DeviceError, match="refusing to delete /tmp"):
        top.cleanup()
    assert Path("/tmp").is_dir()


# ------------------------------------------------------------------------------------------------
# what can go wrong reaching a device

def test_a_closed_port_is_an_unreachable_error_naming_the_device_and_what_to_check(server, tmp_path):
    dev = SshDevice(server.profile(name="rpi4", port=free_port(), python=sys.executable,
                                   workdir=str(tmp_path / "wd")))
    with pytest.raises(SshError) as info:
        dev.probe()
    assert info.value.reason == "unreachable" and isinstance(info.value, DeviceLost)
    message = str(info.value)
    assert message.startswith(f"rpi4 ({server.user}@127.0.0.1:") and "Connection refused" in message
    assert "sshd" in message and f"port {dev.port}" in message
    problems = dev.check()
    assert len(problems) == 1 and "Connection refused" in problems[0]


def test_a_key_the_device_does_not_accept_is_an_auth_error_with_the_fix(server, tmp_path):
    dev = SshDevice(server.profile(name="rpi4", ssh_options=server.ssh_options(key=server.other_key),
                                   workdir=str(tmp_path / "wd")))
    with pytest.raises(SshError) as info:
        dev.prepare([EVAL])
    assert info.value.reason == "auth" and not isinstance(info.value, DeviceLost)  # no point retrying
    assert "authentication refused (publickey)" in str(info.value)
    assert "ssh-copy-id" in str(info.value) and "identity =" in str(info.value)


def test_an_unknown_host_key_is_named_not_accepted(server, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    options = [o for o in server.ssh_options() if not o.startswith("UserKnownHostsFile")]
    dev = SshDevice(server.profile(ssh_options=[*options, f"UserKnownHostsFile={empty}"]))
    with pytest.raises(SshError) as info:
        dev.probe()
    assert info.value.reason == "hostkey" and "host key" in str(info.value)
    assert empty.read_text() == ""  # BatchMode + StrictHostKeyChecking: nothing was trusted silently


def test_a_device_that_never_answers_is_a_timeout_after_connect_timeout(server):
    with socket.socket() as silent:  # accepts TCP connections (kernel backlog) but never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        dev = SshDevice(server.profile(port=silent.getsockname()[1], connect_timeout=1))
        start = time.monotonic()
        with pytest.raises(SshError) as info:
            dev.probe()
    assert info.value.reason == "timeout" and "no answer within 1s" in str(info.value)
    assert time.monotonic() - start < 15


def test_missing_python_is_named_by_check_and_probe(server, tmp_path):
    dev = SshDevice(server.profile(name="rpi4", python="/nonexistent/python3", workdir=str(tmp_path / "wd")))
    problems = dev.check()
    assert len(problems) == 1
    assert "rpi4" in problems[0] and "/nonexistent/python3 not found on the device" in problems[0]
    assert "python = " in problems[0] and "apt install python3" in problems[0]
    with pytest.raises(DeviceError, match="/nonexistent/python3 not found"):
        dev.probe()


def test_missing_runtimes_are_named_with_the_pip_command_to_run_on_the_device(server, tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    python = str(bare / "bin" / "python")
    dev = SshDevice(server.profile(python=python, workdir=str(tmp_path / "wd")))
    problems = dev.check(runtimes=["onnxruntime", "tflite"])
    assert len(problems) == 1, problems
    assert "numpy, onnxruntime, ai_edge_litert" in problems[0]
    assert f"`{python} -m pip install numpy onnxruntime ai-edge-litert`" in problems[0]
    only_ort = dev.check(runtimes=["onnxruntime"])
    assert "pip install numpy onnxruntime`" in only_ort[0]
    # and a job run anyway says which module is missing and how to install it
    dev.prepare([MODELS["separable", "onnxruntime"]])
    result = dev.execute(job(MODELS["separable", "onnxruntime"], "onnxruntime"), timeout=60)
    assert result["status"] == "failed" and "pip install numpy" in result["error"]


def test_a_workdir_that_cannot_be_written_is_named_with_the_fix(server, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    dev = SshDevice(server.profile(name="rpi4", python=sys.executable, workdir=str(blocker / "wd")))
    problems = dev.check()
    assert len(problems) == 1
    assert f"workdir {blocker}/wd is not writable" in problems[0] and "/tmp/edgebench-" in problems[0]
    with pytest.raises(DeviceError, match="rpi4 .*workdir .* is not writable"):
        dev.prepare([EVAL])


def test_too_little_free_space_is_named_by_check(device):
    problems = device.check(min_free_bytes=2**60)
    assert len(problems) == 1 and "MB free" in problems[0] and "bigger disk" in problems[0]


def test_a_full_disk_during_upload_is_a_clear_error(server, tmp_path):
    mount = tmp_path / "small"
    small_tmpfs(mount, "64k")
    try:
        dev = SshDevice(server.profile(name="rpi4", python=sys.executable, workdir=str(mount / "wd")))
        assert any("MB free" in p for p in dev.check())
        with pytest.raises(DeviceError, match="rpi4 .*no space left on the device"):
            dev.prepare([MODELS["standard", "tflite"]])
    finally:
        subprocess.run(["umount", str(mount)], timeout=30, check=False)


def test_losing_the_device_mid_job_raises_a_lost_device_error(tmp_path):
    need("/usr/sbin/sshd")
    with Sshd(tmp_path / "sshd") as srv:
        dev = SshDevice(srv.profile(python=sys.executable, workdir=str(tmp_path / "wd")))
        dev.prepare([MODELS["standard", "onnxruntime"]])
        slow = job(MODELS["standard", "onnxruntime"], "onnxruntime",
                   measure={"min_runs": 10**9, "min_time_s": 60, "max_time_s": 60})
        outcome: dict = {}

        def run() -> None:
            try:
                outcome["result"] = dev.execute(slow, timeout=90)
            except DeviceError as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=run)
        worker.start()
        time.sleep(3)
        srv.stop()
        worker.join(timeout=60)
        assert not worker.is_alive()
        assert isinstance(outcome.get("error"), SshError), outcome
        assert isinstance(outcome["error"], DeviceLost)  # the orchestrator retries, then skips the rest
        assert outcome["error"].reason in ("lost", "unreachable")
        assert "loopback-pi" in str(outcome["error"])
        with pytest.raises(SshError) as again:  # and the next call says it cannot connect
            dev.execute(slow, timeout=5)
        assert again.value.reason == "unreachable"


# ------------------------------------------------------------------------------------------------
# through the command line

QUICK_MATRIX = """
[matrix]
models = ["digits"]
runtimes = ["onnxruntime", "tflite"]
precisions = ["fp32"]
threads = [1]
modes = ["perf"]
trials = 1
warmup_runs = 2
warmup_time_s = 0.0
min_runs = 10
min_time_s = 0.02
max_time_s = 1.0
"""


def ssh_profile(server: Sshd, path: Path, **device) -> Path:
    table = server.profile(python=sys.executable, workdir=str(path.parent / "wd"), **device)
    lines = ["[device]"] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n" + QUICK_MATRIX)
    return path


def test_a_local_and_an_ssh_device_in_one_run_both_leave_records_of_the_same_shape(server, tmp_path):
    pi = ssh_profile(server, tmp_path / "pi.toml", name="pi")
    box = tmp_path / "box.toml"
    box.write_text('[device]\nname = "box"\nkind = "local"\n' + QUICK_MATRIX)
    proc = edgebench("run", str(box), str(pi), "--out", str(tmp_path / "res"), "--run-id", "r",
                     "--no-report")
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "res" / "r"
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    by_device = {d: [r for r in records if r["device"] == d] for d in ("box", "pi")}
    assert len(by_device["box"]) == len(by_device["pi"]) == 4  # 2 twins x 2 runtimes
    assert all(r["status"] == "ok" for r in records), [r.get("error") for r in records]
    extra = set(JOB_TEMPERATURE_KEYS)
    assert {frozenset(set(r) - extra) for r in records} == {frozenset(set(by_device["box"][0]) - extra)}
    assert {(r["model"], r["runtime"]) for r in by_device["pi"]} == \
        {(r["model"], r["runtime"]) for r in by_device["box"]}
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["devices"]["pi"]["python_executable"] == sys.executable
    assert meta["devices"]["pi"]["cpu_core_types"] and meta["devices"]["box"]["arch"]


def test_pair_jobs_run_over_ssh_with_the_partner_model_uploaded(server, tmp_path):
    """The pair rule's jobs on a Pi: the partner's model travels like the job's own, both twins are
    timed in one process on the device, and the headline comes from those processes."""
    pi = ssh_profile(server, tmp_path / "pi.toml", name="pi")
    pi.write_text(pi.read_text().replace('runtimes = ["onnxruntime", "tflite"]', 'runtimes = ["onnxruntime"]')
                  .replace("trials = 1", "trials = 3\npair_target = 0.2"))
    proc = edgebench("run", str(pi), "--out", str(tmp_path / "res"), "--run-id", "r")
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "res" / "r"
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    pair = [r for r in records if r["mode"] == "pair"]
    assert len(pair) >= 3 and all(r["status"] == "ok" and r["device"] == "pi" for r in pair), pair
    assert all(r["partner_config_id"] == "pi/digits-standard/onnxruntime/fp32/t1" for r in pair)
    import pandas as pd

    row = pd.read_csv(run_dir / "pairs.csv").iloc[0]
    assert row["pair_jobs"] == len(pair) and row["speedup_method"].startswith("paired")


def test_devices_check_on_the_command_line_passes_a_ready_device_and_names_an_unreachable_one(server, tmp_path):
    good = ssh_profile(server, tmp_path / "good.toml", name="pi")
    proc = edgebench("devices", "check", str(good))
    assert proc.returncode == 0, proc.stderr
    assert "pi" in proc.stdout
    bad = ssh_profile(server, tmp_path / "bad.toml", name="rpi4", port=free_port())
    proc = edgebench("devices", "check", str(bad))
    assert_clean_error(proc, "problem")
    assert "rpi4 (" in proc.stdout and "Connection refused" in proc.stdout  # the problem, with the device
