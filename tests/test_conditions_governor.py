"""Governor and frequency per cpufreq policy: set for a run and restored exactly afterwards (after
success, an exception and a real Ctrl-C), on real sysfs-shaped trees, a remote shell and the adb
stand-in phone; and one clear line (or an error when required) where it cannot be set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from adbserver import AdbServer, FakeDevice
from conftest import REPO, need
from sysfstree import big_little, get, snapshot

from harness.conditions import (AndroidRootSysfs, CommandSysfs, ConditionError, GovernorControl,
                                GovernorSettings, LocalSysfs, observe, read_policies)

P0, P4 = "/sys/devices/system/cpu/cpufreq/policy0", "/sys/devices/system/cpu/cpufreq/policy4"
PERF = GovernorSettings(governor="performance", freq_min_khz={"policy4": 1804800, "cpu0": 1000000})


def test_policies_are_read_per_cluster_with_their_cpus_and_frequencies(tmp_path):
    big_little(tmp_path)
    p0, p4 = read_policies(LocalSysfs(tmp_path))
    assert (p0.name, p0.cpus, p0.governor, p0.hw_max_khz) == ("policy0", (0, 1, 2, 3), "schedutil", 1785600)
    assert (p4.name, p4.cpus, p4.min_khz, p4.max_khz) == ("policy4", (4, 5, 6, 7), 710400, 2419200)
    assert p4.available == ("performance", "powersave", "schedutil")


def test_governor_and_frequency_are_set_for_the_run_and_restored_after_success(tmp_path):
    big_little(tmp_path)
    before = snapshot(tmp_path)
    warnings: list[str] = []
    with GovernorControl(LocalSysfs(tmp_path), PERF, warn=warnings.append) as held:
        assert get(tmp_path, f"{P0}/scaling_governor") == "performance"
        assert get(tmp_path, f"{P4}/scaling_governor") == "performance"
        assert get(tmp_path, f"{P4}/scaling_min_freq") == "1804800"
        assert get(tmp_path, f"{P0}/scaling_min_freq") == "1000000"  # cpu0 names policy0
        fragment = held.fragment()
    assert snapshot(tmp_path) == before  # every file byte for byte as it was
    assert warnings == []
    assert fragment["cpufreq_governor"] == {"policy0": "performance", "policy4": "performance"}
    assert fragment["cpufreq_min_khz"] == {"policy0": 1000000, "policy4": 1804800}
    assert fragment["cpufreq_cur_khz"] == {"policy0": 1785600, "policy4": 2419200}
    assert (fragment["governor_requested"], fragment["governor_applied"], fragment["governor_note"]) == \
        ("performance", True, None)


def test_settings_are_restored_after_an_exception_in_the_run(tmp_path):
    big_little(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(RuntimeError, match="job blew up"):
        with GovernorControl(LocalSysfs(tmp_path), PERF, warn=print):
            assert get(tmp_path, f"{P4}/scaling_governor") == "performance"
            raise RuntimeError("job blew up")
    assert snapshot(tmp_path) == before


def test_settings_are_restored_after_a_real_sigint(tmp_path):
    big_little(tmp_path)
    before = snapshot(tmp_path)
    script = textwrap.dedent(f"""
        import sys, time
        from harness.conditions import GovernorControl, GovernorSettings, LocalSysfs
        settings = GovernorSettings(governor="powersave", freq_max_khz={{"*": 1200000}})
        with GovernorControl(LocalSysfs({str(tmp_path)!r}), settings, warn=print):
            print("held", flush=True)
            time.sleep(60)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)
    try:
        assert proc.stdout.readline() == "held\n"
        assert get(tmp_path, f"{P4}/scaling_governor") == "powersave"
        assert get(tmp_path, f"{P0}/scaling_max_freq") == "1200000"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert snapshot(tmp_path) == before


def test_a_ctrl_c_while_the_settings_are_being_written_still_restores_them(tmp_path):
    """SIGINT lands during the first write: it is held until every write is done, then the settings
    are put back before KeyboardInterrupt leaves the `with` statement (which never calls __exit__)."""
    big_little(tmp_path)
    before = snapshot(tmp_path)
    script = textwrap.dedent(f"""
        import os, signal
        from harness.conditions import GovernorControl, GovernorSettings, LocalSysfs
        class Interrupted(LocalSysfs):
            writes = []
            def write_text(self, path, text):
                super().write_text(path, text)
                self.writes.append(text)
                if len(self.writes) == 1:
                    os.kill(os.getpid(), signal.SIGINT)
        sysfs = Interrupted({str(tmp_path)!r})
        try:
            with GovernorControl(sysfs, GovernorSettings(governor="performance"), warn=print):
                print("the run started")
        finally:
            print("writes:", sysfs.writes, flush=True)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
    assert "KeyboardInterrupt" in proc.stderr and "the run started" not in proc.stdout
    assert "writes: ['performance', 'performance', 'schedutil\\n', 'schedutil\\n']" in proc.stdout
    assert snapshot(tmp_path) == before


def test_a_governor_the_policy_does_not_offer_changes_nothing_and_warns_in_one_line(tmp_path):
    big_little(tmp_path)
    before = snapshot(tmp_path)
    warnings: list[str] = []
    with GovernorControl(LocalSysfs(tmp_path, "pi5"), GovernorSettings(governor="ondemand"),
                         warn=warnings.append) as held:
        assert snapshot(tmp_path) == before
    assert warnings == ["pi5: cpufreq settings not applied: policy0 does not offer governor 'ondemand' "
                        "(available: performance powersave schedutil); the run goes on with the current settings"]
    assert held.fragment()["governor_applied"] is False


def test_a_required_setting_that_cannot_be_applied_stops_with_a_condition_error(tmp_path):
    big_little(tmp_path)
    settings = GovernorSettings(freq_max_khz={"policy4": 3000000}, required=True)
    with pytest.raises(ConditionError, match=r"policy4: frequency range 710400-3000000 kHz is outside the "
                                             r"hardware range 710400-2419200 kHz.*governor_required = true"):
        with GovernorControl(LocalSysfs(tmp_path), settings, warn=print):
            pytest.fail("the run must not start")


def test_no_cpufreq_and_an_unknown_cluster_are_clear_lines(tmp_path):
    warnings: list[str] = []
    with GovernorControl(LocalSysfs(tmp_path, "vm"), GovernorSettings(governor="performance"), warn=warnings.append):
        pass
    assert warnings == ["vm: cpufreq settings not applied: the device has no cpufreq (no "
                        "/sys/devices/system/cpu/cpufreq policies); the run goes on with the current settings"]
    big_little(tmp_path)
    with pytest.raises(ConditionError, match=r"no cpufreq policy policy2 \(the device has policy0 \(cpus 0-3\), "
                                             r"policy4 \(cpus 4-7\)\)"):
        with GovernorControl(LocalSysfs(tmp_path), GovernorSettings(freq_min_khz={"policy2": 1}, required=True),
                             warn=print):
            pass


class FailingSysfs(LocalSysfs):
    """The host tree, except that one file refuses writes as a non-root user's sysfs would."""

    def __init__(self, root: Path, refuse: str) -> None:
        super().__init__(root, "board")
        self.refuse = refuse

    def write_text(self, path: str, text: str) -> None:
        if path == self.refuse:
            raise PermissionError(13, "Permission denied", path)
        super().write_text(path, text)


def test_a_write_refused_half_way_puts_back_what_was_already_written(tmp_path):
    big_little(tmp_path)
    before = snapshot(tmp_path)
    warnings: list[str] = []
    with GovernorControl(FailingSysfs(tmp_path, f"{P4}/scaling_governor"), PERF, warn=warnings.append):
        assert snapshot(tmp_path) == before  # policy0 had been switched; it is back before the run
    assert len(warnings) == 1
    assert warnings[0].startswith(f"board: cpufreq settings not applied: cannot write 'performance' to "
                                  f"{P4}/scaling_governor: permission denied; run as root, or set sudo = true")


def test_over_a_remote_shell_with_sudo_the_governor_is_set_and_restored(tmp_path):
    """A stand-in `sudo` on PATH checks it got -n (never prompt) and runs the command."""
    tree = tmp_path / "tree"
    big_little(tree)
    before = snapshot(tree)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sudo.log"
    (bin_dir / "sudo").write_text(f'#!/bin/sh\necho "$1 $2 $3" >> {log}\n[ "$1" = -n ] || exit 1\nshift 2\nexec "$@"\n')
    (bin_dir / "sudo").chmod(0o755)
    runner_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def run(argv, timeout):
        # the device's paths are under `tree`: rewrite them as the remote side would see them
        import shlex

        from harness.devices.base import CommandResult
        line = shlex.join(argv).replace("/sys/", f"{tree}/sys/")
        proc = subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=timeout, env=runner_env)
        return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr, 0.0)

    with GovernorControl(CommandSysfs(run, "pi", sudo=True), PERF, warn=print):
        assert get(tree, f"{P4}/scaling_governor") == "performance"
    assert snapshot(tree) == before
    calls = log.read_text().splitlines()
    assert set(calls) >= {"-n -- cat", "-n -- sh", "-n -- ls"} and all(c.startswith("-n -- ") for c in calls)


def test_on_a_rooted_phone_through_adb_su_sets_and_restores_every_cpu(monkeypatch):
    """The stand-in phone has per-CPU cpufreq folders (no policyN): each CPU is its own policy."""
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    need("adb")
    from harness.devices.adb import AdbDevice

    su = '[ "$1" = -c ] || { echo "su: usage" >&2; exit 2; }\nexec sh -c "$2"\n'
    with AdbServer([FakeDevice(executables={"/system/bin/su": su})]) as srv:
        dev = AdbDevice({"name": "pixel", "kind": "adb", "serial": "EDGE0001", "adb_port": srv.port})
        root = srv.device().host_path("/")
        sysfs = AndroidRootSysfs(dev.run, "pixel")
        with GovernorControl(sysfs, GovernorSettings(governor="performance"), warn=print) as held:
            seen = held.fragment()["cpufreq_governor"]
            on_phone = get(root, "/sys/devices/system/cpu/cpu7/cpufreq/scaling_governor")
        after = observe(sysfs)["cpufreq_governor"]
    assert seen == {f"cpu{i}": "performance" for i in range(8)} and on_phone == "performance"
    assert after == {f"cpu{i}": "schedutil" for i in range(8)}
    assert any("su -c" in r or "su' '-c" in r for r in srv.requests)


def test_an_unrooted_phone_refuses_with_permission_denied_and_the_run_goes_on(monkeypatch):
    if os.geteuid() != 0:  # the stand-in runs the phone's shell as uid 2000 only when it is root
        if os.environ.get("CI"):
            pytest.fail("CI runs as root: the unrooted-phone test must run there")
        pytest.skip("needs root to run the phone's shell as another user")
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    need("adb")
    from harness.devices.adb import AdbDevice

    with AdbServer([FakeDevice(shell_uid=2000)]) as srv:
        dev = AdbDevice({"name": "pixel", "kind": "adb", "serial": "EDGE0001", "adb_port": srv.port})
        warnings: list[str] = []
        with GovernorControl(CommandSysfs(dev.run, "pixel"), GovernorSettings(governor="performance"),
                             warn=warnings.append) as held:
            governors = held.fragment()["cpufreq_governor"]
    assert governors == {f"cpu{i}": "schedutil" for i in range(8)}
    assert len(warnings) == 1 and "cannot write 'performance' to /sys/devices/system/cpu/cpu0/cpufreq/" \
        "scaling_governor: permission denied" in warnings[0]
