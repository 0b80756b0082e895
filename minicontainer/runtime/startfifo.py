"""The OCI create/start split: the init waits on an exec fifo before its execve.

``create`` leaves the container's init fully set up (root, user, capabilities,
seccomp) and blocked just before the execve of the user's program; ``start``
lets it go.  As runc does it, the rendezvous is a named pipe (FIFO) in the
container's state directory:

* the launcher makes the FIFO (mode 0622, so a user-namespaced init can open
  it for writing) and opens it with O_PATH, plus the host's /proc with O_PATH,
  before the clone: the child inherits both descriptors, so neither the state
  directory's permissions nor the container's own mounts (an OCI config may
  list no /proc) matter;
* the init, once nothing is left to fail but the exec, sends "ready" to the
  launcher (which returns, so ``create`` can exit) and reopens the FIFO
  through ``/proc/self/fd/N`` for writing, which blocks until a reader opens
  it; it writes one byte and execs;
* ``start`` (``release_waiting``) opens the FIFO for reading, takes the byte
  and removes the FIFO.

Only stdlib; the child's half runs after pivot_root, so this module must be
imported (it is, by ``init``) before the host's files go out of reach.
"""

import os
import select
import time

from ..errors import MiniContainerError, SetupError

FIFO_MODE = 0o622


def make_fifo(path):
    """Create the FIFO at ``path``; (fifo O_PATH fd, host /proc O_PATH fd) for the child."""
    try:
        os.mkfifo(path, FIFO_MODE)
        os.chmod(path, FIFO_MODE)  # mkfifo's mode is filtered by our umask
    except OSError as exc:
        raise SetupError(f"cannot create the exec fifo: {exc.strerror}", op="mkfifo",
                         path=path, errno=exc.errno) from None
    try:
        fifo_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        proc_fd = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        os.unlink(path)
        raise SetupError(exc.strerror, op="open the exec fifo", path=path,
                         errno=exc.errno) from None
    return fifo_fd, proc_fd


def close_fds(fds):
    for fd in fds or ():
        try:
            os.close(fd)
        except OSError:
            pass


def remove_fifo(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def wait_for_start(fds):
    """In the init: block until ``start`` reads the FIFO (through our own fd of it)."""
    fifo_fd, proc_fd = fds
    # /proc/self/fd/N of an O_PATH descriptor reopens the very same inode,
    # whatever our root is now; the open blocks until a reader comes.
    fd = os.open(f"self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC, dir_fd=proc_fd)
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
    os.close(fifo_fd)
    os.close(proc_fd)


def release_waiting(fifo_path, pid, timeout=None, poll_interval=0.05):
    """Let the init waiting on ``fifo_path`` exec its program (the OCI ``start``).

    Opens the FIFO for reading (non-blocking, so a dead init cannot hang us),
    waits for its one byte, checking meanwhile that ``pid`` is still alive
    (and not a zombie), then removes the FIFO.  Raises MiniContainerError if
    the init died or never wrote, SetupError if the FIFO is missing (the
    container was already started).
    """
    try:
        fd = os.open(fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SetupError("the container was already started (no exec fifo)", op="start",
                         path=fifo_path, errno=2) from None
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            if poller.poll(int(poll_interval * 1000)):
                try:
                    data = os.read(fd, 1)
                except BlockingIOError:
                    data = None
                if data:
                    break
            if not _alive(pid):
                raise MiniContainerError(f"cannot start the container: its init (pid {pid}) "
                                         "has exited", op="start")
            if deadline is not None and time.monotonic() > deadline:
                raise MiniContainerError("cannot start the container: its init did not "
                                         f"reach the exec fifo within {timeout} s", op="start")
    finally:
        os.close(fd)
    remove_fifo(fifo_path)


def _alive(pid):
    """True if ``pid`` exists and is not a zombie (it needs no parent of ours)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in (b"Z", b"X")
