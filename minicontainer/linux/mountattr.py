"""Seam function for mount_setattr(2): change a whole mount tree's flags at once.

A recursive bind mount (``-v /:/host``) brings every mount beneath its source
along (/proc, /sys, cgroupfs ...).  Remounting the top read-only leaves
those submounts writable; mount_setattr with AT_RECURSIVE (Linux >= 5.12)
makes the whole tree read-only in one call.  glibc has no wrapper for it.
"""

import ctypes
import os
import struct

from .libc import cstr, syscall
from .syscalls import _run

_NR_MOUNT_SETATTR = {"x86_64": 442, "aarch64": 442}
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1


def mount_setattr(path, attr_set, attr_clr=0, recursive=True, why=None):
    """Set (and clear) MOUNT_ATTR_* flags on the mount at ``path`` (and beneath it)."""
    number = _NR_MOUNT_SETATTR.get(os.uname().machine)

    def call():
        if number is None:
            raise OSError(38, "mount_setattr number unknown on this machine", path)
        # struct mount_attr: attr_set, attr_clr, propagation, userns_fd (u64 each)
        attr = ctypes.create_string_buffer(struct.pack("=QQQQ", attr_set, attr_clr, 0, 0), 32)
        try:
            return syscall(number, ctypes.c_int(AT_FDCWD), cstr(path),
                           ctypes.c_uint(AT_RECURSIVE if recursive else 0), attr,
                           ctypes.c_size_t(32))
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, path) from None
    return _run("mount_setattr", (path, hex(attr_set), hex(attr_clr),
                                  "AT_RECURSIVE" if recursive else 0), why, call)


# -- mount targets resolved inside the container's root -----------------------------

_NR_OPENAT2 = {"x86_64": 437, "aarch64": 437}
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10


def open_in_root(root_fd, path, flags=os.O_PATH | os.O_CLOEXEC, why=None):
    """openat2(root_fd, path, RESOLVE_IN_ROOT): ``path`` as if ``root_fd`` were "/".

    Symlinks (absolute ones included) and ".." are resolved by the kernel
    without ever leaving the root, at the moment of the call: a symlink a
    volume holds, or one swapped in meanwhile, cannot lead a mount target
    out of the container (CVE-2021-30465).  OSError(ENOSYS) before Linux 5.6.
    """
    number = _NR_OPENAT2.get(os.uname().machine)

    def call():
        if number is None:
            raise OSError(38, "openat2 number unknown on this machine", path)
        how = ctypes.create_string_buffer(
            struct.pack("=QQQ", flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), 24)
        try:
            return syscall(number, ctypes.c_int(root_fd), cstr(path.lstrip("/") or "."),
                           how, ctypes.c_size_t(24))
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, path) from None
    return _run("openat2", (root_fd, path, "RESOLVE_IN_ROOT"), why, call)
