"""The container's cable: a veth pair from the bridge into its netns.

A veth pair is two interfaces joined back to back.  One end (``<p>v<hash>``)
stays on the host, plugged into the bridge; the other is created directly in
the container's network namespace (IFLA_NET_NS_PID in the same request that
creates the pair) under the name ``eth0`` with its MAC and MTU, so there is
no window in which a stray ``eth0`` exists on the host.  The container side
is then configured through a netlink socket opened inside that namespace.
"""

import contextlib
import os

from ..errors import SetupError
from ..linux import netlog, syscalls
from ..linux.constants import CLONE_NEWNET
from .bridge import EEXIST, ENODEV, _tolerate, index_of

LOOPBACK_INDEX = 1  # the kernel gives lo index 1 in every network namespace


def mac_for(ip):
    """Docker's MAC scheme: 02:42 then the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{int(part):02x}" for part in ip.split("."))


@contextlib.contextmanager
def inside(pid):
    """A pyroute2 IPRoute whose socket lives in the netns of process ``pid``.

    The socket belongs to the namespace it was created in, so we step into
    the container's netns just long enough to create it (setns there and
    back, no helper process: pyroute2's own netns support forks one, ~10 ms).
    """
    from pyroute2 import IPRoute
    path = f"/proc/{pid}/ns/net"
    flags = os.O_RDONLY | os.O_CLOEXEC
    home = os.open("/proc/self/ns/net", flags)
    try:
        target = syscalls.open_path(path, flags, why="the container's network namespace")
    except OSError as exc:
        os.close(home)
        raise SetupError(exc.strerror, op="open netns", path=path, errno=exc.errno) from None
    try:
        syscalls.setns(target, CLONE_NEWNET, path=path,
                       why="enter the container's netns to open a netlink socket there")
        try:
            ipr_ = IPRoute()
        finally:
            syscalls.setns(home, CLONE_NEWNET, path="/proc/self/ns/net",
                           why="return to the host's netns (the socket stays in the container's)")
    finally:
        os.close(target)
        os.close(home)
    try:
        yield ipr_
    finally:
        ipr_.close()


def free_name(inner):
    """eth0, or eth1... when the container is already on other networks."""
    taken = {link.get_attr("IFLA_IFNAME") for link in inner.get_links()}
    number = 0
    while f"eth{number}" in taken:
        number += 1
    return f"eth{number}"


def create(host, host_name, pid, inside_name, mac, mtu, bridge_index, bridge_name):
    """Create the pair in one request: host end plugged into the bridge and
    up, peer straight into the container's netns with its name, MAC and MTU."""
    netlog.step("link add", (host_name, "veth", f"master {bridge_name}", "up",
                             f"peer {inside_name} in netns of pid {pid}", mac, mtu),
                "create the container's cable: one end plugged into the bridge, "
                "the other inside the container",
                host.link, "add", ifname=host_name, kind="veth", mtu=mtu, master=bridge_index,
                state="up",
                peer={"ifname": inside_name, "net_ns_pid": pid, "address": mac, "mtu": mtu})


def configure(inner, name, ip, prefixlen, gateway, internal):
    """Inside the container: address, link up, lo up, default route."""
    index = index_of(inner, name)
    _tolerate(EEXIST, netlog.step, "addr add", (name, f"{ip}/{prefixlen}"),
              "the container's address on the network", inner.addr, "add", index=index,
              address=ip, prefixlen=prefixlen)
    netlog.step("link set up", (name,), "bring the container's interface up",
                inner.link, "set", index=index, state="up")
    netlog.step("link set up", ("lo",), "the container's own loopback",
                inner.link, "set", index=LOOPBACK_INDEX, state="up")
    if internal:
        return
    _tolerate(EEXIST, netlog.step, "route add", ("default", f"via {gateway}", name),
              "send everything not on the subnet to the gateway (the bridge)",
              inner.route, "add", dst="0.0.0.0/0", gateway=gateway, oif=index)


def delete(host, host_name):
    """Delete the host end; the kernel removes its peer with it.  Idempotent."""
    try:
        netlog.step("link del", (host_name,),
                    "unplug the container: deleting one end of a veth removes both",
                    host.link, "del", ifname=host_name)
    except Exception as exc:
        if getattr(exc, "code", None) != ENODEV:
            raise
        return False
    return True
