"""The devices of a run: built from the profiles, checked for what they lack, probed, closed.
Problems with any device are reported together, before the first job."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import DeviceError, HarnessError
from ..profiles import format_problems

if TYPE_CHECKING:
    from ..devices.base import Device
    from ..profiles import Profile


def device_problems(dev: Device, runtimes: list[str]) -> list[str]:
    """What the device lacks to run these runtimes, each with how to fix it."""
    return list(dev.check(runtimes=runtimes))


def open_devices(profiles: list[Profile], run_id: str | None = None) -> dict[str, Device]:
    """Build every device and check it can run its matrix (a lab device locks its place here, its
    comment naming `run_id`); all problems are reported together."""
    from ..devices import make_device

    devices: dict[str, Device] = {}
    problems: list[str] = []
    try:
        for prof in profiles:
            try:
                dev = make_device(prof.device)
            except HarnessError as exc:
                problems.append(str(exc))
                continue
            dev.run_id = run_id
            devices[prof.name] = dev
            try:
                problems.extend(device_problems(dev, prof.matrix["runtimes"]))
            except HarnessError as exc:
                problems.append(str(exc))
    except BaseException:  # Ctrl-C while waiting for a lab place: give back what is held
        close_devices(devices)
        raise
    if problems:
        close_devices(devices)
        raise DeviceError(format_problems(problems))
    share_host_locks(devices)
    return devices


THIS_MACHINE = "this machine"


def host_key(dev: Device) -> str:
    """Which physical CPUs a device's jobs run on: local and qemu (and ssh to a loopback address) are
    this machine; ssh is the resolved address and port; adb is the phone's serial at its server."""
    if dev.kind in ("local", "qemu"):
        return THIS_MACHINE
    if dev.kind == "ssh":
        host = str(getattr(dev, "host", dev.name))
        try:
            addr = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]
        except (OSError, UnicodeError):
            addr = host  # an ~/.ssh/config alias: ssh resolves it, we compare the name
        try:
            if ipaddress.ip_address(addr).is_loopback:
                return THIS_MACHINE
        except ValueError:
            pass
        return f"ssh {addr}:{getattr(dev, 'port', None) or 22}"
    if dev.kind == "adb":
        return f"adb {getattr(dev, 'serial', None) or '(only device)'}"
    return f"{dev.kind} {dev.name}"


def share_host_locks(devices: dict[str, Device]) -> None:
    """Devices whose jobs would run on the same CPUs take turns (one lock per physical host), so two
    profiles for one machine never measure at the same time; says so when it happens."""
    groups: dict[str, list[str]] = {}
    for name, dev in devices.items():
        groups.setdefault(host_key(dev), []).append(name)
    for key, names in groups.items():
        if len(names) > 1:
            lock = threading.Lock()
            for name in names:
                devices[name].host_lock = lock
            print(f"edgebench: {', '.join(names)} run on the same CPUs ({key}): their jobs take turns",
                  file=sys.stderr)


def close_devices(devices: dict[str, Device]) -> None:
    """Close every device, even when an interrupt arrives during one (it is raised afterwards)."""
    interrupted: BaseException | None = None
    for dev in devices.values():
        try:
            dev.close()
        except KeyboardInterrupt as exc:  # the next device still gives back its lab place
            interrupted = exc
        except Exception:  # closing must never hide the run's own outcome
            pass
    if interrupted is not None:
        raise interrupted


def pin_lab_places(profiles: list[Profile], probes: dict[str, Any]) -> list[Profile]:
    """On resume, a lab profile that picked its place by tags takes the same place again (the one
    run.json names), so one device's records never mix two boards."""
    from dataclasses import replace

    out = []
    for prof in profiles:
        place = (probes.get(prof.name) or {}).get("lab_place")
        if prof.kind == "labgrid" and prof.device.get("tags") and place:
            device = {k: v for k, v in prof.device.items() if k not in ("tags", "count")}
            prof = replace(prof, device={**device, "place": place})
        out.append(prof)
    return out


def expand_fanout(profiles: list[Profile]) -> list[Profile]:
    """A labgrid profile with `count` becomes one profile per place (N places with its tags, or
    every free one for "all"), named NAME-PLACE, so the run measures one matrix on identical boards."""
    out: list[Profile] = []
    for prof in profiles:
        if prof.kind != "labgrid" or prof.device.get("count") is None:
            out.append(prof)
            continue
        from dataclasses import replace

        from ..lab.fanout import fanout_tables

        out += [replace(prof, device=table) for table in fanout_tables(prof.device, str(prof.path))]
    return out


def probe_devices(devices: dict[str, Device]) -> dict[str, dict[str, Any]]:
    """Each device's description for run.json; a probe that fails is recorded, not fatal."""
    probes: dict[str, dict[str, Any]] = {}
    for name, dev in devices.items():
        try:
            probes[name] = dev.probe()
        except HarnessError as exc:
            probes[name] = {"probe_error": str(exc)}
        probes[name]["emulated"] = bool(dev.emulated)
    return probes


@dataclass
class DeviceCheck:
    """What `edgebench devices check` found for one profile."""

    profile: Profile
    info: dict[str, Any] = field(default_factory=dict)  # the probe, when the device lacks nothing
    problems: list[str] = field(default_factory=list)


def check_device(profile: Profile) -> DeviceCheck:
    """Reach the profile's device and list what it lacks; probe it when nothing is missing."""
    from ..devices import make_device

    dev = None
    try:
        dev = make_device(profile.device)
        problems = device_problems(dev, profile.matrix["runtimes"])
        info = dev.probe() if not problems else {}
    except HarnessError as exc:
        problems, info = [str(exc)], {}
    finally:
        if dev is not None:
            dev.close()
    return DeviceCheck(profile, info, problems)
