"""The sysfs access over a command runner quotes every value and path: hostile text written through a
real shell (as ssh delivers it) and through the adb stand-in with `su -c` comes back byte for byte,
and nothing in it runs."""

from __future__ import annotations

import shlex
import subprocess

import pytest
from adbserver import AdbServer, FakeDevice
from conftest import need

from harness.conditions import AndroidRootSysfs, CommandSysfs, LocalSysfs, sysfs_for
from harness.devices.base import CommandResult

HOSTILE = ["a b  c", "it's \"quoted\"", "$(touch PWNED)", "`touch PWNED2`", "x; touch PWNED3 #",
           "tab\there\nnew line", "-n", "%s %d \\n", "* ?"]


def remote_shell(cwd):
    """What ssh does: the argv arrives as one command line that a shell on the far side parses."""
    def run(argv, timeout):
        proc = subprocess.run(["sh", "-c", shlex.join(argv)], capture_output=True, text=True,
                              timeout=timeout, cwd=cwd)
        return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr, 0.0)
    return run


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_cross_a_remote_shell_unchanged_and_nothing_runs(tmp_path, value):
    target = tmp_path / "dir with space $(x)" / "attr 'q'"
    target.parent.mkdir()
    target.write_text("old\n")
    sysfs = CommandSysfs(remote_shell(tmp_path), "pi")
    sysfs.write_text(str(target), value)
    assert target.read_text() == value
    assert sysfs.read_text(str(target)) == value
    assert sysfs.list_dir(str(target.parent)) == ["attr 'q'"]
    assert not list(tmp_path.glob("PWNED*"))


def test_remote_failures_are_the_oserrors_a_local_open_raises(tmp_path):
    sysfs = CommandSysfs(remote_shell(tmp_path), "pi")
    with pytest.raises(FileNotFoundError, match="pi: "):
        sysfs.read_text(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        LocalSysfs(tmp_path).read_text("/missing")
    with pytest.raises(FileNotFoundError):  # a write never creates an attribute that is not there
        LocalSysfs(tmp_path).write_text("/missing", "1")
    assert not (tmp_path / "missing").exists()


def test_su_on_a_rooted_phone_passes_hostile_values_through_two_shells(monkeypatch):
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    need("adb")
    from harness.devices.adb import AdbDevice

    su = '[ "$1" = -c ] || exit 2\nexec sh -c "$2"\n'
    with AdbServer([FakeDevice(executables={"/system/bin/su": su},
                               files={"/data/local/tmp/attr": "old\n"})]) as srv:
        dev = AdbDevice({"name": "pixel", "kind": "adb", "serial": "EDGE0001", "adb_port": srv.port})
        sysfs = sysfs_for("adb", "pixel", dev.run, su=True)
        assert isinstance(sysfs, AndroidRootSysfs)
        for value in HOSTILE:
            sysfs.write_text("/data/local/tmp/attr", value)
            assert srv.device().host_path("/data/local/tmp/attr").read_text() == value
            assert sysfs.read_text("/data/local/tmp/attr") == value
        assert not list(srv.device().host_path("/").rglob("PWNED*"))
        assert "attr" in sysfs.list_dir("/data/local/tmp")


def test_sysfs_for_picks_the_access_each_device_kind_needs(tmp_path):
    def run(argv, timeout):
        return CommandResult(tuple(argv), 0, "", "", 0.0)

    assert isinstance(sysfs_for("local", "here", root=str(tmp_path)), LocalSysfs)
    ssh = sysfs_for("ssh", "pi", run, sudo=True)
    assert ssh.wrap(["cat", "/sys/x"]) == ["sudo", "-n", "--", "cat", "/sys/x"]
    assert sysfs_for("ssh", "pi", run).wrap(["cat", "/sys/x"]) == ["cat", "/sys/x"]
    assert sysfs_for("adb", "phone", run, su=True).wrap(["sh", "-c", 'printf %s "$1"', "sh", "a b"]) == \
        ["su", "-c", "sh -c 'printf %s \"$1\"' sh 'a b'"]
