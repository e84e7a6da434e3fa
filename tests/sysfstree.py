"""Sysfs-shaped trees in a temporary folder, and a fake clock that rewrites them on a schedule.

Files hold what the kernel shows (values with a trailing newline), at the kernel's paths under the
tree's root, so the code under test reads them with its real paths through LocalSysfs(root).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

THREE_GOVERNORS = "performance powersave schedutil"


def put(root: Path, path: str, value: object) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"{value}\n")
    return target


def get(root: Path, path: str) -> str:
    return (root / path.lstrip("/")).read_text()


def thermal_zone(root: Path, index: int, kind: str, millidegrees: int) -> Path:
    put(root, f"/sys/class/thermal/thermal_zone{index}/type", kind)
    return put(root, f"/sys/class/thermal/thermal_zone{index}/temp", millidegrees)


def cpufreq_policy(root: Path, index: int, cpus: str, governor: str, hw: tuple[int, int],
                   now: tuple[int, int], available: str | None = THREE_GOVERNORS) -> str:
    """A cpufreq policy folder as the kernel shows it; returns its device path."""
    base = f"/sys/devices/system/cpu/cpufreq/policy{index}"
    for name, value in (("related_cpus", cpus), ("affected_cpus", cpus), ("scaling_governor", governor),
                        ("cpuinfo_min_freq", hw[0]), ("cpuinfo_max_freq", hw[1]),
                        ("scaling_min_freq", now[0]), ("scaling_max_freq", now[1]),
                        ("scaling_cur_freq", now[1])):
        put(root, f"{base}/{name}", value)
    if available is not None:
        put(root, f"{base}/scaling_available_governors", available)
    return base


def big_little(root: Path) -> tuple[str, str]:
    """A phone-like two-cluster tree: policy0 (cpus 0-3) and policy4 (cpus 4-7), both schedutil."""
    return (cpufreq_policy(root, 0, "0 1 2 3", "schedutil", (300000, 1785600), (300000, 1785600)),
            cpufreq_policy(root, 4, "4 5 6 7", "schedutil", (710400, 2419200), (710400, 2419200)))


def snapshot(root: Path) -> dict[str, str]:
    """Every file in the tree -> its text (to prove a tree came back exactly as it was)."""
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


class FakeClock:
    """monotonic() and sleep() without waiting: sleep advances time and runs `on_tick(now)`,
    which rewrites sysfs files as the device would have changed them by then."""

    def __init__(self, on_tick: Callable[[float], None] | None = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_tick = on_tick

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_tick is not None:
            self.on_tick(self.now)
