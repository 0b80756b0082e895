"""Images in and out of files: import, load, save, commit.

- ``import_tarball``: a root filesystem tarball (plain/gzip/zstd) becomes a
  one-layer image, as ``docker import`` does; it is unpacked at once so a bad
  or hostile tarball is refused now, not at ``run``.
- ``save``: ``docker`` format is the classic docker-archive that every
  ``docker load`` and ``skopeo`` read (``manifest.json``, ``<id>.json``,
  ``<diff id>/layer.tar`` uncompressed, ``repositories``); ``oci`` format is
  an OCI image layout in a tar (blobs as stored, ``index.json`` naming each
  image by tag and by full name).
- ``load``: either format (also Docker 25's combined one), detected by its
  files; every blob is verified or hashed on the way into the store.
- ``commit``: a container's overlay upper directory becomes a new layer on
  top of its image's layers (overlay whiteouts turned back into OCI ones).
"""

import io
import os
from .tarlib import tarfile
import time

from ..errors import NotFound, SpecError
from . import reference as refs
from .store import MT_OCI_INDEX, MT_OCI_LAYER, MT_OCI_LAYER_GZIP, MT_OCI_LAYER_ZSTD, Store

REF_NAME = "org.opencontainers.image.ref.name"
FULL_NAME = "io.containerd.image.name"


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _layer_media_type(kind):
    return {"gzip": MT_OCI_LAYER_GZIP, "zstd": MT_OCI_LAYER_ZSTD}.get(kind, MT_OCI_LAYER)


def _store_layer_stream(store, stream):
    """Store a layer blob as is; returns (descriptor, diff id) measured on the way."""
    import hashlib
    from .unpack import decompressed
    raw = store.put_blob_stream(stream)
    digest, size = raw
    with store.open_blob(digest) as blob:
        plain, kind = decompressed(blob)
        hasher = hashlib.sha256()
        while True:
            chunk = plain.read(1 << 20)
            if not chunk:
                break
            hasher.update(chunk)
    return ({"mediaType": _layer_media_type(kind), "digest": digest, "size": size},
            "sha256:" + hasher.hexdigest())


# -- import ----------------------------------------------------------------------

def import_tarball(data_root, stream, name=None, changes=None, message=None):
    """``docker import``: tarball -> one-layer image; returns the manifest descriptor."""
    from .builtin import host_arch
    store = Store(data_root).ensure()
    layer, diff_id = _store_layer_stream(store, stream)
    store.ensure_layer(layer["digest"], diff_id)
    created = _now()
    config = {"architecture": host_arch(), "os": "linux", "created": created,
              "config": dict(changes or {}),
              "rootfs": {"type": "layers", "diff_ids": [diff_id]},
              "history": [{"created": created, "created_by": "minicontainer import",
                           **({"comment": message} if message else {})}]}
    return store.add_image(config, [layer], name=str(refs.parse(name)) if name else None)


# -- commit ----------------------------------------------------------------------

def commit(data_root, upper_dir, base_ref, name=None, changes=None, author=None, message=None):
    """A new image: ``base_ref``'s layers plus the container's ``upper_dir`` as a layer."""
    from .layerbuild import build_layer
    if not os.path.isdir(upper_dir):
        raise NotFound(f"container has no writable layer at {upper_dir}", op="commit")
    store = Store(data_root).ensure()
    if base_ref:
        _name, digest = store.resolve(base_ref)
        base = store.image(digest)
        config, layers = dict(base.config), list(base.layers)
    else:
        from .builtin import host_arch
        config, layers = {"architecture": host_arch(), "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": []}}, []
    layer, diff_id, _warnings = build_layer(store, upper_dir, overlay=True)
    store.ensure_layer(layer["digest"], diff_id)
    created = _now()
    section = dict(config.get("config") or {})
    section.update(changes or {})
    config["config"] = section
    config["created"] = created
    if author:
        config["author"] = author
    config["rootfs"] = {"type": "layers",
                        "diff_ids": list(config.get("rootfs", {}).get("diff_ids", [])) + [diff_id]}
    history = list(config.get("history") or [])
    entry = {"created": created, "created_by": "minicontainer commit"}
    if author:
        entry["author"] = author
    if message:
        entry["comment"] = message
    config["history"] = history + [entry]
    return store.add_image(config, layers + [layer],
                           name=str(refs.parse(name)) if name else None)


# -- save ------------------------------------------------------------------------

def _add_bytes(tar, name, data, mtime=0):
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), mtime, 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)


def _tag_of(name):
    ref = refs.parse(name)
    return ref.tag, ref.familiar()


def save(data_root, names, out, fmt="docker"):
    """Write the images ``names`` to binary stream ``out`` as a tar in ``fmt``."""
    import json
    store = Store(data_root)
    chosen = []
    for text in names:
        name, digest = store.resolve(text)
        chosen.append((text, name, store.image(digest)))
    if not chosen:
        raise SpecError("save needs at least one image")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if fmt == "oci":
            _save_oci(tar, store, chosen)
        elif fmt == "docker":
            _save_docker(tar, store, chosen, json)
        else:
            raise SpecError(f"unknown archive format {fmt!r}: use docker or oci")


def _save_oci(tar, store, chosen):
    from .files import canonical_json
    _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    _add_dir(tar, "blobs/")
    _add_dir(tar, "blobs/sha256/")
    written, manifests = set(), []
    for _text, name, image in chosen:
        blobs = [image.manifest_digest, image.config_digest] + \
            [layer["digest"] for layer in image.layers]
        for digest in blobs:
            if digest in written:
                continue
            written.add(digest)
            path = store.blob_path(digest)
            with open(path, "rb") as handle:
                info = tarfile.TarInfo("blobs/sha256/" + digest.split(":", 1)[1])
                info.size, info.mode = os.path.getsize(path), 0o644
                tar.addfile(info, handle)
        desc = {"mediaType": image.manifest.get("mediaType") or
                "application/vnd.oci.image.manifest.v1+json",
                "digest": image.manifest_digest,
                "size": os.path.getsize(store.blob_path(image.manifest_digest))}
        if name:
            tag, _familiar = _tag_of(name)
            desc["annotations"] = {FULL_NAME: name, **({REF_NAME: tag} if tag else {})}
        manifests.append(desc)
    index = {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": manifests}
    _add_bytes(tar, "index.json", canonical_json(index))


def _save_docker(tar, store, chosen, json):
    from .unpack import decompressed
    entries, repositories, written = [], {}, set()
    for _text, name, image in chosen:
        config_name = image.config_digest.split(":", 1)[1] + ".json"
        if config_name not in written:
            written.add(config_name)
            _add_bytes(tar, config_name, store.read_blob(image.config_digest))
        layer_paths = []
        for layer, diff_id in zip(image.layers, image.diff_ids):
            directory = diff_id.split(":", 1)[1]
            path = f"{directory}/layer.tar"
            layer_paths.append(path)
            if path in written:
                continue
            written.add(path)
            _add_dir(tar, directory + "/")
            _add_bytes(tar, f"{directory}/VERSION", b"1.0")
            _add_bytes(tar, f"{directory}/json", json.dumps({"id": directory}).encode())
            size = _plain_size(store, layer["digest"])
            with store.open_blob(layer["digest"]) as blob:
                plain, _kind = decompressed(blob)
                info = tarfile.TarInfo(path)
                info.size, info.mode = size, 0o644
                tar.addfile(info, plain)
        entry = next((e for e in entries if e["Config"] == config_name), None)
        if entry is None:  # one entry per image, all its names together (as Docker)
            entry = {"Config": config_name, "RepoTags": [], "Layers": layer_paths}
            entries.append(entry)
        if name and "@" not in name:
            tag, familiar = _tag_of(name)
            if familiar not in entry["RepoTags"]:
                entry["RepoTags"].append(familiar)
            repo = familiar.rsplit(":", 1)[0]
            repositories.setdefault(repo, {})[tag] = layer_paths[-1].split("/")[0] \
                if layer_paths else ""
    _add_bytes(tar, "manifest.json", json.dumps(entries).encode())
    if repositories:
        _add_bytes(tar, "repositories", json.dumps(repositories).encode())


def _plain_size(store, digest):
    from .unpack import decompressed
    total = 0
    with store.open_blob(digest) as blob:
        plain, _kind = decompressed(blob)
        while True:
            chunk = plain.read(1 << 20)
            if not chunk:
                return total
            total += len(chunk)


# -- load ------------------------------------------------------------------------

def load(data_root, path, default_name=None):
    """Load a docker-archive or OCI-layout tar; returns the names loaded.

    ``path`` is a file name or a binary stream (``load < file``): a stream is
    first spooled to a temporary file under the data root, since both formats
    are read out of order.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        import shutil
        import tempfile
        store = Store(data_root).ensure()
        with tempfile.NamedTemporaryFile(dir=store.images_dir, prefix=".tmp-load-") as spool:
            shutil.copyfileobj(path, spool, 1 << 20)
            spool.flush()
            return load(data_root, spool.name, default_name or "localhost/loaded")
    import json
    store = Store(data_root).ensure()
    try:
        tar = tarfile.open(path, mode="r:*")
    except (tarfile.TarError, OSError) as exc:
        raise SpecError(f"cannot read archive {path}: {exc}") from None
    with tar:
        members = {_norm(m.name): m for m in tar.getmembers() if m.isfile()}

        def read(name):
            member = members.get(_norm(name))
            if member is None:
                raise SpecError(f"archive {path} lacks {name}")
            return tar.extractfile(member).read()

        def stream(name):
            member = members.get(_norm(name))
            if member is None:
                raise SpecError(f"archive {path} lacks {name}")
            return tar.extractfile(member)

        if "manifest.json" in members:
            return _load_docker(store, json.loads(read("manifest.json")), read, stream)
        if "index.json" in members and "oci-layout" in members:
            return _load_oci(store, json.loads(read("index.json")), read, stream,
                             default_name or _name_from_path(path))
    raise SpecError(f"{path} is neither a docker-archive (manifest.json) nor an OCI layout "
                    f"(index.json + oci-layout)")


def _norm(name):
    return name[2:] if name.startswith("./") else name


def _name_from_path(path):
    base = os.path.basename(path).split(".")[0].lower() or "loaded"
    return "localhost/" + "".join(c if c.isalnum() or c in "._-" else "-" for c in base)


def _load_docker(store, entries, read, stream):
    import json
    names = []
    for entry in entries:
        config_bytes = read(entry["Config"])
        config = json.loads(config_bytes)
        layers, diff_ids = [], []
        for path in entry.get("Layers", []):
            layer, diff_id = _store_layer_stream(store, stream(path))
            layers.append(layer)
            diff_ids.append(diff_id)
        if diff_ids != config.get("rootfs", {}).get("diff_ids", []):
            raise SpecError("docker-archive layers do not match the config's diff ids")
        for layer, diff_id in zip(layers, diff_ids):
            store.ensure_layer(layer["digest"], diff_id)
        tags = [str(refs.parse(tag)) for tag in entry.get("RepoTags") or []]
        desc = store.add_image(config, layers, name=tags[0] if tags else None,
                               config_bytes=config_bytes)
        for tag in tags[1:]:
            store.set_name(tag, desc)
        if not tags:
            store.keep_untagged(desc)
        names.extend(tags or [desc["digest"]])
    return names


def _load_oci(store, index, read, stream, default_repository):
    import json
    from .pull import choose_manifest, parse_platform
    from .store import INDEX_TYPES
    names = []
    for desc in index.get("manifests", []):
        body = read("blobs/" + desc["digest"].replace(":", "/"))
        document = json.loads(body)
        if desc.get("mediaType") in INDEX_TYPES or "manifests" in document:
            chosen = choose_manifest(document, parse_platform(None))
            digest = chosen["digest"]
            body = read("blobs/" + digest.replace(":", "/"))
            document = json.loads(body)
        else:
            digest = desc["digest"]
        store.put_blob(body, digest)
        config_digest = document["config"]["digest"]
        store.put_blob_stream(stream("blobs/" + config_digest.replace(":", "/")), config_digest)
        config = store.read_blob_json(config_digest)
        for layer, diff_id in zip(document["layers"], config["rootfs"]["diff_ids"]):
            store.put_blob_stream(stream("blobs/" + layer["digest"].replace(":", "/")),
                                  layer["digest"], layer.get("size"))
            store.ensure_layer(layer["digest"], diff_id)
        annotations = desc.get("annotations") or {}
        name = annotations.get(FULL_NAME)
        ref_name = annotations.get(REF_NAME)
        if not name and ref_name:
            try:
                name = str(refs.parse(ref_name)) if "/" in ref_name or ":" in ref_name \
                    else str(refs.parse(f"{default_repository}:{ref_name}"))
            except SpecError:
                name = str(refs.parse(f"{default_repository}:{ref_name}"))
        stored = {"mediaType": document.get("mediaType") or desc.get("mediaType") or
                  "application/vnd.oci.image.manifest.v1+json",
                  "digest": digest, "size": len(body)}
        if name:
            store.set_name(name, stored)
        else:
            store.keep_untagged(stored)
        names.append(name or digest)
    return names
