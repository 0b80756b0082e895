"""``network create/ls/inspect/rm/prune`` and the firewall they maintain.

Each operation holds the data root's global network lock, so definitions,
bridges and the nftables table change together and never race with a
concurrent attach that publishes ports.
"""

from ..errors import Conflict, NotFound, SpecError
from . import bridge, firewall, forwarding, ipam, ports, store
from .files import locked


def create(data_root, name, subnet=None, gateway=None, internal=False, driver="bridge",
           mtu=1500, prefix=None):
    """Create a user-defined network (definition, bridge, firewall); returns it."""
    if gateway and not subnet:
        raise SpecError("--gateway needs --subnet")
    with locked(store.lock_path(data_root)):
        store.settings(data_root, prefix)
        definition = store.new_definition(data_root, name, subnet, gateway, internal, driver,
                                          mtu)
        _check_host_routes(data_root, definition)
        return _bring_up(data_root, definition)


def ensure_default(data_root, prefix=None):
    """The default ``bridge`` network, created on first use; returns it."""
    try:
        return store.find(data_root, store.DEFAULT_NETWORK)
    except NotFound:
        pass
    with locked(store.lock_path(data_root)):
        for net in store.networks(data_root):
            if net["name"] == store.DEFAULT_NETWORK:
                return net
        store.settings(data_root, prefix)
        definition = store.new_definition(data_root, store.DEFAULT_NETWORK, default=True)
        return _bring_up(data_root, definition)


def _check_host_routes(data_root, definition):
    ours = [n["bridge"] for n in store.networks(data_root)]
    clash = ipam.overlapping(definition["subnet"], ipam.host_routes(exclude=ours))
    if clash is not None:
        raise Conflict(f"subnet {definition['subnet']} overlaps the host route {clash}")


def _bring_up(data_root, definition):
    """Bridge and rules for a new definition; nothing is left behind on failure."""
    host = bridge.ipr()
    try:
        bridge.ensure(host, definition)
        store.save(data_root, definition)
        try:
            sync_firewall(data_root)
        except Exception:
            store.delete(data_root, definition)
            raise
    except Exception:
        bridge.delete(host, definition["bridge"])
        raise
    finally:
        host.close()
    return definition


def ls(data_root):
    return store.networks(data_root)


def inspect(data_root, name_or_id):
    """The definition plus its containers: {container_id: {name, ip, mac, ...}}."""
    definition = dict(store.find(data_root, name_or_id))
    definition["containers"] = {
        e["container_id"]: {k: e.get(k) for k in ("name", "ip", "mac", "veth", "aliases", "ports")}
        for e in store.endpoints(data_root, definition["id"])}
    return definition


def remove(data_root, name_or_id, allow_default=False):
    """Remove a network that no container uses; returns its definition."""
    definition = store.find(data_root, name_or_id)
    if definition.get("default") and not allow_default:
        raise SpecError(f"{definition['name']} is a pre-defined network and cannot be removed")
    with locked(store.lock_path(data_root)):
        definition = store.find(data_root, name_or_id)
        users = store.endpoints(data_root, definition["id"])
        if users:
            names = ", ".join(e.get("name") or e["container_id"][:12] for e in users)
            raise Conflict(f"network {definition['name']} has active endpoints ({names})")
        host = bridge.ipr()
        try:
            bridge.delete(host, definition["bridge"])
        finally:
            host.close()
        store.delete(data_root, definition)
        sync_firewall(data_root)
    return definition


def prune(data_root):
    """Remove every user-defined network without containers; returns their names."""
    removed = []
    for definition in store.networks(data_root):
        if definition.get("default") or store.endpoints(data_root, definition["id"]):
            continue
        try:
            remove(data_root, definition["id"])
        except Conflict:
            continue  # a container joined meanwhile
        removed.append(definition["name"])
    return removed


def reset(data_root):
    """Remove all networks, the default one included (uninstall, tests)."""
    for definition in store.networks(data_root):
        remove(data_root, definition["id"], allow_default=True)
    with locked(store.lock_path(data_root)):
        sync_firewall(data_root)


def published(data_root, networks=None):
    """(Mapping, container name or id) of every published port, for conflict checks."""
    out = []
    for net in networks if networks is not None else store.networks(data_root):
        for endpoint in store.endpoints(data_root, net["id"]):
            owner = endpoint.get("name") or endpoint["container_id"][:12]
            out += [(ports.Mapping.from_dict(m), owner) for m in endpoint.get("ports") or ()]
    return out


def sync_firewall(data_root):
    """Make our nftables table match the stored state (call under the lock).

    With networks: enable IPv4 forwarding (forwarding.py notes its earlier
    value, machine-wide) and load the table.  Without: delete the table and
    let forwarding go back once no data root on the host has a network.
    """
    settings = store.settings(data_root)
    table = store.table_name(settings["prefix"])
    networks = store.networks(data_root)
    if not networks:
        firewall.apply(firewall.removal(table), why="no network left: remove our nftables table")
        forwarding.release(data_root, _has_networks)
        return
    forwarding.hold(data_root, _has_networks)
    mappings = []
    for net in networks:
        for endpoint in store.endpoints(data_root, net["id"]):
            mappings += [(endpoint["ip"], m) for m in endpoint.get("ports") or ()]
    firewall.apply(firewall.ruleset(table, networks, mappings),
                   why="NAT, isolation and published ports, replaced in one transaction")


def _has_networks(data_root):
    try:
        return bool(store.networks(data_root))
    except OSError:
        return False
