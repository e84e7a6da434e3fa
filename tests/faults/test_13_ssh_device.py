"""Device faults on the ssh path against a real sshd on loopback: cleanup keeps a workdir that held the
user's files, a full disk on the device skips the rest (resume reruns it), symlinked models travel as
the files they point to, and ssh_options that run commands on this machine need an explicit opt-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, ZOO, assert_clean_error, edgebench, small_tmpfs, written_records as records
from sshd import Sshd, need

from harness.devices.ssh import SshDevice
from harness.errors import ProfileError

SEP = ZOO / "digits" / "digits-separable-onnx-fp32.onnx"
MATRIX = """
[matrix]
models = {models}
runtimes = ["onnxruntime"]
precisions = ["fp32"]
threads = [1]
modes = ["perf"]
trials = {trials}
warmup_runs = 1
warmup_time_s = 0.0
min_runs = 10
min_time_s = 0.1
max_time_s = 0.5
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    for tool in ("/usr/sbin/sshd", "ssh", "ssh-keygen"):
        need(tool)
    with Sshd(tmp_path_factory.mktemp("sshd")) as srv:
        yield srv


def write_profile(path: Path, table: dict, models: list[str], trials: int = 1) -> Path:
    body = "[device]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())
    path.write_text(body + MATRIX.format(models=json.dumps(models), trials=trials))
    return path


# finding 1 -----------------------------------------------------------------------------------------
def test_cleanup_keeps_a_deep_workdir_that_held_the_users_files(server, tmp_path):
    wd = tmp_path / "x" / "userdata"
    wd.mkdir(parents=True)
    (wd / "thesis.tex").write_text("years of work")
    dev = SshDevice(server.profile(python=sys.executable, workdir=str(wd), cleanup=True))
    dev.prepare([SEP])
    dev.close()
    assert (wd / "thesis.tex").read_text() == "years of work"


def test_cleanup_removes_a_workdir_edgebench_created_and_keeps_files_added_to_it(server, tmp_path):
    wd = tmp_path / "x" / "made"
    dev = SshDevice(server.profile(python=sys.executable, workdir=str(wd), cleanup=True))
    dev.prepare([SEP])
    dev.close()
    assert not wd.exists() and wd.parent.is_dir()
    dev.prepare([SEP])
    (wd / "notes.txt").write_text("added later by the user")
    dev.close()
    assert [p.name for p in wd.iterdir()] == ["notes.txt"]


# finding 2 -----------------------------------------------------------------------------------------
def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 16))
                fh.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_on_the_device_skips_the_rest_and_resume_reruns_it(server, tmp_path):
    disk = tmp_path / "disk"
    small_tmpfs(disk, "128m")
    try:
        prof = write_profile(tmp_path / "pi.toml", server.profile(
            name="pi", python=sys.executable, workdir=str(disk / "wd")), ["digits-separable"], trials=6)
        path = tmp_path / "res" / "r" / "records.jsonl"
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(prof), "--out",
                                 str(tmp_path / "res"), "--run-id", "r", "--no-report"], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 180
        while len(records(path)) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        filler = fill(disk)
        out, err = proc.communicate(timeout=300)
        recs = records(path)
        assert len(recs) == 6, recs
        ok = [r for r in recs if r["status"] == "ok"]
        skipped = [r for r in recs if r["status"] == "skipped"]
        assert len(ok) >= 2 and len(skipped) >= 3 and len(ok) + len(skipped) == 6, \
            [(r["status"], r.get("error")) for r in recs]
        assert all("no space left" in r["error"] and "device pi unusable" in r["error"] for r in skipped)
        filler.unlink()  # the user frees some space
        res = edgebench("run", "--resume", str(tmp_path / "res" / "r"), "--no-report", timeout=300)
        assert res.returncode == 0, res.stderr
        done = {(r["config_id"], r["trial"]) for r in records(path) if r["status"] == "ok"}
        assert len(done) == 6
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30, check=False)


# finding 6 -----------------------------------------------------------------------------------------
def test_symlinked_models_are_uploaded_as_the_files_they_point_to(server, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "sep.onnx").write_bytes(SEP.read_bytes())
    relative = tmp_path / "link.onnx"
    relative.symlink_to("real/sep.onnx")
    absolute = tmp_path / "abs.onnx"
    absolute.symlink_to(real / "sep.onnx")
    dev = SshDevice(server.profile(python=sys.executable, workdir=str(tmp_path / "wd")))
    mapping = dev.prepare([relative, absolute])
    for local in (relative, absolute):
        there = Path(mapping[str(local)])
        assert not there.is_symlink(), f"{there} is a link on the device"
        assert there.read_bytes() == SEP.read_bytes()
    job = {"model_path": str(relative), "runtime": "onnxruntime", "threads": 1, "mode": "perf",
           "warmup_runs": 1, "warmup_time_s": 0.0, "min_runs": 5, "min_time_s": 0.01, "max_time_s": 0.2}
    rec = dev.execute(job, timeout=120)
    assert rec["status"] == "ok", rec.get("error")


# finding 17 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["ProxyCommand=touch /tmp/pwned-%h", "LocalCommand=id",
                                    "KnownHostsCommand=/bin/true %H", "PermitLocalCommand=yes",
                                    "proxycommand nc %h %p"])
def test_ssh_options_that_run_local_commands_are_refused_without_the_opt_in(option):
    with pytest.raises(ProfileError, match="allow_local_commands = true") as info:
        SshDevice({"name": "pi", "kind": "ssh", "host": "pi", "ssh_options": [option]})
    assert "\n" not in str(info.value) and option in str(info.value)
    dev = SshDevice({"name": "pi", "kind": "ssh", "host": "pi", "ssh_options": [option],
                     "allow_local_commands": True})
    assert option in dev.ssh_argv("true")


def test_a_proxycommand_profile_is_refused_before_anything_runs(server, tmp_path):
    marker = tmp_path / "ran"
    table = server.profile(name="pi", python=sys.executable, workdir=str(tmp_path / "wd"))
    table["ssh_options"] = [*table["ssh_options"], f"ProxyCommand=sh -c 'touch {marker}; nc %h %p'"]
    prof = write_profile(tmp_path / "pi.toml", table, ["digits-separable"])
    proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--no-report", timeout=120)
    assert_clean_error(proc, "'pi'", "ProxyCommand", "allow_local_commands")
    assert not marker.exists()


# finding 10 (device keys) --------------------------------------------------------------------------
@pytest.mark.parametrize("key, value, needle", [
    ("connect_timeout", float("inf"), "connect_timeout"),
    ("connect_timeout", float("nan"), "connect_timeout"),
    ("connect_timeout", -3, "connect_timeout"),
    ("connect_timeout", 1e12, "connect_timeout"),
    ("workdir", "/tmp/eb\x00x", "workdir"),
    ("workdir", "/tmp/eb\nx", "workdir"),
    ("cores", [1.5], "cores"),
    ("cores", [-1], "cores"),
    ("cores", [10 ** 9], "cores"),
    ("cores", [True], "cores"),
    ("port", 70000, "port"),
])
def test_out_of_range_device_keys_are_one_clear_line(key, value, needle):
    with pytest.raises(ProfileError) as info:
        SshDevice({"name": "pi", "kind": "ssh", "host": "pi", key: value})
    message = str(info.value)
    assert needle in message and "\n" not in message and "Traceback" not in message


def test_an_infinite_connect_timeout_in_a_profile_stops_the_run_with_one_line(tmp_path):
    prof = tmp_path / "pi.toml"
    prof.write_text('[device]\nname = "pi"\nkind = "ssh"\nhost = "127.0.0.1"\nconnect_timeout = inf\n'
                    'workdir = "/tmp/eb\\u0000x"\n' + MATRIX.format(models='["digits-separable"]', trials=1))
    proc = edgebench("run", str(prof), "--out", str(tmp_path / "res"), "--no-report", timeout=120)
    assert_clean_error(proc, "connect_timeout")
    assert not any(os.scandir(tmp_path / "res")) if (tmp_path / "res").exists() else True
