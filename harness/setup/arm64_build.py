"""Building the parts of the emulated arm64 environment: qemu, the sysroot (a private apt), the
per-CPU views with their cpuinfo, the aarch64 wheels, the python3 wrapper, the import check."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DeviceError
from ..util import sha256_file
from .arm64_env import (
    ARM64_WHEELS,
    AUXV_PROBE,
    DEBIAN_KEYRING,
    DEBIAN_SOURCES,
    GLIBC_MINOR,
    PYTHON,
    QEMU_NAME,
    SETUP_VERSION,
    SMOKE_IMPORTS,
    STDLIB_SKIP,
    SYSROOT_PACKAGES,
    WHEEL_PLATFORMS,
    Arm64Env,
    Log,
    cpuinfo_text,
    emulated,
    guest_argv,
    guest_env,
    host_cpu_count,
    pip_platform_args,
    qemu_version,
    run_checked,
    wheel_requirements,
)


# ---------------------------------------------------------------------------------------------------
# private apt


def _apt_options(state: Path, arch: str) -> list[str]:
    """apt-get options that keep every bit of apt state inside `state` (lists, cache, status)."""
    (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "sources.list.d").mkdir(exist_ok=True)
    (state / "preferences.d").mkdir(exist_ok=True)
    status = state / "status"  # empty: apt resolves the whole closure as if nothing were installed
    if not status.exists():
        status.write_text("")
    sources = state / "sources.list"
    sources.write_text("".join(f"deb [arch={arch} signed-by={DEBIAN_KEYRING}] {uri} {suite} main\n"
                               for uri, suite in DEBIAN_SOURCES))
    opts = {
        "Dir::State": state, "Dir::State::Lists": state / "lists", "Dir::State::status": status,
        "Dir::Cache": state, "Dir::Cache::archives": state / "archives",
        "Dir::Etc::sourcelist": sources, "Dir::Etc::sourceparts": state / "sources.list.d",
        "Dir::Etc::preferences": state / "preferences", "Dir::Etc::preferencesparts": state / "preferences.d",
        "APT::Architecture": arch, "APT::Architectures": arch, "Acquire::Languages": "none",
        "Acquire::Retries": "3", "APT::Install-Recommends": "false", "APT::Get::List-Cleanup": "false",
    }
    if os.geteuid() == 0:  # root: keep the downloads in our folder instead of handing them to _apt
        opts["APT::Sandbox::User"] = "root"
    out: list[str] = ["-q"]
    for key, value in opts.items():
        out += ["-o", f"{key}={value}"]
    return out


def _apt_update(state: Path, arch: str) -> list[str]:
    if not DEBIAN_KEYRING.exists():
        raise DeviceError(f"setup-qemu needs Debian's archive key {DEBIAN_KEYRING}: "
                          f"install the debian-archive-keyring package")
    opts = _apt_options(state, arch)
    run_checked(["apt-get", *opts, "update"], 300, f"apt-get update ({arch} package lists)")
    return opts


def _deb_version(deb: Path) -> tuple[str, str]:
    out = run_checked(["dpkg-deb", "--show", "--showformat=${Package}\t${Version}", deb], 60,
                      "dpkg-deb --show").stdout
    name, _, version = out.partition("\t")
    return name, version


# ---------------------------------------------------------------------------------------------------
# the parts


@contextlib.contextmanager
def _locked(root: Path, timeout: float = 900) -> Iterator[None]:
    """One setup at a time per folder (a second caller waits, then finds the work done)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DeviceError(f"{root}: another setup-qemu has held the lock for {timeout:.0f}s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)



def _fresh(path: Path) -> Path:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    return path


def ensure_qemu(env: Arm64Env, log: Log) -> Path:
    """The host's qemu-aarch64-static, else the binary alone extracted from Debian's qemu-user-static."""
    qemu = env.qemu()
    if qemu is not None:
        log(f"qemu: {qemu} ({qemu_version(qemu)})")
        return qemu
    arch = run_checked(["dpkg", "--print-architecture"], 30, "dpkg --print-architecture").stdout.strip()
    log(f"qemu: downloading Debian's qemu-user-static ({arch}) for {QEMU_NAME} ...")
    state = env.root / "apt-host"
    opts = _apt_update(state, arch)
    work = _fresh(env.root / "qemu.tmp")
    work.mkdir(parents=True)
    run_checked(["apt-get", *opts, "download", "qemu-user-static"], 600, "apt-get download qemu-user-static",
                cwd=work)
    debs = sorted(work.glob("qemu-user-static_*.deb"))
    if not debs:
        raise DeviceError(f"apt-get download qemu-user-static left no .deb in {work}")
    run_checked(["dpkg-deb", "-x", debs[0], work / "x"], 300, "dpkg-deb -x qemu-user-static")
    (env.root / "bin").mkdir(exist_ok=True)
    target = env.root / "bin" / QEMU_NAME
    os.replace(work / "x" / "usr" / "bin" / QEMU_NAME, target)
    shutil.rmtree(work)
    log(f"qemu: {target} ({qemu_version(target)})")
    return target


def _sysroot_inputs() -> dict[str, Any]:
    return {"setup_version": SETUP_VERSION, "sources": [list(s) for s in DEBIAN_SOURCES],
            "packages": list(SYSROOT_PACKAGES), "python": PYTHON}


def _relink_absolute(root: Path) -> int:
    """Absolute symlinks would point into the host's filesystem: make them relative to the sysroot."""
    fixed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            link = Path(dirpath) / name
            if link.is_symlink():
                target = os.readlink(link)
                if target.startswith("/"):
                    link.unlink()
                    link.symlink_to(os.path.relpath(root / target.lstrip("/"), link.parent))
                    fixed += 1
    return fixed


def build_sysroot(env: Arm64Env, qemu: Path, cpu: str, log: Log) -> dict[str, Any]:
    """Debian's arm64 python3.11 + closure, extracted (not installed) into sysroot/; stdlib precompiled."""
    state = env.root / "apt-arm64"
    log(f"sysroot: resolving {' '.join(SYSROOT_PACKAGES)} for arm64 (private apt state in {state})")
    opts = _apt_update(state, "arm64")
    run_checked(["apt-get", *opts, "clean"], 120, "apt-get clean (private arm64 cache)")
    run_checked(["apt-get", *opts, "-y", "--download-only", "install", *SYSROOT_PACKAGES], 900,
                "apt-get install --download-only (arm64 sysroot packages)")
    debs = sorted((state / "archives").glob("*.deb"))
    packages = dict(_deb_version(d) for d in debs)
    tmp = _fresh(env.root / "sysroot.tmp")
    tmp.mkdir(parents=True)
    log(f"sysroot: extracting {len(debs)} packages")
    for deb in debs:
        run_checked(["dpkg-deb", "-x", deb, tmp], 300, f"dpkg-deb -x {deb.name}")
    _relink_absolute(tmp)
    if not env.python(tmp).exists():
        raise DeviceError(f"sysroot: {env.python(tmp)} missing after extracting {len(debs)} packages")
    hwcap = _write_cpuinfo(qemu, cpu, tmp, tmp)
    log("sysroot: precompiling the standard library under emulation")
    try:  # an optimisation only: Debian compiles at install time, and we do not install
        run_checked(guest_argv(qemu, cpu, tmp, ["-m", "compileall", "-q", "-x", STDLIB_SKIP,
                                                tmp / "usr" / "lib" / PYTHON]),
                    600, "compileall under emulation", env=guest_env([]))
    except DeviceError as exc:
        log(f"sysroot: precompiling skipped ({str(exc).splitlines()[0]})")
    _fresh(env.sysroot)
    os.replace(tmp, env.sysroot)
    return {"inputs": _sysroot_inputs(), "packages": packages, "cpu": cpu, "hwcap": hwcap}


def read_hwcaps(qemu: Path, cpu: str, sysroot: Path) -> tuple[int, int]:
    out = emulated(qemu, cpu, sysroot, None, AUXV_PROBE, 120, f"reading the hwcaps of -cpu {cpu}")
    hwcap, hwcap2 = json.loads(out.strip().splitlines()[-1])
    return int(hwcap), int(hwcap2)


def _write_cpuinfo(qemu: Path, cpu: str, sysroot: Path, target_root: Path,
                   hwcap: tuple[int, int] | None = None) -> list[int]:
    caps = hwcap or read_hwcaps(qemu, cpu, sysroot)
    proc = target_root / "proc"
    proc.mkdir(exist_ok=True)
    text = cpuinfo_text(cpu, caps[0], caps[1], host_cpu_count())
    if not (proc / "cpuinfo").exists() or (proc / "cpuinfo").read_text() != text:
        tmp = proc / "cpuinfo.tmp"
        tmp.write_text(text)
        os.replace(tmp, proc / "cpuinfo")
    return list(caps)


def ensure_view(env: Arm64Env, qemu: Path, cpu: str) -> Path:
    """cpu/<CPU>/: symlinks to the sysroot's top level plus its own proc/cpuinfo for that CPU.

    Cheap (no network); made on first use of a CPU and refreshed when the host's core count changes.
    """
    view = env.view(cpu)
    hw_file = view / "hwcaps.json"
    if view.is_dir() and hw_file.exists():
        hwcap = tuple(json.loads(hw_file.read_text()))
        _write_cpuinfo(qemu, cpu, env.sysroot, view, hwcap)  # type: ignore[arg-type]
        return view
    tmp = _fresh(view.with_name(view.name + ".tmp"))
    tmp.mkdir(parents=True)
    for entry in env.sysroot.iterdir():
        if entry.name != "proc":
            (tmp / entry.name).symlink_to(os.path.relpath(entry, tmp))
    caps = _write_cpuinfo(qemu, cpu, env.sysroot, tmp)
    (tmp / "hwcaps.json").write_text(json.dumps(caps))
    _fresh(view)
    os.replace(tmp, view)
    return view


def python_wrapper_text(qemu: Path, cpu: str, root: Path, site: Path) -> str:
    """A `python3` shell script that is the emulated Python: for PATH, or an ssh profile's `python`."""
    q = lambda p: shlex.quote(str(p))
    return (
        "#!/bin/sh\n"
        f"# Emulated arm64 Python ({PYTHON} under qemu-aarch64 -cpu {cpu}); written by "
        "`edgebench devices setup-qemu`.\n"
        "unset PYTHONHOME\n"
        f"PYTHONPATH=${{PYTHONPATH:+$PYTHONPATH:}}{q(site)}\n"
        "PYTHONNOUSERSITE=1\n"
        "export PYTHONPATH PYTHONNOUSERSITE\n"
        f"exec {q(qemu)} -cpu {q(cpu)} -L {q(root)} {q(root / 'usr' / 'bin' / PYTHON)} \"$@\"\n"
    )


def ensure_wrapper(env: Arm64Env, qemu: Path, cpu: str) -> Path:
    """wrappers/<CPU>/python3 (a folder of its own, so it can go first on a PATH)."""
    view = ensure_view(env, qemu, cpu)
    path = env.root / "wrappers" / cpu / "python3"
    text = python_wrapper_text(qemu, cpu, view, env.site)
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, path)
    return path



def _site_inputs() -> dict[str, Any]:
    return {"setup_version": SETUP_VERSION, "wheels": dict(ARM64_WHEELS), "platforms": list(WHEEL_PLATFORMS)}


def build_site(env: Arm64Env, log: Log) -> dict[str, Any]:
    """Download the pinned aarch64 wheels with this host's pip, and install them into site/."""
    wheels = env.root / "wheels"
    wheels.mkdir(exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    log(f"wheels: downloading {len(ARM64_WHEELS)} pinned aarch64 wheels (cp311, manylinux <= 2.{GLIBC_MINOR})")
    run_checked([*pip, "download", "--no-deps", *pip_platform_args(), "-d", wheels, *wheel_requirements()],
                900, "pip download (aarch64 wheels)")
    files = []
    for name, version in ARM64_WHEELS.items():
        stem = name.replace("-", "_").replace(".", "_").lower()
        match = [w for w in wheels.glob("*.whl")
                 if w.name.split("-")[0].replace(".", "_").lower() == stem and w.name.split("-")[1] == version]
        if len(match) != 1:
            raise DeviceError(f"wheels: expected one {name} {version} wheel in {wheels}, found {len(match)}")
        files.append(match[0])
    tmp = _fresh(env.root / "site.tmp")
    log(f"wheels: installing into {env.site}")
    run_checked([*pip, "install", "--no-deps", "--no-index", "--target", tmp, *pip_platform_args(), *files],
                900, "pip install --target (aarch64 wheels)")
    _fresh(env.site)
    os.replace(tmp, env.site)
    return {"inputs": _site_inputs(), "files": {f.name: sha256_file(f) for f in files}}


def smoke_test(env: Arm64Env, qemu: Path, cpu: str) -> dict[str, str]:
    """Import what the runner needs under emulation; return the versions the guest sees."""
    view = ensure_view(env, qemu, cpu)
    code = (f"{SMOKE_IMPORTS};import json,platform,sys,ai_edge_litert as L;"
            "print(json.dumps({'arch':platform.machine(),'python':platform.python_version(),"
            "'numpy':numpy.__version__,'onnxruntime':onnxruntime.__version__,"
            "'ai_edge_litert':getattr(L,'__version__',''),'psutil':psutil.__version__}))")
    out = emulated(qemu, cpu, view, env.site, code, 300, "import check under emulation")
    return json.loads(out.strip().splitlines()[-1])
