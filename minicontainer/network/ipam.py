"""IP address management: which container holds which address of a network.

Leases live in ``<network dir>/leases.json`` and every change happens under
an exclusive flock on ``<network dir>/lock``, so concurrent starts (separate
processes) never hand out the same address.  Addresses are given out
round-robin after the last one allocated, as Docker does, so an address just
released is not reused at once by the next container.
"""

import ipaddress
import os

from ..errors import Conflict, SpecError
from .files import locked, read_json, write_json

# Docker's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s.
DEFAULT_POOLS = tuple([f"172.{n}.0.0/16" for n in range(17, 32)]
                      + [f"192.168.{n}.0/20" for n in range(0, 256, 16)])


def network(subnet):
    """An IPv4Network from CIDR text; SpecError (one line) if it is not one."""
    try:
        net = ipaddress.IPv4Network(subnet, strict=True)
    except ValueError as exc:
        raise SpecError(f"invalid subnet {subnet!r}: {exc}") from None
    if net.prefixlen > 30:
        raise SpecError(f"invalid subnet {subnet!r}: too small (at most /30)")
    return net


def default_gateway(subnet):
    """The first host address of the subnet, as Docker picks it."""
    return str(network(str(subnet)).network_address + 1)


def check_gateway(subnet, gateway):
    """SpecError unless ``gateway`` is a host address inside ``subnet``."""
    net = network(str(subnet))
    try:
        address = ipaddress.IPv4Address(gateway)
    except ValueError:
        raise SpecError(f"invalid gateway {gateway!r}: not an IPv4 address") from None
    if address not in net or address in (net.network_address, net.broadcast_address):
        raise SpecError(f"invalid gateway {gateway}: not a host address of {net}")
    return str(address)


def host_routes(exclude=(), path="/proc/net/route"):
    """The destinations of the host's IPv4 routes (the default route left out).

    ``exclude`` names interfaces whose routes do not count (our own bridges,
    whose subnets are checked as networks already).
    """
    routes = []
    try:
        with open(path) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[0] in exclude:
                    continue
                dest, mask = int(fields[1], 16), int(fields[7], 16)
                if mask == 0:
                    continue
                # /proc/net/route prints addresses in host (little-endian) order.
                dest_ip = ipaddress.IPv4Address(dest.to_bytes(4, "little"))
                prefix = bin(mask).count("1")
                routes.append(ipaddress.IPv4Network(f"{dest_ip}/{prefix}", strict=False))
    except (OSError, StopIteration):
        pass
    return routes


def overlapping(subnet, others):
    """The first network in ``others`` that overlaps ``subnet``, or None."""
    net = network(str(subnet))
    for other in others:
        other_net = ipaddress.IPv4Network(str(other), strict=False)
        if net.overlaps(other_net):
            return other_net
    return None


def choose_subnet(taken, routes=None, pools=DEFAULT_POOLS):
    """The first default pool that overlaps neither ``taken`` nor a host route."""
    routes = host_routes() if routes is None else routes
    for pool in pools:
        if overlapping(pool, taken) is None and overlapping(pool, routes) is None:
            return pool
    raise Conflict("no free address pool left for a new network "
                   "(all default pools overlap existing networks or host routes)")


def _paths(net_dir):
    return os.path.join(net_dir, "lock"), os.path.join(net_dir, "leases.json")


def leases(net_dir):
    """{ip: container_id} of the network (a snapshot)."""
    return dict(read_json(_paths(net_dir)[1], {}).get("leases", {}))


def lookup(net_dir, container_id):
    """The address leased to ``container_id``, or None."""
    for ip, owner in leases(net_dir).items():
        if owner == container_id:
            return ip
    return None


def allocate(net_dir, container_id, subnet, gateway, requested=None):
    """Lease an address to ``container_id`` and return it.

    A container that already holds a lease gets the same address back (so a
    retried attach is harmless).  ``requested`` is ``--ip``: it must be a
    free host address of the subnet, else SpecError/Conflict.
    """
    net = network(str(subnet))
    lock, path = _paths(net_dir)
    with locked(lock):
        data = read_json(path, {})
        table = data.setdefault("leases", {})
        for ip, owner in table.items():
            if owner == container_id:
                return ip
        reserved = {str(net.network_address), str(net.broadcast_address), str(gateway)}
        if requested:
            ip = _check_requested(net, requested, reserved, table)
        else:
            ip = _next_free(net, reserved, table, data.get("last"))
            data["last"] = ip
        table[ip] = container_id
        write_json(path, data)
        return ip


def release(net_dir, container_id):
    """Give back the lease of ``container_id``; returns the address or None."""
    lock, path = _paths(net_dir)
    if not os.path.exists(path):
        return None
    with locked(lock):
        data = read_json(path, {})
        table = data.get("leases", {})
        mine = [ip for ip, owner in table.items() if owner == container_id]
        for ip in mine:
            del table[ip]
        if mine:
            write_json(path, data)
        return mine[0] if mine else None


def _check_requested(net, requested, reserved, table):
    try:
        address = ipaddress.IPv4Address(requested)
    except ValueError:
        raise SpecError(f"invalid --ip {requested!r}: not an IPv4 address") from None
    ip = str(address)
    if address not in net:
        raise SpecError(f"invalid --ip {ip}: not in the network's subnet {net}")
    if ip in reserved:
        raise SpecError(f"invalid --ip {ip}: reserved (network, broadcast or gateway address)")
    if ip in table:
        raise Conflict(f"address {ip} is already in use by container {table[ip]}")
    return ip


def _next_free(net, reserved, table, last):
    first = int(net.network_address) + 1
    end = int(net.broadcast_address)  # exclusive
    size = end - first
    start = int(ipaddress.IPv4Address(last)) + 1 if last else first
    if not first <= start < end:
        start = first
    for offset in range(size):
        candidate = str(ipaddress.IPv4Address(first + (start - first + offset) % size))
        if candidate not in reserved and candidate not in table:
            return candidate
    raise Conflict(f"no free address left in {net}")
