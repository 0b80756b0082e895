"""The embedded ``busybox`` image: ``run busybox`` works with no network.

The tree built by ``rootfs/`` (Debian's busybox-static) is imported into the
store on first use as a one-layer image named docker.io/library/busybox:latest
with Cmd ["sh"] and the default PATH.  The check on every later use is one
read of the store's index.  A user who pulls busybox from a registry replaces
the name, exactly as a pull would in Docker.
"""

import os

from ..errors import NotFound
from ..spec import DEFAULT_PATH

BUILTIN_NAME = "docker.io/library/busybox:latest"
SOURCE_ENV = "MINICONTAINER_BUSYBOX_ROOTFS"


def default_source():
    """Where the embedded tree lives: $MINICONTAINER_BUSYBOX_ROOTFS or <repo>/rootfs/build/busybox."""
    override = os.environ.get(SOURCE_ENV)
    if override:
        return override
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(os.path.dirname(package), "rootfs", "build", "busybox")


def is_builtin(name):
    return name == BUILTIN_NAME


def host_arch():
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm",
            "i686": "386", "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x",
            "riscv64": "riscv64"}.get(machine, machine)


ALIASES = ("busybox", "busybox:latest", "docker.io/library/busybox",
           "library/busybox", "library/busybox:latest", BUILTIN_NAME)
_VERSION_FILE = "builtin.version"


def source_version(source=None):
    """Identifies one build of the tree, the same in every checkout of the repo.

    The build stamp holds the busybox version and the recipe's hash; without
    one, bin/busybox's size and mtime stand in.  (The checkout's path is left
    out: two checkouts sharing a data root must not re-import in turn.)
    """
    source = source or default_source()
    try:
        with open(source.rstrip("/") + ".stamp") as f:
            return "stamp:" + f.read().strip()
    except FileNotFoundError:
        pass
    try:
        st = os.stat(os.path.join(source, "bin", "busybox"))
    except FileNotFoundError:
        return None
    return f"busybox:{st.st_mtime_ns}:{st.st_size}"


def _stored_version(images_dir):
    try:
        with open(os.path.join(images_dir, _VERSION_FILE)) as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


def up_to_date(images_dir, source=None):
    """True unless the embedded tree was rebuilt since it was imported (one stat, one read)."""
    current = source_version(source)
    return current is None or current == _stored_version(images_dir)


def ensure_builtin(store, source=None):
    """The manifest digest of the builtin image, (re)importing it when needed.

    A rebuilt tree (new build stamp) is imported again under the same name;
    the old image's blobs go with the next garbage collection.
    """
    desc = store.fast_lookup(BUILTIN_NAME)
    if desc is not None and up_to_date(store.images_dir, source):
        return desc["digest"]
    source = source or default_source()
    if not os.path.isfile(os.path.join(source, "bin", "busybox")):
        raise NotFound(f"the embedded busybox root filesystem is not built (no {source}/bin/"
                       f"busybox); build it with scripts/build-rootfs or pull busybox",
                       op="builtin image")
    from .files import FileLock
    store.ensure()
    with FileLock(os.path.join(store.images_dir, ".builtin.lock")):
        desc = store.fast_lookup(BUILTIN_NAME)
        if desc is not None and up_to_date(store.images_dir, source):
            return desc["digest"]
        from ..linux.syscalls import note
        note("import-image", (source, BUILTIN_NAME), "first use of the embedded busybox: "
                                                     "store it as a one-layer image")
        version = source_version(source)
        digest = import_tree(store, source, BUILTIN_NAME,
                             {"Cmd": ["sh"], "Env": [f"PATH={DEFAULT_PATH}"]},
                             created_by="minicontainer: embedded busybox root filesystem")["digest"]
        if version:
            from .files import atomic_write
            atomic_write(os.path.join(store.images_dir, _VERSION_FILE), version + "\n")
        return digest


def import_tree(store, root, name, config_section, created_by, overlay=False):
    """Make a one-layer image from directory ``root``; returns the manifest descriptor."""
    import time
    from .layerbuild import build_layer
    layer, diff_id, _warnings = build_layer(store, root, overlay=overlay)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.stat(root).st_mtime))
    config = {
        "architecture": host_arch(), "os": "linux", "created": created,
        "config": config_section,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": created_by}],
    }
    store.ensure_layer(layer["digest"], diff_id)
    return store.add_image(config, [layer], name=name)
