"""Docker's masked and read-only paths inside /proc and /sys.

Masked paths leak host information or control host hardware: a file gets
/dev/null bound over it, a directory an empty read-only tmpfs.  Read-only
paths stay readable but cannot be written (/proc/sys, /proc/sysrq-trigger...).
--privileged and --security-opt systempaths=unconfined both lift the two lists.
"""

import errno
import os

MASKED = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def thermal_throttle_dirs(sysfs="/sys"):
    """Each cpu's thermal_throttle directory present on this host (Docker masks them).

    A scandir rather than glob: glob imports re (~7 ms) on every container start.
    """
    base = os.path.join(sysfs, "devices/system/cpu")
    try:
        names = [entry.name for entry in os.scandir(base) if entry.name.startswith("cpu")]
    except OSError:
        return ()
    return tuple(sorted(f"/sys/devices/system/cpu/{name}/thermal_throttle" for name in names
                        if os.path.isdir(os.path.join(base, name, "thermal_throttle"))))


def masked_paths(security, sysfs="/sys"):
    """The paths to mask for this container (empty when privileged/unconfined)."""
    if security.masked_paths is not None:  # OCI: the config's list
        return tuple(security.masked_paths)
    if security.privileged or security.systempaths_unconfined:
        return ()
    return MASKED + thermal_throttle_dirs(sysfs)


def readonly_paths(security):
    """The paths to make read-only (empty when privileged/unconfined)."""
    if security.readonly_paths is not None:  # OCI: the config's list
        return tuple(security.readonly_paths)
    if security.privileged or security.systempaths_unconfined:
        return ()
    return READONLY


# -- effects (the child, after /proc and /sys are mounted) ---------------------

def mask_path(path, root="/", devnull="/dev/null"):
    """Hide ``root + path``: /dev/null over a file, an empty ro tmpfs over a dir.

    A path the kernel does not have here (ENOENT) needs no mask.
    """
    from ..linux import constants as C
    from ..linux import syscalls

    target = _under(root, path)
    try:
        syscalls.mount(devnull, target, None, C.MS_BIND,
                       why=f"hide {path}: reading it gives nothing (it leaks host details)")
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        if exc.errno != errno.ENOTDIR:
            raise
        syscalls.mount("tmpfs", target, "tmpfs", C.MS_RDONLY,
                       why=f"hide directory {path} under an empty read-only tmpfs")
    return True


def readonly_path(path, root="/"):
    """Make ``root + path`` read-only: bind it onto itself, remount read-only.

    The remount keeps nosuid/nodev/noexec that the mount already has (inside
    a user namespace those are locked and dropping them fails with EPERM).
    """
    from ..linux import constants as C
    from ..linux import syscalls

    target = _under(root, path)
    try:
        syscalls.mount(target, target, None, C.MS_BIND | C.MS_REC,
                       why=f"make {path} a mount of its own so it can be read-only")
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    locked = 0
    current = syscalls.statvfs_flags(target)
    for st_flag, ms_flag in ((C.ST_NOSUID, C.MS_NOSUID), (C.ST_NODEV, C.MS_NODEV),
                             (C.ST_NOEXEC, C.MS_NOEXEC)):
        if current & st_flag:
            locked |= ms_flag
    syscalls.mount(target, target, None,
                   C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY | locked,
                   why=f"{path} stays readable but cannot be written from the container")
    return True


def apply_masks(masked, readonly, root="/", devnull="/dev/null"):
    """Apply both lists under ``root`` (the container's root after pivot_root: "/")."""
    for path in readonly:
        readonly_path(path, root)
    for path in masked:
        mask_path(path, root, devnull)


def _under(root, path):
    return os.path.join(root, path.lstrip("/")) if root not in ("", "/") else path
