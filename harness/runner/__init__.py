"""The on-device runner: standard library, numpy and one runtime, nothing else.

It is pushed to a device as files (see bundle.py) and run in a fresh process per job:
    python3 -m harness.runner JOB.json OUT.json
It times one model under one runtime and writes one JSON result; statistics are computed later by
the harness, never on the device. This package must not import anything from the rest of harness.
"""

RUNNER_PROTOCOL_VERSION = 1
