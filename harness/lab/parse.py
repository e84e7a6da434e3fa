"""Readers for labgrid-client's text output (labgrid 26): `-v places`, `-v -v resources` and `show`.

labgrid-client has no machine-readable output for places, so these parsers read what it prints: a
block per place (`Place 'NAME':` then indented `key: value` lines) and resources as `pformat`ted
dicts (read back with `ast.literal_eval`, never `eval`). Lines they do not know are ignored, so a
newer labgrid that prints more still parses.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any

_PLACE = re.compile(r"^Place '(?P<name>[^']*)':$")
_EXPORTER = re.compile(r"^Exporter '(?P<name>[^']*)':$")
_RESOURCE = re.compile(r"^\s*Resource '(?P<name>[^']*)' \((?P<exp>[^/]*)/(?P<group>[^/]*)/(?P<cls>[^/\[]*)")
_SHOWN = re.compile(r"^(?P<kind>Acquired|Orphaned|Matching) resource '(?P<name>[^']*)' \((?P<path>[^)]*)\)")


@dataclass(frozen=True)
class Resource:
    """One exported resource: `path` is exporter/group/cls/name, `params` its exported parameters."""

    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    avail: bool = True
    acquired: str | None = None  # the name of the place holding it
    name: str = ""  # the name the place gives it (a named match renames it), else the resource name

    @property
    def exporter(self) -> str:
        return self.path.split("/")[0]

    @property
    def cls(self) -> str:
        return self.path.split("/")[2]


@dataclass(frozen=True)
class Place:
    """A labgrid place as the coordinator reports it, with the resources it matches or holds.

    `acquired` is labgrid's lock holder, "HOST/USER". `orphaned`: resources the place holds whose
    exporter is gone (the lab host died or its exporter stopped); `unmatched`: match patterns of a
    free place that no exported resource satisfies (the same, seen before locking).
    """

    name: str
    tags: Mapping[str, str] = field(default_factory=dict)
    comment: str = ""
    aliases: tuple[str, ...] = ()
    matches: tuple[str, ...] = ()
    acquired: str | None = None
    acquired_resources: tuple[str, ...] = ()
    reservation: str | None = None
    resources: tuple[Resource, ...] = ()
    orphaned: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()

    @property
    def state(self) -> str:
        """free | reserved (allocated to a waiting reservation) | locked."""
        if self.acquired:
            return "locked"
        return "reserved" if self.reservation else "free"

    @property
    def exporters(self) -> tuple[str, ...]:
        paths = [r.path for r in self.resources] + list(self.orphaned) + list(self.acquired_resources)
        return tuple(sorted({p.split("/")[0] for p in paths} | {m.split("/")[0] for m in self.unmatched}))

    def has_tags(self, wanted: Mapping[str, str]) -> bool:
        """What a labgrid reservation filter matches: every tag equal; `name` is the place's name."""
        return all((self.name if k == "name" else self.tags.get(k)) == v for k, v in wanted.items())


def _value(text: str) -> str | None:
    return None if text == "None" else text


def _place_block(name: str, lines: list[str]) -> Place:
    """One `Place 'NAME':` block, as `place.show(level=1)` prints it (two-space indent)."""
    values: dict[str, Any] = {"name": name, "tags": {}, "matches": [], "acquired_resources": []}
    section = None
    for line in lines:
        if line.startswith("    ") and section:
            values[section].append(line.strip().split(" -> ")[0])
            continue
        key, _, text = line.strip().partition(": ")
        key = key.rstrip(":")
        section = None
        if key == "tags":
            values["tags"] = dict(pair.split("=", 1) for pair in text.split(", ") if "=" in pair)
        elif key == "matches":
            section = "matches"
        elif key == "acquired resources":
            section = "acquired_resources"
        elif key == "aliases":
            values["aliases"] = tuple(text.split(", "))
        elif key in ("comment", "acquired", "reservation"):
            values[key] = _value(text)
    values["matches"] = tuple(values["matches"])
    values["acquired_resources"] = tuple(values["acquired_resources"])
    values["comment"] = values.get("comment") or ""
    return Place(**values)


def _blocks(text: str, header: re.Pattern) -> Iterable[tuple[re.Match, list[str]]]:
    """Split text into (header match, following lines) at each line the header pattern matches."""
    current: tuple[re.Match, list[str]] | None = None
    for line in text.splitlines():
        m = header.match(line)
        if m:
            if current:
                yield current
            current = (m, [])
        elif current is not None:
            current[1].append(line)
    if current:
        yield current


def parse_places(text: str) -> list[Place]:
    """`labgrid-client -v places`: every place, without resources."""
    out = []
    for m, lines in _blocks(text, _PLACE):
        out.append(_place_block(m["name"], [ln for ln in lines if ln.startswith("  ")]))
    return out


def _literal(lines: list[str]) -> dict[str, Any]:
    try:
        value = ast.literal_eval("\n".join(ln.strip() for ln in lines))
    except (ValueError, SyntaxError):
        return {}
    return value if isinstance(value, dict) else {}


def _resource(path: str, data: Mapping[str, Any], name: str = "") -> Resource:
    params = data.get("params") or {}
    return Resource(path=path, params=params if isinstance(params, dict) else {},
                    avail=bool(data.get("avail", True)), acquired=data.get("acquired"),
                    name=name or path.split("/")[-1])


def parse_resources(text: str) -> list[Resource]:
    """`labgrid-client -v -v resources`: every resource of every connected exporter."""
    out = []
    for m, lines in _blocks(text, _RESOURCE):
        body = [ln for ln in lines if ln.startswith("      ")]
        path = f"{m['exp']}/{m['group']}/{m['cls']}/{m['name']}"
        out.append(_resource(path, _literal(body)))
    return out


def parse_show(text: str) -> Place:
    """`labgrid-client -p NAME show`: the place plus its acquired (or, free, matching) resources."""
    found = list(_blocks(text, _PLACE))
    if not found:
        raise ValueError("no 'Place' block in labgrid-client show output")
    m, lines = found[0]
    head, resources, orphaned = [], [], []
    shown = list(_blocks("\n".join(lines), _SHOWN))
    for ln in lines:
        if _SHOWN.match(ln):
            break
        if ln.startswith("  "):
            head.append(ln)
    for sm, body in shown:
        if sm["kind"] == "Orphaned":
            orphaned.append(sm["path"])
        else:
            resources.append(_resource(sm["path"], _literal(body), sm["name"]))
    place = _place_block(m["name"], head)
    unmatched = () if place.acquired else _unmatched(place.matches, [r.path for r in resources])
    return replace(place, resources=tuple(resources), orphaned=tuple(orphaned), unmatched=unmatched)


def match(pattern: str, path: str) -> bool:
    """Whether a place's match pattern (exporter/group/cls[/name], fnmatch) selects a resource path,
    by labgrid's rule (ResourceMatch.ismatch)."""
    want, have = pattern.split("/"), path.split("/")
    if len(want) < 3 or len(have) < 3:
        return False
    if not all(fnmatchcase(h, w) for h, w in zip(have[:3], want[:3])):
        return False
    return not (len(want) > 3 and len(have) > 3 and want[3] and not fnmatchcase(have[3], want[3]))


def _unmatched(matches: Iterable[str], paths: list[str]) -> tuple[str, ...]:
    return tuple(p for p in matches if not any(match(p, path) for path in paths))


def combine(places: Iterable[Place], resources: Iterable[Resource]) -> list[Place]:
    """Attach resources to places: a locked place's held resources (orphaned when the exporter is
    gone), a free place's matching ones (unmatched patterns when none exists)."""
    by_path = {r.path: r for r in resources}
    out = []
    for place in places:
        if place.acquired:
            held = tuple(by_path[p] for p in place.acquired_resources if p in by_path)
            orphaned = tuple(p for p in place.acquired_resources if p not in by_path)
            out.append(replace(place, resources=held, orphaned=orphaned, unmatched=()))
        else:
            mine = tuple(r for r in by_path.values() if any(match(p, r.path) for p in place.matches))
            out.append(replace(place, resources=mine, orphaned=(),
                               unmatched=_unmatched(place.matches, [r.path for r in mine])))
    return out
