"""`edgebench devices setup-qemu`: a reproducible emulated arm64 environment, built without root or binfmt.

What it builds (default ~/.cache/edgebench/arm64, EDGEBENCH_QEMU_DIR or --dir overrides):
  sysroot/         Debian bookworm's arm64 python3.11 and its dependency closure, extracted with
                   dpkg-deb from packages resolved by apt in a private state dir (the host's dpkg
                   database, architectures and package lists are never touched)
  sysroot/proc/cpuinfo   an ARM-format cpuinfo: qemu-user (7.2) shows the guest the host's x86 one,
                   and onnxruntime >= 1.28 and ai-edge-litert 2.x crash at import on that
  cpu/<CPU>/       a view of the sysroot (symlinks) with a cpuinfo describing that emulated CPU
  site/            aarch64 wheels (ARM64_WHEELS, pinned), installed from this x86 host with pip
  wrappers/<CPU>/python3   a shell script that is the emulated Python (PATH, or an ssh profile's python)
  bin/             qemu-aarch64-static, only when the host has none
  stamp.json       the inputs of each part: a part whose inputs did not change is not rebuilt
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from typing import Any

from ..errors import DeviceError
from ..util import atomic_write_json
from .arm64_build import (  # noqa: F401  (public names of the setup)
    _fresh,
    _locked,
    _site_inputs,
    _sysroot_inputs,
    build_site,
    build_sysroot,
    ensure_qemu,
    ensure_view,
    ensure_wrapper,
    python_wrapper_text,
    read_hwcaps,
    smoke_test,
)
from .arm64_build import _apt_options  # noqa: F401  (tested directly)
from .arm64_env import (  # noqa: F401  (public names of the setup)
    ARM64_WHEELS,
    CPU_MIDR,
    DEFAULT_CPU,
    HWCAP2_NAMES,
    HWCAP_NAMES,
    PYTHON,
    QEMU_NAME,
    SETUP_VERSION,
    SYSTEM_QEMU,
    WHEEL_PLATFORMS,
    Arm64Env,
    Log,
    cpuinfo_text,
    default_dir,
    emulated,
    guest_argv,
    guest_env,
    host_cpu_count,
    host_info,
    hwcap_names,
    parse_cpu_help,
    pip_platform_args,
    qemu_cpus,
    qemu_version,
    resolve_env,
    run_checked,
    validate_cpu,
    wheel_requirements,
)


def _stderr_log(msg: str) -> None:
    print(f"setup-qemu: {msg}", file=sys.stderr, flush=True)


def setup(dir: str | os.PathLike[str] | None = None, cpu: str = DEFAULT_CPU, force: bool = False,
          log: Log = _stderr_log) -> dict[str, Any]:
    """Build (or reuse) the emulated arm64 environment; return a summary of what is there."""
    env = resolve_env(dir)
    t0 = time.monotonic()
    with _locked(env.root):
        qemu = ensure_qemu(env, log)
        validate_cpu(qemu, cpu)
        stamp = {} if force else env.stamp()
        if stamp.get("sysroot", {}).get("inputs") == _sysroot_inputs() and env.python().exists():
            log(f"sysroot: cached ({env.sysroot})")
        else:
            stamp["sysroot"] = build_sysroot(env, qemu, cpu, log)
            stamp.pop("site", None)
            _fresh(env.root / "cpu")
            atomic_write_json(env.stamp_path, stamp)
        if stamp.get("site", {}).get("inputs") == _site_inputs() and env.site.is_dir():
            log(f"wheels: cached ({env.site})")
        else:
            stamp["site"] = build_site(env, log)
            atomic_write_json(env.stamp_path, stamp)
        versions = smoke_test(env, qemu, cpu)
        if versions.get("arch") != "aarch64":
            raise DeviceError(f"the emulated python reports arch {versions.get('arch')!r}, not aarch64")
        wrapper = ensure_wrapper(env, qemu, cpu)
        stamp["qemu"] = {"path": str(qemu), "version": qemu_version(qemu)}
        stamp["versions"] = versions
        atomic_write_json(env.stamp_path, stamp)
    log(f"ready in {time.monotonic() - t0:.1f}s: {env.root} (-cpu {cpu}; python {versions['python']}, "
        f"numpy {versions['numpy']}, onnxruntime {versions['onnxruntime']}, "
        f"ai-edge-litert {versions['ai_edge_litert']})")
    return {"dir": str(env.root), "qemu": str(qemu), "cpu": cpu, "sysroot": str(env.sysroot),
            "site": str(env.site), "python3": str(wrapper), "versions": versions}


def problems(dir: str | os.PathLike[str] | None = None, cpu: str = DEFAULT_CPU,
             device: str | None = None) -> list[str]:
    """What is missing for running under emulation, each with the fix (no network, no building)."""
    env = resolve_env(dir)
    setup_cmd = "edgebench devices setup-qemu" + (f" --cpu {shlex.quote(cpu)}" if cpu != DEFAULT_CPU else "")
    if env.root != default_dir():
        setup_cmd += f" --dir {shlex.quote(str(env.root))}"
    fix = f"run `{setup_cmd}`"
    found: list[str] = []
    qemu = env.qemu()
    if qemu is None:
        found.append(f"{QEMU_NAME} not found (not on PATH, not in {env.root / 'bin'}): "
                     f"{fix} (or apt-get install qemu-user-static)")
    else:
        try:
            validate_cpu(qemu, cpu, "[device] cpu")
        except DeviceError as exc:
            found.append(str(exc))
    stamp = env.stamp()
    if not env.python().exists() or "sysroot" not in stamp:
        found.append(f"no arm64 sysroot in {env.root}: {fix}")
    elif stamp["sysroot"].get("inputs") != _sysroot_inputs():
        found.append(f"the arm64 sysroot in {env.root} was built by an older edgebench: {fix} --force")
    elif not env.site.is_dir() or "site" not in stamp:
        found.append(f"no aarch64 wheels in {env.site}: {fix}")
    elif stamp["site"].get("inputs") != _site_inputs():
        found.append(f"the aarch64 wheels in {env.site} are not the pinned versions: {fix}")
    return [f"{device}: {p}" for p in found] if device else found

