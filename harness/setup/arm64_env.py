"""The emulated arm64 environment's pins, layout and qemu plumbing (see arm64.py for the setup).

Everything here is cheap: constants, where the parts live (Arm64Env), pure helpers unit-tested
without qemu, and the few calls that run qemu-aarch64 or the emulated Python.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..devices.config import QEMU_DEFAULT_CPU, QEMU_PYTHON
from ..errors import DeviceError


SETUP_VERSION = 1
DEFAULT_CPU = QEMU_DEFAULT_CPU
QEMU_NAME = "qemu-aarch64-static"
SYSTEM_QEMU = Path("/usr/bin") / QEMU_NAME
PYTHON = QEMU_PYTHON

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
