"""Network definitions and endpoints as JSON under ``<data_root>/networks/``.

Layout (one directory per network, named by its id)::

    networks/lock                  global lock: definitions, ports, firewall
    networks/settings.json         name prefix, ip_forward value before us
    networks/<id>/network.json     name, id, subnet, gateway, bridge, internal
    networks/<id>/leases.json      IPAM leases (see ipam.py; its own lock)
    networks/<id>/endpoints/<container id>.json   one per attached container

This module only reads and writes these files; the bridge devices and the
firewall are made by ``manage.py`` and ``__init__.py``.
"""

import hashlib
import os
import re
import time

from ..errors import Conflict, NotFound, SpecError
from . import ipam
from .files import read_json, remove, write_json

DEFAULT_NETWORK = "bridge"
PREDEFINED = ("bridge", "host", "none")
DEFAULT_PREFIX = "mc"
IFNAMSIZ = 15  # longest interface name the kernel accepts
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def root(data_root):
    return os.path.join(str(data_root), "networks")


def lock_path(data_root):
    return os.path.join(root(data_root), "lock")


def network_dir(data_root, net_id):
    return os.path.join(root(data_root), net_id)


def settings(data_root, prefix=None):
    """The data root's network settings; the first caller fixes the prefix.

    The prefix starts every device name we create (bridges ``<p>br0``,
    ``<p>br-<id>``, veths ``<p>v<hash>``) so tests can use ``mctest`` and a
    leak is recognisable.  Environment: MINICONTAINER_NET_PREFIX.
    """
    path = os.path.join(root(data_root), "settings.json")
    data = read_json(path, None)
    if data is None:
        wanted = prefix or os.environ.get("MINICONTAINER_NET_PREFIX") or DEFAULT_PREFIX
        if not re.fullmatch(r"[a-z][a-z0-9]{0,6}", wanted):
            raise SpecError(f"invalid network name prefix {wanted!r}: 1-7 lowercase letters or digits")
        data = {"prefix": wanted}
        write_json(path, data)
    return data


def save_settings(data_root, data):
    write_json(os.path.join(root(data_root), "settings.json"), data)


def table_name(prefix):
    """Our nftables table: ``minicontainer``, or the prefix for other prefixes."""
    return "minicontainer" if prefix == DEFAULT_PREFIX else prefix


def bridge_name(prefix, net_id, default=False):
    return f"{prefix}br0" if default else f"{prefix}br-{net_id}"[:IFNAMSIZ]


def veth_name(prefix, container_id, net_id):
    digest = hashlib.sha1(f"{container_id}/{net_id}".encode()).hexdigest()
    return f"{prefix}v{digest}"[:IFNAMSIZ]


def networks(data_root):
    """Every network definition, oldest first."""
    base = root(data_root)
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    found = []
    for entry in names:
        data = read_json(os.path.join(base, entry, "network.json"))
        if data:
            found.append(data)
    return sorted(found, key=lambda n: (n.get("created", 0), n["name"]))


def find(data_root, name_or_id):
    """The network with that name, full id or unique id prefix; NotFound otherwise."""
    everything = networks(data_root)
    for net in everything:
        if net["name"] == name_or_id or net["id"] == name_or_id:
            return net
    matches = [n for n in everything if len(name_or_id) >= 3 and n["id"].startswith(name_or_id)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise SpecError(f"network id prefix {name_or_id!r} is ambiguous")
    raise NotFound(f"network {name_or_id} not found")


def new_definition(data_root, name, subnet=None, gateway=None, internal=False,
                   driver="bridge", mtu=1500, prefix=None, default=False):
    """Check a new network and return its definition (nothing written yet).

    Call under the global lock: names and subnets are checked against the
    networks that exist now.
    """
    if driver != "bridge":
        raise SpecError(f"invalid driver {driver!r}: only 'bridge' is supported")
    if not _NAME.match(name or ""):
        raise SpecError(f"invalid network name {name!r}: use letters, digits, '_', '.', '-'")
    if name in PREDEFINED and not default:
        raise SpecError(f"network name {name!r} is reserved (pre-defined network)")
    existing = networks(data_root)
    if any(n["name"] == name for n in existing):
        raise Conflict(f"network with name {name} already exists")
    if not 68 <= int(mtu) <= 65535:
        raise SpecError(f"invalid mtu {mtu}: must be 68-65535")
    taken = [n["subnet"] for n in existing]
    if subnet:
        net = ipam.network(subnet)
        clash = ipam.overlapping(net, taken)
        if clash is not None:
            raise Conflict(f"subnet {net} overlaps the subnet {clash} of another network")
    else:
        net = ipam.network(ipam.choose_subnet(taken))
    gateway = ipam.check_gateway(net, gateway) if gateway else ipam.default_gateway(net)
    net_id = hashlib.sha256(os.urandom(32)).hexdigest()
    prefix = prefix or settings(data_root)["prefix"]
    return {"name": name, "id": net_id, "driver": driver, "subnet": str(net),
            "gateway": gateway, "internal": bool(internal), "mtu": int(mtu),
            "bridge": bridge_name(prefix, net_id, default), "default": bool(default),
            "created": time.time()}


def save(data_root, definition):
    write_json(os.path.join(network_dir(data_root, definition["id"]), "network.json"),
               definition)


def delete(data_root, definition):
    """Remove a network's files (definition, leases, lock, endpoints dir)."""
    base = network_dir(data_root, definition["id"])
    for name in ("network.json", "leases.json", "lock"):
        remove(os.path.join(base, name))
    for path in (os.path.join(base, "endpoints"), base):
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass


# -- endpoints: one container on one network -------------------------------------

def endpoint_path(data_root, net_id, container_id):
    return os.path.join(network_dir(data_root, net_id), "endpoints", f"{container_id}.json")


def save_endpoint(data_root, net_id, endpoint):
    write_json(endpoint_path(data_root, net_id, endpoint["container_id"]), endpoint)


def remove_endpoint(data_root, net_id, container_id):
    remove(endpoint_path(data_root, net_id, container_id))


def endpoints(data_root, net_id):
    """The endpoints of one network, in container id order."""
    base = os.path.join(network_dir(data_root, net_id), "endpoints")
    try:
        names = sorted(os.listdir(base))
    except FileNotFoundError:
        return []
    out = []
    for entry in names:
        if entry.endswith(".json"):
            data = read_json(os.path.join(base, entry))
            if data:
                out.append(data)
    return out
