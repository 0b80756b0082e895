"""Pure checks on a ContainerSpec: each problem is one SpecError line.

Nothing here touches the system beyond reading whether a path exists, so the
checks run before anything is created and a refusal leaves nothing behind.
"""

import os

from .errors import SpecError
from .spec import NAMESPACES


def _is_name(value):
    # Docker's container-name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (written without
    # the re module, which costs a few milliseconds to import).
    if len(value) < 2 or not value[0].isascii() or not value[0].isalnum():
        return False
    return all(c.isascii() and (c.isalnum() or c in "_.-") for c in value[1:])


def _is_hostname(value):
    if not 0 < len(value) <= 64:
        return False
    for label in value.split("."):
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not all(c.isascii() and (c.isalnum() or c == "-") for c in label):
            return False
    return True


def check_name(name):
    if not _is_name(name):
        raise SpecError(f"invalid container name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-]+ "
                        "is allowed")


def check_spec(spec):
    """Raise SpecError for the first thing wrong with ``spec``."""
    if not spec.args:
        raise SpecError("no command specified")
    if spec.image is None and (not spec.rootfs or not os.path.isdir(spec.rootfs)):
        raise SpecError(f"root filesystem {spec.rootfs!r} is not a directory")
    if spec.name is not None:
        check_name(spec.name)
    if spec.hostname is not None and not _is_hostname(spec.hostname):
        raise SpecError(f"invalid hostname {spec.hostname!r}")
    if not spec.cwd or not spec.cwd.startswith("/"):
        raise SpecError(f"the working directory {spec.cwd!r} is not an absolute path")
    for item in spec.env:
        key = item.split("=", 1)[0]
        if not key or "\0" in item:
            raise SpecError(f"invalid environment variable {item!r}")
    unknown = set(spec.namespaces) - set(NAMESPACES)
    if unknown:
        raise SpecError(f"unknown namespace(s): {', '.join(sorted(unknown))}")
    check_network(spec)
    if spec.has("user") != bool(spec.uid_map):
        raise SpecError("a user namespace needs a uid/gid mapping (and a mapping needs a user namespace)")
    for mapping in spec.uid_map + spec.gid_map:
        if mapping.size < 1 or mapping.container_id < 0 or mapping.host_id < 0:
            raise SpecError(f"invalid id mapping {mapping.line().strip()!r}")
    if spec.mount_plan != "docker":  # an OCI list: checked by oci/config.py, in order
        if spec.mount_plan != "oci":
            raise SpecError(f"unknown mount plan {spec.mount_plan!r}")
        return
    targets = set()
    for mount in spec.mounts:
        check_mount(mount)
        if mount.target in targets:
            raise SpecError(f"duplicate mount point: {mount.target}")
        targets.add(mount.target)


def check_network(spec):
    network = spec.network
    shares = network == "host" or network.startswith("container:")
    if shares and "net" in spec.namespaces:
        raise SpecError(f"--network {network} uses another network namespace; do not also ask "
                        "for a new one")
    if not shares and "net" not in spec.namespaces:
        raise SpecError(f"--network {network} needs the container's own network namespace")
    if network.startswith("container:"):
        if not network[len("container:"):]:
            raise SpecError("--network container: needs a container name or id")
    elif network not in ("none", "host", "bridge", "default") and not _is_name(network):
        raise SpecError(f"invalid network name {network!r}")
    options = spec.network_options
    if network in ("none", "host") or network.startswith("container:"):
        if options.ports or options.publish_all:
            raise SpecError(f"published ports are discarded when using --network {network}")
        if options.ip or options.mac or options.aliases:
            raise SpecError(f"--ip, --mac-address and --network-alias need a bridge network, "
                            f"not --network {network}")


def check_mount(mount):
    target = mount.target
    if not target.startswith("/"):
        raise SpecError(f"invalid mount target {target!r}: it must be an absolute path")
    if os.path.normpath(target) == "/":
        raise SpecError("invalid mount target '/': cannot mount over the container's root")
    if mount.type == "bind":
        if not mount.source or not mount.source.startswith("/"):
            raise SpecError(f"invalid bind source {mount.source!r}: it must be an absolute host path")
        if not os.path.exists(mount.source):
            raise SpecError(f"bind source path does not exist: {mount.source}")
    elif mount.type == "volume":
        if mount.source is not None:
            from .volumes import check_name
            check_name(mount.source)
    elif mount.type != "tmpfs":
        raise SpecError(f"unsupported mount type {mount.type!r}")
