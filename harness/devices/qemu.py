"""The `qemu` device kind: the runner on emulated arm64 (qemu-aarch64 user mode, no binfmt, no root).

Each job is its own qemu process running the sysroot's Python 3.11 with PYTHONPATH = the runner bundle
plus the aarch64 wheels that `edgebench devices setup-qemu` installed (harness/setup/arm64.py). Files
stay on this host (qemu user mode sees the host's filesystem), so nothing is copied but the runner
bundle.

Everything but time is real here: the aarch64 builds of numpy, ONNX Runtime and LiteRT, their ARM
kernels, their outputs. Latency under emulation is not a device latency: devices say `emulated`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DeviceError
from ..setup import arm64
from ..util import tail
from .base import Children, CommandResult
from .config import QemuConfig
from .execute import Launch, execute_job
from .local import HostDevice, host_paths, launch_in, run_process

# argv[0] names that mean "the device's Python" in run().
PYTHON_NAMES = ("python", "python3", arm64.PYTHON)


class QemuDevice(HostDevice):
    """Emulated arm64 on this host: one fresh qemu-aarch64 process per job."""

    kind = "qemu"
    emulated = True

    def __init__(self, table: dict[str, Any]):
        self.table = dict(table)
        self.config = QemuConfig.from_table(table)
        self.name = self.config.name
        self.cpu: str = self.config.cpu
        self.env = arm64.resolve_env(self.config.dir)
        self.cores = self.config.cores
        self._scratch: Path | None = None
        self._qemu: Path | None = None
        self._root: Path | None = None  # the sysroot seen with this CPU's /proc/cpuinfo
        self._children = Children()

    # setup state ---------------------------------------------------------------------------------
    def check(self, runtimes: Sequence[str] = ("onnxruntime", "tflite")) -> list[str]:
        """What is missing to run here, each problem with its fix (for `edgebench devices check`).
        The pinned wheels carry both runtimes, so `runtimes` asks nothing more of the setup."""
        return arm64.problems(self.env.root, self.cpu, device=self.name)

    def _ready(self) -> tuple[Path, Path]:
        if self._qemu is None or self._root is None:
            found = self.check()
            if found:
                raise DeviceError(f"{self.name}: " + "; ".join(found))
            qemu = self.env.qemu()
            assert qemu is not None  # check() said so
            self._root = arm64.ensure_view(self.env, qemu, self.cpu)
            self._qemu = qemu
        return self._qemu, self._root

    def _scratch_dir(self) -> Path:
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix=f"edgebench-{self.name}-"))
        return self._scratch

    def _bundle_dir(self) -> Path:
        """The runner bundle (harness/__init__.py + harness/runner/) copied apart, so the emulated
        Python imports exactly what a remote device would get, and nothing else of harness."""
        bundle = self._scratch_dir() / "bundle"
        if not bundle.exists():
            from ..runner.bundle import bundle_files

            tmp = self._scratch_dir() / "bundle.tmp"
            for local, rel in bundle_files():
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(local, dest)
            os.replace(tmp, bundle)
        return bundle

    def guest_argv(self, args: Sequence[str | os.PathLike[str]]) -> list[str]:
        """argv running the emulated Python with these arguments."""
        qemu, root = self._ready()
        return arm64.guest_argv(qemu, self.cpu, root, list(args))

    def guest_env(self) -> dict[str, str]:
        return arm64.guest_env([self._bundle_dir(), self.env.site])

    # Device --------------------------------------------------------------------------------------
    def probe(self) -> dict[str, Any]:
        """The device probe run by the emulated Python (arch, the emulated CPU from the sysroot's
        cpuinfo, sysroot versions), plus the emulation facts and the host doing the work."""
        from .probe import PROBE_SCRIPT, parse_probe_output

        res = self.run(["python3", str(PROBE_SCRIPT)], 300)
        if not res.ok:
            what = "timed out" if res.timed_out else f"exit {res.returncode}"
            raise DeviceError(f"{self.name}: the probe failed under emulation ({what}): "
                              f"{tail(res.stderr.strip(), 1500)}")
        info = parse_probe_output(res.stdout, self.name)
        qemu, _ = self._ready()
        host = arm64.host_info()
        info.update({
            "emulated": True, "emulated_cpu": self.cpu, "qemu": str(qemu),
            "qemu_version": arm64.qemu_version(qemu), "sysroot": str(self.env.sysroot),
            "host_arch": host["arch"], "host_cpu_model": host["cpu"], "host_cores": host["cores"],
            "host_ram_bytes": host["ram_bytes"], "host_os": host["os"],
        })
        return info

    def prepare(self, files: Sequence[Path]) -> dict[str, str]:
        """Nothing to copy (the emulated process reads this host's files); check they exist."""
        self._ready()
        self._bundle_dir()
        return host_paths(self.name, files)

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        """Run argv under emulation: argv[0] `python3` is the sysroot's Python; anything else is an
        aarch64 program, an absolute path taken inside the sysroot when it exists there."""
        if not argv:
            raise DeviceError(f"{self.name}: run() needs a command")
        if argv[0] in PYTHON_NAMES:
            full = self.guest_argv(list(argv[1:]))
        else:
            qemu, root = self._ready()
            program = str(argv[0])
            inside = root / program.lstrip("/")
            if program.startswith("/") and inside.exists():
                program = str(inside)
            full = [str(qemu), "-cpu", self.cpu, "-L", str(root), program, *argv[1:]]
        return run_process(full, timeout, env=self.guest_env(), cwd=str(self._scratch_dir()),
                           children=self._children)

    def sysfs(self, sudo: bool = False, su: bool = False) -> None:
        """None: an emulated device has no thermal zones, cpufreq or energy of its own."""
        return None

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def execute(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        """One job = one fresh qemu process (a subprocess of the emulated Python could not exec
        aarch64 programs, so nothing forks inside the guest). Failures come back as results."""
        scratch = self._scratch_dir()

        def launch(device_job: dict[str, Any]) -> Launch:
            return launch_in(scratch, device_job,
                             lambda paths: self.run(["python3", "-m", "harness.runner", *paths], timeout))

        result = execute_job(job, timeout, label=self.name, job_dir=str(scratch), cores=self.cores,
                             launch=launch)
        result["emulated"] = True
        result["emulated_cpu"] = self.cpu
        return result


def check_profile_device(device_table: dict[str, Any]) -> list[str]:
    """Problems (with fixes) of a profile's [device] table of kind qemu; empty when it can run."""
    return QemuDevice(device_table).check()
