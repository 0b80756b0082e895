"""The launcher's side of the start: clone, wire, release, wait.

``start`` clones one child straight into every new namespace (clone3 with
all the CLONE_NEW* flags: one process, which is PID 1 of its namespace), writes
its id maps while it waits, sends "go", and relays the init's --explain
records until the exec closes the channel.  ``wait`` then forwards signals
(and a terminal, with -t) until the container's PID 1 exits, and turns its
status into Docker's exit code.
"""

import _signal
import os

from .. import namespaces, userns
from ..errors import MiniContainerError
from ..linux import syscalls as sc
from ..rootfs.apply import prepare_targets
from .sync import channel_pair

FORWARDED = (1, 2, 3, 10, 12, 15, 28)  # HUP INT QUIT USR1 USR2 TERM WINCH
SIGWINCH = 28


class Process:
    """A started container process as the launcher sees it."""

    __slots__ = ("pid", "pty", "status")

    def __init__(self, pid, pty=None):
        self.pid, self.pty, self.status = pid, pty, None


def start(spec, plan, stdio=(0, 1, 2), explain=None, foreground=True, hooks=(), join_net=None,
          start_fifo=None, cgroup_files=()):
    """Clone the container's init and release it; returns a Process.

    ``hooks`` are called as ``hook(pid)`` in the launcher after the clone and
    before "go" (cgroups, networking).  ``join_net`` is the pid of a container
    whose network namespace to share (--network container:NAME).  On any
    failure the child is killed and reaped and the error is raised: nothing
    half-started survives.

    ``start_fifo`` (the OCI create; use with ``foreground=False``) is a path
    where a FIFO is made: the init does all its setup, then waits on it just
    before its execve, and this returns as soon as the init says it is
    waiting.  ``release_waiting(start_fifo, pid)`` lets it exec.

    ``cgroup_files`` are (file, controllers) the init writes "0" into to join
    its cgroups by itself, first thing (``CgroupManager.self_join_files``);
    the hooks run once it says it has.
    """
    if explain is not None:
        sc.set_recorder(explain)
    prepare_targets(plan)
    start_wait = None
    if start_fifo:  # imported here, so the child has it after pivot_root too
        from .startfifo import close_fds, make_fifo, remove_fifo
        start_wait = make_fifo(start_fifo)
    join_fds = []
    try:
        net_fd = os.open(f"/proc/{join_net}/ns/net", os.O_RDONLY | os.O_CLOEXEC) \
            if join_net else None
        for kind, path in spec.namespace_paths:  # OCI: namespaces joined by path
            join_fds.append((kind, _open_namespace(kind, path)))
    except BaseException:
        for _, fd in join_fds:
            os.close(fd)
        if start_fifo:
            close_fds(start_wait)
            remove_fifo(start_fifo)
        raise
    parent, child = channel_pair()
    # The cgroup namespace is unshared by the child once it is in its cgroup,
    # so that it sees that cgroup as "/" (a clone-time one would be rooted at ours).
    flags = namespaces.clone_flags(spec.namespaces - {"cgroup"})
    old_mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, FORWARDED)
    # A PID namespace is entered for children only: the launcher points its
    # "pid_for_children" at the one the config names, clones, and points it
    # back at its own (allowed: it is the launcher's active namespace).
    pid_join = next((fd for kind, fd in join_fds if kind == "pid"), None)
    join_fds = [(kind, fd) for kind, fd in join_fds if kind != "pid"]
    try:
        own_pid_ns = _enter_pid_namespace(pid_join) if pid_join is not None else None
        try:
            pid = sc.clone(flags, why="create the container's first process in new "
                           "namespaces: " + namespaces.describe(spec.namespaces - {"cgroup"}))
        except BaseException:
            if own_pid_ns is not None:
                _leave_pid_namespace(own_pid_ns)
            raise
        if pid != 0 and own_pid_ns is not None:  # never in the child: its children stay
            _leave_pid_namespace(own_pid_ns)
            own_pid_ns = None
    except OSError as exc:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, old_mask)
        parent.close()
        child.close()
        if net_fd is not None:
            os.close(net_fd)
        for _, fd in join_fds:
            os.close(fd)
        if pid_join is not None:
            os.close(pid_join)
        if start_fifo:
            close_fds(start_wait)
            remove_fifo(start_fifo)
        raise MiniContainerError(exc.strerror, op="clone", errno=exc.errno) from None
    if pid == 0:  # the child: never returns
        parent.close()
        from .init import child_main
        child_main(spec, plan.steps, child, stdio, explain is not None, foreground, net_fd,
                   start_wait, join_fds, cgroup_files)
    child.close()
    if net_fd is not None:
        os.close(net_fd)
    for _, fd in join_fds:
        os.close(fd)
    if pid_join is not None:
        os.close(pid_join)
    if start_wait:
        close_fds(start_wait)
    proc = Process(pid)
    try:
        if spec.has("user"):
            userns.write_maps(pid, spec.uid_map, spec.gid_map)
        if spec.security.oom_score_adj is not None:
            _set_oom_score_adj(pid, spec.security.oom_score_adj)
        if cgroup_files and _relay(parent, proc, explain, ("joined",)) is None:
            raise MiniContainerError("the container's init exited before joining its cgroup",
                                     op="start")
        for hook in hooks:
            hook(pid)
        parent.send("go", _winsize() if spec.tty else None)
        if _relay_until_exec(parent, proc, explain) is None and start_fifo:
            raise MiniContainerError("the container's init exited before it was ready to "
                                     "start", op="create")
        if foreground:  # our signals are the container's (not the supervisor's own)
            _install_forwarding(proc)
    except BaseException:
        kill_and_reap(proc)
        if start_fifo:
            remove_fifo(start_fifo)
        raise
    finally:
        parent.close()
        _signal.pthread_sigmask(_signal.SIG_SETMASK, old_mask)
        sc.set_recorder(None)
    return proc


def _set_oom_score_adj(pid, value):
    try:
        sc.write_file(f"/proc/{pid}/oom_score_adj", str(value),
                      why="set the container's OOM score adjustment (oomScoreAdj); the exec "
                          "keeps it")
    except OSError as exc:
        raise MiniContainerError(f"cannot set oomScoreAdj to {value}: {exc.strerror}"
                                 + (" (lowering it needs CAP_SYS_RESOURCE, which this runtime "
                                    "lacks)" if exc.errno == 13 and value < 0 else ""),
                                 op="oom_score_adj", path=f"/proc/{pid}/oom_score_adj",
                                 errno=exc.errno) from None


def _enter_pid_namespace(fd):
    """setns(pid) for our future children; the fd of our own PID namespace to go back."""
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(fd, namespaces.FLAGS["pid"], why="the container's first process is to be "
                 "born in the PID namespace the config names by path")
    except BaseException:
        os.close(own)
        raise
    return own


def _leave_pid_namespace(own):
    try:
        sc.setns(own, namespaces.FLAGS["pid"], why="the launcher's later children are born "
                 "in its own PID namespace again")
    finally:
        os.close(own)


def _open_namespace(kind, path):
    """An fd of the namespace file ``path`` (setns, given ``kind``, refuses another kind)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise MiniContainerError(f"cannot open the {kind} namespace {path}: {exc.strerror}",
                                 op="join namespace", path=path, errno=exc.errno) from None
    return fd


def _relay_until_exec(chan, proc, explain):
    """None at end-of-file (the exec succeeded, or the init died: wait() tells),
    or "ready" (OCI create: the init waits on its exec fifo)."""
    return _relay(chan, proc, explain, ("ready",))


def _relay(chan, proc, explain, until):
    """Relay the init's messages until one of the kinds ``until``; its kind."""
    while True:
        message, fd = chan.recv()
        if message is None:
            return None
        kind = message[0]
        if kind in until:
            return kind
        if kind == "explain" and explain is not None:
            explain.child(message[1])
        elif kind == "pty":
            proc.pty = fd
        elif kind == "error":
            kill_and_reap(proc)
            raise MiniContainerError.from_dict(message[1])


def kill_and_reap(proc):
    if proc.status is not None:
        return
    try:
        os.kill(proc.pid, 9)
    except ProcessLookupError:
        pass
    _, proc.status = os.waitpid(proc.pid, 0)


def _install_forwarding(proc):
    def forward(signum, _frame):
        if signum == SIGWINCH and proc.pty is not None:
            _copy_winsize(proc.pty)
            return
        if proc.status is None:
            try:
                os.kill(proc.pid, signum)
            except ProcessLookupError:
                pass
    for sig in FORWARDED:
        _signal.signal(sig, forward)


def restore_signals():
    for sig in FORWARDED:
        _signal.signal(sig, _signal.SIG_DFL if sig != 2 else _signal.default_int_handler)


def wait(proc, interactive=False):
    """Wait for the container's PID 1; Docker's exit code (128+N for signal N)."""
    try:
        if proc.pty is not None:
            from .terminal import proxy
            proxy(proc.pty, interactive)
        _, proc.status = os.waitpid(proc.pid, 0)
    finally:
        restore_signals()
        if proc.pty is not None:
            os.close(proc.pty)
    return exit_code(proc.status)


def exit_code(status):
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _winsize():
    import fcntl
    import struct
    for fd in (0, 1, 2):
        try:
            rows, cols = struct.unpack("HHHH", fcntl.ioctl(fd, 0x5413, b"\0" * 8))[:2]
            return (rows, cols)
        except OSError:
            continue
    return None


def _copy_winsize(master):
    size = _winsize()
    if size:
        import fcntl
        import struct
        fcntl.ioctl(master, 0x5414, struct.pack("HHHH", size[0], size[1], 0, 0))


def release_waiting(fifo_path, pid, timeout=None):
    """OCI start: let the init that ``start(start_fifo=...)`` left waiting exec.

    See ``startfifo.release_waiting``: reads the FIFO's byte (failing clearly
    if ``pid`` died first), then removes the FIFO.
    """
    from .startfifo import release_waiting as release
    release(fifo_path, pid, timeout)
