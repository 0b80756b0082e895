"""Carry out a RootfsPlan: targets on the host side, steps in the container.

``prepare_targets`` runs in the launcher before the clone (it is real root
there, and a user-namespaced init may not create files in a root-owned tree).
``apply_steps`` runs in the container's init, inside its new mount namespace.
"""

import errno
import os
import stat

from ..errors import SetupError
from ..linux import constants as C
from ..linux import syscalls as sc
from ..linux import mountattr
from ..linux.mountattr import MOUNT_ATTR_RDONLY, mount_setattr
from .paths import secure_join


def prepare_targets(plan):
    """Create each missing mount target (directory or empty file) in the root."""
    for kind, path in plan.targets:
        try:
            if kind == "dir":
                if not os.path.isdir(path):
                    os.makedirs(path, 0o755, exist_ok=True)
            elif not os.path.lexists(path):
                os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
                sc.create_file(path, why="create a mount target in the root filesystem")
        except OSError as exc:
            raise SetupError(exc.strerror, op="create mount target", path=path,
                             errno=exc.errno) from None


def apply_steps(steps):
    """Perform each step; any failure names the step and stops everything."""
    for step in steps:
        kind, why = step[0], step[1]
        try:
            _APPLY[kind](why, *step[2:])
        except OSError as exc:
            target = exc.filename or (step[3] if kind == "mount" else
                                      step[4] if kind in ("mount_in_root", "oci_mount")
                                      else step[2])
            raise SetupError(exc.strerror, op=f"{kind} ({why})", path=str(target),
                             errno=exc.errno) from None


def _mount(why, source, target, fstype, flags, data):
    sc.mount(source, target, fstype, flags, data, why=why)


def _mount_in_root(why, source, root, target, fstype, flags, data, kind, readonly):
    """Mount on ``target`` as the kernel resolves it inside ``root`` right now.

    The plan resolved the target before anything was mounted; a volume
    mounted since may hold a symlink on the way (CVE-2021-30465).  So the
    target is opened with openat2(RESOLVE_IN_ROOT) and the mount goes on
    /proc/self/fd/N, the very object that was opened.
    """
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        target_fd = _open_or_create(root, root_fd, target, kind)
        try:
            sc.mount(source, f"/proc/self/fd/{target_fd}", fstype, flags, data, why=why)
        finally:
            os.close(target_fd)
        if readonly:
            # open it again: the path now leads to the new mount's root
            mounted_fd = _open_in_root(root, root_fd, target)
            try:
                _remount_readonly(why, f"/proc/self/fd/{mounted_fd}", recursive=fstype is None)
            finally:
                os.close(mounted_fd)
    finally:
        os.close(root_fd)


def _oci_mount(why, source, root, target, fstype, flags, data, kind, remount, propagation,
               recursive):
    """One mount of an OCI config, on ``target`` as resolved inside ``root`` now.

    A bind takes its flags (ro, nosuid...) on a second, remount call, keeping
    those the source mount has locked; "rbind" + "ro" makes every mount
    beneath read-only too.  Propagation words are one more call each.
    """
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        target_fd = _open_or_create(root, root_fd, target, kind)
        try:
            sc.mount(source, f"/proc/self/fd/{target_fd}", fstype, flags, data, why=why)
        finally:
            os.close(target_fd)
        if not (remount or propagation):
            return
        mounted_fd = _open_in_root(root, root_fd, target)
        try:
            path = f"/proc/self/fd/{mounted_fd}"
            if remount:
                sc.mount(None, path, None, C.MS_BIND | C.MS_REMOUNT | remount
                         | _current_flags(path), None, why=why + " (its flags: a bind "
                         "takes them on a remount)")
                if remount & C.MS_RDONLY and recursive:
                    _readonly_beneath(why, path, listed_as=os.readlink(path))
            if propagation:
                sc.mount(None, path, None, propagation, None,
                         why=f"set the propagation of {target}")
        finally:
            os.close(mounted_fd)
    finally:
        os.close(root_fd)


_own_cgroups = None


def remember_own_cgroups():
    """Note /proc/self/cgroup now, before a cgroup namespace makes it read "/"."""
    global _own_cgroups
    with open("/proc/self/cgroup") as f:
        _own_cgroups = [line.rstrip("\n").split(":", 2) for line in f]


def _cgroup_bind(why, name, key, path, remount):
    """Bind this process's own cgroup in hierarchy ``name`` (found in
    /proc/self/cgroup by its controllers ``key``; "" for cgroup2) at ``path``.
    Runs before pivot_root, where /proc and /sys/fs/cgroup are the host's; the
    paths are the ones ``remember_own_cgroups`` saw before the cgroup namespace."""
    if _own_cgroups is None:
        remember_own_cgroups()
    entries = _own_cgroups
    # ``key`` is the hierarchy's mount options ("cpu", "xattr,name=systemd"):
    # its line names a non-empty subset of them ("" alone is cgroup2's).
    wanted = set(key.split(",")) - {""}

    def matches(controllers):
        names = set(controllers.split(",")) - {""}
        return bool(names) and names <= wanted if wanted else not names
    own = next((entry[2] for entry in entries if len(entry) == 3 and matches(entry[1])), None)
    if own is None:
        raise SetupError(f"this process is in no {name or 'cgroup2'} cgroup", op="cgroup_bind",
                         path=path)
    source = os.path.join("/sys/fs/cgroup", name, own.lstrip("/"))
    sc.mount(source, path, None, C.MS_BIND, None, why=why)
    if remount:
        sc.mount(None, path, None, C.MS_BIND | C.MS_REMOUNT | remount | _current_flags(path),
                 None, why=why + " (read-only)")


def _makedirs(why, path, mode):
    if not os.path.isdir(path):
        os.makedirs(path, mode, exist_ok=True)
        sc.note("mkdir", (path,), why)


def _chown(why, path, uid, gid):
    os.chown(path, uid, gid, follow_symlinks=False)
    sc.note("chown", (path, uid, gid), why)


def _sysctl(why, key, value):
    """Write one sysctl through the container's own /proc (its namespaces)."""
    path = "/proc/sys/" + key.replace(".", "/")
    try:
        sc.write_file(path, str(value), why=why)
    except FileNotFoundError:
        raise SetupError(f"sysctl {key}: no such key here (is /proc mounted?)",
                         op="sysctl", path=path, errno=2) from None


def _open_in_root(root, root_fd, path, flags=os.O_PATH | os.O_CLOEXEC):
    try:
        return mountattr.open_in_root(root_fd, path, flags)
    except OSError as exc:
        if exc.errno != errno.ENOSYS:
            raise
    # Linux < 5.6: resolve in user space, within the root (a race remains)
    return os.open(secure_join(root, path), flags | os.O_NOFOLLOW)


def _open_or_create(root, root_fd, target, kind):
    """O_PATH fd of ``target`` inside the root, made (dirs, then the file) if missing."""
    try:
        return _open_in_root(root, root_fd, target)
    except FileNotFoundError:
        pass
    parts = [p for p in target.split("/") if p]
    current = "/"
    for index, part in enumerate(parts):
        parent_fd = _open_in_root(root, root_fd, current,
                                  os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            last = index == len(parts) - 1
            try:
                if last and kind == "file":
                    os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                     | os.O_CLOEXEC, 0o644, dir_fd=parent_fd))
                else:
                    os.mkdir(part, 0o755, dir_fd=parent_fd)
            except FileExistsError:
                pass
        finally:
            os.close(parent_fd)
        current = os.path.join(current, part)
    return _open_in_root(root, root_fd, target)


def _mkdir(why, path, mode):
    sc.mkdir(path, mode, why=why)
    sc.chmod(path, mode, why=None)  # mkdir's mode is filtered by the umask


def _device(why, path, major, minor, mode, host_path, kind="c"):
    node_type = stat.S_IFBLK if kind == "b" else stat.S_IFCHR
    try:
        sc.mknod(path, node_type | mode, os.makedev(major, minor), why=why)
        sc.chmod(path, mode)
    except FileExistsError:
        return  # the root already has it (as runc, the node there is kept)
    except PermissionError:
        # In a user namespace mknod is refused; bind the host's node instead,
        # as runc does.
        sc.create_file(path, why=None)
        sc.mount(host_path, path, None, C.MS_BIND, None, why=why + " (bound from the host)")


def _symlink(why, target, path):
    sc.symlink(target, path, why=why)


def _pivot(why, root):
    sc.chdir(root)
    sc.pivot_root(".", ".", why=why)
    # The old root is now stacked under the new one at "."; detach it so no
    # path in the container leads back to the host.
    sc.umount2(".", C.MNT_DETACH, why="detach the host's old root")
    sc.chdir("/")


def _readonly(why, path, recursive=False):
    # A bind remount must repeat the flags the mount already has (nosuid,
    # nodev, ...): in a user namespace dropping a locked flag is refused.
    flags = _current_flags(path)
    if path != "/":
        # Make ``path`` a mount of its own first unless it already is one.
        if not _is_mount_point(path):
            sc.mount(path, path, None, C.MS_BIND | C.MS_REC, None, why=why)
    sc.mount(None, path, None, C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY | flags, None, why=why)
    if recursive:
        _readonly_beneath(why, path)


def _remount_readonly(why, path, recursive):
    """Remount the mount at ``path`` (a /proc/self/fd link) read-only, and those beneath."""
    sc.mount(None, path, None, C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY | _current_flags(path),
             None, why=why)
    if recursive:
        _readonly_beneath(why, path, listed_as=os.readlink(path))


def _readonly_beneath(why, path, listed_as=None):
    """Make every mount beneath ``path`` read-only as well.

    ``listed_as`` is how mountinfo names ``path`` when it is a /proc/self/fd link.
    """
    try:
        mount_setattr(path, MOUNT_ATTR_RDONLY, recursive=True, why=why)
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOSYS, errno.EINVAL, errno.EPERM):
            raise
    # before Linux 5.12: one read-only remount per submount, parents first
    prefix = (listed_as or path).rstrip("/") + "/"
    for mountpoint in _mountpoints():
        if mountpoint.startswith(prefix):
            flags = _current_flags(mountpoint)
            sc.mount(None, mountpoint, None,
                     C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY | flags, None, why=why)


def _mountpoints():
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [_unescape(p) for p in points]


def _unescape(field):
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _current_flags(path):
    st = sc.statvfs_flags(path)
    flags = 0
    for st_bit, ms_bit in ((C.ST_NOSUID, C.MS_NOSUID), (C.ST_NODEV, C.MS_NODEV),
                           (C.ST_NOEXEC, C.MS_NOEXEC), (C.ST_NOATIME, C.MS_NOATIME),
                           (C.ST_NODIRATIME, C.MS_NODIRATIME), (C.ST_RELATIME, C.MS_RELATIME)):
        if st & st_bit:
            flags |= ms_bit
    return flags


def _is_mount_point(path):
    try:
        return os.path.ismount(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise


_APPLY = {"mount": _mount, "mount_in_root": _mount_in_root, "mkdir": _mkdir,
          "device": _device, "symlink": _symlink, "pivot": _pivot, "readonly": _readonly,
          "oci_mount": _oci_mount, "cgroup_bind": _cgroup_bind, "makedirs": _makedirs,
          "chown": _chown, "sysctl": _sysctl}
