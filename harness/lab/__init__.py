"""The shared device lab: edgebench as a client of a labgrid coordinator (places, locks,
reservations), so several people and CI jobs share boards and phones without two benchmarks ever
running on one device at a time. Needs the `lab` extra (labgrid); nothing here imports labgrid, it
drives `labgrid-client` (see client.py for why).

    client = LabClient(coordinator(profile_value, "profile.toml: [device] coordinator"))
    with hold(client, run=run_id, tags={"board": "rpi4"}, timeout_s=600) as lease:
        table = device_table(lease, profile.device, config)   # kind ssh or adb
        ... before each job: still_locked(client, lease) ...
"""

from .client import Coordinator, LabClient, LabError, LabUnreachable, coordinator, identity
from .config import LAB_KEYS, LabConfig, device_table, ssh_table
from .lease import Lease, acquire, held_place, hold, release, release_place, still_locked
from .parse import Place, Resource
from .phone import AdbEndpoint, adb_endpoint

__all__ = [
    "LAB_KEYS", "AdbEndpoint", "Coordinator", "LabClient", "LabConfig", "LabError", "LabUnreachable", "Lease",
    "Place", "Resource", "acquire", "adb_endpoint", "coordinator", "device_table", "held_place", "hold", "identity",
    "release", "release_place", "ssh_table", "still_locked",
]
