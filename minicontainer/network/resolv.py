"""Name resolution between containers: each container's /etc/hosts.

Choice: hosts files, not a DNS responder.  Every container has its own
hosts file in its state directory (bind-mounted as /etc/hosts by the
launcher).  When a container joins or leaves a user-defined network, the
hosts files of every container on that network are rewritten, so names work
whatever order containers started in and vanish when a container goes.
Why not DNS: a responder is a long-lived process per network (or one host
daemon) that must be supervised, listen inside every namespace and forward
other queries somewhere; the hosts file needs no process, sends no packet
(nothing can leak off this machine) and costs one small write per
container per change.  The price: a program that reads /etc/hosts once and
caches it will not see later joins (the same is true of most DNS caches).

Files are rewritten in place (truncate + one write), never replaced by
rename: a bind mount pins the inode, so a renamed-over file would stay
invisible inside the container.

As in Docker, the default ``bridge`` network has no name resolution.
"""

import os

from . import store

LOCAL = ("127.0.0.1\tlocalhost",
         "::1\tlocalhost ip6-localhost ip6-loopback",
         "fe00::0\tip6-localnet",
         "ff00::0\tip6-mcastprefix",
         "ff02::1\tip6-allnodes",
         "ff02::2\tip6-allrouters")


def _names(endpoint, with_hostname):
    names = []
    for name in ([endpoint.get("hostname")] if with_hostname else []) + \
            [endpoint.get("name")] + list(endpoint.get("aliases") or ()):
        if name and name not in names:
            names.append(name)
    return names


def hosts_entries(network, container, peers):
    """The hosts lines that ``container`` sees because of ``network``.

    ``container`` is its endpoint on that network, ``peers`` all endpoints
    of the network (it may be among them).  Its own line comes first, with
    its hostname; then, on user-defined networks, one line per other
    container with its name and aliases.
    """
    lines = []
    own = _names(container, with_hostname=True)
    if own:
        lines.append(f"{container['ip']}\t{' '.join(own)}")
    if network.get("default"):
        return lines
    for peer in peers:
        if peer["container_id"] == container["container_id"]:
            continue
        names = _names(peer, with_hostname=False)
        if names:
            lines.append(f"{peer['ip']}\t{' '.join(names)}")
    return lines


def hosts_text(data_root, container_id):
    """The whole hosts file of one container, from every network it is on."""
    lines = list(LOCAL)
    extra = []
    for network in store.networks(data_root):
        peers = store.endpoints(data_root, network["id"])
        for endpoint in peers:
            if endpoint["container_id"] == container_id:
                if not extra:
                    extra = [_add_host(h) for h in endpoint.get("add_hosts") or ()]
                lines += hosts_entries(network, endpoint, peers)
    return "\n".join(lines + extra) + "\n"


def _add_host(spec):
    """``--add-host name:ip`` as a hosts line."""
    name, _, address = spec.partition(":") if "=" not in spec else spec.partition("=")
    return f"{address}\t{name}"


def rewrite(data_root, network_ids, also=()):
    """Rewrite the hosts files of every container on ``network_ids``.

    ``also`` holds (hosts_file, container_id) pairs to rewrite too (a
    container that just left and is no longer among the endpoints).
    Returns the paths written.
    """
    targets = dict((path, cid) for path, cid in also if path)
    for net_id in network_ids:
        for endpoint in store.endpoints(data_root, net_id):
            if endpoint.get("hosts_file"):
                targets[endpoint["hosts_file"]] = endpoint["container_id"]
    written = []
    for path, container_id in targets.items():
        if _write_in_place(path, hosts_text(data_root, container_id)):
            written.append(path)
    return written


def _write_in_place(path, text):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except (FileNotFoundError, NotADirectoryError):
        return False  # the container's state directory is gone: nothing to update
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return True
