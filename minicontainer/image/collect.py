"""Garbage collection of the image store: what nothing refers to any more.

Kept alive are the blobs and layers of every named image, the layers of every
mounted container root (their ``lower.json``) and those of the build cache's
steps (as Docker keeps its build cache through ``image prune``).  Everything
else under ``images/blobs`` and ``layers/`` is removed, under the store's lock.
"""

import os

from ..errors import NotFound, SetupError
from .files import read_json, remove_tree


def referenced(store):
    """(blob digests, diff ids) kept alive by names, mounted containers and the build cache."""
    blobs, diff_ids = set(), set()
    for _name, desc in store.entries():
        blobs.add(desc["digest"])
        try:
            image = store.image(desc["digest"])
        except (NotFound, SetupError, KeyError, ValueError):
            continue
        blobs.add(image.config_digest)
        blobs.update(layer["digest"] for layer in image.layers)
        diff_ids.update(image.diff_ids)
    for user in _listdir(store.overlay_dir):
        record = read_json(os.path.join(store.overlay_dir, user, "lower.json"), {})
        diff_ids.update(record.get("diff_ids", []))
    for name in _listdir(store.build_cache_dir):
        entry = read_json(os.path.join(store.build_cache_dir, name), {})
        blobs.update(layer.get("digest") for layer in entry.get("layers", ()))
        diff_ids.update(entry.get("config", {}).get("rootfs", {}).get("diff_ids", ()))
    return blobs, diff_ids


def collect(store):
    """Remove blobs and layers nothing refers to; returns the bytes freed (approx.)."""
    freed = 0
    with store.lock():
        blobs, diff_ids = referenced(store)
        sha_dir = os.path.join(store.blobs_dir, "sha256")
        for name in _listdir(sha_dir):
            if "sha256:" + name not in blobs and not name.startswith(".tmp"):
                path = os.path.join(sha_dir, name)
                freed += os.path.getsize(path)
                os.unlink(path)
        run_dir = os.path.join(store.images_dir, "run")
        for name in _listdir(run_dir):
            if "sha256:" + name not in blobs:
                os.unlink(os.path.join(run_dir, name))
        for name in _listdir(store.layers_dir):
            if "sha256:" + name not in diff_ids and not name.startswith(".tmp"):
                record = read_json(os.path.join(store.layers_dir, name, "layer.json"), {})
                freed += record.get("size", 0)
                remove_tree(os.path.join(store.layers_dir, name))
    return freed


def prune_build_cache(store):
    """Forget every build step (``builder prune``), then collect; bytes freed."""
    with store.lock():
        for name in _listdir(store.build_cache_dir):
            os.unlink(os.path.join(store.build_cache_dir, name))
    return collect(store)


def _listdir(path):
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []
