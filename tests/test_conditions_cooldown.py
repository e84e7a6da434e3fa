"""Cooldown before a job: waits on real sysfs-shaped thermal zones, rewritten by a fake clock as the
device cools, and stops below the threshold, when the temperature stops falling, or at the limit."""

from __future__ import annotations

import math
import time

from adbserver import AdbServer, FakeDevice
from conftest import need
from sysfstree import FakeClock, thermal_zone

from harness.conditions import CommandSysfs, CooldownSettings, LocalSysfs, cool_down_before
from harness.conditions.cooldown import slope_c_per_min, soc_zone_paths


def cooling_zone(tmp_path, curve):
    """A CPU zone (and a cool battery zone) whose temp follows curve(seconds) on the fake clock."""
    zone = thermal_zone(tmp_path, 0, "cpu-1-0-usr", round(curve(0) * 1000))
    thermal_zone(tmp_path, 1, "battery", 30000)
    return FakeClock(lambda now: zone.write_text(f"{round(curve(now) * 1000)}\n"))


def test_a_cooling_soc_is_waited_for_until_it_is_below_the_threshold(tmp_path):
    curve = lambda t: 35 + 35 * math.exp(-t / 40)  # 70 C falling toward 35 C  # noqa: E731
    clock = cooling_zone(tmp_path, curve)
    started = time.monotonic()
    out = cool_down_before(LocalSysfs(tmp_path), CooldownSettings(below_c=45.0, max_wait_s=300, poll_s=2),
                           clock=clock, sleep=clock.sleep)
    assert time.monotonic() - started < 2  # the fake clock: no real waiting
    crossing = 40 * math.log(3.5)  # 35 * exp(-t/40) = 10  ->  t = 50.1 s
    assert out["cooldown_reason"] == "below 45.0 C"
    assert crossing <= out["cooldown_wait_s"] <= crossing + 2  # the first 2 s poll after the crossing
    assert out["cooldown_start_c"] == 70.0
    assert 44.0 < out["cooldown_temp_c"] < 45.0
    assert set(clock.sleeps) == {2}


def test_a_soc_that_never_cools_enough_gives_up_at_the_time_limit_with_the_reason(tmp_path):
    clock = cooling_zone(tmp_path, lambda t: 63.2 - t / 60)  # falls 1 C/min: steadily, but slowly
    out = cool_down_before(LocalSysfs(tmp_path),
                           CooldownSettings(below_c=45.0, max_wait_s=120, poll_s=5, settled_c_per_min=0.5),
                           clock=clock, sleep=clock.sleep)
    assert out == {"cooldown_wait_s": 120.0, "cooldown_reason": "time limit 120 s reached at 61.2 C",
                   "cooldown_start_c": 63.2, "cooldown_temp_c": 61.2}


def test_a_soc_that_settles_above_the_threshold_stops_when_it_stopped_falling(tmp_path):
    clock = cooling_zone(tmp_path, lambda t: 52 + 18 * math.exp(-t / 10))  # settles at 52 C
    out = cool_down_before(LocalSysfs(tmp_path),
                           CooldownSettings(below_c=45.0, max_wait_s=600, poll_s=2, window_s=30,
                                            settled_c_per_min=0.5), clock=clock, sleep=clock.sleep)
    assert out["cooldown_reason"] == "stopped falling"
    assert 30 <= out["cooldown_wait_s"] < 120  # after a whole window, long before the limit
    assert 52.0 <= out["cooldown_temp_c"] < 53.0


def test_a_soc_already_cool_starts_at_once_and_the_hot_battery_zone_is_not_watched(tmp_path):
    thermal_zone(tmp_path, 0, "battery", 48000)
    thermal_zone(tmp_path, 1, "soc_thermal", 39500)
    clock = FakeClock()
    out = cool_down_before(LocalSysfs(tmp_path), CooldownSettings(below_c=45.0), clock=clock, sleep=clock.sleep)
    assert out["cooldown_reason"] == "below 45.0 C" and out["cooldown_wait_s"] == 0
    assert out["cooldown_temp_c"] == 39.5 and clock.sleeps == []
    # asked for by name, the battery zone is the one watched
    assert soc_zone_paths(LocalSysfs(tmp_path), ["battery"]) == ["/sys/class/thermal/thermal_zone0/temp"]


def test_no_thermal_zone_means_no_wait_and_says_so(tmp_path):
    (tmp_path / "sys/class/thermal").mkdir(parents=True)
    clock = FakeClock()
    out = cool_down_before(LocalSysfs(tmp_path), CooldownSettings(below_c=45.0), clock=clock, sleep=clock.sleep)
    assert out == {"cooldown_wait_s": 0.0, "cooldown_reason": "no temperature sensor",
                   "cooldown_start_c": None, "cooldown_temp_c": None}


def test_slope_is_degrees_per_minute_by_least_squares():
    assert slope_c_per_min([(0, 50.0), (30, 49.0), (60, 48.0)]) == -2.0
    assert slope_c_per_min([(0, 50.0)]) is None


def test_the_phone_thermal_zones_are_read_through_adb(monkeypatch):
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    need("adb")
    from harness.devices.adb import AdbDevice

    phone = FakeDevice(thermal=(("cpu-0-0-usr", 47100), ("cpu-1-0-usr", 44200), ("battery", 52000)))
    with AdbServer([phone]) as srv:
        dev = AdbDevice({"name": "pixel", "kind": "adb", "serial": "EDGE0001", "adb_port": srv.port})
        clock = FakeClock()
        out = cool_down_before(CommandSysfs(dev.run, "pixel"), CooldownSettings(below_c=60.0),
                               clock=clock, sleep=clock.sleep)
    assert out["cooldown_reason"] == "below 60.0 C"
    assert out["cooldown_temp_c"] == 47.1  # the hottest CPU zone; the battery's 52 C is not the SoC
