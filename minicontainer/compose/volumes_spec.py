"""A service's ``volumes:`` (short and long syntax) as plain mount dicts.

Each mount is {"type": volume|bind|tmpfs, "source", "target", "read_only",
"nocopy", "create_host_path", "size"}; a volume's source is the key of the
top-level ``volumes:`` entry (the project's name is put on it later), None
for an anonymous volume; a bind's source is an absolute host path.
"""

import os

from ..errors import SpecError
from .loader import Map, error

_MODES = {"ro", "rw", "z", "Z", "nocopy", "consistent", "cached", "delegated", "shared",
          "rshared", "slave", "rslave", "private", "rprivate"}


def service_mounts(check, directory):
    value = check.node.get("volumes")
    if value is None:
        return []
    if not hasattr(value, "lines") or isinstance(value, Map):
        check.fail("volumes", "must be a list")
    mounts = []
    for index, item in enumerate(value):
        where, path = value.where(index), f"{check.path}.volumes[{index}]"
        if isinstance(item, str):
            mount = _short(item, directory, where, path)
        elif isinstance(item, Map):
            mount = _long(item, directory, path)
        else:
            raise error(where, path, "must be a string or a mapping")
        _check_target(mount["target"], where, path)
        if any(m["target"] == mount["target"] for m in mounts):
            raise error(where, path, f"duplicate mount point {mount['target']}")
        mounts.append(mount)
    return mounts


def _mount(kind, source, target, read_only=False, nocopy=False, create_host_path=True,
           size=None):
    return {"type": kind, "source": source, "target": target, "read_only": read_only,
            "nocopy": nocopy, "create_host_path": create_host_path, "size": size}


def _host_path(source, directory):
    if source.startswith("~"):
        source = os.path.expanduser(source)
    return os.path.normpath(os.path.join(directory, source))


def _is_path(source):
    return source.startswith(("/", "./", "../", "~")) or source in (".", "..")


def _short(text, directory, where, path):
    parts = text.split(":")
    if len(parts) > 3 or not all(parts):
        raise error(where, path, f"invalid volume specification {text!r}: use "
                                 "[SOURCE:]TARGET[:MODE]")
    mode = ""
    if len(parts) == 1:
        return _mount("volume", None, parts[0])
    if len(parts) == 2 and not parts[1].startswith("/"):
        raise error(where, path, f"invalid volume specification {text!r}: the container "
                                 "path must be absolute")
    source, target = parts[0], parts[1]
    if len(parts) == 3:
        mode = parts[2]
    words = [w for w in mode.split(",") if w]
    for word in words:
        if word not in _MODES:
            raise error(where, path, f"invalid mode {word!r} in {text!r}: use ro, rw or nocopy")
    if "ro" in words and "rw" in words:
        raise error(where, path, f"invalid volume {text!r}: both ro and rw")
    if _is_path(source):
        return _mount("bind", _host_path(source, directory), target, "ro" in words)
    return _mount("volume", source, target, "ro" in words, "nocopy" in words)


def _long(node, directory, path):
    where = node.where()
    kind = node.get("type") or ("volume" if node.get("source") is None or
                                not _is_path(str(node["source"])) else "bind")
    target = node.get("target")
    if not isinstance(target, str):
        raise error(node.where("target") if "target" in node else where, f"{path}.target",
                    "a mount needs a target (the path in the container)")
    source = node.get("source")
    read_only = node.get("read_only") is True
    if kind == "volume":
        options = node.get("volume") if isinstance(node.get("volume"), Map) else {}
        return _mount("volume", source, target, read_only, options.get("nocopy") is True)
    if kind == "bind":
        if not isinstance(source, str):
            raise error(where, f"{path}.source", "a bind mount needs a source (a host path)")
        options = node.get("bind") if isinstance(node.get("bind"), Map) else {}
        return _mount("bind", _host_path(source, directory), target, read_only,
                      create_host_path=options.get("create_host_path") is not False)
    if kind == "tmpfs":
        options = node.get("tmpfs") if isinstance(node.get("tmpfs"), Map) else {}
        size = options.get("size")
        if size is not None:
            from ..units import ram_in_bytes
            try:
                size = ram_in_bytes(str(size))
            except ValueError as exc:
                raise error(where, f"{path}.tmpfs.size", str(exc)) from None
        return _mount("tmpfs", None, target, read_only, size=size)
    raise error(node.where("type"), f"{path}.type",
                f"unsupported mount type {kind!r}: use volume, bind or tmpfs")


def _check_target(target, where, path):
    if not target.startswith("/"):
        raise error(where, path, f"container path {target!r} must be absolute")
    if os.path.normpath(target) == "/":
        raise error(where, path, "cannot mount over the container's root '/'")


def check_volume_name(name, where, path):
    from ..volumes import check_name
    try:
        check_name(name)
    except SpecError as exc:
        raise error(where, path, str(exc)) from None
