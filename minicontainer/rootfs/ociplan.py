"""The root filesystem an OCI config.json describes (ContainerSpec.mount_plan == "oci").

Where Docker's plan (``plan.py``) mounts a fixed /proc, /sys and /dev and
then the user's -v/--tmpfs, an OCI config lists every mount itself, in
order, with mount(8)-style option words.  As runc does:

* the listed mounts and nothing else (a config without /proc gets none);
* when /dev is a tmpfs, the default nodes (null, zero, full, random,
  urandom, tty) and the /dev/fd, stdin..., ptmx symlinks are added;
* linux.devices are made in /dev (mknod, or a bind of the host's node in a
  user namespace), then pivot_root, the read-only root, and the sysctls.

Option words are parsed by ``parse_options`` (also used by oci/config.py to
refuse bad ones before anything starts).
"""

import os

from ..linux import constants as C
from .paths import secure_join
from .plan import DEV_LINKS, DEVICES, RootfsPlan

# word -> (set these flags, clear these flags)
FLAG_WORDS = {
    "ro": (C.MS_RDONLY, 0), "rw": (0, C.MS_RDONLY),
    "nosuid": (C.MS_NOSUID, 0), "suid": (0, C.MS_NOSUID),
    "nodev": (C.MS_NODEV, 0), "dev": (0, C.MS_NODEV),
    "noexec": (C.MS_NOEXEC, 0), "exec": (0, C.MS_NOEXEC),
    "sync": (C.MS_SYNCHRONOUS, 0), "async": (0, C.MS_SYNCHRONOUS),
    "dirsync": (C.MS_DIRSYNC, 0), "remount": (C.MS_REMOUNT, 0),
    "mand": (C.MS_MANDLOCK, 0), "nomand": (0, C.MS_MANDLOCK),
    "atime": (0, C.MS_NOATIME), "noatime": (C.MS_NOATIME, 0),
    "diratime": (0, C.MS_NODIRATIME), "nodiratime": (C.MS_NODIRATIME, 0),
    "relatime": (C.MS_RELATIME, 0), "norelatime": (0, C.MS_RELATIME),
    "strictatime": (C.MS_STRICTATIME, 0), "nostrictatime": (0, C.MS_STRICTATIME),
    "nosymfollow": (C.MS_NOSYMFOLLOW, 0), "symfollow": (0, C.MS_NOSYMFOLLOW),
    "defaults": (0, 0),
}
PROPAGATION_WORDS = {
    "private": C.MS_PRIVATE, "rprivate": C.MS_PRIVATE | C.MS_REC,
    "shared": C.MS_SHARED, "rshared": C.MS_SHARED | C.MS_REC,
    "slave": C.MS_SLAVE, "rslave": C.MS_SLAVE | C.MS_REC,
    "unbindable": C.MS_UNBINDABLE, "runbindable": C.MS_UNBINDABLE | C.MS_REC,
}
# Flags a bind mount only takes on a second, MS_REMOUNT call.
BIND_REMOUNT_FLAGS = (C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC | C.MS_NOATIME
                      | C.MS_NODIRATIME | C.MS_RELATIME | C.MS_STRICTATIME | C.MS_NOSYMFOLLOW)
CGROUP_TYPES = ("cgroup", "cgroup2")
# Words that are neither flags nor data: recognised and ignored, as runc does.
IGNORED_WORDS = ("idmap", "ridmap", "tmpcopyup", "copy-symlink")


class MountOptions:
    """One mount's option words, parsed: flags, propagation, data, bind."""

    __slots__ = ("flags", "propagation", "data", "bind", "recursive")

    def __init__(self, flags, propagation, data, bind, recursive):
        self.flags, self.propagation, self.data = flags, propagation, data
        self.bind, self.recursive = bind, recursive


def parse_options(words, fstype=None):
    """OCI option words -> MountOptions.  Raises ValueError naming a bad word."""
    flags, propagation, data = 0, 0, []
    bind = fstype == "bind"
    recursive = False
    for word in words:
        if not isinstance(word, str) or not word:
            raise ValueError(f"option {word!r} is not a non-empty string")
        if word in ("bind", "rbind"):
            bind = True
            recursive = recursive or word == "rbind"
        elif word in FLAG_WORDS:
            add, clear = FLAG_WORDS[word]
            flags = (flags | add) & ~clear
        elif word in PROPAGATION_WORDS:
            propagation = PROPAGATION_WORDS[word]
        elif word in IGNORED_WORDS:
            continue
        elif word.startswith("r") and word[1:] in FLAG_WORDS and word[1:] != "emount":
            raise ValueError(f"recursive mount attribute {word!r} is not supported")
        else:
            if "," in word:
                raise ValueError(f"option {word!r} contains a comma")
            data.append(word)  # filesystem data: mode=755, size=64k, newinstance...
    if bind and data:
        raise ValueError(f"a bind mount takes no filesystem options ({','.join(data)})")
    return MountOptions(flags, propagation, ",".join(data) or None, bind, recursive)


def plan_oci_rootfs(spec, cgroup_mounts=()):
    """The RootfsPlan for an OCI spec: exactly its mounts, devices and sysctls."""
    plan = RootfsPlan(os.path.abspath(spec.rootfs))
    root = plan.rootfs
    userns = spec.has("user")
    propagation = PROPAGATION_WORDS.get(spec.rootfs_propagation or "rprivate",
                                        C.MS_PRIVATE | C.MS_REC)
    # Everything private first (as runc: slave or private), so no mount made
    # here reaches the host; a shared root is made shared again after pivot.
    plan.step("mount", "make every mount private (rootfsPropagation decides later), so "
              "nothing we mount leaks back to the host", None, "/", None,
              C.MS_REC | (C.MS_SLAVE if propagation & C.MS_SLAVE else C.MS_PRIVATE), None)
    plan.step("mount", "bind the root directory onto itself: pivot_root needs a mount point",
              root, root, None, C.MS_BIND | C.MS_REC, None)
    mounted = []
    dev_tmpfs = False
    for mount in spec.mounts:
        target = os.path.normpath(mount.target)
        words = [w for w in (mount.options or "").split(",") if w]
        options = parse_options(words, mount.type)
        nested = any(target == m or target.startswith(m.rstrip("/") + "/") for m in mounted)
        if mount.type in CGROUP_TYPES:
            _plan_cgroup(plan, target, options, userns or not spec.has("cgroup"),
                         cgroup_mounts, nested)
        else:
            _plan_mount(plan, mount, target, options, nested)
        mounted.append(target)
        if target == "/dev" and mount.type == "tmpfs":
            dev_tmpfs = True
    if dev_tmpfs:
        _plan_default_devices(plan)
    _plan_devices(plan, spec.devices)
    plan.step("pivot", "swap the root: the bundle's rootfs becomes /, the host's root is "
              "detached and unreachable", root)
    if propagation & C.MS_SHARED:
        plan.step("mount", "make the root's mounts shared (rootfsPropagation)", None, "/", None,
                  propagation, None)
    if spec.readonly_rootfs:
        plan.step("readonly", "make the root filesystem read-only (root.readonly)", "/")
    for key, value in spec.sysctl:
        plan.step("sysctl", f"set {key} = {value} inside the container's namespaces (sysctl)",
                  key, value)
    return plan


def _plan_mount(plan, mount, target, options, nested):
    root = plan.rootfs
    if options.bind:
        kind = "dir" if os.path.isdir(mount.source) else "file"
        flags = C.MS_BIND | (C.MS_REC if options.recursive else 0)
        why = (f"bind {mount.source} at {target}" + (" with every mount beneath it"
                                                     if options.recursive else ""))
        remount = options.flags & BIND_REMOUNT_FLAGS
    else:
        kind = "dir"
        flags = options.flags & ~C.MS_REMOUNT
        why = f"mount {mount.type} at {target}"
        remount = 0
    if not nested:  # beneath an earlier mount, the init makes the target in it
        plan.target(target, kind)
    plan.step("oci_mount", why, mount.source if options.bind else (mount.source or mount.type),
              root, target, None if options.bind else mount.type, flags, options.data, kind,
              remount, options.propagation, options.recursive)


def _plan_cgroup(plan, target, options, bind_own, cgroup_mounts, nested):
    """A "cgroup" mount: the container's own cgroups, as runc shows them.

    In its own cgroup namespace (and no user namespace) each hierarchy is
    mounted afresh and its root is the container's cgroup.  Otherwise (no
    cgroup namespace: a mount would show the host's whole tree; a user
    namespace: the kernel refuses cgroup v1 mounts) the container's own
    cgroup directory in each hierarchy is bound there ("cgroup_bind").
    """
    root = plan.rootfs
    if not nested:
        plan.target(target)
    top = secure_join(root, target)
    flags = (options.flags & ~C.MS_REMOUNT) | C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC
    if not cgroup_mounts:  # no cgroup filesystem known: the host's tree, read-only
        plan.step("oci_mount", f"bind the host's cgroup tree at {target}", "/sys/fs/cgroup",
                  root, target, None, C.MS_BIND | C.MS_REC, None, "dir",
                  C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC, 0, True)
        return
    if bind_own:
        remount = flags & (C.MS_RDONLY | C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC)
        if cgroup_mounts[0][0] == "":
            plan.step("cgroup_bind", f"bind the container's own cgroup (v2) at {target}",
                      "", "", top, remount)
            return
        plan.step("mount", f"mount a tmpfs at {target} to hold one directory per hierarchy",
                  "tmpfs", top, "tmpfs", C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC, "mode=755")
        for name, fstype, data in cgroup_mounts:
            path = os.path.join(top, name)
            plan.step("mkdir", f"create {target}/{name}", path, 0o755)
            key = "" if fstype == "cgroup2" else (data or "")
            plan.step("cgroup_bind", f"bind the container's own {name} cgroup at "
                      f"{target}/{name}", name, key, path, remount)
        if flags & C.MS_RDONLY:
            plan.step("readonly", f"make {target} read-only", top)
        return
    if cgroup_mounts[0][0] == "":
        plan.step("mount", f"mount the container's cgroup tree (cgroup v2) at {target}",
                  "cgroup2", top, "cgroup2", flags, None)
        return
    plan.step("mount", f"mount a tmpfs at {target} to hold one directory per hierarchy",
              "tmpfs", top, "tmpfs", C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC, "mode=755")
    for name, fstype, data in cgroup_mounts:
        path = os.path.join(top, name)
        plan.step("mkdir", f"create {target}/{name}", path, 0o755)
        plan.step("mount", f"mount the container's {name} cgroups (its own cgroup is the root)",
                  "cgroup", path, fstype, flags, data)
    if flags & C.MS_RDONLY:
        plan.step("readonly", f"make {target} read-only", top)


def _plan_default_devices(plan):
    dev = os.path.join(plan.rootfs, "dev")
    for name, major, minor, what in DEVICES:
        plan.step("device", f"create /dev/{name}: {what}", os.path.join(dev, name), major,
                  minor, 0o666, "/dev/" + name)
    for target, name in DEV_LINKS:
        if name == "core" and not os.path.exists("/proc/kcore"):
            continue
        plan.step("symlink", f"link /dev/{name} -> {target}", target, os.path.join(dev, name))


def _plan_devices(plan, devices):
    """linux.devices: (path, type, major, minor, mode, uid, gid) nodes in the container."""
    for path, kind, major, minor, mode, uid, gid in devices:
        host_path = secure_join(plan.rootfs, path)
        parent = os.path.dirname(host_path)
        plan.step("makedirs", f"create {os.path.dirname(path)} for {path}", parent, 0o755)
        node = "b" if kind == "b" else "c"
        plan.step("device", f"create {path}: device {kind} {major}:{minor} (linux.devices)",
                  host_path, major, minor, mode, path, node)
        if uid or gid:
            plan.step("chown", f"give {path} to {uid}:{gid}", host_path, uid, gid)
