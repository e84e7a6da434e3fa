"""The lab client against a real labgrid coordinator and exporter on loopback (started as fixtures),
whose NetworkService points at the suite's loopback sshd: listing, locking by name and by tags,
waiting for a held place, release (also on SIGTERM and Ctrl-C), orphaned resources when the lab
host dies, and a lock lost to a coordinator restart."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from labgrid_fixtures import Coordinator, Exporter, network_service
from sshd import Sshd, need

from harness.commands import lab as lab_command
from harness.devices.ssh import SshDevice
from harness.lab import (
    LabClient,
    LabError,
    LabUnreachable,
    acquire,
    coordinator,
    hold,
    identity,
    release,
    ssh_table,
    still_locked,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    for tool in ("/usr/sbin/sshd", "ssh", "ssh-keygen"):
        need(tool)
    with Sshd(tmp_path_factory.mktemp("sshd")) as srv:
        yield srv


@pytest.fixture(scope="module")
def lab(tmp_path_factory, server):
    """One coordinator, one lab host exporting two boards (both the loopback sshd), three places."""
    root = tmp_path_factory.mktemp("lab")
    groups = {"pi": network_service(server.port, server.user), "pi2": network_service(server.port, server.user)}
    with Coordinator(root / "coordinator") as coord, Exporter(coord, root / "exporter", groups):
        coord.add_place("pi-1", "labhost/pi/*", tags={"board": "rpi4"})
        coord.add_place("pi-2", "labhost/pi2/*", tags={"board": "rpi4"})
        coord.add_place("phone-1", tags={"board": "pixel", "adb": "127.0.0.1:5037", "adb_serial": "emu1"})
        yield coord


@pytest.fixture
def client(lab):
    c = LabClient(coordinator(lab.address, "test"))
    yield c
    for place in c.places(resources=False):  # a failed test must not leave a lock for the next
        if place.acquired:
            lab.client("-p", place.name, "unlock", "--kick", check=False)


def states(client: LabClient) -> dict[str, tuple[str, str | None, str]]:
    return {p.name: (p.state, p.acquired, p.comment) for p in client.places()}


def lab_main(capsys, *argv: str) -> str:
    parser = argparse.ArgumentParser(prog="edgebench")
    lab_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lab", *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# list, lock, release

def test_lab_list_shows_a_place_free_then_locked_by_this_run_then_free(client, lab, server, capsys):
    out = lab_main(capsys, "-x", lab.address)
    assert f"labgrid coordinator {lab.address}" in out
    row = next(line for line in out.splitlines() if line.startswith("pi-1 "))
    assert row.split()[1] == "free" and f"ssh {server.user}@127.0.0.1:{server.port}" in row
    assert "labhost" in row and "board=rpi4" in row
    phone = next(line for line in out.splitlines() if line.startswith("phone-1 "))
    assert "adb 127.0.0.1:5037 emu1" in phone
    lease = acquire(client, run="20261202-lab-list", place="pi-1", timeout_s=10)
    try:
        out = lab_main(capsys, "-x", lab.address, "list")
        row = next(line for line in out.splitlines() if line.startswith("pi-1 "))
        assert row.split()[1] == "locked" and identity() in row and "edgebench run 20261202-lab-list" in row
        assert states(client)["pi-2"][0] == "free"
    finally:
        assert release(client, lease) == "released"
    assert states(client)["pi-1"] == ("free", None, "")


def test_hold_locks_names_the_run_and_gives_back_a_free_place_with_its_own_comment(client, lab, server):
    lab.client("-p", "pi-1", "set-comment", "shelf 2, the one with the fan")
    try:
        with hold(client, run="run-a", place="pi-1", timeout_s=10) as lease:
            state, holder, comment = states(client)["pi-1"]
            assert (state, holder) == ("locked", identity())
            assert comment.startswith("edgebench run run-a ") and lease.token in comment
            assert comment.endswith("was: shelf 2, the one with the fan")
            assert still_locked(client, lease)
            assert lease.record() == {"lab_place": "pi-1", "lab_exporter": "labhost",
                                      "lab_reservation": lease.token, "lab_coordinator": lab.address}
            # the place's NetworkService becomes an ssh device table that reaches the board
            table = ssh_table(lease, {"name": "lab-pi", "ssh_options": server.ssh_options()})
            assert (table["kind"], table["host"], table["port"], table["user"]) == \
                ("ssh", "127.0.0.1", server.port, server.user)
            argv = SshDevice(table).ssh_argv("echo through-the-lab")
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            assert done.stdout.strip() == "through-the-lab", done.stderr
        assert states(client)["pi-1"] == ("free", None, "shelf 2, the one with the fan")
        assert lease.token not in lab.client("reservations").stdout  # no reservation left behind
    finally:
        lab.client("-p", "pi-1", "set-comment", "--", "")


def test_a_second_acquire_waits_up_to_its_timeout_then_fails_naming_the_holder(client, lab):
    first = acquire(client, run="run-first", place="pi-1", timeout_s=10)
    try:
        started = time.monotonic()
        with pytest.raises(LabError) as err:
            acquire(client, run="run-second", place="pi-1", timeout_s=2)
        waited = time.monotonic() - started
        assert err.value.reason == "locked" and 2 <= waited < 15
        message = str(err.value)
        assert "\n" not in message and "pi-1" in message and identity() in message
        assert "edgebench run run-first" in message and "lock_timeout" in message
        assert still_locked(client, first)  # the loser did not disturb the holder
        free_now = acquire(client, run="no-wait", place="pi-2", timeout_s=0)  # 0: only if free now
        assert release(client, free_now) == "released"
        tokens = lab.client("reservations").stdout
        assert tokens.count("Reservation '") == 1 and first.token in tokens
    finally:
        release(client, first)


def test_a_waiting_acquire_gets_the_place_once_the_holder_releases_it(client, lab):
    first = acquire(client, run="run-first", place="pi-1", timeout_s=10)
    got: dict = {}

    def second() -> None:
        try:
            got["lease"] = acquire(LabClient(client.where), run="run-second", place="pi-1", timeout_s=60)
        except Exception as exc:  # pragma: no cover - reported below
            got["error"] = exc

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(2.0)
    assert "lease" not in got and still_locked(client, first)
    released_at = time.monotonic()
    release(client, first)
    thread.join(timeout=60)
    assert "error" not in got, got.get("error")
    lease = got["lease"]
    try:
        assert lease.waited_s >= 2.0 and time.monotonic() - released_at < 30
        assert states(client)["pi-1"][2].startswith("edgebench run run-second ")
    finally:
        release(client, lease)


def test_tags_pick_a_free_place_that_has_them(client):
    held = acquire(client, run="by-name", place="pi-1", timeout_s=10)
    try:
        lease = acquire(client, run="by-tags", tags={"board": "rpi4"}, timeout_s=10)
        try:
            assert lease.place == "pi-2" and lease.tags["board"] == "rpi4"
            assert [r.path for r in lease.resources] == ["labhost/pi2/NetworkService/NetworkService"]
        finally:
            release(client, lease)
    finally:
        release(client, held)


# ------------------------------------------------------------------------------------------------
# bad input: one line each, naming what to fix

def test_unknown_place_unmatched_tags_and_an_unreachable_coordinator_are_one_clear_line_each(client):
    with pytest.raises(LabError) as err:
        acquire(client, run="r", place="pi-9", timeout_s=5)
    assert err.value.reason == "unknown-place"
    assert "no place 'pi-9'" in str(err.value) and "pi-1" in str(err.value) and "\n" not in str(err.value)

    with pytest.raises(LabError) as err:
        acquire(client, run="r", tags={"board": "jetson"}, timeout_s=5)
    assert err.value.reason == "no-match" and "board=jetson" in str(err.value)
    assert "board=rpi4" in str(err.value) and "\n" not in str(err.value)

    from labgrid_fixtures import free_port

    dead = LabClient(coordinator(f"127.0.0.1:{free_port()}", "lab.toml: [device] coordinator"))
    started = time.monotonic()
    with pytest.raises(LabUnreachable) as err:
        acquire(dead, run="r", place="pi-1", timeout_s=5)
    assert time.monotonic() - started < 10
    assert "cannot be reached" in str(err.value) and "lab.toml: [device] coordinator" in str(err.value)
    assert "\n" not in str(err.value)


def test_release_of_a_place_someone_else_holds_is_refused_with_their_name(client, lab, capsys):
    lab.client("-p", "pi-2", "lock", env={"LG_USERNAME": "alice"})
    with pytest.raises(LabError) as err:
        lab_main(capsys, "-x", lab.address, "release", "pi-2")
    assert "locked by" in str(err.value) and "/alice" in str(err.value)
    assert states(client)["pi-2"][1].endswith("/alice")


def test_lab_release_frees_a_lock_left_by_a_killed_run_and_restores_the_comment(client, lab, capsys):
    lab.client("-p", "pi-2", "set-comment", "bench B")
    lease = acquire(client, run="killed-run", place="pi-2", timeout_s=10)  # and never released
    out = lab_main(capsys, "-x", lab.address, "release", "pi-2")
    assert "released place pi-2" in out and "killed-run" in out
    assert states(client)["pi-2"] == ("free", None, "bench B")
    assert lease.token not in lab.client("reservations").stdout
    lab.client("-p", "pi-2", "set-comment", "--", "")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_holding_a_place_releases_it(client, lab, sig):
    script = textwrap.dedent(f"""
        import sys, time
        from harness.lab import LabClient, coordinator, hold
        with hold(LabClient(coordinator({lab.address!r})), run="signalled", place="pi-1", timeout_s=10):
            print("held", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": REPO})
    try:
        assert proc.stdout.readline().strip() == "held", proc.stderr.read()
        assert states(client)["pi-1"][0] == "locked"
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert states(client)["pi-1"] == ("free", None, "")
    assert "Reservation '" not in lab.client("reservations").stdout


# ------------------------------------------------------------------------------------------------
# the lab fails under a run

def test_a_dead_lab_host_shows_as_orphaned_resources_and_a_free_place_cannot_be_locked(tmp_path, server):
    groups = {"pi": network_service(server.port, server.user)}
    with Coordinator(tmp_path / "c") as coord, Exporter(coord, tmp_path / "e", groups) as exporter:
        coord.add_place("pi-1", "labhost/pi/*")
        coord.add_place("pi-3", "labhost/pi/NetworkService/other")
        client = LabClient(coordinator(coord.address, "test"))
        lease = acquire(client, run="r", place="pi-1", timeout_s=10)
        exporter.stop()  # the lab host loses power
        places = {p.name: p for p in client.places()}
        assert places["pi-1"].state == "locked"
        assert places["pi-1"].orphaned == ("labhost/pi/NetworkService/NetworkService",)
        assert places["pi-3"].unmatched == ("labhost/pi/NetworkService/other",)
        assert client.show("pi-1").orphaned == ("labhost/pi/NetworkService/NetworkService",)
        assert still_locked(client, lease)  # the lock itself survives the lab host
        assert "ORPHANED labhost/pi/NetworkService/NetworkService" in lab_command.format_places(places.values())
        release(client, lease)
        with pytest.raises(LabError) as err:
            acquire(client, run="r", place="pi-1", timeout_s=10)
        assert err.value.reason == "orphaned" and "labhost/pi/*" in str(err.value)
        assert "labgrid-exporter" in str(err.value) and "\n" not in str(err.value)
        assert client.places()[0].state == "free"  # the failed attempt left nothing behind
        exporter.start()  # the lab host comes back
        lease = acquire(client, run="r", place="pi-1", timeout_s=10)
        assert client.show("pi-1").orphaned == () and release(client, lease) == "released"


def test_a_coordinator_restart_drops_the_lock_and_still_locked_says_so(tmp_path, server):
    groups = {"pi": network_service(server.port, server.user)}
    with Coordinator(tmp_path / "c") as coord, Exporter(coord, tmp_path / "e", groups) as exporter:
        coord.add_place("pi-1", "labhost/pi/*")
        client = LabClient(coordinator(coord.address, "test"))
        lease = acquire(client, run="r", place="pi-1", timeout_s=10)
        assert still_locked(client, lease)
        coord.restart()
        assert not still_locked(client, lease)
        assert release(client, lease) == "lost"  # nothing of anyone else's is touched
        assert client.show("pi-1").comment == ""  # but the stale run comment is taken off
        exporter.stop()
        exporter.start()
        # someone (even this same user) locking it again is not "still ours"
        coord.client("-p", "pi-1", "lock")
        assert not still_locked(client, lease)
        coord.stop()
        with pytest.raises(LabUnreachable):
            still_locked(client, lease)
