"""Named volumes, and the ``-v``/``--mount``/``--tmpfs`` flags that use them.

A volume is a directory ``<data_root>/volumes/<name>/_data`` with a
``volume.json`` beside it; it outlives the containers that mount it.  The
flags parse (pure) into ``spec.Mount`` records of type "bind", "volume" or
"tmpfs"; ``resolve_mounts`` then turns volume records into binds of their
host directories, creating a missing volume and, like Docker, seeding a new
empty one with what the image has at that path (unless ``nocopy``).
"""

import os

from .errors import Conflict, NotFound, SpecError
from .spec import Mount

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _ALNUM | frozenset("_.-")
_VOLUME_MODES = {"ro", "rw", "z", "Z", "nocopy", "consistent", "cached", "delegated",
                 "shared", "rshared", "slave", "rslave", "private", "rprivate"}
_PROPAGATIONS = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}


# -- the store of volumes -------------------------------------------------------

def volumes_dir(data_root):
    return os.path.join(os.path.abspath(data_root), "volumes")


def check_name(name):
    if not isinstance(name, str) or len(name) < 2 or name[0] not in _ALNUM or \
            not _NAME_CHARS.issuperset(name):
        raise SpecError(f"invalid volume name {name!r}: use at least 2 characters of "
                        f"[a-zA-Z0-9_.-], starting with a letter or digit")
    return name


def _read_record(path):
    import json
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read())
    except FileNotFoundError:
        return None


def _write_record(path, record):
    from .linux.fs import atomic_write, dumps_json
    atomic_write(path, dumps_json(record) + "\n")


def _record_path(data_root, name):
    return os.path.join(volumes_dir(data_root), name, "volume.json")


def create_volume(data_root, name=None, labels=None, options=None, anonymous=False):
    """Create volume ``name`` (a random one if None); an existing one is returned as is."""
    import time
    if name is None:
        name, anonymous = os.urandom(32).hex(), True
    check_name(name)
    record = _read_record(_record_path(data_root, name))
    if record is not None:
        return record
    base = os.path.join(volumes_dir(data_root), name)
    os.makedirs(os.path.join(base, "_data"), mode=0o755, exist_ok=True)
    os.chmod(base, 0o701)
    record = {"Name": name, "Driver": "local", "Mountpoint": os.path.join(base, "_data"),
              "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "Labels": dict(labels or {}), "Options": dict(options or {}), "Scope": "local",
              "Anonymous": bool(anonymous)}
    _write_record(_record_path(data_root, name), record)
    return record


def inspect_volume(data_root, name):
    check_name(name)
    record = _read_record(_record_path(data_root, name))
    if record is None:
        raise NotFound(f"no such volume: {name}", op="volume")
    return record


def list_volumes(data_root):
    try:
        names = sorted(os.listdir(volumes_dir(data_root)))
    except FileNotFoundError:
        return []
    result = []
    for name in names:
        try:
            result.append(inspect_volume(data_root, name))
        except (NotFound, SpecError):
            continue
    return result


def remove_volume(data_root, name, in_use=(), force=False):
    """Delete a volume and its data; one used by a container is refused (Docker too)."""
    from .linux.fs import remove_tree
    if name in set(in_use):
        raise Conflict(f"remove {name}: volume is in use", op="volume rm")
    try:
        inspect_volume(data_root, name)
    except NotFound:
        if force:
            return
        raise
    remove_tree(os.path.join(volumes_dir(data_root), name))


def prune_volumes(data_root, in_use=(), all_volumes=False):
    """Remove unused volumes (anonymous only, unless ``all_volumes``); (names, bytes)."""
    used = set(in_use)
    removed, freed = [], 0
    for record in list_volumes(data_root):
        name = record["Name"]
        if name in used or not (all_volumes or record.get("Anonymous")):
            continue
        freed += _size(record["Mountpoint"])
        remove_volume(data_root, name)
        removed.append(name)
    return removed, freed


def _size(path):
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total


# -- flags -> Mount records (pure) -------------------------------------------------

def _check_target(target, flag):
    if not target.startswith("/"):
        raise SpecError(f"invalid {flag}: container path {target!r} must be absolute")
    if os.path.normpath(target) == "/":
        raise SpecError(f"invalid {flag}: cannot mount over the container's root '/'")
    return os.path.normpath(target)


def parse_volume(text, cwd=None):
    """``-v`` value: HOST:CTR[:opts] (bind), NAME:CTR[:opts] (volume), CTR (anonymous)."""
    parts = text.split(":")
    if len(parts) > 3 or not all(parts):
        raise SpecError(f"invalid volume specification: {text!r}")
    source, mode = None, ""
    if len(parts) == 3:
        source, target, mode = parts
    elif len(parts) == 2:
        if parts[1].startswith("/"):
            source, target = parts
        else:
            target, mode = parts
    else:
        (target,) = parts
    words = [w for w in mode.split(",") if w] if mode else []
    for word in words:
        if word not in _VOLUME_MODES:
            raise SpecError(f"invalid mode {word!r} in volume {text!r}: use ro, rw or nocopy")
    if "ro" in words and "rw" in words:
        raise SpecError(f"invalid volume {text!r}: both ro and rw")
    target = _check_target(target, f"volume {text!r}")
    readonly = "ro" in words
    options = ",".join(w for w in words if w in _PROPAGATIONS or w == "nocopy")
    if source is None:
        return Mount(target=target, source=None, type="volume", readonly=readonly,
                     options=options)
    if source.startswith(("/", "./", "../")) or source in (".", ".."):
        return Mount(target=target, source=os.path.abspath(os.path.join(cwd or os.getcwd(),
                                                                         source)),
                     type="bind", readonly=readonly, options=options)
    check_name(source)
    return Mount(target=target, source=source, type="volume", readonly=readonly,
                 options=options)


def parse_tmpfs(text):
    """``--tmpfs PATH[:opts]`` -> a tmpfs Mount; opts are kept for the mount plan."""
    target, _, options = text.partition(":")
    target = _check_target(target, f"tmpfs {text!r}")
    words = [w for w in options.split(",") if w]
    return Mount(target=target, source="tmpfs", type="tmpfs", readonly="ro" in words,
                 options=",".join(words))


def parse_mount(text, cwd=None):
    """``--mount type=bind|volume|tmpfs,source=..,target=..,readonly,...``."""
    fields = {}
    for item in text.split(","):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        fields.setdefault(key, []).append(value if sep else None)

    def one(*keys, default=None):
        for key in keys:
            if key in fields:
                return fields[key][-1]
        return default

    def flag(*keys):
        value = one(*keys, default="absent")
        if value == "absent":
            return False
        if value in (None, "1", "true", "True"):
            return True
        if value in ("0", "false", "False"):
            return False
        raise SpecError(f"invalid --mount {text!r}: {keys[0]} takes true or false")

    known = {"type", "source", "src", "target", "destination", "dst", "readonly", "ro",
             "bind-propagation", "volume-nocopy", "volume-opt", "volume-driver", "tmpfs-size",
             "tmpfs-mode", "consistency", "bind-nonrecursive"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise SpecError(f"invalid --mount {text!r}: unknown field {unknown[0]!r}")
    kind = one("type", default="volume")
    target = one("target", "destination", "dst")
    if not target:
        raise SpecError(f"invalid --mount {text!r}: target is required")
    target = _check_target(target, f"--mount {text!r}")
    source = one("source", "src")
    readonly = flag("readonly", "ro")
    if kind == "bind":
        if not source:
            raise SpecError(f"invalid --mount {text!r}: a bind mount needs a source")
        options = one("bind-propagation") or ""
        if options and options not in _PROPAGATIONS:
            raise SpecError(f"invalid --mount {text!r}: bad bind-propagation {options!r}")
        return Mount(target=target, type="bind", readonly=readonly, options=options,
                     source=os.path.abspath(os.path.join(cwd or os.getcwd(), source)))
    if kind == "volume":
        if source:
            check_name(source)
        return Mount(target=target, source=source or None, type="volume", readonly=readonly,
                     options="nocopy" if flag("volume-nocopy") else "")
    if kind == "tmpfs":
        if source:
            raise SpecError(f"invalid --mount {text!r}: a tmpfs has no source")
        words = []
        if one("tmpfs-size"):
            words.append(f"size={one('tmpfs-size')}")
        if one("tmpfs-mode"):
            words.append(f"mode={one('tmpfs-mode')}")
        return Mount(target=target, source="tmpfs", type="tmpfs", readonly=readonly,
                     options=",".join(words))
    raise SpecError(f"invalid --mount {text!r}: type must be bind, volume or tmpfs")


def volumes_from(mounts, mode=""):
    """``--volumes-from C[:ro|rw]``: C's bind/volume mounts, read-only if asked."""
    if mode not in ("", "ro", "rw"):
        raise SpecError(f"invalid --volumes-from mode {mode!r}: use ro or rw")
    result = []
    for mount in mounts:
        if mount.type == "tmpfs":
            continue
        readonly = {"ro": True, "rw": False}.get(mode, mount.readonly)
        result.append(mount.replace(readonly=readonly))
    return result


def image_volume_mounts(image_volumes, mounts):
    """Anonymous volume mounts for the image's VOLUME paths that no flag covers."""
    taken = {os.path.normpath(m.target) for m in mounts}
    return [Mount(target=os.path.normpath(path), source=None, type="volume")
            for path in image_volumes if os.path.normpath(path) not in taken]


# -- volume mounts -> host binds (effects) ------------------------------------------

def resolve_mounts(data_root, mounts, rootfs=None):
    """(mounts with volumes turned into binds, names of anonymous volumes created).

    A volume is created when missing; a *new* one is seeded with the image's
    content at its target (found in ``rootfs``) unless the mount says nocopy.
    """
    resolved, anonymous = [], []
    for mount in mounts:
        if mount.type != "volume":
            resolved.append(mount)
            continue
        existed = mount.source is not None and os.path.exists(_record_path(data_root,
                                                                            mount.source))
        record = create_volume(data_root, mount.source)
        if mount.source is None:
            anonymous.append(record["Name"])
        words = [w for w in mount.options.split(",") if w]
        if not existed and rootfs and "nocopy" not in words:
            seed_volume(record["Mountpoint"], rootfs, mount.target)
        resolved.append(Mount(target=mount.target, source=record["Mountpoint"], type="bind",
                              readonly=mount.readonly,
                              options=",".join(w for w in words if w != "nocopy")))
    return resolved, anonymous


def seed_volume(volume_data, rootfs, target):
    """Copy the image's files at ``target`` into the empty volume (owners and modes too)."""
    if os.listdir(volume_data):
        return False
    source = resolve_in_root(rootfs, target)
    if source is None or not os.path.isdir(source) or os.path.islink(source):
        return False
    _copy_tree(source, volume_data)
    st = os.lstat(source)
    os.chown(volume_data, st.st_uid, st.st_gid)
    os.chmod(volume_data, st.st_mode & 0o7777)
    return True


def resolve_in_root(root, path, _depth=0):
    """``path`` inside ``root`` with symlinks followed as the container would (None if absent)."""
    current = os.path.abspath(root)
    parts = [p for p in path.split("/") if p and p != "."]
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if current != os.path.abspath(root):
                current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            links += 1
            if links > 40:
                return None
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = os.path.abspath(root)
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        if not os.path.lexists(candidate):
            return None
        current = candidate
    return current


def _copy_tree(source, dest):
    import shutil
    for name in os.listdir(source):
        src, dst = os.path.join(source, name), os.path.join(dest, name)
        st = os.lstat(src)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):
            os.mkdir(dst)
            _copy_tree(src, dst)
            os.chmod(dst, st.st_mode & 0o7777)
        elif os.path.isfile(src):
            shutil.copy2(src, dst, follow_symlinks=False)
        else:
            continue  # devices, sockets, whiteouts: not volume content
        os.lchown(dst, st.st_uid, st.st_gid)
        if not os.path.islink(dst):
            os.chmod(dst, st.st_mode & 0o7777)  # chown cleared setuid bits


# -- what run calls ------------------------------------------------------------------

def volume_mounts(data_root, volume_values, image_volumes=(), rootfs=None):
    """(mounts ready for the rootfs plan, names of the anonymous volumes made).

    ``volume_values`` are ``-v`` strings and/or already parsed Mount records
    (from ``--mount``, ``--tmpfs``, ``--volumes-from``), in flag order.  Each
    path in ``image_volumes`` (the image's VOLUME list) that no mount covers
    gets an anonymous volume.  Named volumes are created on first use and,
    when new, seeded from ``rootfs`` (the mounted image root) at their target.
    A ``-v`` bind whose host directory is missing gets it created (Docker).
    """
    mounts = []
    for value in volume_values:
        if isinstance(value, str):
            mount = parse_volume(value)
            if mount.type == "bind" and not os.path.lexists(mount.source):
                os.makedirs(mount.source, 0o755)
            value = mount
        mounts.append(value)
    mounts += image_volume_mounts(image_volumes or (), mounts)
    resolved, anonymous = resolve_mounts(data_root, mounts, rootfs)
    return tuple(resolved), anonymous


def remove_anonymous(data_root, names):
    """``rm -v`` / ``run --rm``: delete these (anonymous) volumes; missing ones are fine."""
    for name in names or ():
        remove_volume(data_root, name, force=True)


def volume_names_in(data_root, mounts):
    """Names of the volumes among ``mounts`` (Mount records or their dicts)."""
    base = volumes_dir(data_root)
    names = set()
    for mount in mounts:
        get = mount.get if isinstance(mount, dict) else (lambda key: getattr(mount, key, None))
        source = get("source")
        if not source:
            continue
        if get("type") == "volume" and "/" not in source:
            names.add(source)
            continue
        parent, leaf = os.path.split(os.path.normpath(source))
        if leaf == "_data" and os.path.dirname(parent) == base:
            names.add(os.path.basename(parent))
    return names
