"""The per-device hook object the device loop calls: cooldown once per trial round when asked,
pass-through without [conditions], and "not supported under emulation" for qemu."""

from __future__ import annotations

from types import SimpleNamespace

from sysfstree import thermal_zone

from harness.conditions.hooks import ConditionHooks
from harness.conditions.sysfs import LocalSysfs


class TreeDevice:
    """A device whose /sys is a fake tree (what LocalDevice gives with EDGEBENCH_SYSFS_ROOT)."""

    kind = "local"

    def __init__(self, root):
        self.root = root

    def sysfs(self, sudo=False, su=False):
        return LocalSysfs(self.root, "box") if self.root else None


def spec(trial: int, mode: str = "perf"):
    return SimpleNamespace(trial=trial, mode=mode)


def test_cooldown_per_round_waits_before_the_first_job_of_each_trial_only(tmp_path):
    thermal_zone(tmp_path, 0, "soc-thermal", 41000)
    hooks = ConditionHooks("box", {"cooldown_below_c": 50, "cooldown_per": "round"}, TreeDevice(tmp_path)).open()
    seen = []
    for trial in (0, 0, 1, 1):
        hooks.before_job(spec(trial))
        seen.append(hooks.around_job(spec(trial), lambda: {"status": "ok"}).get("cooldown_reason"))
    assert seen == ["below 50.0 C", None, "below 50.0 C", None]
    hooks.close()


def test_without_conditions_the_result_passes_through_unchanged(tmp_path):
    hooks = ConditionHooks("box", {}, TreeDevice(tmp_path)).open()
    hooks.before_job(spec(0))
    assert hooks.around_job(spec(0), lambda: {"status": "ok", "x": 1}) == {"status": "ok", "x": 1}


def test_a_device_without_sysfs_warns_once_and_records_why_energy_is_missing():
    lines: list[str] = []
    hooks = ConditionHooks("arm", {"energy": "auto", "cooldown_below_c": 50}, TreeDevice(None),
                           warn=lines.append).open()
    hooks.before_job(spec(0))
    out = hooks.around_job(spec(0), lambda: {"status": "ok", "latency_ns": [1000] * 5})
    assert lines == ["arm: [conditions] not supported under emulation (none: an emulated device has no thermal "
                     "zones, cpufreq or energy of its own)"]
    assert out["energy_note"].startswith("not measurable: arm has no sysfs") and "cooldown_reason" not in out
