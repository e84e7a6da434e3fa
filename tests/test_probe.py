"""The device probe: one stdlib-only script that says what a device is (arch, cores, big.LITTLE, RAM,
OS, board, governor, temperatures, Python and runtime versions), in-process or on a device."""

from __future__ import annotations

import ast
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from harness.devices import execute, probe
from harness.devices.local import probe_local
from harness.devices.probe import script as probe_script
from harness.errors import DeviceError

SCRIPT = Path(probe_script.__file__)

# /proc/cpuinfo of a Raspberry Pi 4 running 64-bit Raspberry Pi OS (serial shortened).
RPI4_CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
    "CPU revision\t: 3\n\n" for i in range(4)
) + "Hardware\t: BCM2835\nRevision\t: c03114\nSerial\t\t: 10000000abcd\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"

# A Snapdragon 888 phone: 4x Cortex-A55, 3x Cortex-A78, 1x Cortex-X1.
SD888_PARTS = ["0xd05"] * 4 + ["0xd41"] * 3 + ["0xd44"]
SD888_FREQS = [1804800] * 4 + [2419200] * 3 + [2841600]
SD888_CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 38.40\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"
    f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: {part}\nCPU revision\t: 0\n\n"
    for i, part in enumerate(SD888_PARTS)
)


def fake_sysfs(root: Path, freqs: list[int], governor: str = "schedutil") -> Path:
    cpu = root / "sys" / "devices" / "system" / "cpu"
    for i, freq in enumerate(freqs):
        d = cpu / f"cpu{i}" / "cpufreq"
        d.mkdir(parents=True)
        (d / "cpuinfo_max_freq").write_text(f"{freq}\n")
        (d / "scaling_governor").write_text(f"{governor}\n")
    return cpu


def test_probe_local_reports_every_documented_key_for_this_machine():
    info = probe_local()
    assert set(info) == set(probe.PROBE_KEYS)
    assert info["arch"] == platform.machine()
    assert info["cpu_cores"] == os.cpu_count() and len(info["cpu_parts"]) == os.cpu_count()
    assert info["ram_total_bytes"] > 2**27 and 0 < info["ram_available_bytes"] <= info["ram_total_bytes"]
    assert info["kernel"] == platform.release() and info["os_name"]
    assert info["python_version"] == platform.python_version()
    import numpy
    import onnxruntime

    assert info["numpy_version"] == numpy.__version__
    assert info["onnxruntime_version"] == onnxruntime.__version__
    assert info["ai_edge_litert_version"]  # the dev extra installs it
    json.dumps(info)  # everything is JSON


def test_probe_local_with_another_python_reports_that_pythons_packages(tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    info = probe_local(str(bare / "bin" / "python"))
    assert info["python_executable"].startswith(str(bare))
    assert info["numpy_version"] is None and info["onnxruntime_version"] is None
    with pytest.raises(DeviceError, match="/nonexistent/python3 not found"):
        probe_local("/nonexistent/python3")


def test_the_script_runs_alone_in_isolated_mode_and_prints_flat_json():
    # -I: no PYTHONPATH, no user site, the script's folder only; it must need nothing of harness
    proc = subprocess.run([sys.executable, "-I", str(SCRIPT)], capture_output=True, text=True, timeout=60,
                          cwd="/", check=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert sorted(data) == sorted(probe.PROBE_KEYS)
    for key, value in data.items():  # flat: scalars, lists of scalars, and the one zone map
        if isinstance(value, dict):
            assert key == "thermal_zones" and all(isinstance(v, float) for v in value.values())
        elif isinstance(value, list):
            assert all(not isinstance(v, (dict, list)) for v in value), key
    quick = subprocess.run([sys.executable, "-I", str(SCRIPT), "--temperature"], capture_output=True,
                           text=True, timeout=60, check=False)
    assert sorted(json.loads(quick.stdout)) == sorted(probe.TEMPERATURE_KEYS)


def test_the_script_imports_only_the_standard_library_and_parses_as_python_3_7():
    tree = ast.parse(SCRIPT.read_text(), feature_version=(3, 7))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported and imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_probing_never_imports_a_runtime():
    code = ("import importlib.util, sys; "
            f"spec = importlib.util.spec_from_file_location('probe_script', {str(SCRIPT)!r}); "
            "probe_script = importlib.util.module_from_spec(spec); spec.loader.exec_module(probe_script); "
            "d = probe_script.collect(); assert d['onnxruntime_version'];"
            "print(sorted(m for m in ('onnxruntime', 'ai_edge_litert', 'numpy', 'tensorflow') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_raspberry_pi_4_cpuinfo_gives_four_cortex_a72_cores(tmp_path):
    sysfs = fake_sysfs(tmp_path, [1800000] * 4, governor="ondemand")
    info = probe_script.cpu_info(RPI4_CPUINFO, sysfs=str(sysfs))
    assert info["cpu_parts"] == ["Cortex-A72"] * 4
    assert info["cpu_model"] == "Cortex-A72"
    assert info["cpu_core_types"] == "4x Cortex-A72 @1.80GHz"
    assert info["cpu_big_little"] is False
    assert info["governor"] == "ondemand" and info["cpu_governors"] == ["ondemand"] * 4
    assert info["cpu_features"] == ["asimd"]


def test_big_little_phone_cores_are_grouped_by_type_and_max_frequency(tmp_path):
    sysfs = fake_sysfs(tmp_path, SD888_FREQS)
    (sysfs / "cpu7" / "cpufreq" / "scaling_governor").write_text("performance\n")
    info = probe_script.cpu_info(SD888_CPUINFO, sysfs=str(sysfs))
    assert info["cpu_core_types"] == "4x Cortex-A55 @1.80GHz + 3x Cortex-A78 @2.42GHz + 1x Cortex-X1 @2.84GHz"
    assert info["cpu_big_little"] is True
    assert info["cpu_model"] == "Cortex-A55 + Cortex-A78 + Cortex-X1"
    assert info["cpu_max_freq_khz"] == SD888_FREQS
    assert info["governor"] == "schedutil,performance"
    assert {"asimddp", "asimdhp", "fphp"} <= set(info["cpu_features"])


def test_unknown_arm_parts_are_kept_as_implementer_and_part_codes():
    cpus, _ = probe_script.parse_cpuinfo("processor : 0\nCPU implementer : 0x48\nCPU part : 0xd01\n")
    assert probe_script.core_name(cpus[0]) == "0x48:0xd01"


def test_intel_hybrid_cores_are_named_p_and_e_cores(tmp_path):
    sysfs = fake_sysfs(tmp_path, [4700000] * 2 + [3500000] * 2)
    devices = sysfs.parent.parent
    (devices / "cpu_core").mkdir()
    (devices / "cpu_core" / "cpus").write_text("0-1\n")
    (devices / "cpu_atom").mkdir()
    (devices / "cpu_atom" / "cpus").write_text("2-3\n")
    text = "".join(f"processor : {i}\nmodel name : 12th Gen Intel(R) Core(TM) i7-1260P\nflags : avx2 fma\n\n"
                   for i in range(4))
    info = probe_script.cpu_info(text, sysfs=str(sysfs))
    assert info["cpu_parts"] == ["P-core", "P-core", "E-core", "E-core"]
    assert info["cpu_model"] == "12th Gen Intel(R) Core(TM) i7-1260P"
    assert info["cpu_core_types"] == "2x E-core @3.50GHz + 2x P-core @4.70GHz" and info["cpu_big_little"]


def test_meminfo_os_release_and_getprop_are_parsed():
    mem = probe_script.meminfo("MemTotal:        3884960 kB\nMemFree: 100 kB\nMemAvailable:    3400000 kB\n"
                               "SwapTotal:        102396 kB\n")
    assert mem == {"ram_total_bytes": 3884960 * 1024, "ram_available_bytes": 3400000 * 1024,
                   "swap_total_bytes": 102396 * 1024}
    osr = probe_script.os_release('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n')
    assert osr == {"os_name": "Debian GNU/Linux 12 (bookworm)", "os_id": "debian", "os_version_id": "12"}
    props = probe_script.parse_getprop("[ro.product.model]: [Pixel 7]\n[ro.soc.model]: [GS201]\n"
                                       "[ro.build.version.sdk]: [34]\n[ro.build.version.release]: [14]\n"
                                       "[ro.product.manufacturer]: [Google]\n")
    assert probe_script.android_info(props) == {
        "android_model": "Pixel 7", "android_manufacturer": "Google", "android_soc": "GS201",
        "android_sdk": 34, "android_release": "14"}
    assert probe_script.android_info({"ro.board.platform": "lahaina"})["android_soc"] == "lahaina"


def test_thermal_zones_are_read_in_degrees_with_duplicate_types_kept(tmp_path):
    for i, (kind, milli) in enumerate([("cpu-thermal", 48312), ("gpu-thermal", 45000), ("cpu-thermal", 51000)]):
        zone = tmp_path / f"thermal_zone{i}"
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(f"{milli}\n")
    (tmp_path / "cooling_device0").mkdir()
    assert probe_script.thermal_zones(str(tmp_path)) == {
        "cpu-thermal": 48.3, "gpu-thermal": 45.0, "cpu-thermal#2": 51.0}


def test_vcgencmd_temperature_and_throttled_bits_are_decoded():
    assert probe_script.parse_vcgencmd_temp("temp=48.3'C\n") == 48.3
    assert probe_script.parse_vcgencmd_temp("error") is None
    assert probe_script.parse_throttled("throttled=0x0") == ("0x0", [])
    mask, flags = probe_script.parse_throttled("throttled=0x50005\n")
    assert mask == "0x50005"
    assert flags == ["under-voltage", "throttled", "under-voltage-occurred", "throttled-occurred"]


def test_parse_probe_output_rejects_a_probe_that_printed_no_json_naming_the_device():
    with pytest.raises(DeviceError, match="(?s)rpi4 .*no JSON.*SyntaxError"):
        probe.parse_probe_output("  File x\nSyntaxError: invalid syntax\n", "rpi4 (pi@10.0.0.2)")
    full = probe.parse_probe_output('noise\n{"arch": "aarch64"}\n', "rpi4")
    assert full["arch"] == "aarch64" and set(full) == set(probe.PROBE_KEYS)


def test_job_temperature_fields_are_flat_and_tolerate_missing_readings():
    fields = execute.job_temperature_fields({"temp_c": 51.0, "throttled": "0x0"}, None)
    assert fields == {"temp_before_c": 51.0, "temp_after_c": None, "throttled_before": "0x0",
                      "throttled_after": None}
    assert tuple(fields) == execute.JOB_TEMPERATURE_KEYS


def test_describe_is_one_readable_line():
    line = probe.describe({"board_model": "Raspberry Pi 4 Model B Rev 1.4", "arch": "aarch64",
                           "cpu_core_types": "4x Cortex-A72 @1.80GHz", "ram_total_bytes": 4 * 2**30,
                           "temp_c": 55.5, "throttled_flags": ["under-voltage-occurred"],
                           "onnxruntime_version": "1.22.0"})
    assert line == ("Raspberry Pi 4 Model B Rev 1.4, aarch64, 4x Cortex-A72 @1.80GHz, 4.0 GiB RAM, 55.5 C, "
                    "THROTTLED: under-voltage-occurred, onnxruntime 1.22.0")
