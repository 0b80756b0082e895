"""The host side of a network: its bridge device, over netlink (pyroute2).

A bridge is a virtual switch; the network's gateway address lives on it, so
the host routes the subnet to it and containers reach the host (and, through
NAT, the outside) via that address.
"""

from ..linux import netlog, syscalls

EEXIST, ENODEV = 17, 19
IFF_UP = 1


def ipr():
    """A netlink socket in the host's network namespace (pyroute2 loaded here)."""
    from pyroute2 import IPRoute
    return IPRoute()


def get_link(ipr_, name):
    """The link message of interface ``name`` (one netlink request), or None."""
    try:
        return ipr_.link("get", ifname=name)[0]
    except Exception as exc:
        if getattr(exc, "code", None) == ENODEV:
            return None
        raise


def index_of(ipr_, name):
    link = get_link(ipr_, name)
    return None if link is None else link["index"]


def ensure(ipr_, definition):
    """Make the network's bridge exist, carry the gateway address and be up.

    Safe to call again and from several processes at once (EEXIST is fine):
    after a host reboot the definitions survive but the devices do not.
    Returns (interface index, whether the bridge had to be created).
    """
    name, mtu = definition["bridge"], definition.get("mtu", 1500)
    link = get_link(ipr_, name)
    if link is not None and link["flags"] & IFF_UP:
        # The common case: one request.  An existing, up bridge was set up
        # by us (its address is added before it is brought up).
        return link["index"], False
    created = link is None
    if created:
        _tolerate(EEXIST, netlog.step, "link add", (name, "bridge", mtu),
                  f"create the bridge (virtual switch) of network {definition['name']}",
                  ipr_.link, "add", ifname=name, kind="bridge", mtu=mtu)
        link = get_link(ipr_, name)
        # 127.0.0.1:PORT published: DNATed packets keep their 127.x source
        # until masquerade, and the kernel drops such "martians" on a
        # non-loopback device unless route_localnet allows them.
        syscalls.write_file(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1",
                            why="let published ports work through 127.0.0.1")
    index = link["index"]
    prefixlen = int(definition["subnet"].split("/")[1])
    have = [a.get("address") for a in ipr_.get_addr(index=index, family=2)]
    if definition["gateway"] not in have:
        _tolerate(EEXIST, netlog.step, "addr add", (name, f"{definition['gateway']}/{prefixlen}"),
                  "the gateway address: the host end of the subnet", ipr_.addr, "add",
                  index=index, address=definition["gateway"], prefixlen=prefixlen)
    netlog.step("link set up", (name,), "bring the bridge up",
                ipr_.link, "set", index=index, state="up")
    return index, created


def delete(ipr_, name):
    """Delete the bridge ``name``; a missing one is fine."""
    index = index_of(ipr_, name)
    if index is None:
        return False
    _tolerate(ENODEV, netlog.step, "link del", (name,), "remove the network's bridge",
              ipr_.link, "del", index=index)
    return True


def _tolerate(code, fn, *args, **kwargs):
    """Run fn; a netlink error ``code`` (already there / already gone) is success."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        if getattr(exc, "code", None) != code:
            raise
        return None
