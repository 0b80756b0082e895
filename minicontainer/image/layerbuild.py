"""Turn a directory into a layer blob in the store (builtin image, import, commit).

The tar lists entries in sorted order with numeric owners, modes (setuid
included), mtimes, symlinks, hard links and the xattrs ``security.capability``
and ``user.*``, so the same tree gives the same diff id.  Given an overlayfs
upper directory (``overlay=True``), its whiteouts become OCI ones again: a 0:0
character device NAME -> an empty file ``.wh.NAME``; a directory with
``trusted.overlay.opaque=y`` -> its entry plus ``.wh..wh..opq``.  Other device
nodes and sockets are left out (the runtime makes /dev); the names of what was
left out are returned as warnings.
"""

import os
import stat

_KEPT_XATTR_PREFIXES = ("user.", "security.capability")


class _HashingWriter:
    def __init__(self, raw):
        import hashlib
        self.raw, self.hash, self.size = raw, hashlib.sha256(), 0

    def write(self, data):
        self.hash.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self):
        self.raw.flush()

    @property
    def digest(self):
        return "sha256:" + self.hash.hexdigest()


def _walk_dir(root, rel):
    for name in sorted(os.listdir(os.path.join(root, rel))):
        child = f"{rel}/{name}"
        yield child
        if stat.S_ISDIR(os.lstat(os.path.join(root, child)).st_mode):
            yield from _walk_dir(root, child)


def iter_tree(root):
    for name in sorted(os.listdir(root)):
        yield name
        if stat.S_ISDIR(os.lstat(os.path.join(root, name)).st_mode):
            yield from _walk_dir(root, name)


def _xattrs(path, is_link):
    if is_link:
        return {}
    result = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return result
    for name in names:
        if name.startswith(_KEPT_XATTR_PREFIXES):
            try:
                value = os.getxattr(path, name, follow_symlinks=False)
            except OSError:
                continue
            result["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return result


def _is_opaque(path):
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def write_tar(root, out, overlay=False):
    """Write ``root`` as a tar to the binary stream ``out``; returns warnings."""
    from .tarlib import tarfile
    warnings = []
    seen_inodes = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in iter_tree(root):
            path = os.path.join(root, rel)
            st = os.lstat(path)
            mode = st.st_mode
            parent, base = os.path.split(rel)
            if overlay and stat.S_ISCHR(mode) and st.st_rdev == 0:
                info = tarfile.TarInfo(os.path.join(parent, ".wh." + base))
                info.mtime, info.mode = int(st.st_mtime), 0o644
                tar.addfile(info)
                continue
            info = tarfile.TarInfo(rel)
            info.uid, info.gid = st.st_uid, st.st_gid
            info.uname = info.gname = ""
            info.mode = stat.S_IMODE(mode)
            info.mtime = int(st.st_mtime)
            info.pax_headers = _xattrs(path, stat.S_ISLNK(mode))
            if stat.S_ISDIR(mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                if overlay and _is_opaque(path):
                    marker = tarfile.TarInfo(os.path.join(rel, ".wh..wh..opq"))
                    marker.mtime, marker.mode = int(st.st_mtime), 0o644
                    tar.addfile(marker)
            elif stat.S_ISLNK(mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
                tar.addfile(info)
            elif stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen_inodes:
                    info.type = tarfile.LNKTYPE
                    info.linkname = seen_inodes[key]
                    tar.addfile(info)
                    continue
                seen_inodes[key] = rel
                info.size = st.st_size
                # O_NOFOLLOW: a running container may swap the file for a symlink
                # after the lstat; we must never read a host file into the layer.
                with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC),
                               "rb") as handle:
                    tar.addfile(info, handle)
            elif stat.S_ISFIFO(mode):
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
            else:
                warnings.append(f"left out /{rel} (device or socket)")
    return warnings


def build_layer(store, root, overlay=False, compression="gzip"):
    """Tar ``root`` (gzip or no compression) into the store; (descriptor, diff_id, warnings)."""
    from .store import MT_OCI_LAYER, MT_OCI_LAYER_GZIP
    store.ensure()
    tmp = os.path.join(store.blobs_dir, f".tmp-layer-{os.getpid()}")
    try:
        with open(tmp, "wb") as raw:
            outer = _HashingWriter(raw)
            if compression == "gzip":
                import gzip
                compressor = gzip.GzipFile(fileobj=outer, mode="wb", compresslevel=6, mtime=0)
                inner = _HashingWriter(compressor)
                warnings = write_tar(root, inner, overlay)
                compressor.close()
                media_type = MT_OCI_LAYER_GZIP
            else:
                inner = outer
                warnings = write_tar(root, inner, overlay)
                media_type = MT_OCI_LAYER
            raw.flush()
            os.fsync(raw.fileno())
        digest = outer.digest
        os.replace(tmp, store.blob_path(digest))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    descriptor = {"mediaType": media_type, "digest": digest, "size": outer.size}
    return descriptor, inner.digest, warnings


__all__ = ["build_layer", "write_tar", "iter_tree"]
