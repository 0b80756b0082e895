"""IPv4 forwarding, shared by every data root on the machine.

Forwarding is one switch for the whole host, but each data root (a user's,
or a test's private one) keeps its own networks.  So the value found before
the first network anywhere, and the data roots that need forwarding now, are
kept in one machine-wide record under /run (cleared at boot, as the switch
itself is).  The last data root to give up its networks puts the switch back;
one whose networks have vanished (a removed test root) no longer counts.
"""

import os

from ..linux import syscalls
from .files import locked, read_json, write_json

IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"
REGISTRY = "/run/minicontainer-forwarding/users.json"


def hold(data_root, has_networks):
    """``data_root`` has networks: make sure forwarding is on (noting its value first)."""
    data_root = os.path.abspath(data_root)
    with locked(REGISTRY + ".lock"):
        record = _live(read_json(REGISTRY) or {}, has_networks)
        if not record.get("users"):
            record["before"] = _read()
        if data_root not in record.setdefault("users", []):
            record["users"].append(data_root)
        write_json(REGISTRY, record)
    if _read() != "1":
        syscalls.write_file(IP_FORWARD, "1",
                            why="let the host route packets between bridges and the outside")


def release(data_root, has_networks):
    """``data_root`` has no network left: the last one out restores forwarding."""
    data_root = os.path.abspath(data_root)
    with locked(REGISTRY + ".lock"):
        record = read_json(REGISTRY)
        if record is None:
            return
        record["users"] = [user for user in record.get("users", []) if user != data_root]
        record = _live(record, has_networks)
        if record["users"]:
            write_json(REGISTRY, record)
            return
        os.unlink(REGISTRY)
        if record.get("before") == "0" and _read() != "0":
            syscalls.write_file(IP_FORWARD, "0",
                                why="no network left on this host: put IPv4 forwarding back")


def _live(record, has_networks):
    """The record without data roots that no longer have a network."""
    record["users"] = [user for user in record.get("users", []) if has_networks(user)]
    return record


def _read():
    with open(IP_FORWARD) as f:
        return f.read().strip()
