"""The local image store: an OCI image layout plus unpacked, shared layers.

Layout under the data root::

    images/oci-layout            {"imageLayoutVersion": "1.0.0"}
    images/index.json            an OCI index: one descriptor per image name,
                                 the name in org.opencontainers.image.ref.name
    images/blobs/sha256/<hex>    manifests, configs and layer blobs by digest
    images/.lock                 flock held while the index or blobs change
    layers/<diff hex>/diff/      each layer unpacked once, shared by every image
    layers/<diff hex>/layer.json and container that uses it

Layers are keyed by their diff id (the digest of the uncompressed tar): an
overlayfs lower directory holds only that layer's own changes, so the same
tar gives the same directory whatever lies below it.  Every blob written is
verified against its digest; a layer is unpacked into a temporary directory
and renamed into place, so a crash never leaves a half layer under its name.
"""

import os

from ..errors import NotFound, SetupError, SpecError
from .files import (FileLock, HashingReader, atomic_write, read_json, remove_tree, split_digest,
                    write_json)

REF_NAME = "org.opencontainers.image.ref.name"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MANIFEST_TYPES = (MT_OCI_MANIFEST, MT_DOCKER_MANIFEST)
INDEX_TYPES = (MT_OCI_INDEX, MT_DOCKER_LIST)


class Image:
    """One image in the store: its manifest, config and where they live."""

    __slots__ = ("manifest_digest", "manifest", "config_digest", "config")

    def __init__(self, manifest_digest, manifest, config_digest, config):
        self.manifest_digest = manifest_digest
        self.manifest = manifest
        self.config_digest = config_digest
        self.config = config

    @property
    def id(self):
        """Docker's image id: the digest of the config."""
        return self.config_digest

    @property
    def diff_ids(self):
        return list(self.config.get("rootfs", {}).get("diff_ids", []))

    @property
    def layers(self):
        return list(self.manifest.get("layers", []))


class Store:
    def __init__(self, data_root):
        self.data_root = os.path.abspath(data_root)
        self.images_dir = os.path.join(self.data_root, "images")
        self.blobs_dir = os.path.join(self.images_dir, "blobs")
        self.layers_dir = os.path.join(self.data_root, "layers")
        self.overlay_dir = os.path.join(self.data_root, "overlay")
        self.index_path = os.path.join(self.images_dir, "index.json")
        # The builder's step cache (build/cache.py writes it): its layers are kept
        # by ``image prune`` as Docker keeps its build cache; ``builder prune`` drops it.
        self.build_cache_dir = os.path.join(self.data_root, "build", "cache")

    # -- setup and locking -------------------------------------------------------

    def ensure(self):
        if os.path.isdir(self.layers_dir) and os.path.exists(self.index_path):
            return self
        for path in (os.path.join(self.blobs_dir, "sha256"), self.layers_dir):
            os.makedirs(path, mode=0o700, exist_ok=True)
        layout = os.path.join(self.images_dir, "oci-layout")
        if not os.path.exists(layout):
            write_json(layout, {"imageLayoutVersion": "1.0.0"})
        if not os.path.exists(self.index_path):
            with self.lock():
                if not os.path.exists(self.index_path):
                    write_json(self.index_path, _empty_index())
        return self

    def lock(self):
        os.makedirs(self.images_dir, mode=0o700, exist_ok=True)
        return FileLock(os.path.join(self.images_dir, ".lock"))

    # -- blobs -----------------------------------------------------------------

    def blob_path(self, digest):
        algorithm, encoded = split_digest(digest)
        return os.path.join(self.blobs_dir, algorithm, encoded)

    def has_blob(self, digest):
        return os.path.exists(self.blob_path(digest))

    def put_blob(self, data, digest=None):
        """Store bytes; with ``digest`` given they must hash to it."""
        import io
        return self.put_blob_stream(io.BytesIO(data), digest)[0]

    def put_blob_stream(self, stream, digest=None, size=None):
        """Copy ``stream`` into the store, verifying ``digest``/``size``; (digest, size)."""
        self.ensure()
        algorithm = digest.split(":", 1)[0] if digest else "sha256"
        if digest and self.has_blob(digest):
            return digest, os.path.getsize(self.blob_path(digest))
        reader = HashingReader(stream, algorithm)
        os.makedirs(os.path.join(self.blobs_dir, algorithm), mode=0o700, exist_ok=True)
        tmp = os.path.join(self.blobs_dir, f".tmp-{os.getpid()}-{id(reader)}")
        try:
            with open(tmp, "wb") as out:
                while True:
                    chunk = reader.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            actual = reader.digest
            if digest and actual != digest:
                raise SetupError(f"digest mismatch: expected {digest}, got {actual}",
                                 op="store blob")
            if size is not None and reader.size != size:
                raise SetupError(f"size mismatch for {actual}: expected {size}, "
                                 f"got {reader.size}", op="store blob")
            os.replace(tmp, self.blob_path(actual))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return actual, reader.size

    def open_blob(self, digest):
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the store", op="open blob") from None

    def read_blob(self, digest):
        with self.open_blob(digest) as handle:
            return handle.read()

    def read_blob_json(self, digest):
        import json
        return json.loads(self.read_blob(digest))

    # -- names -----------------------------------------------------------------

    def _index(self):
        return read_json(self.index_path) or _empty_index()

    def entries(self):
        """[(name, descriptor)] for every named image (name may be None: untagged)."""
        result = []
        for desc in self._index().get("manifests", []):
            result.append((desc.get("annotations", {}).get(REF_NAME), desc))
        return result

    def set_name(self, name, descriptor):
        """Point the full image ``name`` at a manifest descriptor (replacing any old one)."""
        self.ensure()
        desc = {key: descriptor[key] for key in ("mediaType", "digest", "size")}
        if descriptor.get("platform"):
            desc["platform"] = descriptor["platform"]
        desc["annotations"] = {REF_NAME: name}
        with self.lock():
            index = self._index()
            kept = [d for d in index["manifests"]
                    if d.get("annotations", {}).get(REF_NAME) != name]
            kept.append(desc)
            index["manifests"] = kept
            write_json(self.index_path, index)
            self.write_names_cache(index)

    def keep_untagged(self, descriptor):
        """Record an image without a name (``<none>`` in ``images``) unless already there."""
        self.ensure()
        desc = {key: descriptor[key] for key in ("mediaType", "digest", "size")}
        with self.lock():
            index = self._index()
            if not any(d["digest"] == desc["digest"] for d in index["manifests"]):
                index["manifests"].append(desc)
                write_json(self.index_path, index)

    def remove_untagged(self, digest):
        """Drop name-less entries for ``digest``; True if one was there."""
        with self.lock():
            index = self._index()
            kept = [d for d in index["manifests"]
                    if d["digest"] != digest or d.get("annotations", {}).get(REF_NAME)]
            if len(kept) == len(index["manifests"]):
                return False
            index["manifests"] = kept
            write_json(self.index_path, index)
            return True

    def remove_name(self, name):
        """Drop ``name``; returns its descriptor or None if it was not there."""
        with self.lock():
            index = self._index()
            found = None
            kept = []
            for desc in index["manifests"]:
                if desc.get("annotations", {}).get(REF_NAME) == name:
                    found = desc
                else:
                    kept.append(desc)
            if found is not None:
                index["manifests"] = kept
                write_json(self.index_path, index)
                self.write_names_cache(index)
        return found

    # -- the run cache: what `run` needs, readable without json or re --------------

    @property
    def names_cache_path(self):
        return os.path.join(self.images_dir, "names.cache")

    def run_cache_path(self, manifest_digest):
        return os.path.join(self.images_dir, "run", split_digest(manifest_digest)[1])

    def write_names_cache(self, index=None):
        """marshal {name or familiar alias: manifest digest}, rewritten with the index."""
        import marshal
        from . import reference as refs
        names = {}
        for desc in (index or self._index())["manifests"]:
            name = desc.get("annotations", {}).get(REF_NAME)
            if not name:
                continue
            ref = refs.parse(name)
            aliases = [name, ref.familiar()]
            if ref.tag == refs.DEFAULT_TAG and not ref.digest:
                aliases += [ref.repository, ref.familiar_repository]
            for alias in aliases:
                names.setdefault(alias, desc["digest"])
            names[name] = desc["digest"]
        atomic_write(self.names_cache_path, marshal.dumps(names))

    def write_run_cache(self, image, layer_dirs):
        import marshal
        os.makedirs(os.path.join(self.images_dir, "run"), mode=0o700, exist_ok=True)
        atomic_write(self.run_cache_path(image.manifest_digest), marshal.dumps(
            {"layers": list(layer_dirs), "diff_ids": image.diff_ids, "config": image.config,
             "id": image.id}))

    def fast_lookup(self, name):
        """The descriptor stored under the exact full ``name``, or None (no parsing)."""
        for entry_name, desc in self.entries():
            if entry_name == name:
                return desc
        return None

    def resolve(self, text):
        """(name or None, manifest digest) for a name, digest reference or image id."""
        from . import reference as refs
        entries = self.entries()
        if refs.is_image_id(text):
            digest = text if text.startswith("sha256:") else "sha256:" + text
            for name, desc in entries:
                if desc["digest"] == digest or self._config_digest(desc["digest"]) == digest:
                    return name, desc["digest"]
            raise NotFound(f"No such image: {text}", op="image")
        try:
            ref = refs.parse(text)
        except SpecError:
            ref = None
        if ref is not None:
            for name, desc in entries:
                if name == str(ref):
                    return name, desc["digest"]
            if ref.digest:  # repo@digest matches any name of that repository
                for name, desc in entries:
                    if desc["digest"] == ref.digest and name and \
                            refs.parse(name).repository == ref.repository:
                        return name, desc["digest"]
        if len(text) >= 4 and all(c in "0123456789abcdef" for c in text):
            matches = {(n, d["digest"]) for n, d in entries
                       if self._config_digest(d["digest"]).partition(":")[2].startswith(text)}
            if len({m[1] for m in matches}) == 1:
                return sorted(matches, key=lambda m: m[0] or "")[0]
        raise NotFound(f"No such image: {text}", op="image")

    def _config_digest(self, manifest_digest):
        try:
            return self.read_blob_json(manifest_digest)["config"]["digest"]
        except (NotFound, KeyError, ValueError):
            return ""

    # -- images ----------------------------------------------------------------

    def image(self, manifest_digest):
        manifest = self.read_blob_json(manifest_digest)
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            raise SetupError(f"{manifest_digest} is an index, not an image manifest",
                             op="load image")
        config_digest = manifest["config"]["digest"]
        return Image(manifest_digest, manifest, config_digest, self.read_blob_json(config_digest))

    def add_image(self, config, layers, name=None, media_type=MT_OCI_MANIFEST, config_bytes=None):
        """Store ``config`` (dict) and a manifest over ``layers`` (descriptors); tag it.

        ``config_bytes``, when given, is stored unchanged (a loaded image keeps its id).
        """
        from .files import canonical_json
        if config_bytes is None:
            config_bytes = canonical_json(config)
        config_type = MT_OCI_CONFIG if media_type == MT_OCI_MANIFEST else MT_DOCKER_CONFIG
        config_digest = self.put_blob(config_bytes)
        manifest = {"schemaVersion": 2, "mediaType": media_type,
                    "config": {"mediaType": config_type, "digest": config_digest,
                               "size": len(config_bytes)},
                    "layers": list(layers)}
        manifest_bytes = canonical_json(manifest)
        manifest_digest = self.put_blob(manifest_bytes)
        desc = {"mediaType": media_type, "digest": manifest_digest, "size": len(manifest_bytes)}
        if name:
            self.set_name(name, desc)
        else:
            self.keep_untagged(desc)  # a dangling image, as Docker keeps them
        return desc

    # -- layers ----------------------------------------------------------------

    def layer_dir(self, diff_id):
        return os.path.join(self.layers_dir, split_digest(diff_id)[1], "diff")

    def has_layer(self, diff_id):
        return os.path.isdir(self.layer_dir(diff_id))

    def ensure_layer(self, blob_digest, diff_id):
        """Unpack blob ``blob_digest`` once; returns its directory (shared)."""
        final = self.layer_dir(diff_id)
        if os.path.isdir(final):
            return final
        from ..linux.syscalls import note
        from .unpack import unpack_layer
        note("unpack-layer", (diff_id,), "unpack this image layer once, checking every entry; "
                                        "every container of every image with it shares it")
        self.ensure()
        tmp = os.path.join(self.layers_dir, f".tmp-{os.getpid()}-{os.urandom(6).hex()}")
        remove_tree(tmp)
        os.makedirs(os.path.join(tmp, "diff"), mode=0o755)
        try:
            with self.open_blob(blob_digest) as blob:
                result = unpack_layer(blob, os.path.join(tmp, "diff"))
            if result.digest != blob_digest:
                raise SetupError(f"layer blob {blob_digest} hashes to {result.digest}",
                                 op="unpack layer")
            if result.diff_id != diff_id:
                raise SetupError(f"layer {blob_digest} unpacks to diff id {result.diff_id}, "
                                 f"the config says {diff_id}", op="unpack layer")
            write_json(os.path.join(tmp, "layer.json"),
                       {"diff_id": diff_id, "blob": blob_digest, "size": result.diff_size,
                        "warnings": result.warnings})
            try:
                os.rename(tmp, os.path.dirname(final))
            except OSError as exc:
                if not os.path.isdir(final):
                    raise
                del exc  # someone else unpacked the same layer first: use theirs
        finally:
            remove_tree(tmp)
        return final

    def image_layer_dirs(self, image):
        """The unpacked lower directories of ``image``, bottom layer first."""
        layers, diff_ids = image.layers, image.diff_ids
        if len(layers) != len(diff_ids):
            raise SetupError(f"image {image.id} has {len(layers)} layers but "
                             f"{len(diff_ids)} diff ids", op="load image")
        return [self.ensure_layer(layer["digest"], diff_id)
                for layer, diff_id in zip(layers, diff_ids)]

    # -- garbage collection (collect.py) -----------------------------------------

    def gc(self):
        """Remove blobs and layers nothing refers to; returns the bytes freed (approx.)."""
        from .collect import collect
        return collect(self)

    def prune_build_cache(self):
        """Forget every build step (``builder prune``), then collect; bytes freed."""
        from .collect import prune_build_cache
        return prune_build_cache(self)


def _listdir(path):
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def _empty_index():
    return {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": []}


__all__ = ["Store", "Image", "atomic_write"]
