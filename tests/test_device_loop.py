"""The retry/skip policy of the device loop, against a fake device and zero retry delays: what each
outcome of a job (lost, back, failed, interrupted) leaves in records.jsonl. The end-to-end tests with
a real sshd (tests/faults/test_device_lost.py) cover the wiring to real transports."""

from __future__ import annotations

import _thread
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.devices.base import CommandResult, Device
from harness.errors import DeviceError, DeviceLost, DeviceWithdrawn
from harness.execution.device_loop import DeviceLoop, run_devices
from harness.execution.writer import RunWriter
from harness.plan import plan
from harness.profiles import load_profiles
from harness.progress import Progress
from harness.records import Status, read_records

MODEL = Path(__file__).resolve().parents[1] / "models" / "zoo" / "digits" / "digits-separable-onnx-fp32.onnx"
NO_DELAYS = (0.0, 0.0, 0.0)
OK = {"status": "ok", "latency_ns": [1000, 1100, 1200]}


class FakeDevice(Device):
    """Plays a script of outcomes, one per execute(): a result dict, or an exception to raise.
    A callable is called with the device (to interrupt the run at that moment)."""

    kind = "fake"
    emulated = False
    cpu = None

    def __init__(self, name: str, script: list[Any]) -> None:
        self.name = name
        self.script = list(script)
        self.jobs: list[dict[str, Any]] = []
        self.prepared = 0
        self.interrupted = threading.Event()
        self.closed = False

    def probe(self) -> dict[str, Any]:
        return {"arch": "fake"}

    def prepare(self, files: list[Path]) -> dict[str, str]:
        self.prepared += 1
        return {str(f): f"/device/{Path(f).name}" for f in files}

    def execute(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.jobs.append(job)
        outcome = self.script.pop(0) if self.script else dict(OK)
        if callable(outcome):
            outcome = outcome(self)
        if isinstance(outcome, BaseException):
            raise outcome
        return dict(outcome)

    def check(self, runtimes: list[str]) -> list[str]:
        return []

    def interrupt(self) -> None:
        self.interrupted.set()

    def close(self) -> None:
        self.closed = True

    def run(self, argv, timeout: float) -> CommandResult:  # the loop never calls the transport itself
        raise AssertionError("the device loop must go through execute()")

    def push(self, local: Path, remote: str) -> None:
        raise AssertionError("the device loop must go through prepare()")

    def pull(self, remote: str, local: Path) -> None:
        raise AssertionError("the device loop must go through execute()")


def profiles(tmp_path: Path, *names: str, trials: int = 3):
    paths = []
    for name in names:
        p = tmp_path / f"{name}.toml"
        p.write_text(f'[device]\nname = "{name}"\nkind = "local"\n\n[matrix]\nmodels = ["{MODEL}"]\n'
                     f'runtimes = ["onnxruntime"]\nthreads = [1]\nmodes = ["perf"]\ntrials = {trials}\n')
        paths.append(str(p))
    profs = load_profiles(paths)
    _configs, jobs = plan(profs, seed=0)
    return profs, jobs


def writer(tmp_path: Path) -> RunWriter:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    return RunWriter(run_dir, {"run_id": "r", "profiles": []})


def records(w: RunWriter) -> list[dict[str, Any]]:
    return read_records(w.records_path).records if w.records_path.exists() else []


def test_a_device_lost_once_and_back_gives_the_record_with_retries_1(tmp_path):
    profs, jobs = profiles(tmp_path, "box")
    dev = FakeDevice("box", [OK, DeviceLost("box: connection closed"), OK])
    w = writer(tmp_path)
    assert run_devices(profs, {"box": dev}, jobs, set(), w, retry_delays=NO_DELAYS)
    recs = records(w)
    assert [r["status"] for r in recs] == ["ok", "ok", "ok"]
    assert [r["trial"] for r in recs] == [0, 1, 2]
    assert [r.get("retries") for r in recs] == [None, 1, None]
    assert dev.prepared == 2  # the files are made available again after the device came back
    assert dev.jobs[1] == dev.jobs[2]  # the same job is sent again


def test_a_device_lost_for_good_skips_its_remaining_jobs_with_the_reason_and_the_others_go_on(tmp_path):
    profs, jobs = profiles(tmp_path, "pi", "box")
    lost = DeviceLost("pi: connection refused")
    pi = FakeDevice("pi", [OK, lost, lost, lost, lost])
    box = FakeDevice("box", [])
    w = writer(tmp_path)
    t0 = time.monotonic()
    assert run_devices(profs, {"pi": pi, "box": box}, jobs, set(), w, retry_delays=NO_DELAYS)
    assert time.monotonic() - t0 < 5  # zero delays: nothing waits
    by_device = {d: [r for r in records(w) if r["device"] == d] for d in ("pi", "box")}
    assert [r["status"] for r in by_device["box"]] == ["ok", "ok", "ok"]
    assert [r["status"] for r in by_device["pi"]] == ["ok", "skipped", "skipped"]
    for r in by_device["pi"][1:]:
        assert r["error"] == "device pi lost after 4 attempts: pi: connection refused"
    assert len(pi.jobs) == 5  # the first job, then the second one tried 1 + 3 times


def test_a_device_that_is_not_ready_has_every_job_recorded_as_skipped(tmp_path):
    profs, jobs = profiles(tmp_path, "box")
    dev = FakeDevice("box", [])

    def refuse(files):
        raise DeviceError("box: workdir /data is read-only")

    dev.prepare = refuse
    w = writer(tmp_path)
    assert run_devices(profs, {"box": dev}, jobs, set(), w, retry_delays=NO_DELAYS)
    recs = records(w)
    assert [r["status"] for r in recs] == ["skipped"] * 3
    assert all(r["error"] == "device not ready: box: workdir /data is read-only" for r in recs)
    assert dev.jobs == []


def test_a_harness_error_from_a_job_is_a_failed_record_and_the_next_job_runs(tmp_path):
    profs, jobs = profiles(tmp_path, "box")
    dev = FakeDevice("box", [DeviceError("box: runner exited 3: bad model"), OK, OK])
    w = writer(tmp_path)
    assert run_devices(profs, {"box": dev}, jobs, set(), w, retry_delays=NO_DELAYS)
    recs = records(w)
    assert [r["status"] for r in recs] == ["failed", "ok", "ok"]
    assert recs[0]["error"] == "box: runner exited 3: bad model"
    assert "retries" not in recs[0]


def test_an_unexpected_exception_records_the_remaining_jobs_as_failed(tmp_path):
    profs, jobs = profiles(tmp_path, "box")
    dev = FakeDevice("box", [OK, ValueError("a bug")])
    w = writer(tmp_path)
    assert run_devices(profs, {"box": dev}, jobs, set(), w, retry_delays=NO_DELAYS)
    recs = records(w)
    assert [r["status"] for r in recs] == ["ok", "failed", "failed"]
    assert all(r["error"] == "internal error: ValueError: a bug" for r in recs[1:])


def test_jobs_already_recorded_are_not_run_again(tmp_path):
    profs, jobs = profiles(tmp_path, "box")
    dev = FakeDevice("box", [])
    w = writer(tmp_path)
    done = {jobs["box"][0].key, jobs["box"][2].key}
    assert run_devices(profs, {"box": dev}, jobs, done, w, retry_delays=NO_DELAYS)
    assert [r["trial"] for r in records(w)] == [1]


def test_a_job_killed_by_an_interrupt_gets_no_record_and_no_later_job_runs(tmp_path):
    profs, jobs = profiles(tmp_path, "box")
    stop = threading.Event()

    def killed(dev):
        stop.set()  # as Ctrl-C does while this job runs
        return {"status": "failed", "error": "runner killed by signal 9"}

    dev = FakeDevice("box", [OK, killed, OK])
    w = writer(tmp_path)
    DeviceLoop(profs[0], dev, w, Progress(3), stop, NO_DELAYS).run(jobs["box"], set())
    assert [r["trial"] for r in records(w)] == [0]
    assert len(dev.jobs) == 2


def test_a_device_lost_during_an_interrupt_is_not_retried_and_gets_no_record(tmp_path):
    profs, jobs = profiles(tmp_path, "box")
    stop = threading.Event()

    def lost(dev):
        stop.set()
        return DeviceLost("box: connection closed")

    dev = FakeDevice("box", [lost, OK, OK])
    w = writer(tmp_path)
    DeviceLoop(profs[0], dev, w, Progress(3), stop, NO_DELAYS).run(jobs["box"], set())
    assert records(w) == []
    assert len(dev.jobs) == 1


def test_ctrl_c_interrupts_every_device_and_leaves_the_running_jobs_without_a_record(tmp_path):
    profs, jobs = profiles(tmp_path, "pi", "box")

    def ctrl_c_then_wait_for_the_kill(dev):
        _thread.interrupt_main()  # KeyboardInterrupt in the main thread, as Ctrl-C raises it
        assert dev.interrupted.wait(30), "the device was never interrupted"
        return {"status": "failed", "error": "runner killed"}

    def wait_for_the_kill(dev):
        assert dev.interrupted.wait(30)
        return {"status": "failed", "error": "runner killed"}

    pi = FakeDevice("pi", [OK, ctrl_c_then_wait_for_the_kill])
    box = FakeDevice("box", [wait_for_the_kill])
    w = writer(tmp_path)
    try:
        completed = run_devices(profs, {"pi": pi, "box": box}, jobs, set(), w, retry_delays=NO_DELAYS)
    except KeyboardInterrupt:  # pragma: no cover - the loop must catch it
        pytest.fail("run_devices let the KeyboardInterrupt through")
    assert completed is False
    assert pi.interrupted.is_set() and box.interrupted.is_set()
    assert [(r["device"], r["trial"], r["status"]) for r in records(w)] == [("pi", 0, Status.OK)]


class GatedDevice(FakeDevice):
    """A device whose before_job() plays its own script (a lab device checking its lock) and whose
    records carry an extra key."""

    def __init__(self, name: str, gates: list[Any]) -> None:
        super().__init__(name, [])
        self.gates = list(gates)
        self.checks = 0

    def before_job(self) -> None:
        self.checks += 1
        gate = self.gates.pop(0) if self.gates else None
        if gate is not None:
            raise gate

    def record_extra(self) -> dict[str, Any]:
        return {"lab_place": "pi-1"}


def test_before_job_runs_before_every_job_and_a_withdrawn_device_is_skipped_at_once(tmp_path):
    profs, jobs = profiles(tmp_path, "pi", "box")
    pi = GatedDevice("pi", [None, DeviceWithdrawn("lost its lock on lab place pi-1")])
    box = FakeDevice("box", [])
    w = writer(tmp_path)
    assert run_devices(profs, {"pi": pi, "box": box}, jobs, set(), w, retry_delays=(30.0,))  # never waited
    by_device = {d: [r for r in records(w) if r["device"] == d] for d in ("pi", "box")}
    assert [r["status"] for r in by_device["box"]] == ["ok", "ok", "ok"]
    assert [r["status"] for r in by_device["pi"]] == ["ok", "skipped", "skipped"]
    assert by_device["pi"][1]["error"] == "device pi: lost its lock on lab place pi-1"
    assert all(r["lab_place"] == "pi-1" for r in by_device["pi"])  # skipped records carry it too
    assert pi.checks == 2 and len(pi.jobs) == 1  # no job ran after the lock was gone


def test_a_device_lost_in_before_job_is_retried_like_a_lost_connection(tmp_path):
    profs, jobs = profiles(tmp_path, "pi", trials=2)
    pi = GatedDevice("pi", [DeviceLost("pi: lab host gone"), None, None])
    w = writer(tmp_path)
    assert run_devices(profs, {"pi": pi}, jobs, set(), w, retry_delays=NO_DELAYS)
    assert [(r["status"], r.get("retries")) for r in records(w)] == [("ok", 1), ("ok", None)]
    assert pi.prepared == 2 and len(pi.jobs) == 2
