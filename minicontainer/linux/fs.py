"""File helpers: atomic writes, fast JSON, and removal of what we created."""

import os


def atomic_write(path, data, mode=0o644, durable=True):
    """Write ``data`` to ``path`` so readers see the old or the new file, never half.

    ``durable=False`` skips the fsync: for records that die with the machine
    anyway (runtime state, caches), the rename alone is what keeps them whole.
    """
    raw = data.encode() if isinstance(data, str) else data
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, raw)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def dumps_json(value):
    """JSON text for plain data, with the stdlib's C encoder.

    ``import json`` drags in ``re`` and ``enum`` (about 10 ms) because of its
    decoder; state files are written on every ``run``, so the encoder the json
    module itself uses is called directly.
    """
    try:
        import _json
    except ImportError:  # an interpreter without the accelerator
        import json
        return json.dumps(value, indent=1, sort_keys=True)
    encoder = _json.make_encoder(None, _refuse, _json.encode_basestring_ascii, None,
                                 ": ", ", ", True, False, True)
    return "".join(encoder(value, 0))


def _refuse(value):
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def remove_tree(path, attempts=5):
    """Remove a directory tree; a missing one is already removed.

    An entry created while we empty it (a writer that had already looked the
    directory up) makes rmdir fail with ENOTEMPTY: empty it again, a few times.
    """
    for attempt in range(attempts):
        try:
            entries = list(os.scandir(path))
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                remove_tree(entry.path)
            else:
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != 39 or attempt == attempts - 1:  # ENOTEMPTY
                raise
