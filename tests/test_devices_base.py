"""The Device contract, the one job protocol (execute.py) and the one upload-skipping sync (sync.py),
each tested with a fake transport: what the exit of a runner becomes, what travels and what not."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.devices import make_device
from harness.devices.base import CommandResult, Device
from harness.devices.config import SCHEMAS, device_keys
from harness.devices.execute import Launch, execute_job, output_name
from harness.devices.local import LocalDevice
from harness.devices.registry import DEVICE_CLASSES, device_class
from harness.devices.sync import Sync
from harness.errors import DeviceError, DeviceLost
from harness.profiles import DEVICE_KINDS
from harness.records import Status


def res(returncode: int | None = 0, stdout: str = "", stderr: str = "", timed_out: bool = False) -> CommandResult:
    return CommandResult(("python3", "-m", "harness.runner"), returncode, stdout, stderr, 5.0, timed_out)


def run_job(launched: Launch, job: dict | None = None, **kw) -> tuple[dict, list[dict]]:
    """execute_job over a fake launch; returns the record and the jobs the launch was given."""
    seen: list[dict] = []

    def launch(device_job: dict) -> Launch:
        seen.append(device_job)
        return launched

    record = execute_job(job or {"runtime": "onnxruntime", "model_path": "m.onnx"}, 5.0, label="pi",
                         job_dir="/wd/jobs/1", cores=kw.pop("cores", None), launch=launch, **kw)
    return record, seen


# -- the Device contract -----------------------------------------------------------------------------
def test_every_registered_kind_is_a_device_and_profiles_know_the_same_kinds():
    assert set(DEVICE_CLASSES) == set(SCHEMAS) == set(DEVICE_KINDS)
    for kind in DEVICE_CLASSES:
        cls = device_class(kind)
        assert issubclass(cls, Device) and cls.kind == kind
        assert "name" in device_keys(kind) and set(SCHEMAS[kind].KEYS) <= set(device_keys(kind))
    assert device_class("qemu").emulated is True and device_class("ssh").emulated is False
    with pytest.raises(TypeError):
        Device()  # abstract: a kind must supply every method


def test_an_unknown_kind_is_one_clear_error_naming_the_known_ones():
    known = "local, qemu, ssh, adb, labgrid"
    with pytest.raises(DeviceError, match=rf"^pi: unknown device kind 'telnet'; use one of {known}$"):
        make_device({"name": "pi", "kind": "telnet"})


def test_a_local_device_is_a_context_manager_with_the_contract_attributes(tmp_path):
    with make_device({"name": "here", "kind": "local", "cores": [0]}) as dev:
        assert isinstance(dev, LocalDevice) and dev.name == "here" and dev.cpu is None and not dev.emulated
        scratch = dev._scratch
        assert scratch.is_dir()
    assert not scratch.exists()


def test_interrupt_kills_the_running_child_from_another_thread_and_twice_is_harmless():
    dev = LocalDevice({"name": "here", "kind": "local"})
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(r=dev.run([sys.executable, "-c",
                                                                    "import time; time.sleep(60)"], 120)))
    t0 = time.monotonic()
    worker.start()
    time.sleep(0.5)
    dev.interrupt()
    dev.interrupt()
    worker.join(timeout=30)
    assert not worker.is_alive() and time.monotonic() - t0 < 30
    assert out["r"].returncode == -9 and not out["r"].ok
    dev.close()


# -- the job protocol --------------------------------------------------------------------------------
def test_a_runner_result_comes_back_as_is_with_the_temperatures_around_it():
    readings = iter([{"temp_c": 41.0, "throttled": "0x0"}, {"temp_c": 44.5, "throttled": "0x50005"}])
    record, _ = run_job(Launch(res(0), out_text=json.dumps({"status": "ok", "latency_ns": [1, 2]})),
                        temperature=lambda: next(readings))
    assert record == {"status": "ok", "latency_ns": [1, 2], "temp_before_c": 41.0, "temp_after_c": 44.5,
                      "throttled_before": "0x0", "throttled_after": "0x50005"}


@pytest.mark.parametrize("launched, deadline, status, needle", [
    (res(-11, stderr="Fatal Python error: Segmentation fault"), (), Status.FAILED, "pi: runner killed by SIGSEGV"),
    (res(None, timed_out=True), (), Status.TIMEOUT, "pi: runner timed out after 5s"),
    (res(124), (124, 137), Status.TIMEOUT, "pi: the runner did not finish within 5s and was stopped"),
    (res(124), (), Status.FAILED, "pi: runner exit 124"),
    (res(3, stderr="Traceback ...\nValueError: bad"), (), Status.FAILED, "pi: runner exit 3: Traceback"),
])
def test_an_exit_without_a_result_becomes_one_failure_shape(launched, deadline, status, needle):
    record, _ = run_job(Launch(launched, out_text="{not json"), deadline_exits=deadline)
    assert record["status"] == status.value and record["error"].startswith(needle), record
    assert set(record) <= {"status", "error", "stderr_tail"}
    assert ("stderr_tail" in record) == bool(launched.stderr)


def test_a_failed_runner_result_gains_the_hint_and_the_stderr_tail():
    out = json.dumps({"status": "failed", "error": "ModuleNotFoundError: No module named 'numpy'"})
    record, _ = run_job(Launch(res(1, stderr="warning: x"), out_text=out),
                        hint=lambda error: error + " (pip install numpy)")
    assert record["error"].endswith("(pip install numpy)") and record["stderr_tail"] == "warning: x"


def test_cores_come_from_the_profile_unless_the_job_names_its_own():
    _, seen = run_job(Launch(res(0), out_text='{"status": "ok"}'), cores=(2, 3))
    assert seen[0]["cores"] == [2, 3] and seen[0]["scratch_dir"] == "/wd/jobs/1"
    _, seen = run_job(Launch(res(0), out_text='{"status": "ok"}'),
                      job={"runtime": "tflite", "cores": [0]}, cores=(2, 3))
    assert seen[0]["cores"] == [0]


def test_output_files_are_named_in_the_job_folder_and_fetched_back(tmp_path):
    local = tmp_path / "ops.json"
    fetched: list[tuple[str, Path]] = []
    job = {"runtime": "onnxruntime", "profile_ops_path": str(local), "save_outputs_path": str(tmp_path / "y.npz")}

    def fetch(device_path: str, dest: Path) -> None:
        fetched.append((device_path, dest))
        if dest.name == "y.npz":
            raise DeviceError("pi: cannot download: no such file")  # the runner wrote none: not an error

    record, seen = run_job(Launch(res(0), out_text='{"status": "ok"}'), job=job, fetch=fetch)
    assert record["status"] == "ok"
    assert seen[0]["profile_ops_path"] == f"/wd/jobs/1/{output_name('profile_ops_path', local)}" \
        == "/wd/jobs/1/profile_ops-ops.json"
    assert fetched == [("/wd/jobs/1/profile_ops-ops.json", local),
                       ("/wd/jobs/1/save_outputs-y.npz", tmp_path / "y.npz")]

    def lost(device_path: str, dest: Path) -> None:
        raise DeviceLost("pi: connection lost")

    with pytest.raises(DeviceLost):
        run_job(Launch(res(0), out_text='{"status": "ok"}'), job=job, fetch=lost)


# -- the sync ----------------------------------------------------------------------------------------
class FakeRemote:
    """A device's files as {dest: sha256}, with a count of hashing calls and uploads."""

    def __init__(self, can_hash: bool = True) -> None:
        self.files: dict[str, str] = {}
        self.can_hash = can_hash
        self.asked: list[list[str]] = []
        self.sent: list[str] = []

    def hashes(self, dests: list[str]) -> dict[str, str] | None:
        self.asked.append(list(dests))
        return {d: self.files[d] for d in dests if d in self.files} if self.can_hash else None

    def upload(self, uploads) -> None:
        for u in uploads:
            self.files[u.dest] = u.sha256
            self.sent.append(u.dest)


def test_sync_sends_only_what_the_device_lacks_and_remembers_what_it_holds(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.npz"
    a.write_bytes(b"model")
    b.write_bytes(b"data")
    remote = FakeRemote()
    sync = Sync("pi", remote.hashes, remote.upload)
    first = sync.sync([(a, "files/a.onnx"), (b, "files/b.npz"), (a, "files/a.onnx")])
    assert first.uploaded == ("files/a.onnx", "files/b.npz") and first.bytes_uploaded == 9
    again = sync.sync([(a, "files/a.onnx"), (b, "files/b.npz")])
    assert again.uploaded == () and set(again.skipped) == {"files/a.onnx", "files/b.npz"}
    assert len(remote.asked) == 1  # known files are not asked about again
    time.sleep(0.01)
    a.write_bytes(b"model v2")
    changed = sync.sync([(a, "files/a.onnx"), (b, "files/b.npz")])
    assert changed.uploaded == ("files/a.onnx",) and remote.asked[-1] == ["files/a.onnx"]

    fresh = Sync("pi", remote.hashes, remote.upload)  # another device object: asks, sends nothing
    assert fresh.sync([(a, "files/a.onnx")]).uploaded == ()
    with pytest.raises(DeviceError, match="pi: cannot upload .*missing.onnx: no such file"):
        fresh.sync([(tmp_path / "missing.onnx", "files/missing.onnx")])


def test_a_device_that_cannot_hash_gets_everything_and_says_so(tmp_path):
    a = tmp_path / "a.onnx"
    a.write_bytes(b"model")
    remote = FakeRemote(can_hash=False)
    sync = Sync("pi", remote.hashes, remote.upload, remember=False)
    for _ in range(2):
        report = sync.sync([(a, "files/a.onnx")])
        assert report.uploaded == ("files/a.onnx",) and report.hashing == "unavailable"
    assert remote.sent == ["files/a.onnx", "files/a.onnx"]
