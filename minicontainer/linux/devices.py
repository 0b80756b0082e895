"""Seam functions for the device cgroup on v2: load and attach a BPF program.

cgroup v2 has no devices.allow file.  Instead a small eBPF program of type
BPF_PROG_TYPE_CGROUP_DEVICE is attached to the container's cgroup, and the
kernel runs it on every open(2) and mknod(2) of a device node by a process in
that cgroup: it answers 1 (allow) or 0 (EPERM).  glibc has no wrapper for
bpf(2), so it is called by number.  Both calls are recorded like syscalls.py.
"""

import ctypes
import os
import struct

from .libc import syscall
from .syscalls import _run

_NR_BPF = {"x86_64": 321, "aarch64": 280}
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6           # the attach type
BPF_F_ALLOW_MULTI = 2           # programs of parent cgroups keep running too
_LOG_SIZE = 1 << 16


def _bpf(command, attr):
    number = _NR_BPF.get(os.uname().machine)
    if number is None:
        raise OSError(38, f"bpf(2) number unknown on {os.uname().machine}")
    buffer = ctypes.create_string_buffer(attr, len(attr))
    return syscall(number, ctypes.c_int(command), buffer, ctypes.c_uint(len(attr)))


def _prog_load_attr(code, license_buf, log_buf=None):
    # union bpf_attr, BPF_PROG_LOAD part: prog_type, insn_cnt, insns, license,
    # log_level, log_size, log_buf, kern_version, prog_flags, prog_name[16],
    # prog_ifindex, expected_attach_type (72 bytes)
    return struct.pack("=IIQQIIQII16sII", BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8,
                       ctypes.addressof(code), ctypes.addressof(license_buf),
                       1 if log_buf is not None else 0,
                       _LOG_SIZE if log_buf is not None else 0,
                       ctypes.addressof(log_buf) if log_buf is not None else 0,
                       0, 0, b"mc_devices", 0, BPF_CGROUP_DEVICE)


def bpf_load_device_program(code, why=None):
    """Load the BPF instructions ``code`` (packed bpf_insn array); returns the program fd.

    When the kernel's verifier refuses the program, it is loaded once more
    with the verifier's log switched on, so the error says why.
    """
    def call():
        program = ctypes.create_string_buffer(code, len(code))
        license_buf = ctypes.create_string_buffer(b"GPL")
        try:
            return _bpf(BPF_PROG_LOAD, _prog_load_attr(program, license_buf))
        except OSError as exc:
            if exc.errno not in (1, 13, 22):       # EPERM, EACCES, EINVAL: ask the verifier
                raise
            log = ctypes.create_string_buffer(_LOG_SIZE)
            try:
                return _bpf(BPF_PROG_LOAD, _prog_load_attr(program, license_buf, log))
            except OSError as again:
                text = log.value.decode(errors="replace").strip()
                raise OSError(again.errno, f"{again.strerror} (verifier: {text[-400:]})"
                              if text else again.strerror) from None
    return _run("bpf", ("BPF_PROG_LOAD", "BPF_PROG_TYPE_CGROUP_DEVICE",
                        f"{len(code) // 8} instructions"), why, call)


def bpf_attach_device_program(cgroup_fd, program_fd, path=None, why=None):
    """Attach a device program to the cgroup open at ``cgroup_fd``.

    The cgroup holds its own reference: the program stays in force after both
    fds are closed and goes away with the cgroup.
    """
    attr = struct.pack("=IIIII", cgroup_fd, program_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, 0)
    return _run("bpf", ("BPF_PROG_ATTACH", path or cgroup_fd, "BPF_CGROUP_DEVICE",
                        "BPF_F_ALLOW_MULTI"), why, lambda: _bpf(BPF_PROG_ATTACH, attr))
