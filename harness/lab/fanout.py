"""Fan-out: one labgrid profile with `count = N` (or `count = "all"`) and tags becomes one device per
place, so a run measures the same matrix on several identical boards (and the report shows their
spread). The places are chosen when the run is planned: free ones first, then held ones (their
device waits for them up to lock_timeout), in name order, so that two runs asking for the same
boards lock them in the same order and never wait for each other in a circle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import ProfileError
from .client import LabClient, LabError
from .config import LabConfig
from .lease import candidates


def _count(value: Any, where: str) -> int | str:
    if value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ProfileError(f"{where} count must be a number of places >= 1 or \"all\", got {value!r}")


def fanout_tables(table: Mapping[str, Any], source: str | None = None) -> list[dict[str, Any]]:
    """The [device] tables of the places a `count` profile runs on: NAME-PLACE each, `place` set,
    `group` naming the profile (the report's board-to-board spread groups by it)."""
    where = f"{source}: [device]" if source else "[device]"
    config = LabConfig.from_table(table, source)
    count = _count(table.get("count"), where)
    if not config.tags:
        raise ProfileError(f"{where} count = {count!r} needs tags = {{ ... }} (the boards to spread over), "
                           f"not place = {config.place!r}")
    for key in ("serial", "adb_host"):
        if key in table:
            raise ProfileError(f"{where} {key} names one phone, but count spreads the profile over several "
                               f"places: tag each phone place with adb=HOST:PORT adb_serial=SERIAL instead")
    client = LabClient(config.coordinator, call_timeout_s=config.call_timeout_s)
    found = sorted(candidates(client, client.places(resources=False), place=None, tags=config.tags),
                   key=lambda p: p.name)
    free = [p for p in found if not p.acquired and not p.reservation]
    wanted = " ".join(f"{k}={v}" for k, v in sorted(config.tags.items()))
    if count == "all":
        chosen = free
        if not chosen:
            held = ", ".join(f"{p.name} ({p.acquired or 'reserved'})" for p in found)
            raise LabError(f"{where} count = \"all\": no place with tags {wanted} is free now ({held}); "
                           f"try later, or set count = N to wait for N of them", "locked")
    else:
        assert isinstance(count, int)
        if count > len(found):
            raise LabError(f"{where} count = {count}, but only {len(found)} place(s) have tags {wanted} "
                           f"({', '.join(p.name for p in found)}) on coordinator {client.where}; lower count "
                           f"or tag more places", "no-match")
        picked = {p.name for p in (free + [p for p in found if p not in free])[:count]}
        chosen = [p for p in found if p.name in picked]
    base = str(table.get("name") or "lab")
    keep = {k: v for k, v in table.items() if k not in ("count", "tags", "place")}
    return [{**keep, "name": f"{base}-{re.sub(r'[^A-Za-z0-9._-]', '-', p.name)}", "place": p.name,
             "group": str(table.get("group") or base)} for p in chosen]
