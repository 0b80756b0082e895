"""Seam functions the OCI runtime needs beyond syscalls.py (recorded the same way)."""

import ctypes

from .libc import LIBC, check
from .syscalls import _run


def prctl3(option, arg2, arg3, why=None):
    """prctl(option, arg2, arg3): e.g. PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap."""
    return _run("prctl", (option, arg2, arg3), why,
                lambda: check(LIBC.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2),
                                         ctypes.c_ulong(arg3), ctypes.c_ulong(0),
                                         ctypes.c_ulong(0))))
