"""Filesystem work of a build step: a mounted view of the image so far, and layers.

Every step that changes files (RUN, COPY, ADD, WORKDIR) works the same way:
mount an overlayfs over the layers built so far (a private copy-on-write root
under ``<data root>/overlay/build-<random>``), change files through it, then
turn its upper directory into a layer (overlay whiteouts become OCI ones, see
``image/layerbuild``) and unmount.  Files are always written through
``secure_join``: a symlink in the image (``/app -> /``) is resolved inside
the image's root, never on the host.
"""

import contextlib
import os
import shutil
import stat

from ..errors import SpecError
from ..rootfs.paths import secure_join


@contextlib.contextmanager
def mounted(builder, state):
    """(merged root, upper dir) of a fresh copy-on-write view of ``state``."""
    from ..image import container_upper_dir, mount_image, release_rootfs
    store = builder.store
    diff_ids = state.diff_ids
    layer_dirs = [store.ensure_layer(layer["digest"], diff_id)
                  for layer, diff_id in zip(state.layers, diff_ids)]
    view_id = _view_prefix() + os.urandom(6).hex()
    try:
        merged = mount_image(builder.data_root, {"layers": layer_dirs, "diff_ids": diff_ids},
                             view_id)
        yield merged, container_upper_dir(builder.data_root, view_id)
    finally:
        release_rootfs(builder.data_root, view_id)


def _view_prefix():
    """``build-<pid>-<start time>-``: whose view it is, so a later build can tell
    the views of a killed build (which never unmounted them) from live ones."""
    from ..linux.proc import start_time
    return f"build-{os.getpid()}-{start_time(os.getpid())}-"


def release_stale_views(data_root):
    """Unmount and delete views left by builds that died (SIGKILL, a crash)."""
    from ..image import release_rootfs
    from ..linux.proc import is_alive
    try:
        names = os.listdir(os.path.join(data_root, "overlay"))
    except FileNotFoundError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) != 4 or parts[0] != "build" or not parts[1].isdigit() or \
                not parts[2].isdigit():
            continue
        if not is_alive(int(parts[1]), int(parts[2])):
            release_rootfs(data_root, name)


def upper_is_empty(upper):
    try:
        return not os.listdir(upper)
    except FileNotFoundError:
        return True


def layer_from_upper(builder, upper):
    """(descriptor, diff id) of the upper directory as a layer, unpacked in the store."""
    from ..image.layerbuild import build_layer
    from ..linux.syscalls import note
    note("build-layer", (upper,), "the step's changes, all in the view's upper directory, "
                                  "become a layer: a tar in which overlayfs's deletion marks "
                                  "are OCI whiteouts (.wh.NAME)")
    descriptor, diff_id, _warnings = build_layer(builder.store, upper, overlay=True)
    builder.store.ensure_layer(descriptor["digest"], diff_id)
    return descriptor, diff_id


# -- owners ---------------------------------------------------------------------------

def resolve_chown(root, text):
    """(uid, gid) of COPY --chown=user[:group], names looked up in the image's files."""
    user, _, group = text.partition(":")
    uid = _lookup(root, "/etc/passwd", user, "user") if user else 0
    if group:
        gid = _lookup(root, "/etc/group", group, "group")
    else:
        gid = uid  # Docker: a user without a group gets the same number as gid
    return uid, gid


def _lookup(root, db, name, kind):
    if name.isdigit():
        return int(name)
    if root is not None:
        try:
            with open(secure_join(root, db), encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    fields = line.rstrip("\n").split(":")
                    if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
                        return int(fields[2])
        except OSError:
            pass
    raise SpecError(f"unable to convert {kind} {name!r} to an id: no such {kind} in the "
                    f"image's {db}", op="build")


def parse_chmod(text):
    try:
        mode = int(text, 8)
    except ValueError:
        raise SpecError(f"invalid --chmod={text}: use an octal mode such as 0755",
                        op="build") from None
    if mode > 0o7777:
        raise SpecError(f"invalid --chmod={text}: mode out of range", op="build")
    return mode


# -- writing into the root -----------------------------------------------------------

class CopyOptions:
    __slots__ = ("owner", "chmod", "keep_owner")

    def __init__(self, owner=None, chmod=None, keep_owner=False):
        self.owner = owner            # (uid, gid) or None
        self.chmod = chmod            # int or None
        self.keep_owner = keep_owner  # COPY --from keeps the source's owners


def host_target(root, path):
    """The host path for absolute image path ``path``: parent resolved in the root,
    the last component itself never followed (it is what gets replaced)."""
    parent, base = os.path.split(path.rstrip("/") or "/")
    if not base:
        return root
    return os.path.join(secure_join(root, parent), base)


def is_dir_in_root(root, path):
    return os.path.isdir(secure_join(root, path))


def make_dirs(root, path, options, mode=0o755):
    """Create ``path`` (absolute, in the image) and missing parents; its host path."""
    parts = [p for p in path.split("/") if p]
    current = "/"
    host = root
    for part in parts:
        current = os.path.join(current, part)
        host = secure_join(root, current)
        if os.path.isdir(host):
            continue
        if os.path.lexists(host):
            os.unlink(host)
        os.mkdir(host, mode)
        os.chmod(host, mode)
        if options is not None and options.owner is not None:
            os.lchown(host, *options.owner)
    return host


def copy_entry(source, target, options, source_stat=None):
    """Copy one file, symlink or directory entry (not its contents) to ``target``."""
    st = source_stat or os.lstat(source)
    mode = stat.S_IMODE(st.st_mode)
    if options.chmod is not None and not stat.S_ISLNK(st.st_mode):
        mode = options.chmod
    if stat.S_ISDIR(st.st_mode):
        if os.path.lexists(target) and not os.path.isdir(target) or os.path.islink(target):
            os.unlink(target)
        if not os.path.isdir(target):
            os.mkdir(target, mode)
        os.chmod(target, mode)
    else:
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.unlink(target)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(source), target)
        elif stat.S_ISREG(st.st_mode):
            with open(source, "rb") as src, \
                    open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                 0o600), "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.chmod(target, mode)
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(target, mode)
        else:
            return  # devices and sockets are not copied
    if options.owner is not None:
        uid, gid = options.owner
    elif options.keep_owner:
        uid, gid = st.st_uid, st.st_gid
    else:
        uid, gid = 0, 0
    os.lchown(target, uid, gid)
    os.utime(target, ns=(st.st_mtime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_tree(entries, root, dest_dir, options):
    """Copy [(relative name, host path)] (a tree listing, parents first) below
    ``dest_dir`` (absolute, in the image); directory times set last."""
    dir_times = []
    for name, source in entries:
        if not name:
            continue
        target = host_target(root, os.path.join(dest_dir, name))
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            make_dirs(root, os.path.dirname(os.path.join(dest_dir, name)), options)
        st = os.lstat(source)
        if stat.S_ISDIR(st.st_mode) and os.path.islink(target) and \
                is_dir_in_root(root, os.path.join(dest_dir, name)):
            continue  # /lib -> usr/lib in the image: copy through the link, keep it
        copy_entry(source, target, options, st)
        if stat.S_ISDIR(st.st_mode):
            dir_times.append((target, st.st_mtime_ns))
    for target, mtime in reversed(dir_times):
        os.utime(target, ns=(mtime, mtime), follow_symlinks=False)


def list_tree(host_path):
    """[(relative name, host path)] of everything below a directory, sorted, parents first."""
    result = []
    for name in sorted(os.listdir(host_path)):
        path = os.path.join(host_path, name)
        result.append((name, path))
        if stat.S_ISDIR(os.lstat(path).st_mode):
            result.extend((f"{name}/{inner}", inner_path)
                          for inner, inner_path in list_tree(path))
    return result


# -- ADD of a local archive ----------------------------------------------------------

def is_archive(path):
    """True for a plain, gzip, bzip2 or xz tar (what ADD unpacks)."""
    from ..image.tarlib import tarfile
    if not os.path.isfile(path):
        return False
    try:
        with tarfile.open(path, mode="r:*") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False


def extract_archive(path, scratch):
    """Unpack archive ``path`` into the empty directory ``scratch`` with the image
    store's careful unpacker (no absolute or ``..`` names, nothing written through a
    symlink); bzip2 and xz are opened here first.  Returns a listing."""
    import bz2
    import lzma
    from ..errors import SetupError
    from ..image.unpack import unpack_layer
    with open(path, "rb") as raw:
        head = raw.read(6)
        raw.seek(0)
        if head.startswith(b"BZh"):
            stream = bz2.BZ2File(raw)
        elif head.startswith(b"\xfd7zXZ\x00"):
            stream = lzma.LZMAFile(raw)
        else:
            stream = raw
        try:
            unpack_layer(stream, scratch)
        except (SetupError, OSError, EOFError, lzma.LZMAError) as exc:
            raise SpecError(f"ADD failed: cannot unpack {os.path.basename(path)}: {exc}",
                            op="build") from None
    return list_tree(scratch)


# -- RUN mount stubs ------------------------------------------------------------------

# Mount targets the runtime creates in a root that lacks them; an empty one left
# behind by a RUN step is not the command's doing, so it is not in the layer.
STUBS = ("etc/hostname", "etc/hosts", "etc/resolv.conf", "dev/pts", "dev/shm", "dev/mqueue",
         "dev", "proc", "sys", "etc")


def missing_stubs(root):
    return [rel for rel in STUBS if not os.path.lexists(os.path.join(root, rel))]


def remove_stubs(upper, stubs):
    for rel in stubs:  # deepest first, as STUBS lists them
        path = os.path.join(upper, rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            try:
                os.rmdir(path)  # only when empty
            except OSError:
                pass
        elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
            os.unlink(path)
