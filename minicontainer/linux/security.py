"""Seam functions for capabilities and seccomp (recorded like syscalls.py).

capget/capset and seccomp are called through syscall(2) because glibc does
not wrap them.  The seccomp filter arrives here as ready BPF bytes (libseccomp
generated them earlier, possibly in another run: security/filtercache.py).
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


_NR_SECCOMP = {"x86_64": 317, "aarch64": 277}
SECCOMP_SET_MODE_FILTER = 1
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


class _SockFprog(ctypes.Structure):
    """struct sock_fprog: the number of instructions and where they are."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _nr(name):
    import os
    machine = os.uname().machine
    if machine == "aarch64":
        return {"capget": 90, "capset": 91}[name]
    return {"capget": _NR_CAPGET, "capset": _NR_CAPSET}[name]


def seccomp_set_filter(code, flags=0, why=None):
    """Install the BPF program ``code`` (packed sock_filter array) for this thread.

    seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog) where its number is known;
    elsewhere prctl(PR_SET_SECCOMP), which is the same with no flags.
    """
    import os
    number = _NR_SECCOMP.get(os.uname().machine)
    instructions = len(code) // 8

    def call():
        buffer = ctypes.create_string_buffer(code, len(code))
        prog = _SockFprog(instructions, ctypes.addressof(buffer))
        if number is not None:
            return _syscall(number, ctypes.c_ulong(SECCOMP_SET_MODE_FILTER),
                            ctypes.c_ulong(flags), ctypes.byref(prog))
        if flags:
            raise OSError(22, f"seccomp filter flags need the seccomp syscall, unknown on "
                              f"{os.uname().machine}")
        return check(LIBC.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                                ctypes.byref(prog), ctypes.c_ulong(0), ctypes.c_ulong(0)))
    return _run("seccomp", ("SECCOMP_SET_MODE_FILTER", flags, f"{instructions} instructions"),
                why, call)


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
