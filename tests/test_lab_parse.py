"""Reading labgrid-client 26's output (golden text captured from the real client), the phone's adb
address in a place, and a labgrid profile's [device] table. No lab needed."""

from __future__ import annotations

import pytest

from harness.errors import ProfileError
from harness.lab import LabConfig, LabError, Lease, Resource, adb_endpoint, device_table, ssh_table
from harness.lab.lease import original_comment, run_comment
from harness.lab.parse import combine, match, parse_places, parse_resources, parse_show
from harness.lab.phone import parse_adb_address

PLACES = """\
Place 'phone-1':
  tags: adb=10.0.0.7:5037, adb_serial=R58M12, board=pixel
  matches:
  acquired: None
  acquired resources:
  created: 2026-12-02 02:19:46.822555
  changed: 2026-12-02 02:19:47.564925
Place 'pi1':
  aliases: shelf2
  comment: edgebench run 20261202-0219 (pid 7 on ci-3, reservation LG2EHNCBKL) | was: the one with the fan
  tags: arch=arm64, kind=pi
  matches:
    host1/pi/*
  acquired: vm/root
  acquired resources:
    host1/pi/NetworkService/NetworkService
  created: 2026-12-02 02:19:46.822555
  changed: 2026-12-02 02:20:23.918996
  reservation: LG2EHNCBKL
"""

RESOURCES = """\
Exporter 'host1':
  Group 'phone' (host1/phone/*):
    Resource 'NetworkService' (host1/phone/NetworkService[/NetworkService]):
      {'acquired': None,
       'avail': True,
       'cls': 'NetworkService',
       'params': {'address': '127.0.0.1',
                  'extra': {'proxy': 'localhost', 'proxy_required': False},
                  'port': 5037,
                  'username': 'shell'}}
  Group 'pi' (host1/pi/*):
    Resource 'NetworkService' (host1/pi/NetworkService[/NetworkService]):
      {'acquired': 'pi1',
       'avail': True,
       'cls': 'NetworkService',
       'params': {'address': '192.168.7.21',
                  'extra': {'proxy': 'labhost', 'proxy_required': True},
                  'port': 2222,
                  'username': 'tester'}}
"""

SHOW_ORPHANED = """\
Place 'pi1':
  comment: edgebench run X
  tags: arch=arm64, kind=pi
  matches:
    host1/pi/*
  acquired: vm/root
  acquired resources:
    host1/pi/NetworkService/NetworkService
  created: 2026-12-02 02:19:46.822555
  changed: 2026-12-02 02:20:23.918996
Orphaned resource 'NetworkService' (host1/pi/NetworkService/NetworkService)
"""

SHOW_FREE = """\
Place 'pi1':
  tags: arch=arm64, kind=pi
  matches:
    host1/pi/*
  acquired: None
  acquired resources:
  created: 2026-12-02 02:19:46.822555
  changed: 2026-12-02 02:19:47.564925
Matching resource 'NetworkService' (host1/pi/NetworkService/NetworkService):
  {'acquired': None,
   'avail': True,
   'cls': 'NetworkService',
   'params': {'address': '127.0.0.1',
              'extra': {'proxy': 'localhost', 'proxy_required': False},
              'port': 2222,
              'username': 'tester'}}"""


def test_places_are_read_with_tags_comment_lock_holder_and_reservation():
    phone, pi = parse_places(PLACES)
    assert (phone.name, phone.state, phone.matches, phone.acquired) == ("phone-1", "free", (), None)
    assert phone.tags == {"adb": "10.0.0.7:5037", "adb_serial": "R58M12", "board": "pixel"}
    assert (pi.state, pi.acquired, pi.reservation, pi.aliases) == ("locked", "vm/root", "LG2EHNCBKL", ("shelf2",))
    assert pi.comment.endswith("| was: the one with the fan") and pi.matches == ("host1/pi/*",)
    assert pi.acquired_resources == ("host1/pi/NetworkService/NetworkService",)


def test_resources_are_read_with_their_params_and_joined_to_the_places_that_hold_them():
    resources = parse_resources(RESOURCES)
    assert [r.path for r in resources] == ["host1/phone/NetworkService/NetworkService",
                                           "host1/pi/NetworkService/NetworkService"]
    assert resources[1].params["address"] == "192.168.7.21" and resources[1].acquired == "pi1"
    phone, pi = combine(parse_places(PLACES), resources)
    assert pi.resources == (resources[1],) and pi.orphaned == () and pi.exporters == ("host1",)
    _, pi_gone = combine(parse_places(PLACES), resources[:1])  # the exporter no longer lists it
    assert pi_gone.orphaned == ("host1/pi/NetworkService/NetworkService",) and pi_gone.resources == ()


def test_show_names_orphaned_resources_and_a_free_place_s_matching_ones():
    place = parse_show(SHOW_ORPHANED)
    assert place.orphaned == ("host1/pi/NetworkService/NetworkService",) and place.resources == ()
    free = parse_show(SHOW_FREE)
    assert free.state == "free" and free.unmatched == ()
    assert free.resources[0].params == {"address": "127.0.0.1", "port": 2222, "username": "tester",
                                        "extra": {"proxy": "localhost", "proxy_required": False}}
    gone = parse_show(SHOW_FREE.split("Matching")[0])
    assert gone.unmatched == ("host1/pi/*",)


def test_match_patterns_follow_labgrid_s_rule():
    assert match("host1/pi/*", "host1/pi/NetworkService/NetworkService")
    assert match("host*/pi/NetworkService", "host2/pi/NetworkService/anything")
    assert not match("host1/pi/*/serial", "host1/pi/NetworkService/NetworkService")
    assert not match("host1/pi2/*", "host1/pi/NetworkService/NetworkService")


def test_the_run_comment_keeps_the_place_s_own_comment_and_gives_it_back():
    comment = run_comment("20261202-0219", "TOKEN12345", "shelf 2")
    assert comment.startswith("edgebench run 20261202-0219 (pid ") and "reservation TOKEN12345" in comment
    assert original_comment(comment) == "shelf 2"
    # a stale comment from a killed run is not nested inside the next one
    assert original_comment(run_comment("next", "T2", comment)) == "shelf 2"
    assert original_comment("edgebench run old (pid 1 on h, reservation X)") == ""
    assert original_comment("someone's note") == "someone's note"


# ------------------------------------------------------------------------------------------------
# phones: the adb server's address in the place, else the profile

def test_a_phone_place_gives_its_adb_server_and_serial_by_tags_then_comment_then_profile():
    by_tags = adb_endpoint("phone-1", {"adb": "10.0.0.7:5038", "adb_serial": "R58M12"}, "", {}, by_tags=True)
    assert (by_tags.host, by_tags.port, by_tags.serial, by_tags.source) == ("10.0.0.7", 5038, "R58M12", "tags")
    by_comment = adb_endpoint("phone-1", {}, "Pixel 7, shelf 3 adb=[fd00::7]:5037 adb_serial=XY", {}, by_tags=False)
    assert (by_comment.host, by_comment.port, by_comment.serial) == ("fd00::7", 5037, "XY")
    by_profile = adb_endpoint("phone-1", {}, "", {"adb_host": "lab3", "adb_port": 5039, "serial": "P1"},
                              by_tags=False)
    assert (by_profile.host, by_profile.port, by_profile.serial, by_profile.source) == ("lab3", 5039, "P1", "profile")
    assert parse_adb_address("lab3", "x") == ("lab3", 5037)


def test_a_phone_picked_by_tags_must_name_itself_and_bad_addresses_are_refused():
    with pytest.raises(LabError, match="set-tags adb_serial=SERIAL"):
        adb_endpoint("phone-2", {"adb": "lab3"}, "", {"serial": "P1"}, by_tags=True)
    with pytest.raises(LabError, match="no adb=HOST:PORT or adb_serial=SERIAL tag"):
        adb_endpoint("phone-2", {"board": "pixel"}, "", {}, by_tags=True)
    for bad in ("lab3:0", "lab3:http", "-oProxy", "[fd00::7"):
        with pytest.raises(LabError, match="adb address"):
            parse_adb_address(bad, "place phone-2 (tags)")


# ------------------------------------------------------------------------------------------------
# the profile and the device table a held place becomes

def lease(*resources: Resource, tags=None, previous="") -> Lease:
    return Lease(place="pi1", token="T", holder="h/u", comment="c", previous_comment=previous,
                 coordinator="lab:20408", resources=resources, tags=tags or {})


SERVICE = Resource("host1/pi/NetworkService/NetworkService",
                   {"address": "192.168.7.21", "port": 2222, "username": "tester",
                    "extra": {"proxy": "labhost", "proxy_required": True}})


def test_a_network_service_becomes_an_ssh_table_reached_through_its_exporter_when_labgrid_says_so():
    table = ssh_table(lease(SERVICE), {"name": "pi-lab", "kind": "labgrid", "identity": "~/.ssh/k",
                                       "ssh_options": ["ServerAliveInterval=5"], "place": "pi1"})
    assert table == {"name": "pi-lab", "kind": "ssh", "host": "192.168.7.21", "port": 2222, "user": "tester",
                     "identity": "~/.ssh/k", "ssh_options": ["ProxyJump=labhost", "ServerAliveInterval=5"]}
    assert ssh_table(lease(SERVICE), {"user": "pi"})["user"] == "pi"  # the profile's user wins


def test_device_table_picks_ssh_for_a_board_and_adb_for_a_locking_only_phone():
    config = LabConfig.from_table({"tags": {"board": "pixel"}, "coordinator": "lab:20408"})
    phone = device_table(lease(tags={"adb": "lab3:5037", "adb_serial": "R58"}), {"name": "p", "runner": "native"},
                         config)
    assert phone == {"name": "p", "runner": "native", "kind": "adb", "adb_host": "lab3", "adb_port": 5037,
                     "serial": "R58"}
    assert device_table(lease(SERVICE), {}, LabConfig.from_table({"place": "pi1"}))["kind"] == "ssh"
    with pytest.raises(LabError, match="no NetworkService"):
        device_table(lease(), {}, LabConfig.from_table({"place": "pi1", "transport": "ssh"}))


def test_a_labgrid_profile_is_checked_naming_the_file_and_key(monkeypatch):
    monkeypatch.setenv("LG_COORDINATOR", "lab.example.com:20408")
    config = LabConfig.from_table({"place": "pi1"}, "lab.toml")
    assert (config.coordinator.address, config.coordinator.origin) == ("lab.example.com:20408", "LG_COORDINATOR")
    assert config.lock_timeout_s == 600
    assert LabConfig.from_table({"place": "p", "coordinator": "c:1"}, "lab.toml").coordinator.origin == \
        "lab.toml: [device] coordinator"
    bad = [({}, "needs place"), ({"place": "p", "tags": {"a": "b"}}, "needs place"),
           ({"tags": {"Board": "x"}}, "tags: key 'Board'"), ({"tags": {"board": "a b"}}, "tags.board"),
           ({"place": "p", "lock_timeout": -1}, "lock_timeout"), ({"place": "p", "transport": "usb"}, "transport"),
           ({"place": "p", "coordinator": "http://x"}, "coordinator")]
    for table, needle in bad:
        with pytest.raises(ProfileError, match=needle) as err:
            LabConfig.from_table(table, "lab.toml")
        assert str(err.value).startswith("lab.toml: [device]")
