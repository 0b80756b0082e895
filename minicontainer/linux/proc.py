"""Readers of /proc: what the kernel says about a process."""

import os


def start_time(pid):
    """The process's start time in clock ticks since boot (field 22 of stat).

    Together with the pid this names one process for good: a recycled pid
    has a different start time.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; skip past it.
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[19])


def is_alive(pid, started):
    """True when ``pid`` still names the process that started at ``started``."""
    return pid is not None and started is not None and start_time(pid) == started


def has_namespace(kind):
    """Whether this kernel offers a namespace kind (e.g. "time")."""
    return os.path.exists(f"/proc/self/ns/{kind}")
