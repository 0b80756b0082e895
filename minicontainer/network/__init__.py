"""Container networking: bridges, veth pairs, IPAM, NAT, published ports, names.

The launcher calls two functions:

* ``attach(data_root, container_id, pid, network_name, options, ...)`` after
  the child exists in its new network namespace and before it is released
  to exec; it returns a plain dict to keep in state.json.
* ``detach(data_root, container_id, recorded)`` on teardown; it works from
  that dict alone (or, with ``recorded=None``, from what the store knows
  about the container), is idempotent, and undoes everything attach did.

``network create/ls/inspect/rm/prune`` live in ``manage.py``.  This package
is the only importer of pyroute2, and imports it only when a netlink step
is about to happen.
"""

DEFAULT_NAMES = ("bridge", "default")


def attach(data_root, container_id, pid, network_name="bridge", options=None, *,
           name=None, hostname=None, hosts_file=None, exposed=(), prefix=None):
    """Connect process ``pid``'s network namespace to a network.

    ``options`` is a ``spec.NetworkOptions`` (ports as ``-p`` strings),
    ``name`` the container's name (resolvable by peers on user-defined
    networks, with ``options.aliases``), ``hosts_file`` the container's
    /etc/hosts in its state directory (rewritten here and whenever peers
    come and go), ``exposed`` the image's exposed ports for ``-P``.
    Bad input raises SpecError before anything is created; a failure later
    undoes every step already taken.
    """
    from contextlib import ExitStack

    from ..spec import NetworkOptions
    from . import bridge, ipam, manage, ports, resolv, store, veth
    from .files import locked

    options = options or NetworkOptions()
    wanted = ports.parse_all(options.ports)
    if options.publish_all:
        wanted += ports.exposed(exposed)
    _check_options(options)
    if network_name in DEFAULT_NAMES or network_name is None:
        if options.ip or options.aliases:
            from ..errors import SpecError
            what = "--ip" if options.ip else "--network-alias"
            raise SpecError(f"{what} is supported on user-defined networks only")
        definition = manage.ensure_default(data_root, prefix)
    else:
        definition = store.find(data_root, network_name)
    net_id = definition["id"]
    net_dir = store.network_dir(data_root, net_id)
    settings = store.settings(data_root)
    with ExitStack() as undo:
        ip = ipam.allocate(net_dir, container_id, definition["subnet"], definition["gateway"],
                           options.ip)
        undo.callback(ipam.release, net_dir, container_id)
        mac = options.mac.lower() if options.mac else veth.mac_for(ip)
        host_name = store.veth_name(settings["prefix"], container_id, net_id)
        endpoint = {"container_id": container_id, "name": name, "hostname": hostname,
                    "aliases": list(options.aliases), "ip": ip, "mac": mac,
                    "veth": host_name, "hosts_file": hosts_file,
                    "add_hosts": list(options.add_hosts)}
        with locked(store.lock_path(data_root)):
            taken = manage.published(data_root)
            ports.check_conflicts([m for m in wanted if m.host_port], taken)
            endpoint["ports"] = [m.as_dict() for m in ports.assign_host_ports(wanted, taken)]
            store.save_endpoint(data_root, net_id, endpoint)
        undo.callback(_forget, data_root, net_id, container_id, bool(wanted))

        host = bridge.ipr()
        undo.callback(host.close)
        bridge_index, created = bridge.ensure(host, definition)
        prefixlen = int(definition["subnet"].split("/")[1])
        mtu = definition.get("mtu", 1500)
        with veth.inside(pid) as inner:
            inside_name = "eth0"
            try:
                veth.create(host, host_name, pid, inside_name, mac, mtu, bridge_index,
                            definition["bridge"])
            except Exception as exc:
                if getattr(exc, "code", None) != bridge.EEXIST:
                    raise
                # Already on another network (or the host end is a leftover):
                # ask the netns for the next free ethN and try once more.
                inside_name = veth.free_name(inner)
                veth.create(host, host_name, pid, inside_name, mac, mtu, bridge_index,
                            definition["bridge"])
            undo.callback(veth.delete, host, host_name)
            veth.configure(inner, inside_name, ip, prefixlen, definition["gateway"],
                           definition.get("internal"))
        with locked(store.lock_path(data_root)):
            if wanted or created:
                manage.sync_firewall(data_root)
            resolv.rewrite(data_root, [net_id])
        undo.pop_all()
    host.close()
    return {"network": definition["name"], "network_id": net_id, "ip": ip,
            "prefixlen": prefixlen, "gateway": definition["gateway"], "mac": mac,
            "bridge": definition["bridge"], "veth": host_name, "interface": inside_name,
            "aliases": list(options.aliases), "ports": endpoint["ports"],
            "hosts_file": hosts_file}


def detach(data_root, container_id, recorded=None):
    """Undo ``attach``: veth, published ports, hosts entries, lease.

    ``recorded`` is what attach returned (or a list of them); None means
    "every network the store says this container is on" (after a crash
    before state.json was written).  Missing pieces are skipped, so calling
    it twice, or after the container's netns is already gone, is fine.
    """
    from . import bridge, ipam, store, veth

    if recorded is None:
        records = _records_from_store(data_root, container_id)
    elif isinstance(recorded, dict):
        records = [recorded]
    else:
        records = list(recorded)
    if not records:
        return
    host = bridge.ipr()
    try:
        for record in records:
            veth.delete(host, record["veth"])
    finally:
        host.close()
    for record in records:
        net_id = record["network_id"]
        _forget(data_root, net_id, container_id, bool(record.get("ports")),
                record.get("hosts_file"))
        ipam.release(store.network_dir(data_root, net_id), container_id)


def _forget(data_root, net_id, container_id, had_ports, hosts_file=None):
    """Drop the endpoint, its port rules and its name from peers' hosts files."""
    from . import manage, resolv, store
    from .files import locked
    with locked(store.lock_path(data_root)):
        store.remove_endpoint(data_root, net_id, container_id)
        if had_ports:
            manage.sync_firewall(data_root)
        resolv.rewrite(data_root, [net_id])


def _records_from_store(data_root, container_id):
    from . import store
    out = []
    for definition in store.networks(data_root):
        for endpoint in store.endpoints(data_root, definition["id"]):
            if endpoint["container_id"] == container_id:
                out.append({"network": definition["name"], "network_id": definition["id"],
                            "veth": endpoint["veth"], "ports": endpoint.get("ports"),
                            "hosts_file": endpoint.get("hosts_file")})
    return out


def _check_options(options):
    import re

    from ..errors import SpecError
    if options.mac and not re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", options.mac):
        raise SpecError(f"invalid --mac-address {options.mac!r}: want xx:xx:xx:xx:xx:xx")
    if options.mac and int(options.mac[:2], 16) & 1:
        raise SpecError(f"invalid --mac-address {options.mac}: a multicast address")
    for alias in options.aliases:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", alias or ""):
            raise SpecError(f"invalid --network-alias {alias!r}")
    for entry in options.add_hosts:
        _check_add_host(entry)


def _check_add_host(entry):
    import ipaddress

    from ..errors import SpecError
    sep = "=" if "=" in entry else ":"
    host, _, address = entry.partition(sep)
    if address == "host-gateway":
        raise SpecError("--add-host host-gateway is not supported")
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        raise SpecError(f"invalid --add-host {entry!r}: want NAME:IP") from None
    if not host:
        raise SpecError(f"invalid --add-host {entry!r}: empty name")
