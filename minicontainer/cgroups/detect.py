"""Which cgroup layout this host has, and where the invoking process sits in it.

Three layouts exist:

* unified -- one cgroup2 hierarchy holds every controller (every current distro);
* hybrid  -- controllers on v1 hierarchies plus a cgroup2 mount that only tracks
  processes (systemd's "hybrid" mode; this project's build machine);
* legacy  -- v1 hierarchies only.

Containers go *beneath* the invoking process's own cgroup in each hierarchy,
so the answer includes that cgroup's directory for every hierarchy.  Detection
reads /proc/self/mountinfo and /proc/self/cgroup once per process.
"""

import os

UNIFIED, HYBRID, LEGACY = "unified", "hybrid", "legacy"
# The leaf minicontainer steps into on v2 when it was alone in its cgroup
# (see v2._step_aside); containers go beside it, beneath the group above.
RUNTIME_LEAF = "minicontainer-runtime"
# The v1 controllers minicontainer puts a container into.
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "freezer",
                  "devices")

_cached = None


class Layout:
    """The detected layout.

    ``v1`` maps each mounted v1 controller to the directory of the invoking
    process's cgroup in that controller's hierarchy (co-mounted controllers
    such as cpu,cpuacct share a directory); ``v2`` is that directory in the
    cgroup2 hierarchy, or None.
    """

    __slots__ = ("mode", "v1", "v2")

    def __init__(self, mode, v1=None, v2=None):
        self.mode = mode
        self.v1 = dict(v1 or {})
        self.v2 = v2

    def __repr__(self):
        return f"Layout(mode={self.mode!r}, v1={self.v1!r}, v2={self.v2!r})"


def _unescape(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text):
    """cgroup mounts → list of (fstype, mount_root, mountpoint, super_options)."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mounts.append((tail[0], _unescape(fields[3]), _unescape(fields[4]), tail[2].split(",")))
    return mounts


def parse_proc_cgroup(text):
    """/proc/self/cgroup → {controller or '' (v2): path}; 'name=systemd' kept as is."""
    paths = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            paths[""] = path
        for name in controllers.split(","):
            if name:
                paths[name] = path
    return paths


def _dir_for(mountpoint, mount_root, own_path):
    """Where ``own_path`` (as /proc/self/cgroup names it) is under this mount."""
    root = mount_root.rstrip("/")
    if own_path != root and not own_path.startswith(root + "/"):
        return None          # our cgroup is not visible through this mount
    rest = own_path[len(root):].lstrip("/")
    return os.path.join(mountpoint, rest) if rest else mountpoint


def layout_from(mountinfo_text, proc_cgroup_text):
    """Work out the Layout from the two /proc files' contents (pure)."""
    own = parse_proc_cgroup(proc_cgroup_text)
    v1, v2 = {}, None
    for fstype, mount_root, mountpoint, options in parse_mountinfo(mountinfo_text):
        if fstype == "cgroup2":
            # prefer the canonical place when cgroup2 is mounted more than once
            if "" in own and (v2 is None or mountpoint in ("/sys/fs/cgroup",
                                                          "/sys/fs/cgroup/unified")):
                found = _dir_for(mountpoint, mount_root, own[""])
                if found and os.path.basename(found) == RUNTIME_LEAF:
                    found = os.path.dirname(found)
                v2 = found or v2
            continue
        for controller in options:
            if controller in V1_CONTROLLERS and controller in own and controller not in v1:
                found = _dir_for(mountpoint, mount_root, own[controller])
                if found:
                    v1[controller] = found
    if v1:
        return Layout(HYBRID if v2 else LEGACY, v1=v1, v2=v2)
    return Layout(UNIFIED, v2=v2)


def detect(refresh=False):
    """The host's Layout, read once per process (``refresh`` re-reads it)."""
    global _cached
    if _cached is None or refresh:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
        with open("/proc/self/cgroup") as f:
            proc_cgroup = f.read()
        _cached = layout_from(mountinfo, proc_cgroup)
    return _cached
