"""Small file helpers for network state: locked sections and atomic JSON."""

import contextlib
import json
import os


@contextlib.contextmanager
def locked(path):
    """Hold an exclusive flock on ``path`` (created if missing) for the block.

    flock is released by the kernel when the descriptor closes, so a crashed
    holder never leaves a stale lock behind.
    """
    import fcntl
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, NotADirectoryError):
        return default


def write_json(path, data):
    """Replace ``path`` atomically: readers see the old or the new file, never half.

    No fsync: these files describe running containers, which a power loss
    ends anyway, and an fsync costs milliseconds on every start.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def remove(path):
    """Delete a file; a missing one is fine (undo must be idempotent)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
