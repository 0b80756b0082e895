"""Seam functions for capabilities and seccomp (recorded like syscalls.py).

capget/capset are called through syscall(2) because glibc does not wrap
them; the seccomp filter itself is loaded by libseccomp, whose handle the
security package owns, so here we only record and translate the result.
"""

import ctypes

from .libc import LIBC, check
from .syscalls import _run

_NR_CAPGET = 125
_NR_CAPSET = 126
# Version 3 passes two data structs: capabilities 0-31, then 32-63.
LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _nr(name):
    import os
    machine = os.uname().machine
    if machine == "aarch64":
        return {"capget": 90, "capset": 91}[name]
    return {"capget": _NR_CAPGET, "capset": _NR_CAPSET}[name]


def _syscall(number, *args):
    fn = LIBC.syscall
    fn.restype = ctypes.c_long
    return check(fn(ctypes.c_long(number), *args))


def capget():
    """(effective, permitted, inheritable) of this thread as 64-bit masks."""
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _syscall(_nr("capget"), ctypes.byref(header), data)
    return tuple(getattr(data[0], f) | (getattr(data[1], f) << 32)
                 for f in ("effective", "permitted", "inheritable"))


def capset(effective, permitted, inheritable, why=None):
    """Set this thread's capability sets (64-bit masks) in one capset(2)."""
    def call():
        header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        for i in range(2):
            data[i].effective = (effective >> (32 * i)) & 0xFFFFFFFF
            data[i].permitted = (permitted >> (32 * i)) & 0xFFFFFFFF
            data[i].inheritable = (inheritable >> (32 * i)) & 0xFFFFFFFF
        return _syscall(_nr("capset"), ctypes.byref(header), data)
    return _run("capset", (hex(effective), hex(permitted), hex(inheritable)), why, call)


def seccomp_load(load, rule_count, why=None):
    """Run ``load()`` (libseccomp's seccomp_load) and record it as one step.

    ``load`` returns libseccomp's result: 0 or a negative errno.
    """
    def call():
        result = load()
        if result < 0:
            import os
            raise OSError(-result, os.strerror(-result))
        return result
    return _run("seccomp_load", (rule_count,), why, call)
