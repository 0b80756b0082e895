"""A copy-on-write root per container: overlayfs over the image's layers.

The image's unpacked layers are the read-only lower directories, shared by
every container of that image; the container writes only into its own
``upper`` directory (``work`` is overlayfs's scratch space, same filesystem).
``lower.json`` records what was mounted where, so the root can be released
from that record alone, and the store's garbage collector keeps those layers.
"""

import errno
import os

from ..errors import SetupError, SpecError
from .files import atomic_write, read_json, remove_tree

# The mount(2) data argument is copied into one page; beyond that the kernel
# truncates it.  Leave room for upperdir/workdir and the other options.
_MAX_MOUNT_DATA = 4000
_RECORD = "lower.json"


def upper_dir(container_dir):
    return os.path.join(container_dir, "upper")


def mount_rootfs(layers, container_dir, merged=None, diff_ids=()):
    """Mount overlayfs over ``layers`` (bottom first) at ``merged``; returns its path.

    ``merged`` defaults to ``<container_dir>/merged``.  An empty ``layers``
    (a scratch image) gets an empty lower directory.  Mounting again is
    harmless: a mounted root is reused, an unmounted one (after a reboot)
    gets its old upper directory back, so the container's changes persist.
    """
    from ..linux import syscalls
    container_dir = os.path.abspath(container_dir)
    merged = os.path.abspath(merged or os.path.join(container_dir, "merged"))
    layers = _topmost_once([os.path.abspath(path) for path in layers])
    upper, work = upper_dir(container_dir), os.path.join(container_dir, "work")
    for path in layers + [upper, work, merged]:
        if any(ch in path for ch in ",:\\\n"):
            raise SpecError(f"overlay path may not contain ',', ':' or '\\': {path}")
    if is_mounted(merged):
        return merged  # `start` of a container whose root is still mounted: reuse it
    # 0711: a user-namespaced container's root (an unprivileged host uid) must
    # be able to walk to merged/, but not list what else is here.
    os.makedirs(container_dir, mode=0o711, exist_ok=True)
    os.chmod(container_dir, 0o711)
    for path in (upper, work, merged):
        os.makedirs(path, mode=0o755, exist_ok=True)
    if not layers:
        empty = os.path.join(container_dir, "empty")
        os.makedirs(empty, mode=0o755, exist_ok=True)
        layers = [empty]
    from ..linux.fs import dumps_json  # the C encoder alone: no json/re import on `run`
    atomic_write(os.path.join(container_dir, _RECORD),
                 dumps_json({"lower": layers, "diff_ids": list(diff_ids), "merged": merged}),
                 durable=False)

    # overlayfs lists lowerdirs top first.
    lower_paths, cwd_for_mount = _lower_argument(list(reversed(layers)), container_dir)
    data = f"lowerdir={lower_paths},upperdir={upper},workdir={work},index=off"
    why = (f"make the container's root copy-on-write: {len(layers)} shared image layer(s) "
           f"read-only below, this container's own writable directory on top")
    if cwd_for_mount is None:
        syscalls.mount("overlay", merged, "overlay", 0, data, why=why)
        return merged
    saved = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        syscalls.chdir(cwd_for_mount, why="the layer list is too long for one page of mount "
                                          "options; name each layer by a short link here")
        syscalls.mount("overlay", merged, "overlay", 0, data, why=why)
    finally:
        os.fchdir(saved)
        os.close(saved)
    return merged


def _topmost_once(layers):
    """``layers`` (bottom first) with each directory kept only at its topmost place.

    overlayfs refuses a directory named twice in lowerdir (ELOOP), and an
    image may list one layer twice (two steps that changed nothing give the
    same empty layer).  The lower copy is hidden by the upper one anyway: the
    same files, the same whiteouts, so the merged view does not change.
    """
    seen, kept = set(), []
    for path in reversed(layers):
        if path not in seen:
            seen.add(path)
            kept.append(path)
    kept.reverse()
    return kept


def _lower_argument(lowers, container_dir):
    """(lowerdir string, directory to chdir into or None) that fits in one page.

    When the absolute paths are too long, each layer gets a short symlink
    ``<container_dir>/l/<n>`` and the mount names them relative to the
    container directory (the kernel resolves them once, at mount time).
    """
    text = ":".join(lowers)
    if len(text) < _MAX_MOUNT_DATA - 512:
        return text, None
    links = os.path.join(container_dir, "l")
    os.makedirs(links, mode=0o700, exist_ok=True)
    names = []
    for number, path in enumerate(lowers):
        link = os.path.join(links, str(number))
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(path, link)
        names.append(f"l/{number}")
    relative = ":".join(names)
    if len(relative) >= _MAX_MOUNT_DATA - 512:
        raise SetupError(f"too many layers ({len(lowers)}) for one overlay mount",
                         op="mount overlay")
    return relative, container_dir


def is_mounted(path):
    """True if ``path`` is a mount point (mountinfo, not a device-number guess)."""
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", "rb") as handle:
            for line in handle:
                point = line.split(b" ", 5)[4]
                if _unescape(point) == path:
                    return True
    except FileNotFoundError:
        return os.path.ismount(path)
    return False


def _unescape(raw):
    """mountinfo writes space, tab, newline and backslash as \\ooo (octal); no re here."""
    if b"\\" in raw:
        parts = raw.split(b"\\")
        out = bytearray(parts[0])
        for part in parts[1:]:
            if len(part) >= 3 and all(48 <= c <= 55 for c in part[:3]):
                out.append(int(part[:3], 8))
                out += part[3:]
            else:
                out += b"\\" + part
        raw = bytes(out)
    return raw.decode(errors="surrogateescape")


def unmount_rootfs(container_dir, merged=None):
    """Unmount the container's root and delete upper/work; safe to call again."""
    from ..linux import syscalls
    from ..linux.constants import MNT_DETACH
    container_dir = os.path.abspath(container_dir)
    if merged is None:
        record = read_json(os.path.join(container_dir, _RECORD), {}) or {}
        merged = record.get("merged") or os.path.join(container_dir, "merged")
    why = "release the container's copy-on-write root"
    for _attempt in range(8):  # a root mounted more than once unmounts one layer per call
        if not is_mounted(merged):
            break
        try:
            syscalls.umount2(merged, 0, why=why)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOENT):
                break
            if exc.errno != errno.EBUSY:
                raise SetupError(exc.strerror, op="umount overlay", path=merged,
                                 errno=exc.errno) from None
            syscalls.umount2(merged, MNT_DETACH,
                             why="something still uses the root; detach it now, the kernel "
                                 "frees it when the last user is gone")
    if is_mounted(merged):
        raise SetupError("still mounted", op="umount overlay", path=merged)
    try:
        os.rmdir(merged)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOTEMPTY:
            raise
    remove_tree(container_dir)
