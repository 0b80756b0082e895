"""Containers' cgroups on cgroup v2 and on v1 (legacy or hybrid) hosts.

    manager = create_manager(container_id, resources, parent=None, privileged=False)
    manager.create(); manager.add_pid(pid); ...; manager.kill(); manager.destroy()
    state["cgroup"] = manager.record()      # later: from_record(state["cgroup"])

Nothing happens until ``create()``.  The container's cgroup goes beneath the
invoking process's own cgroup in each hierarchy, with Docker's
--cgroup-parent (``parent``) as groups in between, relative to it.
"""

import os

from ..errors import SetupError
from .base import check_name, parent_parts
from . import detect as _detect


def create_manager(container_id, resources=None, parent=None, layout=None, privileged=False):
    """A manager for ``container_id``'s cgroup (no side effects until create()).

    create() confines the container to Docker's default devices unless
    ``privileged`` (--privileged).
    """
    check_name(container_id, "container id")
    parts = parent_parts(parent)
    layout = layout or _detect.detect()
    if layout.mode == _detect.UNIFIED:
        from .v2 import V2Manager
        if layout.v2 is None:
            raise SetupError("no cgroup filesystem is mounted on this host", op="cgroup")
        leaf = os.path.join(layout.v2, *parts, container_id)
        return V2Manager({"unified": leaf}, base=layout.v2, resources=resources,
                         privileged=privileged)
    from .v1 import V1Manager
    dirs = {name: os.path.join(base, *parts, container_id) for name, base in layout.v1.items()}
    return V1Manager(dirs, bases=layout.v1, resources=resources, privileged=privileged)


def from_record(record):
    """Rebuild a manager from ``manager.record()`` (or a bare ``paths()`` dict).

    Enough for stats, kill and destroy, e.g. from ``rm -f`` after a crash.
    """
    if "paths" not in record:
        record = {"paths": record}
    paths = dict(record["paths"])
    created = record.get("created", ())
    version = record.get("version") or (2 if "unified" in paths else 1)
    if version == 2:
        from .v2 import V2Manager
        return V2Manager(paths, created=created)
    from .v1 import V1Manager
    return V1Manager(paths, created=created)


def container_mounts():
    """How to show a container its cgroups at /sys/fs/cgroup, as this host has them.

    A list of (subdirectory or "", fstype, options): one cgroup2 at the top on a
    unified host; on v1/hybrid hosts one entry per hierarchy (same controllers
    and name= options as the host's mount, which is how the kernel tells which
    hierarchy is meant) plus the empty cgroup2 at ``unified``.
    """
    with open("/proc/self/mountinfo") as f:
        mounts = _detect.parse_mountinfo(f.read())
    layout = _detect.detect()
    if layout.mode == _detect.UNIFIED:
        return [("", "cgroup2", None)]
    result = []
    for fstype, _root, mountpoint, options in mounts:
        parent, name = os.path.split(mountpoint)
        if parent != "/sys/fs/cgroup" or any(name == r[0] for r in result):
            continue
        if fstype == "cgroup2":
            result.append((name, "cgroup2", None))
        else:
            kept = [o for o in options if o not in ("rw", "ro")]
            result.append((name, "cgroup", ",".join(kept)))
    return result


def host_layout(refresh=False):
    """The host's cgroup layout (mode unified/hybrid/legacy and our own cgroups)."""
    return _detect.detect(refresh)


__all__ = ["create_manager", "from_record", "host_layout"]
