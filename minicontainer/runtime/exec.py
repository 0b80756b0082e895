"""``exec``: run another process inside a running container.

The new process must end up where the container's own are: in its cgroup,
in every one of its namespaces, under its capabilities, seccomp filter and
no_new_privs, as its user.  Entering a PID namespace only affects children,
so (as runc does) a first child joins the cgroup and the namespaces, forks
the real process and exits; we are a child subreaper, so that grandchild is
handed to us and we wait for it, forwarding signals, like ``run`` does.
"""

import os

from .. import namespaces
from ..errors import MiniContainerError
from ..linux import constants as C
from ..linux import syscalls as sc
from . import launcher
# Imported now: once the mount namespace is joined, the host's files are gone.
from .init import (close_inherited, confine_and_exec, container_env, enter_workdir,
                   find_executable, process_user, setup_stdio)
from .sync import channel_pair


def exec_in(state, spec, stdio=(0, 1, 2), detach=False):
    """Start ``spec.args`` in the container recorded by ``state``; a Process."""
    from .. import security
    from ..cgroups import from_record
    target = state["pid"]
    # Every namespace of the container's PID 1, shared ones included (its
    # network may be another container's); a user namespace only if it has one.
    kinds = [kind for kind in namespaces.JOIN_ORDER
             if (kind != "user" or spec.has("user"))
             and os.path.exists(f"/proc/{target}/ns/{namespaces.PROC_NAMES[kind]}")]
    # Opened here, on the host: after joining the mount namespace these
    # paths would name the container's files.
    fds = [(kind, os.open(f"/proc/{target}/ns/{namespaces.PROC_NAMES[kind]}",
                          os.O_RDONLY | os.O_CLOEXEC)) for kind in kinds]
    cgroup = from_record(state["cgroup"]) if state.get("cgroup") else None
    confinement = security.prepare(spec.security)
    sc.prctl(C.PR_SET_CHILD_SUBREAPER, 1, why=None)
    parent, child = channel_pair()
    first = os.fork()
    if first == 0:
        parent.close()
        _first_child(spec, fds, cgroup, confinement, child, stdio, detach)
    child.close()
    for _, fd in fds:
        os.close(fd)
    proc = launcher.Process(None)
    try:
        message, _ = parent.recv()
        if message and message[0] == "error":
            raise MiniContainerError.from_dict(message[1])
        if not message or message[0] != "pid":
            raise MiniContainerError("exec: the process could not be started")
        proc.pid = message[1]
        os.waitpid(first, 0)
        parent.send("go", launcher._winsize() if spec.tty else None)
        launcher._relay_until_exec(parent, proc, None)
        if not detach:  # a foreground exec: our signals are its signals
            launcher._install_forwarding(proc)
    except BaseException:
        if proc.pid:
            launcher.kill_and_reap(proc)
        else:
            os.waitpid(first, 0)
        raise
    finally:
        parent.close()
    return proc


def _first_child(spec, fds, cgroup, confinement, chan, stdio, detach):
    code = 125
    try:
        # Not dumpable while inside the container's namespaces: its processes
        # must not reach this (host) interpreter through /proc/<pid>/exe or
        # ptrace (CVE-2019-5736).  The exec resets it for the command.
        sc.prctl(C.PR_SET_DUMPABLE, 0, why="keep the container away from the runtime's "
                 "own process (/proc/<pid>/exe, ptrace)")
        if cgroup is not None:
            cgroup.join_self("join the container's cgroup")
        for kind, fd in fds:
            sc.setns(fd, namespaces.FLAGS[kind], why=None)
        pid = os.fork()
        if pid == 0:
            _in_container(spec, confinement, chan, stdio, detach)
        chan.send("pid", pid)
        code = 0
    except MiniContainerError as exc:
        chan.send("error", exc.to_dict())
    except OSError as exc:
        chan.send("error", MiniContainerError(exc.strerror, op="exec: join the container",
                                              errno=exc.errno).to_dict())
    os._exit(code)


def _in_container(spec, confinement, chan, stdio, detach):
    code = 125
    try:
        message, _ = chan.recv()
        if not message or message[0] != "go":
            os._exit(125)
        user = process_user(spec)
        env = container_env(spec, user)
        setup_stdio(spec, chan, stdio, message[1])
        close_inherited(chan)
        enter_workdir(spec.cwd, user)
        sc.close_range(3)
        path = find_executable(spec.args[0], env)
        confine_and_exec(confinement, user, path, list(spec.args), env, not detach,
                         why="run the command inside the container")
    except MiniContainerError as exc:
        code = exc.exit_code
        chan.send("error", exc.to_dict())
    except OSError as exc:
        chan.send("error", MiniContainerError(exc.strerror or str(exc), op="exec",
                                              errno=exc.errno).to_dict())
    os._exit(code)
