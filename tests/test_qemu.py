"""The qemu device kind without the arm64 sysroot: CPU validation against the real qemu-aarch64, the
cpuinfo the sysroot gets, the wheel tags, and what a user sees when the setup is missing.

The suite that runs jobs under emulation is tests/arm64 (`tox -e arm64`)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import assert_clean_error, edgebench, need

from harness.devices import make_device
from harness.setup import arm64 as qemu_setup
from harness.setup import arm64_env
from harness.devices.probe.script import cpu_info
from harness.devices.qemu import QemuDevice, check_profile_device
from harness.errors import DeviceError, ProfileError

# `qemu-aarch64-static -cpu help` of Debian's qemu-user-static 7.2.
CPU_HELP_7_2 = """Available CPUs:
  a64fx
  cortex-a35
  cortex-a53
  cortex-a57
  cortex-a72
  cortex-a76
  max
  neoverse-n1
"""


def qemu() -> Path:
    return Path(need(qemu_setup.QEMU_NAME))


def test_cpu_help_is_parsed_into_model_names():
    assert qemu_setup.parse_cpu_help(CPU_HELP_7_2) == [
        "a64fx", "cortex-a35", "cortex-a53", "cortex-a57", "cortex-a72", "cortex-a76", "max", "neoverse-n1"]


def test_the_installed_qemu_knows_the_raspberry_pi_cpus():
    cpus = qemu_setup.qemu_cpus(qemu())
    assert "cortex-a72" in cpus and "cortex-a76" in cpus


def test_an_unknown_cpu_is_a_clear_error_listing_the_known_ones():
    with pytest.raises(DeviceError) as err:
        qemu_setup.validate_cpu(qemu(), "cortex-a99", where="pi.toml: [device] cpu")
    msg = str(err.value)
    assert "pi.toml: [device] cpu" in msg and "'cortex-a99'" in msg
    assert "cortex-a72" in msg and "cortex-a76" in msg


def test_setup_qemu_rejects_an_unknown_cpu_before_building_anything(tmp_path):
    qemu()
    proc = edgebench("devices", "setup-qemu", "--cpu", "cortex-a99", "--dir", str(tmp_path / "arm64"),
                     timeout=60)
    assert_clean_error(proc, "does not know the CPU 'cortex-a99'", "cortex-a72")
    assert not (tmp_path / "arm64" / "sysroot").exists()


def test_hwcap_bits_map_to_kernel_feature_names():
    # what qemu 7.2 gives -cpu cortex-a72 and -cpu cortex-a76 in AT_HWCAP
    assert qemu_setup.hwcap_names(0x8FB, 0) == ["fp", "asimd", "aes", "pmull", "sha1", "sha2", "crc32", "cpuid"]
    a76 = qemu_setup.hwcap_names(0x119FFB, 0)
    assert {"asimddp", "asimdhp", "atomics", "lrcpc"} <= set(a76) and "sve" not in a76
    assert qemu_setup.hwcap_names(0, 1 << 1) == ["sve2"]


def test_cpuinfo_reads_back_as_the_emulated_core():
    text = qemu_setup.cpuinfo_text("cortex-a72", 0x8FB, 0, 4)
    assert text.count("processor\t:") == 4
    assert "CPU implementer\t: 0x41" in text and "CPU part\t: 0xd08" in text
    assert "Features\t: fp asimd aes pmull sha1 sha2 crc32 cpuid\n" in text
    info = cpu_info(cpuinfo_text=text)  # the device probe's own parser
    assert info["cpu_model"] == "Cortex-A72"
    assert info["cpu_core_types"] == "4x Cortex-A72"
    assert "asimd" in info["cpu_features"]
    assert cpu_info(cpuinfo_text=qemu_setup.cpuinfo_text("cortex-a76", 0x119FFB, 0, 1))["cpu_model"] == "Cortex-A76"


def test_cpuinfo_has_no_x86_fields_and_an_unknown_core_stays_generic():
    text = qemu_setup.cpuinfo_text("some-future-core", 0x3, 0, 2)
    assert "model name" not in text and "flags" not in text and "vendor_id" not in text
    assert "CPU implementer\t: 0x00" in text and "Features\t: fp asimd\n" in text


def test_wheels_are_pinned_and_every_manylinux_level_is_listed():
    assert all(v.count(".") >= 1 and not v.startswith(("<", ">", "~")) for v in qemu_setup.ARM64_WHEELS.values())
    reqs = qemu_setup.wheel_requirements()
    for name in ("numpy", "onnxruntime", "ai-edge-litert", "psutil"):
        assert any(r.startswith(name + "==") for r in reqs), name
    args = qemu_setup.pip_platform_args()
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert platforms[0] == "manylinux2014_aarch64"
    assert platforms[1:] == [f"manylinux_2_{m}_aarch64" for m in range(17, 37)]
    assert "--only-binary=:all:" in args and args[args.index("--python-version") + 1] == "3.11"


def test_apt_state_stays_private(tmp_path):
    opts = qemu_setup._apt_options(tmp_path / "apt", "arm64")
    pairs = dict(o.split("=", 1) for o in opts if "=" in o)
    for key in ("Dir::State", "Dir::State::Lists", "Dir::State::status", "Dir::Cache",
                "Dir::Etc::sourcelist", "Dir::Etc::sourceparts"):
        assert pairs[key].startswith(str(tmp_path / "apt")), key
    assert pairs["APT::Architectures"] == "arm64"
    sources = (tmp_path / "apt" / "sources.list").read_text()
    assert "[arch=arm64 signed-by=" in sources and "bookworm-security" in sources
    assert (tmp_path / "apt" / "status").read_text() == ""


def test_a_missing_sysroot_says_how_to_set_it_up(tmp_path):
    qemu()
    dev = make_device({"name": "emu", "kind": "qemu", "cpu": "cortex-a72", "dir": str(tmp_path / "none")})
    assert isinstance(dev, QemuDevice) and dev.emulated and dev.cpu == "cortex-a72"
    problems = dev.check()
    assert len(problems) == 1
    assert f"run `edgebench devices setup-qemu --dir {tmp_path / 'none'}`" in problems[0]
    with pytest.raises(DeviceError, match="emu: .*edgebench devices setup-qemu"):
        dev.prepare([])
    with pytest.raises(DeviceError, match="setup-qemu"):
        dev.execute({"model_path": "x.onnx", "runtime": "onnxruntime", "mode": "perf"}, 10)
    dev.close()


def test_missing_qemu_and_a_bad_cpu_are_each_reported_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(arm64_env, "SYSTEM_QEMU", tmp_path / "no-qemu")
    monkeypatch.setenv("PATH", str(tmp_path))
    problems = check_profile_device({"name": "emu", "kind": "qemu", "dir": str(tmp_path / "none")})
    assert any("qemu-aarch64-static not found" in p and "setup-qemu" in p for p in problems)
    assert any("no arm64 sysroot" in p for p in problems)
    monkeypatch.undo()
    qemu()
    problems = check_profile_device({"name": "emu", "kind": "qemu", "cpu": "cortex-z1", "dir": str(tmp_path)})
    assert any("emu: [device] cpu" in p and "'cortex-z1'" in p for p in problems)


def test_a_python_key_is_refused_for_the_emulated_device():
    with pytest.raises(ProfileError, match=r"emu: \[device\] python does not apply to kind qemu"):
        QemuDevice({"name": "emu", "kind": "qemu", "python": "/usr/bin/python3"})


def test_devices_check_names_the_missing_setup(tmp_path):
    qemu()
    # a model file path keeps this independent of the zoo
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    profile = tmp_path / "emu.toml"
    profile.write_text(textwrap.dedent(f"""
        [device]
        name = "emu"
        kind = "qemu"
        cpu = "cortex-a72"
        dir = {json.dumps(str(tmp_path / "arm64"))}
        [matrix]
        models = [{json.dumps(str(tmp_path / "m.onnx"))}]
        runtimes = ["onnxruntime"]
        modes = ["perf"]
    """))
    proc = edgebench("devices", "check", str(profile), timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "no arm64 sysroot" in proc.stdout and "edgebench devices setup-qemu" in proc.stdout, proc.stdout


def test_the_shipped_profile_is_a_qemu_device_with_a_short_matrix():
    from conftest import REPO

    from harness.profiles import parse_profile

    problems: list[str] = []
    prof = parse_profile(REPO / "devices" / "qemu-arm64.toml", problems)
    assert not problems and prof is not None, problems
    assert prof.device["kind"] == "qemu" and prof.device["cpu"] == "cortex-a72"
    assert set(prof.matrix["runtimes"]) == {"onnxruntime", "tflite"}
    assert set(prof.matrix["precisions"]) == {"fp32", "int8"}
    assert set(prof.matrix["modes"]) == {"accuracy", "perf"}
    assert prof.matrix["trials"] == 1 and prof.matrix["max_time_s"] <= 5
