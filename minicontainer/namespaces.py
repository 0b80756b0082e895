"""Namespace kinds, their clone flags, and joining them by /proc path.

The fixed order matters when joining: the user namespace first (it grants the
rights to enter the others), the mount namespace last but one, pid last (it
only affects children).
"""

from .linux import constants as C
from .linux import syscalls as sc

FLAGS = {
    "user": C.CLONE_NEWUSER, "ipc": C.CLONE_NEWIPC, "uts": C.CLONE_NEWUTS,
    "net": C.CLONE_NEWNET, "cgroup": C.CLONE_NEWCGROUP, "time": C.CLONE_NEWTIME,
    "mount": C.CLONE_NEWNS, "pid": C.CLONE_NEWPID,
}
JOIN_ORDER = ("user", "ipc", "uts", "net", "cgroup", "time", "mount", "pid")
PROC_NAMES = {"mount": "mnt", "pid": "pid", "net": "net", "uts": "uts", "ipc": "ipc",
              "user": "user", "cgroup": "cgroup", "time": "time"}
WHAT = {
    "user": "its own user and group ids", "pid": "its own process tree (it is PID 1)",
    "mount": "its own mount table", "uts": "its own hostname",
    "ipc": "its own SysV IPC and message queues", "net": "its own network stack",
    "cgroup": "its own view of the cgroup tree", "time": "its own monotonic and boot clocks",
}


def clone_flags(kinds):
    flags = 0
    for kind in kinds:
        flags |= FLAGS[kind]
    return flags


def describe(kinds):
    """Plain words for the set of namespaces a container gets."""
    return "; ".join(f"{kind}: {WHAT[kind]}" for kind in JOIN_ORDER if kind in kinds)


def join(pid, kinds):
    """Enter the namespaces ``kinds`` of process ``pid`` (e.g. for exec)."""
    import os
    fds = {}
    try:
        for kind in JOIN_ORDER:
            if kind in kinds:
                path = f"/proc/{pid}/ns/{PROC_NAMES[kind]}"
                fds[kind] = (os.open(path, os.O_RDONLY | os.O_CLOEXEC), path)
        for kind, (fd, path) in fds.items():
            sc.setns(fd, FLAGS[kind], path=path, why=f"join the container's {kind} namespace")
    finally:
        for fd, _ in fds.values():
            os.close(fd)
