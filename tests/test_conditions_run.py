"""[conditions] end to end: `edgebench run` on a local device whose /sys is a sysfs-shaped tree
(EDGEBENCH_SYSFS_ROOT), and on a phone through the adb stand-in. The governor is written during the
run and put back after success, after failing jobs and after SIGINT; a cooling thermal zone makes the
first job wait; a powercap counter advancing during the jobs gives energy per inference in the
records, summary.csv and pairs.csv; the phone's battery gives it over adb."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from adbserver import AdbServer, FakeDevice
from conftest import REPO, assert_clean_error, edgebench, need
from sysfstree import cpufreq_policy, get, put, snapshot, thermal_zone

from harness.errors import EXIT_JOBS_FAILED
from harness.records import read_records

GOVERNOR = "/sys/devices/system/cpu/cpufreq/policy0/scaling_governor"
RAPL = "/sys/class/powercap/intel-rapl:0"
WATTS = 2.0
MATRIX = """
[matrix]
models = ["digits"]
runtimes = ["onnxruntime"]
precisions = ["fp32"]
threads = [1]
modes = ["perf"]
trials = 1
warmup_runs = 2
warmup_time_s = 0.0
min_runs = 20
min_time_s = 0.05
max_time_s = 0.5
"""
# A counter that advances at WATTS while it runs (started by the fake python around each job),
# each value written whole (tmp + rename), as a kernel attribute reads.
COUNTER = f"""
import os, sys, time
path = sys.argv[1]
base, t0 = int(open(path).read()), time.time()
while True:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(f"{{base + int((time.time() - t0) * {WATTS} * 1e6)}}\\n")
    os.replace(tmp, path)
    time.sleep(0.002)
"""


def tree(tmp_path: Path, zone_mc: int = 45000) -> Path:
    root = tmp_path / "sys-root"
    cpufreq_policy(root, 0, "0-1", "schedutil", (400000, 2000000), (400000, 2000000))
    thermal_zone(root, 0, "cpu-thermal", zone_mc)
    put(root, f"{RAPL}/name", "package-0")
    put(root, f"{RAPL}/energy_uj", 1000)
    put(root, f"{RAPL}/max_energy_range_uj", 262143328850)
    return root


def fake_python(tmp_path: Path, job: str = "") -> Path:
    """A python that logs the governor it sees and runs the energy counter around each runner job;
    `job` runs first inside a job (a crash, a hang)."""
    counter = tmp_path / "counter.py"
    counter.write_text(COUNTER)
    script = tmp_path / "python3"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ]; then\n'
        f'  echo "$(cat "$EDGEBENCH_SYSFS_ROOT{GOVERNOR}")" >> "{tmp_path}/governor.log"\n'
        f"  {job}\n"
        f'  {sys.executable} {counter} "$EDGEBENCH_SYSFS_ROOT{RAPL}/energy_uj" & BG=$!\n'
        f'  {sys.executable} "$@"; rc=$?\n'
        '  kill $BG; wait $BG 2>/dev/null; exit $rc\n'
        "fi\n"
        f'exec {sys.executable} "$@"\n')
    script.chmod(0o755)
    return script


def profile(tmp_path: Path, conditions: str, python: Path | None = None) -> Path:
    p = tmp_path / "box.toml"
    py = f'python = "{python}"\n' if python else ""
    p.write_text(f'[device]\nname = "box"\nkind = "local"\n{py}{MATRIX}\n[conditions]\n{conditions}')
    return p


CONDITIONS = ('governor = "performance"\nenergy = "rapl"\nenergy_baseline_s = 0\nenergy_interval_s = 0.02\n'
              'cooldown_below_c = 50\ncooldown_poll_s = 0.1\ncooldown_max_wait_s = 60\n')


def cool_when_the_run_starts(root: Path, run_json: Path) -> threading.Thread:
    """Once run.json holds the probe (the conditions are set next), cool the zone 2 C per 0.1 s."""
    def cool() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and '"devices"' not in (run_json.read_text() if run_json.exists() else ""):
            time.sleep(0.05)
        for mc in range(70000, 39999, -2000):
            put(root, "/sys/class/thermal/thermal_zone0/temp", mc)
            time.sleep(0.1)

    thread = threading.Thread(target=cool, daemon=True)
    thread.start()
    return thread


def test_governor_cooldown_and_energy_through_a_whole_run(tmp_path):
    root = tree(tmp_path, zone_mc=70000)
    before = snapshot(root)
    out = tmp_path / "res"
    cooler = cool_when_the_run_starts(root, out / "r" / "run.json")
    proc = edgebench("run", str(profile(tmp_path, CONDITIONS, fake_python(tmp_path))), "--out", str(out),
                     "--run-id", "r", env={"EDGEBENCH_SYSFS_ROOT": str(root)}, timeout=300)
    cooler.join(10)
    assert proc.returncode == 0, proc.stderr
    # the governor was performance during every job, and is schedutil again after the run
    assert (tmp_path / "governor.log").read_text().split() == ["performance", "performance"]
    assert get(root, GOVERNOR) == "schedutil\n"
    assert {k: v for k, v in snapshot(root).items() if "powercap" not in k and "thermal" not in k} == \
        {k: v for k, v in before.items() if "powercap" not in k and "thermal" not in k}
    recs = read_records(out / "r" / "records.jsonl").records
    assert len(recs) == 2 and all(r["status"] == "ok" for r in recs)
    first, second = recs
    # the first job waited for the zone to fall below 50 C; the second found it cool
    assert first["cooldown_reason"] == "below 50.0 C" and first["cooldown_wait_s"] > 0.3
    assert first["cooldown_start_c"] >= 56 and first["cooldown_temp_c"] < 50
    assert second["cooldown_wait_s"] == 0.0 and second["cooldown_reason"] == "below 50.0 C"
    for r in recs:
        assert r["governor_requested"] == "performance" and r["governor_applied"] is True
        assert r["cpufreq_governor"] == {"policy0": "performance"} and r["cpufreq_max_khz"] == {"policy0": 2000000}
        assert r["energy_source"] == "rapl:package-0" and r["energy_note"] is None
        assert r["energy_mean_w"] == pytest.approx(WATTS, rel=0.25), r["energy_mean_w"]
        latency_s = statistics.fmean(r["latency_ns"]) / 1e9
        assert r["energy_mj_per_inference"] == pytest.approx(r["energy_mean_w"] * latency_s * 1e3, rel=1e-3)
        assert r["energy_samples"] >= 3 and r["energy_sample_hz"] > 5
    summary = pd.read_csv(out / "r" / "summary.csv").set_index("model")
    for r in recs:
        assert summary.loc[r["model"], "energy_mj_per_inference"] == pytest.approx(r["energy_mj_per_inference"])
        assert summary.loc[r["model"], "energy_source"] == "rapl:package-0"
    pairs = pd.read_csv(out / "r" / "pairs.csv")
    sep, std = (summary.loc[f"digits-{t}", "energy_mj_per_inference"] for t in ("separable", "standard"))
    assert pairs.loc[0, "energy_ratio"] == pytest.approx(sep / std)
    assert "energy: digits" in proc.stdout


def test_the_governor_is_restored_after_failing_jobs(tmp_path):
    root = tree(tmp_path)
    py = fake_python(tmp_path, job="kill -SEGV $$")
    proc = edgebench("run", str(profile(tmp_path, 'governor = "performance"\n', py)), "--out",
                     str(tmp_path / "res"), "--run-id", "r", "--no-report", env={"EDGEBENCH_SYSFS_ROOT": str(root)})
    assert proc.returncode == EXIT_JOBS_FAILED, proc.stderr  # every job failed: records kept, not ok
    recs = read_records(tmp_path / "res" / "r" / "records.jsonl").records
    assert [r["status"] for r in recs] == ["failed", "failed"] and all("SIGSEGV" in r["error"] for r in recs)
    assert (tmp_path / "governor.log").read_text().split() == ["performance", "performance"]
    assert get(root, GOVERNOR) == "schedutil\n"


def test_the_governor_is_restored_after_sigint_and_set_again_by_resume(tmp_path):
    root = tree(tmp_path)
    hang = tmp_path / "hang"
    hang.touch()
    py = fake_python(tmp_path, job=f'[ -e "{hang}" ] && sleep 120')
    log = tmp_path / "governor.log"
    env = {**os.environ, "EDGEBENCH_SYSFS_ROOT": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run",
                             str(profile(tmp_path, 'governor = "performance"\n', py)), "--out",
                             str(tmp_path / "res"), "--run-id", "r"], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert get(root, GOVERNOR) == "performance"  # set, and the first job is running
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "interrupted" in err, err
    assert get(root, GOVERNOR) == "schedutil\n"
    assert json.loads((tmp_path / "res" / "r" / "run.json").read_text())["status"] == "interrupted"
    # --resume takes [conditions] from run.json: the governor is set for the jobs left, then put back
    hang.unlink()
    proc = edgebench("run", "--resume", str(tmp_path / "res" / "r"), "--no-report",
                     env={"EDGEBENCH_SYSFS_ROOT": str(root)})
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().split() == ["performance"] * 3  # the interrupted job, then both again
    assert get(root, GOVERNOR) == "schedutil\n"
    recs = read_records(tmp_path / "res" / "r" / "records.jsonl").records
    assert len(recs) == 2 and all(r["governor_applied"] is True for r in recs)


def test_governor_required_stops_the_run_before_any_job_with_one_line(tmp_path):
    root = tmp_path / "no-cpufreq"
    thermal_zone(root, 0, "cpu-thermal", 40000)
    proc = edgebench("run", str(profile(tmp_path, 'governor = "performance"\ngovernor_required = true\n')),
                     "--out", str(tmp_path / "res"), "--run-id", "r", env={"EDGEBENCH_SYSFS_ROOT": str(root)})
    err = assert_clean_error(proc, "box: cpufreq settings not applied: the device has no cpufreq",
                             "governor_required = true")
    assert len([line for line in err.splitlines() if "error" in line]) == 1
    assert not (tmp_path / "res" / "r" / "records.jsonl").exists()
    assert json.loads((tmp_path / "res" / "r" / "run.json").read_text())["status"] == "stopped"


def test_without_cpufreq_or_energy_the_run_goes_on_and_the_records_say_why(tmp_path):
    root = tmp_path / "bare"
    root.mkdir()
    proc = edgebench("run", str(profile(tmp_path, 'governor = "performance"\nenergy = "auto"\n'
                                                  'energy_baseline_s = 0\ncooldown_below_c = 60\n')),
                     "--out", str(tmp_path / "res"), "--run-id", "r", "--no-report",
                     env={"EDGEBENCH_SYSFS_ROOT": str(root)})
    assert proc.returncode == 0, proc.stderr
    assert "warning: box: cpufreq settings not applied: the device has no cpufreq" in proc.stderr
    for r in read_records(tmp_path / "res" / "r" / "records.jsonl").records:
        assert r["status"] == "ok" and r["cooldown_reason"] == "no temperature sensor"
        assert r["energy_note"].startswith("not measurable: box: no RAPL zones")
        assert r["energy_mj_per_inference"] is None
        assert r["governor_applied"] is False and "no cpufreq" in r["governor_note"]


def test_a_bad_conditions_key_is_one_line_with_file_and_line_before_any_job(tmp_path):
    p = profile(tmp_path, 'governor = "performance"\ncooldown_below = 45\n')
    proc = edgebench("run", str(p), "--out", str(tmp_path / "res"))
    line = p.read_text().splitlines().index("cooldown_below = 45") + 1
    err = assert_clean_error(proc, f"{p}:{line}: unknown key conditions.cooldown_below", "cooldown_below_c")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "res").exists()


def test_energy_from_the_phone_battery_through_adb(tmp_path, monkeypatch):
    need("adb")
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    battery = "/sys/class/power_supply/battery"
    files = {f"{battery}/current_now": "-500000\n", f"{battery}/voltage_now": "4000000\n",
             f"{battery}/status": "Discharging\n"}
    with AdbServer([FakeDevice(python=sys.executable, files=files)]) as srv:
        p = tmp_path / "pixel.toml"
        p.write_text(f'[device]\nname = "pixel"\nkind = "adb"\nserial = "EDGE0001"\nadb_port = {srv.port}\n'
                     f'python = "/data/data/com.termux/files/usr/bin/python3"\n{MATRIX}\n[conditions]\n'
                     'energy = "battery"\nenergy_baseline_s = 0.2\nenergy_interval_s = 0.05\n')
        proc = edgebench("run", str(p), "--out", str(tmp_path / "res"), "--run-id", "r", timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    recs = read_records(tmp_path / "res" / "r" / "records.jsonl").records
    assert len(recs) == 2
    for r in recs:
        assert r["status"] == "ok" and r["energy_source"] == "battery:current_now*voltage_now"
        # 0.5 A x 4.0 V, steady: 2 W over the window and over the idle baseline (net 0)
        assert r["energy_mean_w"] == pytest.approx(2.0) and r["energy_idle_w"] == pytest.approx(2.0)
        assert r["energy_net_mj_per_inference"] == pytest.approx(0.0, abs=1e-9)
        assert r["energy_mj_per_inference"] == pytest.approx(2.0 * statistics.fmean(r["latency_ns"]) / 1e6, rel=1e-4)
        assert r["energy_samples"] >= 2
        assert r["cpufreq_governor"] == {f"cpu{i}": "schedutil" for i in range(8)}
    summary = pd.read_csv(tmp_path / "res" / "r" / "summary.csv")
    assert summary["energy_mj_per_inference"].notna().all()
