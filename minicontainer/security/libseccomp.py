"""A thin ctypes binding to libseccomp.so.2 (only what the loader needs).

libseccomp turns a list of rules into BPF for every architecture in the
filter, so there is no hand-written BPF here.  The library is opened lazily,
and must be opened before pivot_root: the container's root may not have it.
"""

import ctypes

from ..errors import SetupError

# enum scmp_compare
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}

# Action values from seccomp.h; ERRNO and TRACE carry a 16-bit data part.
ACT_KILL_THREAD = 0x00000000
ACT_KILL_PROCESS = 0x80000000
ACT_TRAP = 0x00030000
ACT_ERRNO = 0x00050000
ACT_TRACE = 0x7FF00000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000

ACTIONS = {
    "SCMP_ACT_KILL": ACT_KILL_THREAD, "SCMP_ACT_KILL_THREAD": ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": ACT_KILL_PROCESS, "SCMP_ACT_TRAP": ACT_TRAP,
    "SCMP_ACT_ERRNO": ACT_ERRNO, "SCMP_ACT_TRACE": ACT_TRACE,
    "SCMP_ACT_LOG": ACT_LOG, "SCMP_ACT_ALLOW": ACT_ALLOW,
}

# enum scmp_filter_attr
ATTR_CTL_NNP = 3
ATTR_API_SYSRAWRC = 9  # report the kernel's errno instead of ECANCELED (2.5+)
NR_SCMP_ERROR = -1

_lib = None


class ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp: compare argument ``arg`` with ``op`` against a/b."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class _Version(ctypes.Structure):
    """struct scmp_version."""

    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


def version():
    """'2.5.4': the library's version (its syscall tables and BPF generator)."""
    found = lib().seccomp_version().contents
    return f"{found.major}.{found.minor}.{found.micro}"


def lib():
    """The libseccomp handle, opened once (SetupError if it is not installed)."""
    global _lib
    if _lib is None:
        try:
            handle = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError as exc:
            raise SetupError("libseccomp.so.2 is not installed (apt-get install libseccomp2)",
                             op="seccomp") from exc
        handle.seccomp_init.restype = ctypes.c_void_p
        handle.seccomp_init.argtypes = [ctypes.c_uint32]
        handle.seccomp_release.argtypes = [ctypes.c_void_p]
        handle.seccomp_release.restype = None
        handle.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        handle.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        handle.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        handle.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        handle.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        handle.seccomp_syscall_resolve_name.restype = ctypes.c_int
        handle.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
            ctypes.POINTER(ArgCmp)]
        handle.seccomp_load.argtypes = [ctypes.c_void_p]
        handle.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        handle.seccomp_version.restype = ctypes.POINTER(_Version)
        handle.seccomp_arch_native.restype = ctypes.c_uint32
        handle.seccomp_syscall_resolve_num_arch.argtypes = [ctypes.c_uint32, ctypes.c_int]
        handle.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p
        _lib = handle
    return _lib


def action_value(action, errno=None):
    """Docker's action name (+ errno) → libseccomp's 32-bit action value."""
    value = ACTIONS[action]
    if value in (ACT_ERRNO, ACT_TRACE):
        value |= (errno if errno is not None else 1) & 0xFFFF
    return value


def arch_token(name):
    """'SCMP_ARCH_X86_64' → libseccomp's token (0 when it does not know it)."""
    short = name.lower()
    if short.startswith("scmp_arch_"):
        short = short[len("scmp_arch_"):]
    return lib().seccomp_arch_resolve_name(short.encode())


def syscall_number(name):
    """Native number of ``name``; negative pseudo-numbers for other arches' calls,
    NR_SCMP_ERROR (-1) when libseccomp does not know the name at all."""
    return lib().seccomp_syscall_resolve_name(name.encode())


def syscall_name(number):
    """The native name of syscall ``number``, or None if libseccomp has none."""
    handle = lib()
    pointer = handle.seccomp_syscall_resolve_num_arch(handle.seccomp_arch_native(), number)
    if not pointer:
        return None
    try:
        return ctypes.string_at(pointer).decode()
    finally:
        libc = ctypes.CDLL(None)
        libc.free.argtypes = [ctypes.c_void_p]
        libc.free(pointer)
