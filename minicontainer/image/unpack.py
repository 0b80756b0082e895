"""Unpack one image layer into its own directory, refusing anything hostile.

A layer is a tar (plain, gzip or zstd) that will become one overlayfs lower
directory.  Rules, checked for every member before anything is written:

- names are relative: an absolute name or a ``..`` component is refused;
- nothing is ever written *through* a symlink: a member whose parent path in
  this layer is a symlink is refused, and an existing non-directory at the
  member's own path is unlinked first (the later tar entry wins), so a
  planted ``a -> /etc`` cannot redirect a write outside the layer;
- symlink targets are stored as written (an absolute target is resolved
  inside the container's root at run time, which is normal in images), but a
  relative target that climbs above the layer root is refused;
- a hard link must name a regular file already unpacked from this same layer
  (never a symlink: tarfile sets owner, mode and times through the new name);
- device nodes are skipped with a warning (the runtime provides /dev), except
  the character device 0:0, which is overlayfs's own whiteout and is kept;
- ownership (numeric ids), modes including setuid/setgid/sticky, times, and
  the xattrs ``security.capability`` and ``user.*`` are kept, as Docker does.

OCI whiteouts become overlayfs ones: ``.wh.NAME`` -> a 0:0 character device
named NAME; ``.wh..wh..opq`` -> the xattr ``trusted.overlay.opaque=y`` on its
directory.  As a second line of defence every member but symlinks and devices
also passes the standard library's path checks (``tarfile.tar_filter``, and
``data_filter`` for hard links, the only one that resolves their targets);
their attribute changes are discarded (they would strip setuid bits and
ownership), and symlinks are left out (absolute targets are normal in images).
"""

import os
import posixpath
import stat

from ..errors import SetupError
from .files import HashingReader

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_KEPT_XATTRS = ("security.capability",)
_KEPT_XATTR_PREFIXES = ("user.",)


class UnpackResult:
    """What unpacking measured: blob digest (as read), diff id (uncompressed), sizes."""

    __slots__ = ("digest", "size", "diff_id", "diff_size", "warnings")

    def __init__(self, digest, size, diff_id, diff_size, warnings):
        self.digest, self.size = digest, size
        self.diff_id, self.diff_size = diff_id, diff_size
        self.warnings = warnings


def _refuse(message, name):
    return SetupError(f"unsafe layer: {message}", op="unpack layer", path=name)


class _Prefixed:
    """A stream whose first bytes were already read to sniff the compression."""

    def __init__(self, head, rest):
        self.head, self.rest = head, rest

    def read(self, size=-1):
        if self.head:
            if size is None or size < 0:
                data, self.head = self.head + self.rest.read(), b""
                return data
            data, self.head = self.head[:size], self.head[size:]
            if len(data) < size:
                data += self.rest.read(size - len(data))
            return data
        return self.rest.read(size)

    def readable(self):
        return True


def decompressed(stream):
    """(reader of the plain tar, kind) for a plain, gzip or zstd stream."""
    head = stream.read(4)
    source = _Prefixed(head, stream)
    if head[:2] == GZIP_MAGIC:
        import gzip
        return gzip.GzipFile(fileobj=source, mode="rb"), "gzip"
    if head == ZSTD_MAGIC:
        try:
            import zstandard
        except ImportError:
            raise SetupError("zstd-compressed layer needs the 'zstandard' package "
                             "(pip install zstandard)", op="unpack layer") from None
        reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
        return reader, "zstd"
    return source, "none"


def unpack_layer(stream, dest):
    """Unpack the layer read from ``stream`` into the existing empty ``dest``."""
    from .tarlib import tarfile
    outer = HashingReader(stream)
    plain, _kind = decompressed(outer)
    inner = HashingReader(plain)
    extractor = _Extractor(dest)
    try:
        with tarfile.open(fileobj=inner, mode="r|", errorlevel=2) as tar:
            tar.extractall(extractor.dest, members=extractor.members(tar),
                           numeric_owner=True, filter=extractor.stdlib_check)
        inner.drain()
        outer.drain()
    except tarfile.FilterError as exc:
        raise _refuse(str(exc), getattr(exc, "tarinfo", None) and exc.tarinfo.name) from None
    except (tarfile.TarError, EOFError) as exc:
        raise SetupError(f"bad layer archive: {exc}", op="unpack layer") from None
    except OSError as exc:
        if "gzip" in type(exc).__module__ or "Not a gzipped file" in str(exc):
            raise SetupError(f"bad layer archive: {exc}", op="unpack layer") from None
        raise
    return UnpackResult(outer.digest, outer.size, inner.digest, inner.size, extractor.warnings)


def clean_name(raw):
    """The member name relative to the layer root; None for the root itself."""
    if raw.startswith("/"):
        raise _refuse("absolute path", raw)
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _refuse("path with '..'", raw)
    return "/".join(parts) or None


class _Extractor:
    def __init__(self, dest):
        self.dest = os.path.realpath(dest)
        self.warnings = []
        self._pending_xattrs = None

    # -- the member stream handed to tarfile.extractall ----------------------------

    def members(self, tar):
        for member in tar:
            self._apply_pending_xattrs()
            name = clean_name(member.name)
            if name is None:
                continue  # the layer root's own entry: the overlay decides the root
            parent, base = posixpath.split(name)
            if base == OPAQUE_MARKER:
                self._make_opaque(parent)
                continue
            if base.startswith(WHITEOUT_PREFIX):
                self._make_whiteout(parent, base[len(WHITEOUT_PREFIX):], member)
                continue
            member = self._checked(member, name)
            if member is None:
                continue
            self._pending_xattrs = (name, member)
            yield member
        self._apply_pending_xattrs()

    def stdlib_check(self, member, dest):
        from .tarlib import tarfile
        # Both raise on an escape; their results are deliberately unused.  Only
        # data_filter resolves hard link targets; tar_filter checks names.
        if member.islnk():
            tarfile.data_filter(member, dest)
        elif not (member.issym() or member.ischr() or member.isblk()):
            tarfile.tar_filter(member, dest)
        return member

    # -- checks ------------------------------------------------------------------

    def _checked(self, member, name):
        self._check_parents(name)
        if member.ischr() or member.isblk():
            if not (member.ischr() and member.devmajor == 0 and member.devminor == 0):
                kind = "character" if member.ischr() else "block"
                self.warnings.append(f"skipped {kind} device /{name} "
                                     f"({member.devmajor}:{member.devminor})")
                return None
        changes = {"name": name}
        if member.issym():
            target = member.linkname
            if not target.startswith("/"):
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
                if resolved == ".." or resolved.startswith("../"):
                    raise _refuse(f"symlink pointing out of the layer ({target})", name)
        elif member.islnk():
            target = clean_name(member.linkname)
            if target is None:
                raise _refuse("hard link to the layer root", name)
            self._check_parents(target)
            try:
                st = os.lstat(os.path.join(self.dest, target))
            except FileNotFoundError:
                raise _refuse(f"hard link to a file not in this layer ({target})", name) from None
            if not stat.S_ISREG(st.st_mode):
                # tarfile would chown/chmod/utime the new name, following a symlink
                # out of the layer; only regular files may be hard-linked.
                raise _refuse(f"hard link to something not a regular file ({target})", name)
            if target == name:
                return None
            changes["linkname"] = target
        self._clear_path(name, member.isdir())
        return member.replace(**changes, deep=False)

    def _check_parents(self, name):
        """Refuse if any existing parent of ``name`` in the layer is not a real directory."""
        path = self.dest
        for part in name.split("/")[:-1]:
            path = os.path.join(path, part)
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                return
            if stat.S_ISLNK(mode):
                raise _refuse("path goes through a symlink", name)
            if not stat.S_ISDIR(mode):
                raise _refuse("path goes through a non-directory", name)

    def _clear_path(self, name, is_dir):
        path = os.path.join(self.dest, name)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISDIR(mode):
            if not is_dir:
                raise _refuse("a file replaces a directory of the same layer", name)
            return
        os.unlink(path)  # never open an existing entry: it may be a planted symlink

    # -- whiteouts and xattrs ---------------------------------------------------

    def _ensure_dir(self, relative):
        if not relative:
            return self.dest
        self._check_parents(relative + "/x")
        path = os.path.join(self.dest, relative)
        os.makedirs(path, mode=0o755, exist_ok=True)
        return path

    def _make_opaque(self, parent):
        path = self._ensure_dir(parent)
        os.setxattr(path, OPAQUE_XATTR, b"y")

    def _make_whiteout(self, parent, hidden, member):
        if not hidden or hidden in (".", "..") or hidden.startswith(WHITEOUT_PREFIX):
            raise _refuse("malformed whiteout", member.name)
        path = os.path.join(self._ensure_dir(parent), hidden)
        if os.path.lexists(path):
            return  # an entry of this same layer wins over its whiteout (OCI rule)
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
        os.lchown(path, member.uid, member.gid)

    def _apply_pending_xattrs(self):
        pending, self._pending_xattrs = self._pending_xattrs, None
        if pending is None:
            return
        name, member = pending
        if member.issym():
            return
        for key, value in member.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            attr = key[len("SCHILY.xattr."):]
            if attr not in _KEPT_XATTRS and not attr.startswith(_KEPT_XATTR_PREFIXES):
                self.warnings.append(f"dropped xattr {attr} on /{name}")
                continue
            raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
            try:
                os.setxattr(os.path.join(self.dest, name), attr, raw, follow_symlinks=False)
            except OSError as exc:
                self.warnings.append(f"could not set xattr {attr} on /{name}: {exc.strerror}")
