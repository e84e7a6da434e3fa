"""The device loop's policy for a device that answers but cannot run jobs (DeviceUnusable): one retry,
then the device's remaining jobs are skipped with the reason while the other devices go on."""

from __future__ import annotations

from test_device_loop import NO_DELAYS, OK, FakeDevice, profiles, records, writer

from harness.errors import DeviceUnusable
from harness.execution.device_loop import run_devices


def test_an_unusable_device_is_retried_once_then_its_rest_is_skipped_and_the_others_go_on(tmp_path):
    profs, jobs = profiles(tmp_path, "phone", "box", trials=4)
    full = DeviceUnusable("phone: no space left on the device")
    phone = FakeDevice("phone", [OK, full, full])
    box = FakeDevice("box", [])
    w = writer(tmp_path)
    assert run_devices(profs, {"phone": phone, "box": box}, jobs, set(), w, retry_delays=NO_DELAYS)
    recs = records(w)
    mine = [r for r in recs if r["device"] == "phone"]
    assert [r["status"] for r in mine] == ["ok", "skipped", "skipped", "skipped"]
    assert all("device phone unusable" in r["error"] and "no space left" in r["error"] for r in mine[1:])
    assert len(phone.jobs) == 3  # the job, then one retry, never the remaining two
    assert [r["status"] for r in recs if r["device"] == "box"] == ["ok"] * 4


def test_an_unusable_device_that_recovers_on_the_retry_keeps_measuring(tmp_path):
    profs, jobs = profiles(tmp_path, "phone", trials=3)
    phone = FakeDevice("phone", [OK, DeviceUnusable("phone is unauthorized"), OK, OK])
    w = writer(tmp_path)
    assert run_devices(profs, {"phone": phone}, jobs, set(), w, retry_delays=NO_DELAYS)
    recs = records(w)
    assert [r["status"] for r in recs] == ["ok", "ok", "ok"]
    assert [r.get("retries") for r in recs] == [None, 1, None]
