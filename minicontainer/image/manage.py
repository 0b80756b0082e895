"""The image commands' logic: images, tag, rmi, inspect, history, prune.

Every function takes the data root and returns plain data for the CLI to
print.  Containers are the caller's business: it passes ``in_use``, the set of
image ids (config digests) that existing containers were created from.
"""

from ..errors import Conflict, NotFound
from . import reference as refs
from .store import Store


def _names_by_digest(store):
    result = {}
    for name, desc in store.entries():
        result.setdefault(desc["digest"], [])
        if name:
            result[desc["digest"]].append(name)
    return result


def _image_size(store, image):
    import json
    import os
    total = 0
    for layer, diff_id in zip(image.layers, image.diff_ids):
        record = os.path.join(os.path.dirname(store.layer_dir(diff_id)), "layer.json")
        try:
            with open(record) as handle:
                total += json.load(handle)["size"]
        except (OSError, ValueError, KeyError):
            total += layer.get("size", 0)
    return total


def list_images(data_root, all_images=True):
    """Rows like ``docker images``: repository, tag, id, digest, created, size."""
    store = Store(data_root)
    rows = []
    for digest, names in _names_by_digest(store).items():
        try:
            image = store.image(digest)
        except (NotFound, KeyError, ValueError):
            continue
        common = {"ID": image.id, "Digest": digest, "Created": image.config.get("created"),
                  "Size": _image_size(store, image)}
        if not names:
            rows.append({"Repository": "<none>", "Tag": "<none>", **common})
        for name in names:
            ref = refs.parse(name)
            rows.append({"Repository": ref.familiar_repository, "Tag": ref.tag or "<none>",
                         **common})
    rows.sort(key=lambda row: (row["Created"] or "", row["Repository"], row["Tag"]),
              reverse=True)
    return rows


def tag_image(data_root, source, target):
    store = Store(data_root)
    _name, digest = store.resolve(source)
    ref = refs.parse(target)
    if ref.digest:
        from ..errors import SpecError
        raise SpecError(f"tag {target!r}: a tag cannot contain a digest")
    body = store.read_blob(digest)
    manifest = store.read_blob_json(digest)
    store.set_name(str(ref), {"mediaType": manifest.get("mediaType") or
                              "application/vnd.oci.image.manifest.v1+json",
                              "digest": digest, "size": len(body)})
    store.remove_untagged(digest)
    return str(ref)


def remove_image(data_root, text, force=False, in_use=()):
    """``rmi``: untag a name, delete the image when nothing names it; [(event, what)]."""
    store = Store(data_root)
    name, digest = store.resolve(text)
    image = store.image(digest)
    names = _names_by_digest(store).get(digest, [])
    by_id = refs.is_image_id(text) or (name is None) or not _is_name_of(text, name)
    events = []
    if by_id and len(names) > 1 and not force:
        raise Conflict(f"unable to delete {image.id[7:19]} (must be forced) - image is "
                       f"referenced in multiple repositories", op="rmi")
    to_untag = names if by_id else [name]
    last = len(set(names) - set(to_untag)) == 0
    if last and image.id in set(in_use) and not force:
        raise Conflict(f"unable to remove {text}: image {image.id[7:19]} is used by a "
                       f"container (remove the container or use --force)", op="rmi")
    for untag in to_untag:
        store.remove_name(untag)
        events.append(("Untagged", refs.parse(untag).familiar()))
    if last:
        store.remove_untagged(digest)
        events.append(("Deleted", image.id))
        store.gc()
    return events


def _is_name_of(text, name):
    try:
        return str(refs.parse(text)) == name
    except Exception:
        return False


def inspect_image(data_root, text):
    """Docker-like ``image inspect`` data."""
    store = Store(data_root)
    _name, digest = store.resolve(text)
    image = store.image(digest)
    names = _names_by_digest(store).get(digest, [])
    tags = [refs.parse(n).familiar() for n in names if "@" not in n]
    repo_digests = sorted({f"{refs.parse(n).familiar_repository}@{digest}" for n in names})
    config = image.config
    return {
        "Id": image.id, "RepoTags": tags, "RepoDigests": repo_digests,
        "Created": config.get("created"), "Author": config.get("author", ""),
        "Architecture": config.get("architecture"), "Os": config.get("os"),
        "Variant": config.get("variant"), "Config": config.get("config") or {},
        "RootFS": config.get("rootfs"), "Size": _image_size(store, image),
        "Manifest": {"Digest": digest, "MediaType": image.manifest.get("mediaType"),
                     "Layers": image.layers},
    }


def history(data_root, text):
    store = Store(data_root)
    _name, digest = store.resolve(text)
    return list(reversed(store.image(digest).config.get("history") or []))


def prune_images(data_root, all_images=False, in_use=()):
    """Remove dangling images (or all unused with ``all_images``); (deleted ids, bytes)."""
    store = Store(data_root)
    used = set(in_use)
    deleted = []
    for digest, names in _names_by_digest(store).items():
        try:
            image = store.image(digest)
        except (NotFound, KeyError, ValueError):
            continue
        if image.id in used or (names and not all_images):
            continue
        for name in names:
            store.remove_name(name)
        store.remove_untagged(digest)
        deleted.append(image.id)
    return deleted, store.gc()
