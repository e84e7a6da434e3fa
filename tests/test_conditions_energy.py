"""Energy per inference on known counter sequences: RAPL packages that advance and wrap around,
hwmon power sampled and integrated, an external meter command, the Android battery through the adb
stand-in, and this machine's own answer ("not measurable: ..." where it offers nothing)."""

from __future__ import annotations

import math
import os
import sys
import time

import pytest
from adbserver import AdbServer, FakeDevice
from conftest import need
from sysfstree import FakeClock, put

from harness.conditions import (BatteryStatsMeter, CommandMeter, Conditions, LocalSysfs, Sampler,
                                energy_source_for, measure, measure_window, per_inference, sysfs_for)
from harness.conditions.energy import t95
from harness.conditions.energy_sources import CounterSource, Unwrapper, battery_note, find_source

RAPL = "/sys/class/powercap"
RANGE = 262143328850  # a real package's max_energy_range_uj


def rapl_tree(root, start0: int, start1: int):
    """Two packages (with a core subzone that must not be counted twice)."""
    for n, start in ((0, start0), (1, start1)):
        put(root, f"{RAPL}/intel-rapl:{n}/name", f"package-{n}")
        put(root, f"{RAPL}/intel-rapl:{n}/energy_uj", start)
        put(root, f"{RAPL}/intel-rapl:{n}/max_energy_range_uj", RANGE)
    put(root, f"{RAPL}/intel-rapl:0/intel-rapl:0:0/energy_uj", 5)
    put(root, f"{RAPL}/intel-rapl:0:0/name", "core")  # the flat alias the kernel also lists
    put(root, f"{RAPL}/intel-rapl:0:0/energy_uj", 5)


def advance(root, n: int, step_uj: int) -> None:
    path = root / f"sys/class/powercap/intel-rapl:{n}/energy_uj"
    path.write_text(f"{(int(path.read_text()) + step_uj) % RANGE}\n")


def test_unwrapping_a_counter_that_wraps_around_counts_every_microjoule():
    unwrap = Unwrapper(1000)
    # counts run 0..range-1: 990 -> 20 is 10 to the wrap plus 20
    assert [unwrap.feed(raw) for raw in (900, 990, 20, 500, 10)] == [0, 90, 120, 600, 1110]
    reset = Unwrapper(None)  # hwmon: no range known, a lower reading is a restart from zero
    assert [reset.feed(raw) for raw in (100, 300, 50)] == [0, 200, 250]


def test_rapl_packages_that_advance_and_wrap_give_the_right_mj_per_inference(tmp_path):
    # package-0 starts 0.2 J below its wrap point and alternates 0.04 J / 0.06 J per 0.1 s (0.4 / 0.6 W);
    # package-1 draws a steady 0.2 W. Over 1 s (10 intervals) and 100 inferences: 0.7 J -> 7 mJ each.
    rapl_tree(tmp_path, RANGE - 200_000, 123)
    source = find_source(LocalSysfs(tmp_path), "rapl")
    assert isinstance(source, CounterSource) and source.name == "rapl:package-0+package-1"
    clock = FakeClock()
    sampler = Sampler(source, 0.1, clock=clock)
    sampler.sample()
    for i in range(10):
        clock.sleep(0.1)
        advance(tmp_path, 0, 40_000 if i % 2 == 0 else 60_000)
        advance(tmp_path, 1, 20_000)
        sampler.sample()
    raw0 = int((tmp_path / "sys/class/powercap/intel-rapl:0/energy_uj").read_text())
    assert raw0 == 300_000  # the counter really wrapped inside the window (0.5 J added)
    out = per_inference(sampler.series, None, inferences=100, source=source.name)
    assert out["energy_window_j"] == pytest.approx(0.7, abs=1e-9)
    assert out["energy_mean_w"] == pytest.approx(0.7)
    assert out["energy_mj_per_inference"] == pytest.approx(7.0)
    # interval powers alternate 0.6 / 0.8 W: sd = 0.1 * sqrt(10/9), 95% half-width t(9) * sd / sqrt(10)
    half_w = 2.262 * 0.1 * math.sqrt(10 / 9) / math.sqrt(10)
    lo, hi = out["energy_ci95_mj"]
    assert lo == pytest.approx(7.0 - half_w * 10, abs=1e-5) and hi == pytest.approx(7.0 + half_w * 10, abs=1e-5)
    assert (out["energy_sample_hz"], out["energy_samples"], out["energy_note"]) == (10.0, 11, None)


def test_the_idle_baseline_is_subtracted_for_the_net_figure(tmp_path):
    rapl_tree(tmp_path, 0, 0)
    source = find_source(LocalSysfs(tmp_path), "rapl")
    clock = FakeClock(lambda now: (advance(tmp_path, 0, 30_000), advance(tmp_path, 1, 0)))  # 0.3 W idle
    baseline = Sampler(source, 0.1, clock=clock).collect(1.0, clock.sleep)
    clock.on_tick = lambda now: advance(tmp_path, 0, 100_000)  # 1.0 W while inferring
    sampler = Sampler(source, 0.1, clock=clock)
    sampler.sample()
    for _ in range(20):
        clock.sleep(0.1)
        sampler.sample()
    out = per_inference(sampler.series, baseline, seconds_per_inference=0.004, source=source.name)
    assert out["energy_idle_w"] == pytest.approx(0.3)
    assert out["energy_mj_per_inference"] == pytest.approx(4.0)  # 1.0 W x 4 ms
    assert out["energy_net_mj_per_inference"] == pytest.approx(2.8)  # (1.0 - 0.3) W x 4 ms
    assert out["energy_net_ci95_mj"] == pytest.approx([2.8, 2.8])  # steady draw: no spread


def test_a_span_keeps_only_the_measured_loop():
    series = [(0.0, 0.0), (1.0, 5.0), (2.0, 6.0), (3.0, 7.0), (4.0, 20.0)]  # load at 5 W, loop at 1 W
    out = per_inference(series, None, inferences=10, source="x", span=(1.0, 3.0))
    assert out["energy_mj_per_inference"] == pytest.approx(200.0)  # 2 J over the loop / 10
    assert out["energy_window_s"] == 2.0


def test_hwmon_power_sensors_are_sampled_and_integrated(tmp_path):
    put(tmp_path, "/sys/class/hwmon/hwmon0/name", "ina226")
    power = put(tmp_path, "/sys/class/hwmon/hwmon0/power1_input", 2_000_000)  # 2 W
    put(tmp_path, "/sys/class/hwmon/hwmon1/name", "cpu_thermal")
    put(tmp_path, "/sys/class/hwmon/hwmon1/temp1_input", 48000)
    source = find_source(LocalSysfs(tmp_path), "auto")
    assert source.name == "hwmon:ina226/power1" and source.kind == "power"
    clock = FakeClock(lambda now: power.write_text(f"{2_000_000 if now < 0.5 else 4_000_000}\n"))
    series = Sampler(source, 0.125, clock=clock).collect(1.0, clock.sleep)  # steps exact in binary
    out = per_inference(series, None, inferences=50, source=source.name)
    # read 2 W at 0 .. 0.375 s and 4 W from 0.5 s: 3 x 0.125 s x 2 W + one 0.125 s ramp (trapezoid:
    # 3 W) + 4 x 0.125 s x 4 W = 0.75 + 0.375 + 2.0 = 3.125 J
    assert out["energy_samples"] == 9 and out["energy_window_s"] == 1.0
    assert out["energy_window_j"] == pytest.approx(3.125)
    assert out["energy_mj_per_inference"] == pytest.approx(62.5)


def test_an_external_meter_command_is_asked_for_the_window_and_the_baseline(tmp_path):
    meter = tmp_path / "meter.py"  # a lab meter that saw 3 W at idle and 5 W from t = 1000 s on
    meter.write_text("import sys\nstart, end = map(float, sys.argv[-2:])\n"
                     "print(f'{(end - start) * (5.0 if start >= 1000 else 3.0)} J')\n")
    source = energy_source_for(LocalSysfs(tmp_path), Conditions(energy="command",
                                                                 energy_command=(sys.executable, str(meter))))
    assert isinstance(source, CommandMeter) and source.name.startswith("command:")
    clock = FakeClock()
    source.wall = lambda: 999.0 + clock.now  # the meter's wall clock: idle 999-1000 s, the job 1000-1002 s

    def job():
        clock.sleep(2.0)  # the measured window: 2 s
        return 400

    result, out = measure_window(source, job, baseline_s=1.0, count=lambda n: n, clock=clock, sleep=clock.sleep)
    assert result == 400
    assert out["energy_window_j"] == pytest.approx(10.0) and out["energy_idle_w"] == pytest.approx(3.0)
    assert out["energy_mj_per_inference"] == pytest.approx(25.0)  # 10 J / 400
    assert out["energy_net_mj_per_inference"] == pytest.approx(10.0)  # (5 - 3) W x 2 s / 400
    assert out["energy_ci95_mj"] is None and out["energy_sample_hz"] is None  # one reading per window
    broken = CommandMeter([sys.executable, "-c", "print('about five')"])
    _, bad = measure_window(broken, lambda: 1, baseline_s=0, count=lambda n: n)
    assert bad["energy_mj_per_inference"] is None
    assert bad["energy_note"].startswith("not measurable: energy_command ") and "'about five'" in bad["energy_note"]


DUMPSYS = """case "$1 $2" in
  "batterystats --reset") echo "Battery stats reset." ;;
  "batterystats ") printf '%s\\n' "Statistics since last charge:" "  Estimated power use (mAh):" \
      "    Capacity: 2800, Computed drain: 0.352, actual drain: 0" "    Screen: 0.101" ;;
  "battery ") printf '%s\\n' "Current Battery Service state:" "  AC powered: false" "  level: 87" \
      "  voltage: 3900" "  temperature: 281" ;;
  *) echo "unknown dumpsys $*" >&2; exit 1 ;;
esac
"""


def test_a_phone_without_readable_battery_files_falls_back_to_batterystats(monkeypatch):
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    need("adb")
    from harness.devices.adb import AdbDevice

    with AdbServer([FakeDevice(executables={"/system/bin/dumpsys": DUMPSYS})]) as srv:
        dev = AdbDevice({"name": "pixel", "kind": "adb", "serial": "EDGE0001", "adb_port": srv.port})
        meter = energy_source_for(sysfs_for("adb", "pixel", dev.run), Conditions(energy="auto"), kind="adb",
                                  run=dev.run)
        assert isinstance(meter, BatteryStatsMeter)
        clock = FakeClock()
        _, out = measure_window(meter, lambda: clock.sleep(10.0) or 1000, baseline_s=0, count=lambda n: n,
                                clock=clock, sleep=clock.sleep)
    assert out["energy_source"] == "batterystats:computed_drain"
    assert out["energy_window_j"] == pytest.approx(0.352 * 3.6 * 3.9)  # mAh x 3.6 C/mAh x V
    assert out["energy_mj_per_inference"] == pytest.approx(0.352 * 3.6 * 3.9)  # J / 1000 = mJ each
    assert out["energy_note"].startswith("estimated by Android from power_profile.xml")
    assert energy_source_for(LocalSysfs(label="pi"), Conditions(energy="batterystats"), kind="ssh") == \
        "not measurable: energy = \"batterystats\" needs an Android device (kind = 'adb')"


def test_the_android_battery_is_read_through_adb_while_a_job_runs(monkeypatch):
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    need("adb")
    from harness.devices.adb import AdbDevice

    battery = {"/sys/class/power_supply/battery/current_now": "-350000\n",
               "/sys/class/power_supply/battery/voltage_now": "3900000\n",
               "/sys/class/power_supply/battery/status": "Discharging\n"}
    with AdbServer([FakeDevice(files=battery)]) as srv:
        dev = AdbDevice({"name": "pixel", "kind": "adb", "serial": "EDGE0001", "adb_port": srv.port})
        sysfs = sysfs_for("adb", "pixel", dev.run)
        source = energy_source_for(sysfs, Conditions(energy="auto"))
        assert source.name == "battery:current_now*voltage_now"
        result, out = measure(source, lambda: time.sleep(0.6) or 120, baseline_s=0.3, interval_s=0.05,
                              count=lambda n: n)
        assert battery_note(sysfs) is None
        srv.device().host_path("/sys/class/power_supply/battery/status").write_text("Charging\n")
        assert "Charging" in battery_note(sysfs)
    assert result == 120
    assert out["energy_mean_w"] == pytest.approx(1.365)  # 0.35 A x 3.9 V, steady
    assert out["energy_mj_per_inference"] == pytest.approx(1.365 * out["energy_window_s"] / 120 * 1e3)
    assert out["energy_net_mj_per_inference"] == pytest.approx(0.0, abs=1e-6)
    assert out["energy_samples"] >= 3 and out["energy_sample_hz"] > 0


def test_no_source_says_not_measurable_and_why(tmp_path):
    (tmp_path / "sys/class/powercap").mkdir(parents=True)
    reason = energy_source_for(LocalSysfs(tmp_path, "vm"), Conditions(energy="auto"))
    assert reason == ("not measurable: vm: no RAPL zones under /sys/class/powercap; no readable hwmon energy "
                      "or power sensor under /sys/class/hwmon; no battery current_now/voltage_now under "
                      "/sys/class/power_supply/battery (missing)")
    assert energy_source_for(LocalSysfs(tmp_path), Conditions()) == 'not measurable: energy = "off" in [conditions]'


class RootOnlyRapl(LocalSysfs):
    """energy_uj as Linux >= 5.10 serves it to a user that is not root."""

    def read_text(self, path: str) -> str:
        if path.endswith("/energy_uj"):
            raise PermissionError(13, "Permission denied", path)
        return super().read_text(path)


def test_rapl_readable_only_by_root_is_named_as_the_reason(tmp_path):
    rapl_tree(tmp_path, 0, 0)
    reason = find_source(RootOnlyRapl(tmp_path, "host"), "rapl")
    assert reason == ("not measurable: host: RAPL /sys/class/powercap/intel-rapl:0/energy_uj is not readable: "
                      "permission denied (root-only since Linux 5.10: run as root, or sudo = true)")


def test_this_machine_answers_with_a_source_or_the_reason_it_has_none():
    found = energy_source_for(LocalSysfs(label="this host"), Conditions(energy="auto"))
    rapl = "/sys/class/powercap/intel-rapl:0/energy_uj"
    if os.path.exists(rapl) and os.access(rapl, os.R_OK):
        assert found.name.startswith("rapl:")
    elif isinstance(found, str):
        assert found.startswith("not measurable: this host: ")
        assert ("no RAPL zones" in found) or ("RAPL" in found and "not readable" in found)
    else:
        assert found.name.startswith(("hwmon:", "battery:"))


def test_t_quantiles_and_too_short_windows():
    assert t95(1) == 12.706 and t95(9) == 2.262 and t95(500) == 1.96
    out = per_inference([(0.0, 0.0)], None, inferences=1, source="rapl:package-0")
    assert out["energy_mj_per_inference"] is None and out["energy_note"].startswith("not measurable: 1 sample")


def test_a_source_that_stops_answering_gives_not_measurable_with_the_failure(tmp_path):
    rapl_tree(tmp_path, 0, 0)
    source = find_source(LocalSysfs(tmp_path), "rapl")
    for n in (0, 1):
        (tmp_path / f"sys/class/powercap/intel-rapl:{n}/energy_uj").unlink()
    result, out = measure(source, lambda: 7, baseline_s=0, interval_s=0.01, count=lambda n: n)
    assert result == 7 and out["energy_mj_per_inference"] is None
    assert out["energy_note"].startswith("not measurable: 0 sample(s) in the window")
    assert "last reading failed: [Errno 2] No such file or directory" in out["energy_note"]
