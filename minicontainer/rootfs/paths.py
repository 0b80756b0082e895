"""Resolve a path inside a root directory without ever leaving it.

A container's root is untrusted: ``/etc/hosts`` in it may be a symlink to
``/etc/shadow`` or to ``../../..``.  Mount targets are therefore resolved one
component at a time, with symlinks interpreted relative to the root and ``..``
clamped at it (what runc's securejoin does).
"""

import os

_MAX_LINKS = 255


def secure_join(root, path):
    """The host path of ``path`` inside ``root``, symlinks resolved within root."""
    root = os.path.abspath(root)
    pending = [part for part in path.split("/") if part]
    resolved = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(candidate)
        except OSError:  # not a symlink, or does not exist yet: take it as is
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(40, os.strerror(40), os.path.join("/", *resolved, part))
        if target.startswith("/"):
            resolved = []
        pending[:0] = [p for p in target.split("/") if p]
    return os.path.join(root, *resolved)
