"""Phones in the lab. labgrid 26 exports no adb resource, so a phone's place is used for locking
only, and the place says where the phone's adb server is:

- tags (preferred; reservations can select on them): `adb=HOST[:PORT]` (an adb server on the lab
  host, started there with `adb -a -P PORT nodaemon server`) and `adb_serial=SERIAL`;
- or, where tags are managed elsewhere, the same `adb=...` and `adb_serial=...` words in the place's
  own comment (the comment as the lab keeps it, not the run name edgebench puts there while locked);
- else the profile's `adb_host`, `adb_port`, `serial`, for a place that stands for one known phone.

The place wins over the profile: with tags, every place the lab hands out is a different phone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .client import LabError

DEFAULT_ADB_PORT = 5037
_WORD = re.compile(r"(?:^|\s)(adb|adb_serial)=(\S+)")


@dataclass(frozen=True)
class AdbEndpoint:
    """Where a phone's adb server is and which phone on it; `source` says where each came from."""

    host: str | None
    port: int | None
    serial: str | None
    source: str


def parse_adb_address(text: str, where: str) -> tuple[str, int]:
    """HOST, HOST:PORT or [IPV6]:PORT -> (host, port); port 5037 when absent."""
    host, port = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise LabError(f"{where}: adb address {text!r} is not [IPV6]:PORT", "client")
        port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host or host.startswith("-") or re.search(r"[\s/]", host):
        raise LabError(f"{where}: adb address {text!r} has no usable host; write HOST:PORT", "client")
    if not port:
        return host, DEFAULT_ADB_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise LabError(f"{where}: adb address {text!r} has port {port!r}; use 1-65535", "client")
    return host, int(port)


def _from_place(tags: Mapping[str, str], comment: str) -> tuple[dict[str, str], str]:
    found = {k: v for k, v in tags.items() if k in ("adb", "adb_serial")}
    if found:
        return found, "tags"
    words = dict(m.groups() for m in _WORD.finditer(comment))
    return words, "comment" if words else ""


def adb_endpoint(place: str, tags: Mapping[str, str], comment: str, table: Mapping[str, Any], *,
                 by_tags: bool) -> AdbEndpoint:
    """The adb server and serial for a locked phone place. `comment` is the place's own comment;
    `by_tags`: the place was picked by tags, so the profile cannot know which phone it is."""
    where = f"place {place}"
    words, source = _from_place(tags, comment)
    sources = [source] if source else []
    host = port = None
    if "adb" in words:
        host, port = parse_adb_address(words["adb"], f"{where} ({source})")
    serial = words.get("adb_serial")
    if (host is None and table.get("adb_host")) or (serial is None and table.get("serial")):
        sources.append("profile")
    if host is None and table.get("adb_host"):
        host, port = str(table["adb_host"]), table.get("adb_port")
    if serial is None and table.get("serial"):
        if by_tags:
            raise LabError(f"{where} was picked by tags but does not say which phone it is: tag it "
                           f"(labgrid-client -p {place} set-tags adb_serial=SERIAL ...); a profile's "
                           f"serial fits only a profile that names the place", "client")
        serial = str(table["serial"])
    if host is None and serial is None and by_tags:
        raise LabError(f"{where} has no adb=HOST:PORT or adb_serial=SERIAL tag: a phone place must say "
                       f"where its phone is (labgrid-client -p {place} set-tags adb=HOST:PORT adb_serial=SERIAL)",
                       "client")
    return AdbEndpoint(host=host, port=port, serial=serial, source=" + ".join(sources) or "defaults")


def adb_table(endpoint: AdbEndpoint, table: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The [device] table of kind adb for the phone (the profile's adb keys kept)."""
    out: dict[str, Any] = {k: table[k] for k in keys if k in table}
    out["kind"] = "adb"
    for key, value in (("adb_host", endpoint.host), ("adb_port", endpoint.port), ("serial", endpoint.serial)):
        if value is not None:
            out[key] = value
    return out
