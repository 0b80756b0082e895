"""Images: the store, safe unpacking, copy-on-write roots, registries, archives.

What ``run`` needs (in this order):

1. ``open_image(data_root, ref)`` -> (ImageConfig, handle): the image's run
   defaults (feed them to ``config.merge_run_config``) before anything is
   mounted.  ``busybox`` is imported from the embedded tree on first use; a
   missing image raises NotFound (``ensure_image`` pulls it first).  Served
   from a marshal cache: no json or re import on a warm store.
2. ``mount_image(data_root, handle, container_id)`` -> rootfs path: an
   overlayfs root at ``<data_root>/overlay/<id>/merged`` over the image's
   shared layers, its writable layer in ``<data_root>/overlay/<id>/upper``.
3. ``release_rootfs(data_root, container_id)`` when the container is deleted:
   unmount and delete; idempotent, works from nothing but the id.

``prepare_rootfs(data_root, ref_or_dir, container_id)`` does 1+2 at once and
also accepts a directory path (``/x``, ``./x``), used as is, no overlay.
The mount lives under the data root, never inside the state directory, so
removing a state directory can never descend into a mounted root.

Nothing is imported until a function is called.
"""

import os

DEFAULT_DATA_ROOT = "/var/lib/minicontainer"


def data_root_default():
    return os.environ.get("MINICONTAINER_DATA_ROOT") or DEFAULT_DATA_ROOT


def looks_like_path(text):
    """True when ``text`` names a directory rather than an image."""
    return text in (".", "..") or text.startswith(("/", "./", "../"))


def overlay_dir(data_root, container_id):
    if not container_id or "/" in container_id or container_id in (".", "..") or \
            "\0" in container_id:
        from ..errors import SpecError
        raise SpecError(f"invalid container id {container_id!r} for a root filesystem")
    return os.path.join(os.path.abspath(data_root), "overlay", container_id)


def find_image(data_root, ref):
    """(name, Image) for ``ref`` (name, digest reference or id); imports builtin busybox.

    Raises NotFound when the image is not in the store (the caller may pull).
    """
    from .builtin import ALIASES, BUILTIN_NAME, ensure_builtin
    from .store import Store
    store = Store(data_root)
    if ref in ALIASES:
        digest = ensure_builtin(store)
        return BUILTIN_NAME, store.image(digest)
    name, digest = store.resolve(ref)
    return name, store.image(digest)


def ensure_image(data_root, ref, pull_policy="missing", platform=None, progress=None):
    """``run --pull``: (name, manifest digest), pulling when the policy says so.

    ``missing`` (Docker's default) pulls only when the store lacks ``ref``;
    ``always`` pulls every time; ``never`` raises NotFound instead.  The
    builtin busybox counts as present.
    """
    from ..errors import NotFound, SpecError
    if pull_policy not in ("missing", "always", "never"):
        raise SpecError(f"invalid --pull {pull_policy!r}: use missing, always or never")
    if pull_policy != "always":
        try:
            _name, image = find_image(data_root, ref)
            return _name, image.manifest_digest
        except NotFound:
            if pull_policy == "never":
                raise
    from .pull import Progress, pull
    if progress is None:
        progress = Progress()
        progress.message(f"Unable to find image '{ref}' locally" if pull_policy == "missing"
                         else f"Pulling {ref}")
    return pull(data_root, ref, platform=platform, progress=progress)


def image_config(data_root, ref):
    """The ImageConfig of ``ref`` (for ``run`` defaults and ``image inspect``)."""
    from .config import ImageConfig
    _name, image = find_image(data_root, ref)
    return ImageConfig.from_json(image.config, image.id)


def _cached_image(data_root, ref):
    """What prepare needs, from the marshal run cache (no json, no re); None on a miss."""
    import marshal
    images = os.path.join(data_root, "images")
    try:
        with open(os.path.join(images, "names.cache"), "rb") as handle:
            digest = marshal.load(handle).get(ref)
        if digest is None:
            return None
        with open(os.path.join(images, "run", digest.partition(":")[2]), "rb") as handle:
            cached = marshal.load(handle)
    except (OSError, ValueError, EOFError, TypeError, AttributeError):
        return None
    if not all(os.path.isdir(path) for path in cached["layers"]):
        return None
    return cached


def _image_for_run(data_root, ref):
    """{layers, diff_ids, config, id} of ``ref``, unpacking layers if needed."""
    from .builtin import ALIASES, up_to_date
    cached = _cached_image(data_root, ref)
    if cached is not None and (ref not in ALIASES or
                               up_to_date(os.path.join(data_root, "images"))):
        return cached
    from .store import Store
    store = Store(data_root)
    _name, image = find_image(data_root, ref)
    layers = store.image_layer_dirs(image)
    if not os.path.exists(store.names_cache_path):
        store.write_names_cache()
    store.write_run_cache(image, layers)
    return {"layers": layers, "diff_ids": image.diff_ids, "config": image.config,
            "id": image.id}


def open_image(data_root, ref):
    """(ImageConfig, handle) of image ``ref``; NotFound if the store lacks it."""
    from .config import ImageConfig
    handle = _image_for_run(data_root, ref)
    return ImageConfig.from_json(handle["config"], handle["id"]), handle


def mount_image(data_root, handle, container_id):
    """Mount the container's copy-on-write root over ``handle``'s layers; its path."""
    from .overlay import mount_rootfs, unmount_rootfs
    container_dir = overlay_dir(data_root, container_id)
    try:
        return mount_rootfs(handle["layers"], container_dir, None, handle["diff_ids"])
    except BaseException:
        unmount_rootfs(container_dir)
        raise


def prepare_rootfs(data_root, ref_or_dir, container_id, state_dir=None):
    """(rootfs path, ImageConfig or None): a ready root for the container.

    ``state_dir`` is accepted for older callers and not used.
    """
    if looks_like_path(ref_or_dir):
        path = os.path.abspath(ref_or_dir)
        if not os.path.isdir(path):
            from ..errors import NotFound
            raise NotFound(f"root filesystem directory {path} does not exist", op="rootfs")
        return path, None
    config, handle = open_image(data_root, ref_or_dir)
    return mount_image(data_root, handle, container_id), config


def release_rootfs(data_root, container_id, state_dir=None, merged=None):
    """Unmount and delete the container's overlay root; nothing there is success.

    ``merged`` (the mounted root, when the caller knows it) spares reading the
    overlay's record, and with it the json import on the way out of a run.
    """
    from .overlay import unmount_rootfs
    unmount_rootfs(overlay_dir(data_root, container_id), merged)


def rootfs_path(data_root, container_id):
    """Where ``mount_image`` puts the container's root."""
    return os.path.join(overlay_dir(data_root, container_id), "merged")


def container_upper_dir(data_root, container_id):
    """The container's own writable layer (what ``commit`` and ``diff`` read)."""
    return os.path.join(overlay_dir(data_root, container_id), "upper")
