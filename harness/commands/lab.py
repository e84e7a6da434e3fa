"""`edgebench lab`: the places of a labgrid coordinator and their state, and `release PLACE` for a
lock this user left behind (a run killed with SIGKILL keeps its lock)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

DESCRIPTION = """\
List the places of the shared device lab (a labgrid coordinator): free, reserved (handed to a
waiting client), or locked by HOST/USER, with the run named in the comment; resources whose lab host
is gone are shown as ORPHANED (a locked place) or MISSING (a free one). `release PLACE` unlocks a
place you hold, e.g. after a run was killed."""


def add_parser(sub: Any) -> None:
    """Register `edgebench lab [list]` and `edgebench lab release PLACE`."""
    p = sub.add_parser("lab", help="the shared device lab (labgrid): list places, release a lock",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-x", "--coordinator", metavar="HOST:PORT",
                   help="labgrid coordinator (default: LG_COORDINATOR, else 127.0.0.1:20408)")
    actions = p.add_subparsers(dest="lab_command", metavar="ACTION")
    actions.add_parser("list", help="places and their state (the default)")
    r = actions.add_parser("release", help="unlock a place you hold (and give it back its own comment)")
    r.add_argument("place", metavar="PLACE")
    p.set_defaults(func=main, lab_command="list")


def _resources(place: Any) -> str:
    parts = []
    for r in place.resources:
        if r.cls == "NetworkService":
            user = f"{r.params.get('username')}@" if r.params.get("username") else ""
            parts.append(f"ssh {user}{r.params.get('address')}:{r.params.get('port') or 22}")
        else:
            parts.append(r.cls)
    if "adb" in place.tags or "adb_serial" in place.tags:
        parts.append(f"adb {place.tags.get('adb', '?')} {place.tags.get('adb_serial', '')}".rstrip())
    parts += [f"ORPHANED {p}" for p in place.orphaned]
    parts += [f"MISSING {p}" for p in place.unmatched]
    return ", ".join(parts) or "-"


def format_places(places: Iterable[Any]) -> str:
    """The `edgebench lab` table."""
    from ..util import text_table

    rows = []
    for p in sorted(places, key=lambda p: p.name):
        state = p.state + (", orphaned" if p.orphaned else ", missing resources" if p.unmatched else "")
        tags = " ".join(f"{k}={v}" for k, v in sorted(p.tags.items()))
        rows.append([p.name, state, p.acquired or "-", tags or "-", ",".join(p.exporters) or "-",
                     _resources(p), p.comment or "-"])
    if not rows:
        return ("no places (create one: labgrid-client -p NAME create; "
                "labgrid-client -p NAME add-match EXPORTER/GROUP/*)")
    return text_table(["PLACE", "STATE", "HOLDER", "TAGS", "EXPORTER", "RESOURCES", "COMMENT"], rows)


def main(args: argparse.Namespace) -> int:
    from ..lab import LabClient, coordinator, release_place

    client = LabClient(coordinator(getattr(args, "coordinator", None), "--coordinator"))
    if getattr(args, "lab_command", "list") == "release":
        print(release_place(client, args.place))
        return 0
    print(f"labgrid coordinator {client.where}")
    print(format_places(client.places()))
    return 0
