"""The container's filesystem as a plain list of steps (pure: nothing mounted).

``plan_rootfs`` turns a spec into ``RootfsPlan``: the mount targets that must
exist in the root directory (created by the launcher, which is still real root
even when the container will live in a user namespace) and the ordered steps
the container's init performs (``rootfs.apply``).  Unit tests read the plan
without root; ``--explain`` shows each step as the kernel carries it out.

Each step is a tuple ``(kind, why, *args)``.
"""

import os
import stat

from ..linux import constants as C
from .paths import secure_join

# Docker's /dev: these nodes and nothing else (the device cgroup denies the rest).
DEVICES = (
    ("null", 1, 3, "discards what is written, reads as empty"),
    ("zero", 1, 5, "reads as endless zero bytes"),
    ("full", 1, 7, "a disk that is always full (writes fail with ENOSPC)"),
    ("random", 1, 8, "random bytes from the kernel"),
    ("urandom", 1, 9, "random bytes from the kernel"),
    ("tty", 5, 0, "the process's controlling terminal"),
)
DEV_LINKS = (
    ("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx"), ("/proc/kcore", "core"),
)
NOSUID_NODEV_NOEXEC = C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC
RUNTIME_FILES = (("hostname", "its own hostname"), ("hosts", "names for localhost and itself"),
                 ("resolv.conf", "which DNS servers to ask"))
INIT_PATH = "/sbin/docker-init"
# Host /dev entries --privileged does not copy: the container's own mounts
# and links stand there, and the console is the container's terminal (runc
# skips the same ones).
HOST_DEV_SKIP = frozenset(["pts", "shm", "mqueue", "fd", "console", "ptmx", "core", "stdin",
                           "stdout", "stderr", ".lxc", ".lxd-mounts", ".udev"])


class RootfsPlan:
    """Targets to create on the host, then steps for the container's init."""

    __slots__ = ("rootfs", "targets", "steps")

    def __init__(self, rootfs):
        self.rootfs = rootfs
        self.targets = []   # (kind "dir"|"file", host path)
        self.steps = []

    def step(self, kind, why, *args):
        self.steps.append((kind, why) + args)

    def target(self, path_in_container, kind="dir"):
        """The host path of a mount target in the root, noted for creation."""
        host_path = secure_join(self.rootfs, path_in_container)
        self.targets.append((kind, host_path))
        return host_path


def plan_rootfs(spec, container_dir, init_binary=None, cgroup_mounts=()):
    if spec.mount_plan == "oci":  # the config's own mount list (rootfs/ociplan.py)
        from .ociplan import plan_oci_rootfs
        return plan_oci_rootfs(spec, cgroup_mounts)
    plan = RootfsPlan(os.path.abspath(spec.rootfs))
    root = plan.rootfs
    userns = spec.has("user")
    plan.step("mount", "make every mount private, so nothing we mount leaks back to the host",
              None, "/", None, C.MS_REC | C.MS_PRIVATE, None)
    plan.step("mount", "bind the root directory onto itself: pivot_root needs a mount point",
              root, root, None, C.MS_BIND | C.MS_REC, None)
    _plan_proc_and_sys(plan, spec, userns)
    if cgroup_mounts and not userns:
        _plan_cgroupfs(plan, spec, cgroup_mounts)
    _plan_dev(plan, spec, userns)
    for name, what in RUNTIME_FILES:
        plan.step("mount", f"give the container {what} (/etc/{name}, written by the runtime)",
                  os.path.join(container_dir, name), plan.target(f"/etc/{name}", "file"),
                  None, C.MS_BIND, None)
    for mount in sorted(spec.mounts, key=lambda m: m.target.rstrip("/").count("/")):
        _plan_user_mount(plan, mount)
    if spec.init and init_binary:
        target = plan.target(INIT_PATH, "file")
        plan.step("mount", "bind the small init (tini) that will reap orphans as PID 1",
                  init_binary, target, None, C.MS_BIND, None)
        plan.step("readonly", "make the init binary read-only", target)
    plan.step("pivot", "swap the root: the container's directory becomes /, the host's root is "
              "detached and unreachable", root)
    if spec.readonly_rootfs:
        plan.step("readonly", "make the root filesystem read-only (--read-only)", "/")
    return plan


def _plan_proc_and_sys(plan, spec, userns):
    proc = plan.target("/proc")
    if userns and not spec.has("pid"):
        plan.step("mount", "bind the host's /proc (a user namespace may not mount a new one for "
                  "the host's PID namespace)", "/proc", proc, None, C.MS_BIND | C.MS_REC, None)
    else:
        plan.step("mount", "mount a /proc that shows only this PID namespace's processes",
                  "proc", proc, "proc", NOSUID_NODEV_NOEXEC, None)
    sys_dir = plan.target("/sys")
    if userns and not spec.has("net"):
        plan.step("mount", "bind the host's /sys read-only (sysfs belongs to the host's network "
                  "namespace)", "/sys", sys_dir, None, C.MS_BIND | C.MS_REC, None)
        plan.step("readonly", "make /sys read-only", sys_dir)
    elif spec.security.privileged:  # as Docker: a privileged container may write /sys
        plan.step("mount", "mount /sys read-write (--privileged; its network part shows this "
                  "namespace's devices)", "sysfs", sys_dir, "sysfs", NOSUID_NODEV_NOEXEC, None)
    else:
        plan.step("mount", "mount /sys read-only (its network part shows this namespace's devices)",
                  "sysfs", sys_dir, "sysfs", NOSUID_NODEV_NOEXEC | C.MS_RDONLY, None)


def _plan_cgroupfs(plan, spec, cgroup_mounts):
    """/sys/fs/cgroup as Docker shows it: the container's own cgroups, read-only.

    Mounted after the child entered its cgroup namespace, so each hierarchy's
    root is the container's cgroup.  (Skipped in a user namespace, where the
    kernel refuses cgroup v1 mounts.)
    """
    top = os.path.join(plan.rootfs, "sys/fs/cgroup")
    readonly = 0 if spec.security.privileged else C.MS_RDONLY
    flags = NOSUID_NODEV_NOEXEC | readonly
    if cgroup_mounts[0][0] == "":  # a unified host: one cgroup2
        plan.step("mount", "mount the container's cgroup tree (cgroup v2) at /sys/fs/cgroup",
                  "cgroup2", top, "cgroup2", flags, None)
        return
    plan.step("mount", "mount a tmpfs at /sys/fs/cgroup to hold one directory per hierarchy",
              "tmpfs", top, "tmpfs", NOSUID_NODEV_NOEXEC, "mode=755")
    for name, fstype, options in cgroup_mounts:
        path = os.path.join(top, name)
        plan.step("mkdir", f"create /sys/fs/cgroup/{name}", path, 0o755)
        plan.step("mount", f"mount the container's {name} cgroups (its own cgroup is the root)",
                  "cgroup", path, fstype, flags, options)
    if readonly:
        plan.step("readonly", "make /sys/fs/cgroup read-only", top)


def _plan_dev(plan, spec, userns):
    dev = plan.target("/dev")
    plan.step("mount", "mount an empty tmpfs on /dev: the host's devices stay out",
              "tmpfs", dev, "tmpfs", C.MS_NOSUID | C.MS_STRICTATIME, "mode=755,size=65536k")
    for name, major, minor, what in DEVICES:
        plan.step("device", f"create /dev/{name}: {what}", os.path.join(dev, name), major, minor,
                  0o666, "/dev/" + name)
    if spec.security.privileged:
        _plan_host_devices(plan, dev, host_device_nodes())
    for target, name in DEV_LINKS:
        plan.step("symlink", f"link /dev/{name} -> {target}", target, os.path.join(dev, name))
    pts = os.path.join(dev, "pts")
    plan.step("mkdir", "create /dev/pts", pts, 0o755)
    pts_options = "newinstance,ptmxmode=0666,mode=0620"
    if not userns or _maps_gid(spec, 5):
        pts_options += ",gid=5"
    plan.step("mount", "mount a new devpts instance: the container's own pseudo-terminals, "
              "not the host's", "devpts", pts, "devpts", C.MS_NOSUID | C.MS_NOEXEC, pts_options)
    shm = os.path.join(dev, "shm")
    plan.step("mkdir", "create /dev/shm", shm, 0o1777)
    plan.step("mount", "mount a tmpfs on /dev/shm for POSIX shared memory",
              "shm", shm, "tmpfs", NOSUID_NODEV_NOEXEC, "mode=1777,size=65536k")
    if spec.has("ipc") or not userns:
        mqueue = os.path.join(dev, "mqueue")
        plan.step("mkdir", "create /dev/mqueue", mqueue, 0o755)
        plan.step("mount", "mount the IPC namespace's POSIX message queues",
                  "mqueue", mqueue, "mqueue", NOSUID_NODEV_NOEXEC, None)


def host_device_nodes(top="/dev"):
    """The host's device nodes: (relative path, "c"|"b", major, minor, mode), sorted.

    Directories come first as (relative path, "dir", 0, 0, mode).  Reads
    only: nodes are stat'ed, never opened.
    """
    found = []

    def walk(directory, rel):
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if not rel and entry.name in HOST_DEV_SKIP:
                continue
            path = os.path.join(rel, entry.name)
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue        # vanished meanwhile (udev)
            if stat.S_ISDIR(st.st_mode):
                found.append((path, "dir", 0, 0, stat.S_IMODE(st.st_mode)))
                walk(entry.path, path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                found.append((path, "b" if stat.S_ISBLK(st.st_mode) else "c",
                              os.major(st.st_rdev), os.minor(st.st_rdev),
                              stat.S_IMODE(st.st_mode)))

    walk(top, "")
    return found


def _plan_host_devices(plan, dev, nodes):
    """--privileged: a node for every host device, as Docker gives it."""
    defaults = {name for name, *_ in DEVICES}
    for rel, kind, major, minor, mode in nodes:
        if rel in defaults:
            continue
        path = os.path.join(dev, rel)
        if kind == "dir":
            plan.step("mkdir", f"create /dev/{rel} (--privileged: the host's devices)",
                      path, mode)
            continue
        what = "block" if kind == "b" else "character"
        plan.step("device", f"create /dev/{rel}: the host's {what} device {major}:{minor} "
                  "(--privileged)", path, major, minor, mode, "/dev/" + rel, kind)


def _maps_gid(spec, gid):
    return any(m.container_id <= gid < m.container_id + m.size for m in spec.gid_map)


def _plan_user_mount(plan, mount):
    # The target is resolved again inside the root when it is mounted, after
    # the mounts before it (a volume may hold a symlink): "mount_in_root".
    root = plan.rootfs
    if mount.type == "tmpfs":
        plan.target(mount.target)
        flags, data = tmpfs_options(mount.options)
        plan.step("mount_in_root", f"mount a tmpfs on {mount.target} (--tmpfs)", "tmpfs", root,
                  mount.target, "tmpfs", flags, data, "dir", mount.readonly)
        return
    kind = "dir" if os.path.isdir(mount.source) else "file"
    plan.target(mount.target, kind)
    why = f"bind the host's {mount.source} at {mount.target} (-v)"
    if mount.readonly:
        # recursively: a bind of / brings /proc, /sys, cgroupfs ... along, and
        # those stay writable unless each is made read-only too (Docker >= 25)
        why += ", it and every mount beneath it read-only (:ro)"
    plan.step("mount_in_root", why, mount.source, root, mount.target, None,
              C.MS_BIND | C.MS_REC, None, kind, mount.readonly)


_TMPFS_FLAG_WORDS = {"noexec": C.MS_NOEXEC, "nosuid": C.MS_NOSUID, "nodev": C.MS_NODEV,
                     "exec": 0, "suid": 0, "dev": 0}


def tmpfs_options(options):
    """Docker's --tmpfs options -> (mount flags, data); default noexec,nosuid,nodev."""
    words = [w for w in (options or "").split(",") if w and w not in ("ro", "rw")]
    flags = C.MS_NOEXEC | C.MS_NOSUID | C.MS_NODEV
    data = []
    for word in words:
        if word in _TMPFS_FLAG_WORDS:
            bit = _TMPFS_FLAG_WORDS[word]
            if bit:
                flags |= bit
            else:  # exec/suid/dev turn a default off
                flags &= ~_TMPFS_FLAG_WORDS["no" + word]
        else:
            data.append(word)
    return flags, ",".join(data) or None
