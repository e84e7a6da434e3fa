"""The [device] table of a `kind = "labgrid"` profile, and the ssh or adb table a held place becomes.

    [device]
    name = "rpi4-lab"
    kind = "labgrid"
    coordinator = "lab.example.com:20408"   # else LG_COORDINATOR
    tags = { board = "rpi4" }               # any free place with these tags, or: place = "rpi4-1"
    lock_timeout = 900                      # seconds to wait for a free place
    identity = "~/.ssh/lab_ed25519"         # ssh keys as for kind = "ssh"; host/port/user come from
                                            # the place's NetworkService
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProfileError
from .client import CALL_TIMEOUT_S, Coordinator, LabError, coordinator
from .lease import Lease
from .phone import adb_endpoint, adb_table

DEFAULT_LOCK_TIMEOUT_S = 600.0
TRANSPORTS = ("ssh", "adb")
TAG_KEY = re.compile(r"^[a-z][a-z0-9_]+$")  # labgrid's rule for tag and filter keys
TAG_VALUE = re.compile(r"^[^\s=,]+$")  # what survives `set-tags k=v` and the `k=v, k=v` listing

# Keys the labgrid kind reads from [device] besides the common ones (name, kind, description, cores,
# python): key -> (type(s), description), in the form of the schemas in devices/config.py.
LAB_KEYS: dict[str, tuple[Any, str]] = {
    "coordinator": (str, "labgrid coordinator HOST:PORT (default: LG_COORDINATOR)"),
    "place": (str, "the place to lock (or tags)"),
    "tags": (dict, "any free place with these tags, e.g. { board = 'rpi4' } (or place)"),
    "lock_timeout": ((int, float), f"seconds to wait for the place (default {DEFAULT_LOCK_TIMEOUT_S:g})"),
    "transport": (str, "ssh | adb (default: ssh when the place has a NetworkService, else adb)"),
    "lab_call_timeout": ((int, float), f"seconds per labgrid-client call (default {CALL_TIMEOUT_S:g})"),
    "count": ((int, str), "with tags: run on N places (or \"all\" free ones), one device each"),
    "group": (str, "identical boards: the report shows their board-to-board spread (count sets it)"),
}
SSH_KEYS = ("name", "description", "cores", "python", "user", "identity", "workdir", "cleanup",
            "ssh_options", "connect_timeout", "ssh_config")
ADB_KEYS = ("name", "description", "cores", "python", "adb", "runner", "workdir", "cleanup",
            "benchmark_model", "onnxruntime_perf_test")


@dataclass(frozen=True)
class LabConfig:
    """What a labgrid profile asks of the lab."""

    coordinator: Coordinator
    place: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
    transport: str | None = None
    call_timeout_s: float = CALL_TIMEOUT_S

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str | None = None) -> LabConfig:
        where = f"{source}: [device]" if source else "[device]"
        place, tags = table.get("place"), table.get("tags")
        if (place is None) == (tags is None):
            raise ProfileError(f"{where} kind = \"labgrid\" needs place = \"NAME\" or tags = {{ key = \"value\" }} "
                               f"(one of them)")
        if place is not None and (not isinstance(place, str) or not place.strip() or place.startswith(("-", "+"))):
            raise ProfileError(f"{where} place must be a place name, got {place!r}")
        if tags is not None:
            _check_tags(tags, where)
        seconds = {}
        for key, default in (("lock_timeout", DEFAULT_LOCK_TIMEOUT_S), ("lab_call_timeout", CALL_TIMEOUT_S)):
            value = table.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ProfileError(f"{where} {key} must be a number of seconds >= 0, got {value!r}")
            seconds[key] = float(value)
        transport = table.get("transport")
        if transport is not None and transport not in TRANSPORTS:
            raise ProfileError(f"{where} transport = {transport!r}; use one of {', '.join(TRANSPORTS)}")
        address = table.get("coordinator")
        if address is not None and (not isinstance(address, str) or not re.fullmatch(r"[^\s/]+", address)):
            raise ProfileError(f"{where} coordinator must be HOST:PORT, got {address!r}")
        return cls(coordinator=coordinator(address, f"{where} coordinator"), place=place,
                   tags=dict(tags or {}), lock_timeout_s=seconds["lock_timeout"], transport=transport,
                   call_timeout_s=max(seconds["lab_call_timeout"], 1.0))


def _check_tags(tags: Any, where: str) -> None:
    if not isinstance(tags, dict) or not tags:
        raise ProfileError(f"{where} tags must be a table of strings, e.g. tags = {{ board = \"rpi4\" }}")
    for key, value in tags.items():
        if not TAG_KEY.match(key):
            raise ProfileError(f"{where} tags: key {key!r} must be lower case letters, digits and _ "
                               f"(labgrid's rule), at least two characters")
        if not isinstance(value, str) or not TAG_VALUE.match(value):
            raise ProfileError(f"{where} tags.{key} must be a string without spaces, '=' or ',', got {value!r}")


def network_service(lease: Lease) -> Mapping[str, Any] | None:
    """The params of the place's one NetworkService (address, username, port), None when it has none."""
    found = [r for r in lease.resources if r.cls == "NetworkService"]
    if len(found) > 1:
        raise LabError(f"place {lease.place} has {len(found)} NetworkService resources "
                       f"({', '.join(r.path for r in found)}); give a benchmark place exactly one", "client")
    return found[0].params if found else None


def ssh_table(lease: Lease, table: Mapping[str, Any]) -> dict[str, Any]:
    """The kind-ssh [device] table for a held place: host, port and user from its NetworkService
    (a profile's user wins); a service labgrid marks proxy_required is reached through its exporter."""
    params = network_service(lease)
    if params is None or not params.get("address"):
        raise LabError(f"place {lease.place} has no NetworkService with an address: export one for the "
                       f"board (address, username, port) or set transport = \"adb\" for a phone", "client")
    out: dict[str, Any] = {k: table[k] for k in SSH_KEYS if k in table}
    out.update(kind="ssh", host=str(params["address"]).split("%")[0], port=int(params.get("port") or 22))
    if "user" not in out and params.get("username"):
        out["user"] = str(params["username"])
    extra = params.get("extra") or {}
    if extra.get("proxy_required") and extra.get("proxy"):
        out["ssh_options"] = [f"ProxyJump={extra['proxy']}", *out.get("ssh_options", [])]
    return out


def device_table(lease: Lease, table: Mapping[str, Any], config: LabConfig) -> dict[str, Any]:
    """The [device] table (kind ssh or adb) that the existing device kinds run the held place with."""
    transport = config.transport or ("ssh" if network_service(lease) is not None else "adb")
    if transport == "ssh":
        return ssh_table(lease, table)
    endpoint = adb_endpoint(lease.place, lease.tags, lease.previous_comment, table, by_tags=bool(config.tags))
    return adb_table(endpoint, table, ADB_KEYS)
