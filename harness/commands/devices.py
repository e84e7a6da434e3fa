"""`edgebench devices check PROFILE...` and `edgebench devices setup-qemu`."""

from __future__ import annotations

import argparse
import json

from ..errors import HarnessError


def main(args: argparse.Namespace) -> int:
    if args.devices_command == "setup-qemu":
        return setup_qemu(args)
    return check(args)


def check(args: argparse.Namespace) -> int:
    """Validate profiles and models, reach each device, list what is missing with how to fix it."""
    from ..devices.probe import describe
    from ..execution.fleet import check_device
    from ..execution.secrets import scrub
    from ..util import shorten
    from ..plan import plan
    from ..profiles import load_profiles

    profiles = load_profiles(args.profiles)
    plan(profiles, seed=0)
    bad = 0
    for prof in profiles:
        print(f"{prof.name} ({prof.kind}, {prof.path}): profile and models ok")
        found = check_device(prof)
        if found.info:
            print(f"  {describe(found.info)}")
        for p in found.problems:
            print(f"  problem: {shorten(scrub(p))}")  # a runner's stderr may hold secrets
        bad += len(found.problems)
    if bad:
        raise HarnessError(f"{bad} problem(s) found; fix them and run `edgebench devices check` again")
    return 0


def setup_qemu(args: argparse.Namespace) -> int:
    from ..setup.arm64 import setup

    info = setup(args.dir, cpu=args.cpu, force=args.force)
    print(json.dumps(info, indent=2))
    return 0
