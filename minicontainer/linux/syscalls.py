"""Every kernel step minicontainer takes, one small function each.

Each function may be *recorded*: when a recorder is set (``set_recorder``),
the call reports ``(op, args, result, seconds, why)`` after it ran, failed
calls included.  ``--explain`` prints these records and unit tests use them to
check the order of operations.  ``why`` is the caller's plain-words reason.
Records are tuples of plain values so they can cross a pipe with ``marshal``.
"""

import ctypes
import errno as _errno
import fcntl
import os
import resource
import struct
import time

from . import constants as C
from .libc import LIBC, check, cstr, syscall

_ARCH = os.uname().machine
_NR = C.SYSCALLS.get(_ARCH, C.SYSCALLS["x86_64"])
_recorder = None


def set_recorder(recorder):
    """Install ``recorder(op, args, result, seconds, why)``; None turns it off."""
    global _recorder
    _recorder = recorder


def _run(op, args, why, fn, *fn_args):
    recorder = _recorder
    if recorder is None:
        return fn(*fn_args)
    start = time.perf_counter()
    try:
        result = fn(*fn_args)
    except OSError as exc:
        recorder(op, args, "error " + _errname(exc.errno), time.perf_counter() - start, why)
        raise
    recorder(op, args, result, time.perf_counter() - start, why)
    return result


def timed(op, args, why, fn, *fn_args):
    """Run ``fn`` as one recorded step (work done for us elsewhere, e.g. by the supervisor)."""
    return _run(op, args, why, fn, *fn_args)


def note(op, args, why):
    """Record a step that is not a syscall of ours (e.g. the exec about to happen)."""
    if _recorder is not None:
        _recorder(op, args, None, 0.0, why)


def _errname(number):
    return _errno.errorcode.get(number, str(number))


# -- processes and namespaces ---------------------------------------------------

class _CloneArgs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack",
        "stack_size", "tls", "set_tid", "set_tid_size", "cgroup")]


def _clone3(flags, exit_signal, cgroup_fd):
    args = _CloneArgs(flags=flags, exit_signal=exit_signal)
    if cgroup_fd is not None:
        args.flags |= C.CLONE_INTO_CGROUP
        args.cgroup = cgroup_fd
    return syscall(_NR["clone3"], ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))


def _clone(flags, exit_signal):
    # clone(2) on x86_64: (flags, newsp, parent_tid, child_tid, tls); newsp=0
    # means "like fork", the child continues on a copy of our stack.
    return syscall(_NR["clone"], ctypes.c_ulong(flags | exit_signal), None, None, None, None)


def clone(flags, exit_signal=17, cgroup_fd=None, why=None):
    """fork() into new namespaces in one step; returns 0 in the child.

    clone3 is tried first (it is the only way to create a time namespace for
    the child itself); where it is missing or filtered (ENOSYS), plain clone
    is used without CLONE_NEWTIME.
    """
    def call():
        try:
            return _clone3(flags, exit_signal, cgroup_fd)
        except OSError as exc:
            if exc.errno not in (38, 1):  # ENOSYS, or EPERM from a seccomp filter
                raise
            return _clone(flags & ~C.CLONE_NEWTIME, exit_signal)
    recorder = _recorder
    if recorder is None:
        return call()
    start = time.perf_counter()
    try:
        pid = call()
    except OSError as exc:
        recorder("clone", (flags,), "error " + _errname(exc.errno), time.perf_counter() - start, why)
        raise
    if pid != 0:  # both processes return from clone; only the parent tells of it
        recorder("clone", (flags,), pid, time.perf_counter() - start, why)
    return pid


def unshare(flags, why=None):
    return _run("unshare", (flags,), why, lambda: check(LIBC.unshare(ctypes.c_int(flags))))


def setns(fd, nstype=0, path=None, why=None):
    return _run("setns", (path or fd, nstype), why,
                lambda: check(LIBC.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), path))


def sethostname(name, why=None):
    raw = name.encode()
    return _run("sethostname", (name,), why,
                lambda: check(LIBC.sethostname(raw, ctypes.c_size_t(len(raw)))))


def setdomainname(name, why=None):
    raw = name.encode()
    return _run("setdomainname", (name,), why,
                lambda: check(LIBC.setdomainname(raw, ctypes.c_size_t(len(raw)))))


def prctl(option, arg2=0, why=None):
    return _run("prctl", (option, arg2), why,
                lambda: check(LIBC.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2),
                                         ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))))


def pidfd_open(pid, why=None):
    return _run("pidfd_open", (pid,), why,
                lambda: syscall(_NR["pidfd_open"], ctypes.c_int(pid), ctypes.c_uint(0)))


def kill(pid, sig, why=None):
    return _run("kill", (pid, sig), why, lambda: os.kill(pid, sig))


def setsid(why=None):
    return _run("setsid", (), why, os.setsid)


def set_user(uid, gid, groups, why=None):
    """setgroups, setresgid, setresuid: become the container's user."""
    def call():
        os.setgroups(groups)
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    return _run("setuser", (uid, gid, tuple(groups)), why, call)


def setrlimit(kind, soft, hard, why=None):
    return _run("setrlimit", (kind, soft, hard), why,
                lambda: resource.setrlimit(kind, (soft, hard)))


def close_range(first, why=None):
    """Mark every descriptor >= first close-on-exec: the exec closes them all.

    CLOSE_RANGE_CLOEXEC rather than closing now, so the sync channel stays
    usable for reporting a failed exec until the very last moment.
    """
    def call():
        try:
            return syscall(_NR["close_range"], ctypes.c_uint(first), ctypes.c_uint(0xFFFFFFFF),
                           ctypes.c_uint(4))
        except OSError:  # kernels before 5.11
            for name in os.listdir("/proc/self/fd"):
                if int(name) >= first:
                    try:
                        os.set_inheritable(int(name), False)
                    except OSError:
                        pass
            return 0
    return _run("close_range", (first,), why, call)


# -- mounts -----------------------------------------------------------------------

def mount(source, target, fstype=None, flags=0, data=None, why=None):
    def call():
        return check(LIBC.mount(cstr(source), cstr(target), cstr(fstype),
                                ctypes.c_ulong(flags), cstr(data)), target)
    return _run("mount", (source, target, fstype, flags, data), why, call)


def umount2(target, flags=0, why=None):
    return _run("umount2", (target, flags), why,
                lambda: check(LIBC.umount2(cstr(target), ctypes.c_int(flags)), target))


def pivot_root(new_root, put_old, why=None):
    return _run("pivot_root", (new_root, put_old), why,
                lambda: syscall(_NR["pivot_root"], cstr(new_root), cstr(put_old)))


def chdir(path, why=None):
    return _run("chdir", (path,), why, lambda: os.chdir(path))


def chroot(path, why=None):
    return _run("chroot", (path,), why, lambda: os.chroot(path))


def statvfs_flags(path):
    """The mount flags (ST_*) of the mount that holds ``path``."""
    return os.statvfs(path).f_flag


# -- files ------------------------------------------------------------------------

def mkdir(path, mode=0o755, why=None):
    return _run("mkdir", (path, mode), why, lambda: os.mkdir(path, mode))


def mknod(path, mode, device, why=None):
    return _run("mknod", (path, mode, device), why, lambda: os.mknod(path, mode, device))


def symlink(target, path, why=None):
    return _run("symlink", (target, path), why, lambda: os.symlink(target, path))


def chmod(path, mode, why=None):
    return _run("chmod", (path, mode), why, lambda: os.chmod(path, mode))


def create_file(path, mode=0o644, why=None):
    """Create an empty file (a mount target) unless something is there."""
    def call():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, mode))
    return _run("create", (path,), why, call)


def write_file(path, data, why=None):
    """Write ``data`` to a kernel or cgroup file in a single write(2)."""
    raw = data.encode() if isinstance(data, str) else data

    def call():
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, raw)
        finally:
            os.close(fd)
    return _run("write", (path, raw.decode(errors="replace")), why, call)


def open_path(path, flags, mode=0o666, why=None):
    return _run("open", (path, flags), why, lambda: os.open(path, flags, mode))


def dup2(fd, target, why=None):
    return _run("dup2", (fd, target), why, lambda: os.dup2(fd, target, inheritable=True))


def ioctl(fd, request, arg, why=None):
    return _run("ioctl", (fd, request), why, lambda: fcntl.ioctl(fd, request, arg))


# -- network interfaces (no netlink needed for the loopback) ----------------------

def set_link_up(name, why=None):
    """Bring interface ``name`` up with SIOCSIFFLAGS (the netns's own lo)."""

    def call():
        sock = check(LIBC.socket(ctypes.c_int(2), ctypes.c_int(2 | 0o2000000), ctypes.c_int(0)))
        try:
            request = struct.pack("16sH14x", name.encode(), 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(sock, C.SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(sock, C.SIOCSIFFLAGS, struct.pack("16sH14x", name.encode(),
                                                          flags | C.IFF_UP))
        finally:
            os.close(sock)
    return _run("ifup", (name,), why, call)


# -- the last step ----------------------------------------------------------------

def execve(path, argv, env, why=None):
    """Replace this process with the container's program (recorded before)."""
    note("execve", (path, tuple(argv)), why)
    os.execve(path, argv, env)
