"""One handle on the C library, and the helper that turns -1 into OSError."""

import ctypes
import os

LIBC = ctypes.CDLL(None, use_errno=True)
_syscall = LIBC.syscall
_syscall.restype = ctypes.c_long


def check(result, path=None):
    """Return ``result`` unless it is -1, in which case raise OSError(errno)."""
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return result


def syscall(number, *args):
    """Call a raw system call by number (for those glibc does not wrap)."""
    return check(_syscall(ctypes.c_long(number), *args))


def cstr(value):
    """A str/bytes/None as something ctypes passes as ``const char *``."""
    if value is None:
        return None
    return os.fsencode(value)
