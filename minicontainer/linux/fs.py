"""File helpers: atomic writes and removal of what we created."""

import os
import shutil


def atomic_write(path, data, mode=0o644):
    """Write ``data`` to ``path`` so readers see the old or the new file, never half."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, raw)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def remove_tree(path):
    """Remove a directory tree; a missing one is already removed."""
    shutil.rmtree(path, ignore_errors=False, onerror=_ignore_missing)


def _ignore_missing(function, path, exc_info):
    if not isinstance(exc_info[1], FileNotFoundError):
        raise exc_info[1]
