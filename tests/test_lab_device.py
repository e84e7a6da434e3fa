"""The `labgrid` device kind end to end: `edgebench run` against a real labgrid coordinator and
exporter on loopback (tests/labgrid_fixtures.py) whose places' NetworkService is the suite's loopback
sshd, the digits pair through ONNX Runtime fp32 on one thread. What must hold: the run holds the
place for exactly its jobs and gives it back; two runs on one place take turns; a dead lab host is a
lost device; a lost lock stops the device before its next job; Ctrl-C and SIGTERM release; one
profile fans out over identical boards; bad input is one line before any job."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, assert_clean_error, edgebench, written_records
from labgrid_fixtures import Coordinator, Exporter, free_port, network_service
from sshd import Sshd, need

from harness.devices import make_device
from harness.devices.config import device_keys
from harness.devices.labgrid import LabgridDevice
from harness.errors import EXIT_JOBS_FAILED, ProfileError
from harness.lab import LabClient, acquire, coordinator, release
from harness.profiles import load_profiles

TERMUX_PY = "/data/data/com.termux/files/usr/bin/python3"  # the stand-in phone's python3
MATRIX = """
[matrix]
models = ["digits"]
runtimes = ["onnxruntime"]
precisions = ["fp32"]
threads = [1]
modes = ["perf"]
trials = {trials}
pair_target = 0
warmup_runs = 2
warmup_time_s = 0.0
min_runs = 10
min_time_s = {min_time}
max_time_s = 1.0
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    for tool in ("/usr/sbin/sshd", "ssh", "ssh-keygen"):
        need(tool)
    with Sshd(tmp_path_factory.mktemp("sshd")) as srv:
        yield srv


@pytest.fixture(scope="module")
def lab(tmp_path_factory, server):
    """A coordinator and one lab host exporting two boards (both the loopback sshd)."""
    root = tmp_path_factory.mktemp("lab")
    groups = {"pi": network_service(server.port, server.user), "pi2": network_service(server.port, server.user)}
    with Coordinator(root / "coordinator") as coord, Exporter(coord, root / "exporter", groups) as exporter:
        coord.add_place("pi-1", "labhost/pi/*", tags={"board": "rpi4"})
        coord.add_place("pi-2", "labhost/pi2/*", tags={"board": "rpi4"})
        coord.exporter = exporter
        yield coord


@pytest.fixture
def client(lab):
    c = LabClient(coordinator(lab.address, "test"))
    yield c
    lab.exporter.start()  # a test that killed the lab host brings it back
    for place in c.places(resources=False):  # a failed test must not leave a lock for the next
        if place.acquired:
            lab.client("-p", place.name, "unlock", "--kick", check=False)


def lab_profile(path: Path, server: Sshd, address: str, *, trials: int = 1, min_time: float = 0.02,
                **device) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = {"name": path.stem, "kind": "labgrid", "coordinator": address, "python": sys.executable,
             "workdir": str(path.parent / f"wd-{path.stem}"), "ssh_options": server.ssh_options(),
             "connect_timeout": 5, "lock_timeout": 120, **device}
    lines = ["[device]"] + [f"{k} = {_toml(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n" + MATRIX.format(trials=trials, min_time=min_time))
    return path


def _toml(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def records(run_dir: Path) -> list[dict]:
    return written_records(run_dir / "records.jsonl")


def spans(recs: list[dict]) -> list[tuple[float, float]]:
    out = []
    for r in recs:
        start = dt.datetime.fromisoformat(r["started_at"]).timestamp()
        out.append((start, start + r["duration_s"]))
    return sorted(out)


def assert_one_error_line(stderr: str, *needles: str) -> None:
    """The failure is one `edgebench: error:` line holding every needle (besides progress notes)."""
    errors = [line for line in stderr.splitlines() if line.startswith("edgebench: error:")]
    assert len(errors) == 1 and all(n in errors[0] for n in needles), stderr
    assert all(line.startswith("edgebench: ") for line in stderr.splitlines() if line.strip()), stderr


def state(client: LabClient, name: str) -> tuple[str, str | None, str]:
    place = next(p for p in client.places(resources=False) if p.name == name)
    return place.state, place.acquired, place.comment


def start_run(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# ------------------------------------------------------------------------------------------------
# the kind and its profile

def test_the_kind_is_registered_and_its_profile_keys_are_the_labs_and_the_transports():
    keys = device_keys("labgrid")
    assert {"coordinator", "place", "tags", "lock_timeout", "count", "group", "identity", "ssh_options",
            "workdir", "adb_host", "serial", "runner"} <= set(keys)
    with pytest.raises(ProfileError, match="needs place"):
        make_device({"name": "pi", "kind": "labgrid", "coordinator": "127.0.0.1:1"})


def test_the_example_lab_profile_validates_and_asks_for_a_board_by_tags():
    from harness.lab import LabConfig

    prof = load_profiles([str(REPO / "devices" / "lab-rpi4.example.toml")])[0]
    config = LabConfig.from_table(prof.device)
    assert prof.kind == "labgrid" and config.tags == {"board": "rpi4"} and config.lock_timeout_s == 900


def test_a_profile_with_an_unknown_or_mistyped_lab_key_is_refused_naming_it(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[device]\nkind = "labgrid"\nplace = "pi-1"\nlock_timeot = 5\ncount = 2.5\n')
    with pytest.raises(ProfileError) as err:
        load_profiles([str(bad)])
    assert "lock_timeot" in str(err.value) and "did you mean 'lock_timeout'" in str(err.value)
    assert "device.count must be" in str(err.value)


# ------------------------------------------------------------------------------------------------
# runs through the lab

def test_the_digits_pair_runs_through_the_lab_and_every_record_names_the_place(client, lab, server, tmp_path):
    lab.client("-p", "pi-1", "set-comment", "shelf 2")
    try:
        prof = lab_profile(tmp_path / "labpi.toml", server, lab.address, place="pi-1")
        proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r")
        assert proc.returncode == 0, proc.stderr
        run_dir = tmp_path / "res" / "r"
        recs = records(run_dir)
        assert sorted(r["model"] for r in recs) == ["digits-separable", "digits-standard"]
        assert all(r["status"] == "ok" and r["latency_ns"] for r in recs), [r.get("error") for r in recs]
        tokens = {r["lab_reservation"] for r in recs}
        assert len(tokens) == 1 and all(tokens)
        assert {(r["lab_place"], r["lab_exporter"], r["lab_coordinator"]) for r in recs} == \
            {("pi-1", "labhost", lab.address)}
        from harness.keys import RECORD_KEYS

        lab_keys = {k for k in recs[0] if k.startswith("lab_")}
        assert len(lab_keys) == 4 and lab_keys <= set(RECORD_KEYS)  # registered like every record key
        info = json.loads((run_dir / "run.json").read_text())["devices"]["labpi"]
        assert info["lab_place"] == "pi-1" and info["lab_reservation"] in tokens and info["lab_transport"] == "ssh"
        assert info["python_executable"] == sys.executable  # the board's own probe, through the lab
        assert (run_dir / "report.html").exists()
        assert state(client, "pi-1") == ("free", None, "shelf 2")  # given back with its own comment
        assert "Reservation '" not in lab.client("reservations").stdout
    finally:
        lab.client("-p", "pi-1", "set-comment", "--", "")


def test_two_runs_on_one_place_take_turns_and_never_overlap(client, lab, server, tmp_path):
    runs = []
    for name in ("first", "second"):
        prof = lab_profile(tmp_path / name / "pi.toml", server, lab.address, place="pi-1", trials=2,
                           min_time=0.3)
        runs.append(start_run(str(prof), "--out", str(tmp_path / "res"), "--run-id", name, "--no-report"))
        time.sleep(0.5)
    outcomes = [p.communicate(timeout=300) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outcomes
    recs = {name: records(tmp_path / "res" / name) for name in ("first", "second")}
    assert all(len(v) == 4 and all(r["status"] == "ok" for r in v) for v in recs.values())
    both = spans(recs["first"] + recs["second"])
    for (_, end), (start, _) in zip(both, both[1:]):
        assert start >= end, f"two jobs on pi-1 overlap: {both}"
    waited = [json.loads((tmp_path / "res" / n / "run.json").read_text())["devices"]["pi"]["lab_waited_s"]
              for n in ("first", "second")]
    first, second = sorted(spans(recs["first"])), sorted(spans(recs["second"]))
    later = "second" if first[0][0] < second[0][0] else "first"
    assert max(waited) > 1.0 and waited[("first", "second").index(later)] == max(waited)
    assert state(client, "pi-1")[0] == "free"


def test_a_dead_lab_host_is_a_lost_device_the_local_device_finishes_and_resume_completes(client, lab, server,
                                                                                        tmp_path):
    pi = lab_profile(tmp_path / "pi.toml", server, lab.address, tags={"board": "rpi4"}, trials=4, min_time=0.3)
    box = tmp_path / "box.toml"
    box.write_text('[device]\nname = "box"\nkind = "local"\n' + MATRIX.format(trials=4, min_time=0.3))
    run_dir = tmp_path / "res" / "r"
    proc = start_run(str(box), str(pi), "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report")
    wait_for(lambda: any(r["device"] == "pi" for r in records(run_dir)), proc, "a first lab record")
    lab.exporter.stop()  # the lab host dies; the board (sshd) itself still answers
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == EXIT_JOBS_FAILED, err  # records kept, some jobs skipped
    recs = records(run_dir)
    box_recs, pi_recs = [r for r in recs if r["device"] == "box"], [r for r in recs if r["device"] == "pi"]
    assert len(box_recs) == 8 and all(r["status"] == "ok" for r in box_recs)
    skipped = [r for r in pi_recs if r["status"] == "skipped"]
    place = pi_recs[0]["lab_place"]
    assert len(pi_recs) == 8 and skipped and all(r["lab_place"] == place for r in pi_recs)
    assert all("lost after 4 attempts" in r["error"] and "orphaned" in r["error"] for r in skipped)
    assert "retrying in" in err
    assert state(client, place)[0] == "free"  # released although its lab host is gone
    lab.exporter.start()  # the lab host is back
    again = edgebench("run", "--resume", str(run_dir), "--no-report")
    assert again.returncode == 0, again.stderr
    final = [r for r in records(run_dir) if r["device"] == "pi"]
    latest = {(r["model"], r["trial"]): r for r in final}
    assert len(latest) == 8 and all(r["status"] == "ok" for r in latest.values())
    assert len({r["lab_reservation"] for r in final}) == 2  # the resume held the place anew,
    assert {r["lab_place"] for r in final} == {place}  # the same board again, though picked by tags


def test_a_coordinator_restart_mid_run_stops_the_device_before_its_next_job(tmp_path, server):
    groups = {"pi": network_service(server.port, server.user)}
    with Coordinator(tmp_path / "c") as coord, Exporter(coord, tmp_path / "e", groups) as exporter:
        coord.add_place("pi-1", "labhost/pi/*")
        # ~20 s of jobs: the restart lands mid-run
        prof = lab_profile(tmp_path / "pi.toml", server, coord.address, place="pi-1", trials=8, min_time=0.6)
        run_dir = tmp_path / "res" / "r"
        proc = start_run(str(prof), "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report")
        wait_for(lambda: len(records(run_dir)) >= 1, proc, "a first record")
        coord.restart()  # every lock and reservation is gone
        restarted = time.time()
        exporter.stop()
        exporter.start()
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == EXIT_JOBS_FAILED, err  # records kept, the rest skipped for --resume
        recs = records(run_dir)
        assert len(recs) == 16
        skipped = [r for r in recs if r["status"] == "skipped"]
        assert skipped and all("lost its lock on lab place pi-1" in r["error"] for r in skipped)
        assert "--resume" in skipped[0]["error"]
        late_ok = [r for r in recs if r["status"] == "ok"
                   and dt.datetime.fromisoformat(r["started_at"]).timestamp() > restarted]
        assert late_ok == []  # nothing was measured on a place this run no longer held
        client = LabClient(coordinator(coord.address, "test"))
        assert state(client, "pi-1") == ("free", None, "")  # its stale run comment is gone too
        again = edgebench("run", "--resume", str(run_dir), "--no-report")
        assert again.returncode == 0, again.stderr
        latest = {(r["model"], r["trial"]): r for r in records(run_dir)}
        assert len(latest) == 16 and all(r["status"] == "ok" for r in latest.values())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_mid_run_releases_the_place(client, lab, server, tmp_path, sig):
    prof = lab_profile(tmp_path / "pi.toml", server, lab.address, place="pi-2", trials=6, min_time=0.5)
    run_dir = tmp_path / "res" / "r"
    proc = start_run(str(prof), "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report")
    wait_for(lambda: len(records(run_dir)) >= 1, proc, "a first record")
    assert state(client, "pi-2")[0] == "locked"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "--resume" in err, err
    assert state(client, "pi-2") == ("free", None, "")
    assert "Reservation '" not in lab.client("reservations").stdout


def test_ctrl_c_while_waiting_for_a_held_place_leaves_no_reservation(client, lab, server, tmp_path):
    held = acquire(client, run="someone-else", place="pi-1", timeout_s=10)
    try:
        prof = lab_profile(tmp_path / "pi.toml", server, lab.address, place="pi-1")
        proc = start_run(str(prof), "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report")
        wait_for(lambda: lab.client("reservations").stdout.count("Reservation '") == 2, proc,
                 "the run's reservation", timeout=60)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert lab.client("reservations").stdout.count("Reservation '") == 1  # only the holder's
        assert state(client, "pi-1")[1] is not None and "someone-else" in state(client, "pi-1")[2]
    finally:
        release(client, held)


def test_one_profile_fans_out_over_two_places_and_the_report_shows_the_spread(client, lab, server, tmp_path):
    prof = lab_profile(tmp_path / "rpi4.toml", server, lab.address, tags={"board": "rpi4"}, count=2)
    proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r")
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "res" / "r"
    recs = records(run_dir)
    assert {r["device"]: r["lab_place"] for r in recs} == {"rpi4-pi-1": "pi-1", "rpi4-pi-2": "pi-2"}
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs)
    assert len({r["lab_reservation"] for r in recs}) == 2
    summary = (run_dir / "summary.csv").read_text()
    assert summary.count("rpi4-pi-1/") == 2 and summary.count("rpi4-pi-2/") == 2  # rows per board
    html = (run_dir / "report.html").read_text()
    assert "Board-to-board spread" in html and "rpi4: digits-separable onnxruntime fp32 t1: 2 boards" in html
    assert html.index("Board-to-board spread") > html.index('id="summary"')
    assert [state(client, p)[0] for p in ("pi-1", "pi-2")] == ["free", "free"]


def test_a_phone_place_is_locked_and_its_adb_server_comes_from_the_place_tags(client, lab, tmp_path, monkeypatch):
    """labgrid 26 has no adb resource: the phone's place is used for locking only, and its tags say
    where the phone's adb server is (the adb stand-in here) and which phone it is."""
    from adbserver import AdbServer, FakeDevice

    need("adb")
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    with AdbServer([FakeDevice(python=sys.executable)]) as srv:
        lab.add_place("phone-1", tags={"board": "pixel", "adb": f"127.0.0.1:{srv.port}", "adb_serial": "EDGE0001"})
        try:
            prof = tmp_path / "pixel.toml"
            prof.write_text(f'[device]\nname = "pixel"\nkind = "labgrid"\ncoordinator = "{lab.address}"\n'
                            f'tags = {{ board = "pixel" }}\npython = "{TERMUX_PY}"\n'
                            + MATRIX.format(trials=1, min_time=0.02))
            proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report")
            assert proc.returncode == 0, proc.stderr
            recs = records(tmp_path / "res" / "r")
            assert len(recs) == 2 and all(r["status"] == "ok" and r["lab_place"] == "phone-1" for r in recs)
            assert {r["lab_exporter"] for r in recs} == {""}  # locking only: no exported resource
            info = json.loads((tmp_path / "res" / "r" / "run.json").read_text())["devices"]["pixel"]
            assert info["lab_transport"] == "adb" and "Pixel" in json.dumps(info)
            assert state(client, "phone-1")[0] == "free"
        finally:
            lab.client("-p", "phone-1", "delete")


def test_count_all_takes_the_free_places_and_count_n_waits_for_busy_ones_in_name_order(client, lab):
    from harness.lab.fanout import fanout_tables

    base = {"name": "rpi4", "kind": "labgrid", "coordinator": lab.address, "tags": {"board": "rpi4"}}
    held = acquire(client, run="someone-else", place="pi-1", timeout_s=10)
    try:
        free = fanout_tables({**base, "count": "all"})
        assert [(t["name"], t["place"], t["group"]) for t in free] == [("rpi4-pi-2", "pi-2", "rpi4")]
        assert "tags" not in free[0] and "count" not in free[0]
        both = fanout_tables({**base, "count": 2})
        assert [t["place"] for t in both] == ["pi-1", "pi-2"]  # the held one too: its device waits
    finally:
        release(client, held)
    with pytest.raises(ProfileError, match="count = 2 needs tags"):
        fanout_tables({**{k: v for k, v in base.items() if k != "tags"}, "place": "pi-1", "count": 2})


# ------------------------------------------------------------------------------------------------
# bad input: one line each, before any job

def test_bad_lab_input_is_one_line_naming_what_to_fix_and_runs_nothing(client, lab, server, tmp_path):
    dead = f"127.0.0.1:{free_port()}"
    cases = [
        ({"place": "pi-1", "coordinator": dead}, ["labgrid coordinator " + dead, "[device] coordinator",
                                                 "cannot be reached"]),
        ({"place": "pi-9"}, ["no place 'pi-9'", "pi-1, pi-2", "labgrid-client -p pi-9 create"]),
        ({"tags": {"board": "jetson"}}, ["no place has tags board=jetson", "board=rpi4"]),
        ({"tags": {"board": "jetson"}, "count": 2}, ["no place has tags board=jetson"]),
        ({"tags": {"board": "rpi4"}, "count": 3}, ["count = 3, but only 2 place(s)"]),
    ]
    for i, (device, needles) in enumerate(cases):
        address = device.pop("coordinator", lab.address)
        prof = lab_profile(tmp_path / f"bad{i}.toml", server, address, **device)
        proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", f"r{i}")
        assert_clean_error(proc, *needles)
        assert_one_error_line(proc.stderr, *needles)
        assert not (tmp_path / "res" / f"r{i}").exists()


def test_a_reservation_timeout_names_the_holder_and_the_run_holding_the_place(client, lab, server, tmp_path):
    held = acquire(client, run="nightly-42", place="pi-1", timeout_s=10)
    try:
        prof = lab_profile(tmp_path / "pi.toml", server, lab.address, place="pi-1", lock_timeout=2)
        started = time.monotonic()
        proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--run-id", "r")
        needles = ("no place became free within 2 s", "edgebench run nightly-42", "lock_timeout", "pi:")
        assert_clean_error(proc, *needles)
        assert_one_error_line(proc.stderr, *needles)
        assert time.monotonic() - started < 60
        assert not (tmp_path / "res" / "r").exists()
        assert lab.client("reservations").stdout.count("Reservation '") == 1
    finally:
        release(client, held)


def test_a_device_object_holds_the_place_between_check_and_close(client, lab, server, tmp_path):
    dev = LabgridDevice({"name": "pi", "kind": "labgrid", "coordinator": lab.address, "tags": {"board": "rpi4"},
                         "python": sys.executable, "workdir": str(tmp_path / "wd"),
                         "ssh_options": server.ssh_options(), "lock_timeout": 10})
    dev.run_id = "unit-run"
    try:
        assert dev.check(["onnxruntime"]) == []
        place = dev.lease.place
        assert state(client, place)[2].startswith("edgebench run unit-run ")
        dev.before_job()  # still ours: nothing raised
        assert dev.record_extra()["lab_place"] == place
    finally:
        dev.close()
    assert state(client, place)[0] == "free" and dev.release_s is not None
