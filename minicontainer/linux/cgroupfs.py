"""The cgroup filesystem steps: make a group, write a limit, remove a group.

Every change goes through ``syscalls`` so that ``--explain`` narrates it with
its plain-words reason ("write 536870912 to memory.max (cap the container's
memory at 512 MiB)").  Reads are not steps and are not recorded.
"""

import errno
import os
import time

from . import syscalls


def make_dir(path, why):
    """mkdir a cgroup; the kernel fills it with the controllers' files."""
    syscalls.mkdir(path, 0o755, why=why)


def write(path, value, why):
    """Write one value to a cgroup file in a single write(2)."""
    syscalls.write_file(path, str(value), why=why)


def read(path):
    with open(path) as f:
        return f.read()


def read_int(path):
    """An integer file ('max' and missing files read as None)."""
    try:
        text = read(path).strip()
    except FileNotFoundError:
        return None
    if text == "max" or not text:
        return None
    return int(text.split()[0])


def read_keyed(path):
    """A 'key value' per line file (memory.events, cpu.stat ...) → dict of ints."""
    try:
        text = read(path)
    except FileNotFoundError:
        return {}
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            values[key] = int(value)
        except ValueError:
            pass
    return values


def pids(directory):
    """The processes in one cgroup (not in its children)."""
    try:
        return [int(line) for line in read(os.path.join(directory, "cgroup.procs")).split()]
    except FileNotFoundError:
        return []


def remove_dir(path, why, attempts=60):
    """rmdir a cgroup; ENOENT is success (delete is idempotent).

    The kernel answers EBUSY for a short while after the last process died
    (it is still being reaped), so that is retried with a growing pause.
    """
    delay = 0.005

    def call():
        try:
            os.rmdir(path)
        except FileNotFoundError:
            return "absent"
        return 0

    for attempt in range(attempts):
        try:
            return syscalls._run("rmdir", (path,), why, call)
        except OSError as exc:
            if exc.errno != errno.EBUSY or attempt == attempts - 1:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def open_dir(path, why):
    """An O_PATH directory fd of a cgroup (for clone3's CLONE_INTO_CGROUP)."""
    return syscalls.open_path(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, why=why)
