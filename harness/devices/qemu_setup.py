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

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DeviceError

SETUP_VERSION = 1
DEFAULT_CPU = "cortex-a72"
QEMU_NAME = "qemu-aarch64-static"
SYSTEM_QEMU = Path("/usr/bin") / QEMU_NAME
PYTHON = "python3.11"

# Debian bookworm: its glibc (2.36) bounds the manylinux levels the wheels may use.
DEBIAN_SOURCES = (
    ("http://deb.debian.org/debian", "bookworm"),
    ("http://deb.debian.org/debian", "bookworm-updates"),
    ("http://deb.debian.org/debian-security", "bookworm-security"),
)
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
SYSROOT_PACKAGES = ("python3.11", "libstdc++6")
GLIBC_MINOR = 36

# The one place the arm64 Python environment is pinned: the runner's needs (numpy, a runtime each,
# psutil) and their complete dependency closure, installed with --no-deps. Same versions as the
# x86 development environment, so both sides of an agreement check run the same releases.
ARM64_WHEELS = {
    "numpy": "2.4.6",
    "onnxruntime": "1.32.0",
    "ai-edge-litert": "2.3.0",
    "psutil": "7.2.2",
    # dependencies of onnxruntime and ai-edge-litert
    "flatbuffers": "25.12.19",
    "packaging": "26.4",
    "protobuf": "7.36.2",
    "backports.strenum": "1.2.8",
    "tqdm": "4.70.1",
    "typing-extensions": "4.16.0",
    "ml-dtypes": "0.6.0",
}
# pip does not expand manylinux tags for a foreign platform: every level must be listed, or it
# settles for old releases that carry only the manylinux2014 tag.
WHEEL_PLATFORMS = ("manylinux2014_aarch64",) + tuple(
    f"manylinux_2_{minor}_aarch64" for minor in range(17, GLIBC_MINOR + 1)
)
STDLIB_SKIP = r"/(test|tests|idlelib|tkinter|lib2to3|ensurepip)/"
SMOKE_IMPORTS = "import numpy, onnxruntime, ai_edge_litert.interpreter, psutil"

# Linux arm64 HWCAP / HWCAP2 bit names, in bit order (arch/arm64/include/uapi/asm/hwcap.h).
HWCAP_NAMES = (
    "fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp", "asimdhp",
    "cpuid", "asimdrdm", "jscvt", "fcma", "lrcpc", "dcpop", "sha3", "sm3", "sm4", "asimddp",
    "sha512", "sve", "asimdfhm", "dit", "uscat", "ilrcpc", "flagm", "ssbs", "sb", "paca", "pacg"
)
HWCAP2_NAMES = (
    "dcpodp", "sve2", "sveaes", "svepmull", "svebitperm", "svesha3", "svesm4", "flagm2", "frint",
    "svei8mm", "svef32mm", "svef64mm", "svebf16", "i8mm", "bf16", "dgh", "rng", "bti", "mte", "ecv",
    "afp", "rpres", "mte3", "sme", "sme_i16i64", "sme_f64f64", "sme_i8i32", "sme_f16f32",
    "sme_b16f32", "sme_f32f32", "sme_fa64", "wfxt", "ebf16", "sve_ebf16"
)
# MIDR fields (implementer, variant, part, revision) of the CPUs qemu-aarch64 emulates, as the real
# cores report them; an unknown model gets implementer 0 (cpuinfo readers then treat it as generic).
CPU_MIDR = {
    "cortex-a35": (0x41, 0x0, 0xD04, 2),
    "cortex-a53": (0x41, 0x0, 0xD03, 4),
    "cortex-a55": (0x41, 0x2, 0xD05, 0),
    "cortex-a57": (0x41, 0x1, 0xD07, 1),
    "cortex-a72": (0x41, 0x0, 0xD08, 3),
    "cortex-a76": (0x41, 0x4, 0xD0B, 1),
    "cortex-a710": (0x41, 0x2, 0xD47, 0),
    "neoverse-n1": (0x41, 0x4, 0xD0C, 1),
    "neoverse-n2": (0x41, 0x0, 0xD49, 3),
    "neoverse-v1": (0x41, 0x1, 0xD40, 1),
    "a64fx": (0x46, 0x1, 0x001, 0),
}
# Reads the emulated CPU's hardware capabilities from the auxiliary vector qemu gives the guest.
AUXV_PROBE = (
    "import struct,json;d=open('/proc/self/auxv','rb').read();"
    "v=dict(struct.unpack_from('<QQ',d,i) for i in range(0,len(d)-15,16));"
    "print(json.dumps([v.get(16,0),v.get(26,0)]))"
)

Log = Callable[[str], None]


def _stderr_log(msg: str) -> None:
    print(f"setup-qemu: {msg}", file=sys.stderr, flush=True)


def default_dir() -> Path:
    env = os.environ.get("EDGEBENCH_QEMU_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgebench" / "arm64"


@dataclass(frozen=True)
class Arm64Env:
    """Where the parts of one emulated arm64 environment live."""

    root: Path

    @property
    def sysroot(self) -> Path:
        return self.root / "sysroot"

    @property
    def site(self) -> Path:
        return self.root / "site"

    @property
    def stamp_path(self) -> Path:
        return self.root / "stamp.json"

    def view(self, cpu: str) -> Path:
        """A sysroot seen through the cpuinfo of one emulated CPU (qemu -L SYSROOT reads SYSROOT/proc)."""
        return self.root / "cpu" / cpu

    def python(self, sysroot: Path | None = None) -> Path:
        return (sysroot or self.sysroot) / "usr" / "bin" / PYTHON

    def qemu(self) -> Path | None:
        """The host's qemu-aarch64-static, else the one setup-qemu extracted into bin/."""
        if SYSTEM_QEMU.exists():
            return SYSTEM_QEMU
        found = shutil.which(QEMU_NAME)
        if found:
            return Path(found)
        local = self.root / "bin" / QEMU_NAME
        return local if local.exists() else None

    def stamp(self) -> dict[str, Any]:
        try:
            return json.loads(self.stamp_path.read_text())
        except (OSError, ValueError):
            return {}


def resolve_env(dir: str | os.PathLike[str] | None = None) -> Arm64Env:
    return Arm64Env(Path(dir).expanduser().resolve() if dir else default_dir())


# ---------------------------------------------------------------------------------------------------
# pure helpers (unit-tested without qemu)


def parse_cpu_help(text: str) -> list[str]:
    """CPU model names from `qemu-aarch64-static -cpu help`."""
    names: list[str] = []
    for line in text.splitlines():
        word = line.strip()
        if not word or word.endswith(":") or " " in word:
            continue
        names.append(word)
    return names


def hwcap_names(hwcap: int, hwcap2: int) -> list[str]:
    names = [n for i, n in enumerate(HWCAP_NAMES) if hwcap >> i & 1]
    return names + [n for i, n in enumerate(HWCAP2_NAMES) if hwcap2 >> i & 1]


def cpuinfo_text(cpu: str, hwcap: int, hwcap2: int, n_cpus: int) -> str:
    """/proc/cpuinfo as an arm64 Linux kernel writes it, one block per processor."""
    implementer, variant, part, revision = CPU_MIDR.get(cpu, (0x00, 0x0, 0x000, 0))
    features = " ".join(hwcap_names(hwcap, hwcap2))
    blocks = []
    for i in range(max(1, n_cpus)):
        blocks.append(
            f"processor\t: {i}\n"
            f"BogoMIPS\t: 108.00\n"
            f"Features\t: {features}\n"
            f"CPU implementer\t: 0x{implementer:02x}\n"
            f"CPU architecture: 8\n"
            f"CPU variant\t: 0x{variant:x}\n"
            f"CPU part\t: 0x{part:03x}\n"
            f"CPU revision\t: {revision}\n"
        )
    return "\n".join(blocks) + "\n"


def host_cpu_count() -> int:
    return os.cpu_count() or 1


def pip_platform_args() -> list[str]:
    args = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]
    for tag in WHEEL_PLATFORMS:
        args += ["--platform", tag]
    return args


def wheel_requirements() -> list[str]:
    return [f"{name}=={version}" for name, version in ARM64_WHEELS.items()]


# ---------------------------------------------------------------------------------------------------
# subprocesses


def run_checked(argv: Sequence[str], timeout: float, what: str, *, cwd: Path | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run argv with a timeout; any failure is a DeviceError showing the command and its output tail."""
    cmd = shlex.join(str(a) for a in argv)
    try:
        proc = subprocess.run([str(a) for a in argv], check=False, capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env=env, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise DeviceError(f"{what}: `{argv[0]}` not found; setup-qemu needs apt-get and dpkg-deb "
                          f"(Debian/Ubuntu host) and pip") from None
    except subprocess.TimeoutExpired:
        raise DeviceError(f"{what}: timed out after {timeout:.0f}s: {cmd}") from None
    if proc.returncode != 0:
        out = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise DeviceError(f"{what} failed (exit {proc.returncode}): {cmd}\n{out}")
    return proc


def qemu_version(qemu: Path) -> str:
    out = run_checked([qemu, "--version"], 30, "qemu --version").stdout
    first = out.splitlines()[0] if out else ""
    return first.split("version", 1)[-1].strip() if "version" in first else first


def qemu_cpus(qemu: Path) -> list[str]:
    # qemu 7.2 prints the list and exits 1: judge by the output, not the exit code
    argv = [str(qemu), "-cpu", "help"]
    try:
        proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeviceError(f"cannot run {shlex.join(argv)}: {exc}") from None
    names = parse_cpu_help(proc.stdout)
    if not names:
        raise DeviceError(f"{shlex.join(argv)} listed no CPUs (exit {proc.returncode}):\n"
                          f"{(proc.stderr or proc.stdout)[-2000:]}")
    return names


def validate_cpu(qemu: Path, cpu: str, where: str = "--cpu") -> None:
    """An emulated CPU qemu does not know is a clear error naming the ones it does."""
    known = qemu_cpus(qemu)
    if cpu not in known:
        raise DeviceError(
            f"{where}: qemu-aarch64 ({qemu}) does not know the CPU {cpu!r}; it knows: {', '.join(known)}. "
            f"Use cortex-a72 for a Raspberry Pi 4 or cortex-a76 for a Pi 5."
        )


def guest_argv(qemu: Path, cpu: str, sysroot: Path, args: Sequence[str | Path]) -> list[str]:
    """qemu-aarch64 -cpu CPU -L SYSROOT SYSROOT/usr/bin/python3.11 ARGS (no binfmt needed)."""
    return [str(qemu), "-cpu", cpu, "-L", str(sysroot), str(sysroot / "usr" / "bin" / PYTHON),
            *(str(a) for a in args)]


def emulated(qemu: Path, cpu: str, sysroot: Path, site: Path | None, code: str, timeout: float,
             what: str) -> str:
    """Run a snippet in the emulated Python and return its stdout."""
    argv = guest_argv(qemu, cpu, sysroot, ["-c", code])
    return run_checked(argv, timeout, what, env=guest_env([site] if site else [])).stdout


def guest_env(pythonpath: Sequence[Path]) -> dict[str, str]:
    """The emulated Python's environment: the host's, minus anything that would leak host Python or
    override our qemu flags into it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "QEMU_", "VIRTUAL_ENV", "LD_"))}
    env["PYTHONNOUSERSITE"] = "1"
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    return env


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


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    return {"inputs": _site_inputs(), "files": {f.name: _sha256(f) for f in files}}


def smoke_test(env: Arm64Env, qemu: Path, cpu: str) -> dict[str, str]:
    """Import what the runner needs under emulation; return the versions the guest sees."""
    view = ensure_view(env, qemu, cpu)
    code = (f"{SMOKE_IMPORTS};import json,platform,sys,ai_edge_litert as L;"
            "print(json.dumps({'arch':platform.machine(),'python':platform.python_version(),"
            "'numpy':numpy.__version__,'onnxruntime':onnxruntime.__version__,"
            "'ai_edge_litert':getattr(L,'__version__',''),'psutil':psutil.__version__}))")
    out = emulated(qemu, cpu, view, env.site, code, 300, "import check under emulation")
    return json.loads(out.strip().splitlines()[-1])


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
            _write_json(env.stamp_path, stamp)
        if stamp.get("site", {}).get("inputs") == _site_inputs() and env.site.is_dir():
            log(f"wheels: cached ({env.site})")
        else:
            stamp["site"] = build_site(env, log)
            _write_json(env.stamp_path, stamp)
        versions = smoke_test(env, qemu, cpu)
        if versions.get("arch") != "aarch64":
            raise DeviceError(f"the emulated python reports arch {versions.get('arch')!r}, not aarch64")
        wrapper = ensure_wrapper(env, qemu, cpu)
        stamp["qemu"] = {"path": str(qemu), "version": qemu_version(qemu)}
        stamp["versions"] = versions
        _write_json(env.stamp_path, stamp)
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


def host_info() -> dict[str, Any]:
    """The machine doing the emulating: recorded beside the emulated CPU, never mistaken for it."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    return {"arch": platform.machine(), "cpu": model, "cores": host_cpu_count(), "ram_bytes": ram,
            "os": f"{platform.system()} {platform.release()}"}
