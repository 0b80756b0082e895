"""Small file helpers the image store needs: atomic writes, a lock, hashing."""

import os

_HEX = frozenset("0123456789abcdef")
_HEX_LENGTHS = {"sha256": 64, "sha512": 128}


def atomic_write(path, data, mode=0o644, durable=True):
    """Write ``data`` to ``path`` so readers see the old or the new file, never half."""
    raw = data.encode() if isinstance(data, str) else data
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
        if durable:  # image data must survive a crash; per-container records need not
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def split_digest(digest):
    """(algorithm, hex) of a digest, checked without regular expressions (hot path)."""
    algorithm, _, encoded = digest.partition(":") if isinstance(digest, str) else ("", "", "")
    if _HEX_LENGTHS.get(algorithm) != len(encoded) or not _HEX.issuperset(encoded):
        from ..errors import SpecError
        raise SpecError(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
    return algorithm, encoded


def write_json(path, value):
    import json
    atomic_write(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_json(path, default=None):
    import json
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read())
    except FileNotFoundError:
        return default


def canonical_json(value):
    """The bytes we hash for manifests/configs we write ourselves (stable digests)."""
    import json
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def sha256_digest(data):
    import hashlib
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FileLock:
    """An exclusive flock on ``path``, released on exit (or when the process dies)."""

    def __init__(self, path):
        self.path = path
        self.fd = None

    def __enter__(self):
        import fcntl
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        self.fd = None


class HashingReader:
    """Wrap a binary stream; hashes and counts every byte read through it."""

    def __init__(self, raw, algorithm="sha256"):
        import hashlib
        self.raw = raw
        self.hash = hashlib.new(algorithm)
        self.algorithm = algorithm
        self.size = 0

    def read(self, size=-1):
        data = self.raw.read(size)
        self.hash.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readable(self):
        return True

    def drain(self, chunk=1 << 20):
        while self.read(chunk):
            pass

    @property
    def digest(self):
        return f"{self.algorithm}:{self.hash.hexdigest()}"


def remove_tree(path):
    """rm -rf that does not follow symlinks and treats a missing path as done."""
    from ..linux.fs import remove_tree as remove_dir  # no shutil: it imports re
    try:
        remove_dir(path)
    except NotADirectoryError:
        os.unlink(path)
