"""``pull`` and ``push``: move images between the store and a registry.

Pull: resolve the reference to a manifest (choosing the platform's entry when
it is an index or manifest list), store manifest and config, then fetch the
layers in parallel threads, each verified against its digest while it is
written and unpacked once under its diff id.  A layer already in the store is
neither downloaded nor unpacked again.  Push: upload every blob the registry
lacks (a HEAD first), then the manifest under the tag.
"""

import os
import sys
import threading

from ..errors import NotFound, SpecError
from .store import INDEX_TYPES, MANIFEST_TYPES, Store

_DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}
MAX_PARALLEL = 4


# -- platforms ------------------------------------------------------------------

def parse_platform(text=None):
    """"linux/arm64/v8" -> {"os", "architecture", "variant"}; default: linux/<host arch>."""
    from .builtin import host_arch
    if not text:
        return {"os": "linux", "architecture": host_arch(), "variant": None}
    parts = text.lower().split("/")
    if len(parts) == 1:
        parts = ["linux"] + parts
    if len(parts) > 3 or not all(parts):
        raise SpecError(f"invalid platform {text!r}: use os/arch[/variant], e.g. linux/arm64")
    arch = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64"}.get(parts[1], parts[1])
    return {"os": parts[0], "architecture": arch,
            "variant": parts[2] if len(parts) == 3 else None}


def platform_text(platform):
    text = f"{platform['os']}/{platform['architecture']}"
    return text + (f"/{platform['variant']}" if platform.get("variant") else "")


def choose_manifest(index, platform):
    """The descriptor in ``index`` for ``platform`` (NotFound if none)."""
    wanted_variant = platform.get("variant") or _DEFAULT_VARIANTS.get(platform["architecture"])
    candidates = []
    for desc in index.get("manifests", []):
        plat = desc.get("platform") or {}
        if plat.get("os") != platform["os"] or plat.get("architecture") != platform["architecture"]:
            continue
        variant = plat.get("variant") or _DEFAULT_VARIANTS.get(plat.get("architecture"))
        if platform.get("variant") and variant != platform["variant"]:
            continue
        candidates.append((variant != wanted_variant, desc))
    if not candidates:
        raise NotFound(f"no matching manifest for {platform_text(platform)} in the manifest "
                       f"list entries", op="pull")
    candidates.sort(key=lambda item: item[0])
    return candidates[0][1]


# -- progress ---------------------------------------------------------------------

class Progress:
    """One line per layer; redrawn in place on a terminal, state changes otherwise."""

    def __init__(self, out=None, quiet=False):
        self.out = out or sys.stderr
        self.quiet = quiet
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        self.lines = {}
        self.order = []
        self.lock = threading.Lock()
        self._drawn = 0

    def update(self, key, status, current=None, total=None):
        if self.quiet:
            return
        text = f"{key[7:19] if key.startswith('sha256:') else key}: {status}"
        if current is not None and total:
            text += f" {_size(current)}/{_size(total)}"
        with self.lock:
            if key not in self.lines:
                self.order.append(key)
            previous = self.lines.get(key, "")
            self.lines[key] = text
            if self.tty:
                self._redraw()
            elif previous.split(" ")[:2] != text.split(" ")[:2]:
                self.out.write(text + "\n")
                self.out.flush()

    def message(self, text):
        if self.quiet:
            return
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()
            self._drawn = 0 if not self.tty else self._drawn

    def _redraw(self):
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F")
        for key in self.order:
            self.out.write("\x1b[2K" + self.lines[key] + "\n")
        self._drawn = len(self.order)
        self.out.flush()


def _size(count):
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.1f}{unit}" if unit != "B" else f"{count}B"
        count /= 1000
    return str(count)


class _CountingReader:
    def __init__(self, raw, callback):
        self.raw, self.callback, self.count = raw, callback, 0

    def read(self, size=-1):
        data = self.raw.read(size)
        self.count += len(data)
        self.callback(self.count)
        return data


# -- pull -------------------------------------------------------------------------

def pull(data_root, text, platform=None, progress=None, insecure=None, config_directory=None):
    """Pull ``text`` into the store; returns (name, manifest digest)."""
    import json
    from . import reference as refs
    from .registry import client_for
    ref = refs.parse(text)
    wanted = parse_platform(platform)
    store = Store(data_root).ensure()
    progress = progress or Progress()
    client = client_for(ref.domain, insecure, config_directory)
    body, media_type, digest = client.get_manifest(ref.path, ref.digest or ref.tag)
    document = json.loads(body)
    media_type = document.get("mediaType") or media_type
    chosen_platform = None
    if media_type in INDEX_TYPES or "manifests" in document:
        desc = choose_manifest(document, wanted)
        chosen_platform = desc.get("platform")
        body, media_type, digest = client.get_manifest(ref.path, desc["digest"])
        document = json.loads(body)
        media_type = document.get("mediaType") or desc.get("mediaType") or media_type
    if media_type not in MANIFEST_TYPES and "layers" not in document:
        raise SpecError(f"{text}: unsupported manifest type {media_type!r} "
                        f"(schema 1 images are not supported)")
    config_desc = document["config"]
    if not store.has_blob(config_desc["digest"]):
        response = client.open_blob(ref.path, config_desc["digest"])
        try:
            store.put_blob_stream(response.stream, config_desc["digest"], config_desc.get("size"))
        finally:
            response.close()
    config = store.read_blob_json(config_desc["digest"])
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    layers = document.get("layers", [])
    if len(diff_ids) != len(layers):
        raise SpecError(f"{text}: manifest has {len(layers)} layers, config {len(diff_ids)} "
                        f"diff ids")
    _fetch_layers(store, client, ref.path, list(zip(layers, diff_ids)), progress)
    store.put_blob(body, digest)
    name = str(ref)
    descriptor = {"mediaType": media_type, "digest": digest, "size": len(body)}
    if chosen_platform:
        descriptor["platform"] = chosen_platform
    store.set_name(name, descriptor)
    progress.message(f"Digest: {digest}")
    progress.message(f"Status: downloaded image for {ref.familiar()}")
    return name, digest


def _fetch_layers(store, client, repo, pairs, progress):
    from concurrent.futures import ThreadPoolExecutor
    unique, seen = [], set()
    for layer, diff_id in pairs:
        if diff_id not in seen:  # the same layer twice in one image: fetch it once
            seen.add(diff_id)
            unique.append((layer, diff_id))
    todo = []
    for layer, diff_id in unique:
        if store.has_layer(diff_id):
            progress.update(layer["digest"], "Already exists")
        else:
            todo.append((layer, diff_id))
            progress.update(layer["digest"], "Waiting")
    if not todo:
        return
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(todo))) as pool:
        futures = [pool.submit(_fetch_one, store, client, repo, layer, diff_id, progress)
                   for layer, diff_id in todo]
        for future in futures:
            future.result()


def _fetch_one(store, client, repo, layer, diff_id, progress):
    digest, size = layer["digest"], layer.get("size")
    if layer.get("urls") or "nondistributable" in layer.get("mediaType", "") or \
            "foreign" in layer.get("mediaType", ""):
        raise SpecError(f"layer {digest} is a foreign layer (Windows images are not supported)")
    if not store.has_blob(digest):
        response = client.open_blob(repo, digest)
        try:
            reader = _CountingReader(response.stream,
                                     lambda count: progress.update(digest, "Downloading",
                                                                   count, size))
            store.put_blob_stream(reader, digest, size)
        finally:
            response.close()
        progress.update(digest, "Verifying Checksum")
    progress.update(digest, "Extracting")
    store.ensure_layer(digest, diff_id)
    progress.update(digest, "Pull complete")


# -- push -------------------------------------------------------------------------

def push(data_root, text, progress=None, insecure=None, config_directory=None, target=None):
    """Push local image ``text`` (to ``target`` if given, else its own name); returns digest."""
    from . import reference as refs
    from .registry import client_for
    store = Store(data_root)
    _name, manifest_digest = store.resolve(text)
    destination = refs.parse(target or text)
    if destination.digest and not destination.tag:
        raise SpecError(f"push needs a tag, not a digest: {target or text}")
    image = store.image(manifest_digest)
    progress = progress or Progress()
    client = client_for(destination.domain, insecure, config_directory)
    scope = f"repository:{destination.path}:pull,push"
    blobs = [image.manifest["config"]] + image.layers
    for desc in blobs:
        digest = desc["digest"]
        if client.has_blob(destination.path, digest, scope=scope):
            progress.update(digest, "Layer already exists")
            continue
        progress.update(digest, "Pushing")
        path = store.blob_path(digest)
        client.upload_blob(destination.path, digest, os.path.getsize(path),
                           lambda p=path: open(p, "rb"))
        progress.update(digest, "Pushed")
    body = store.read_blob(manifest_digest)
    media_type = image.manifest.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    pushed = client.put_manifest(destination.path, destination.tag, body, media_type)
    progress.message(f"{destination.tag}: digest: {pushed} size: {len(body)}")
    return pushed


def login(domain, username, password, insecure=None, config_directory=None):
    """Check the credentials against the registry, then store them (Docker's config.json)."""
    from .auth import store_credentials
    from .registry import Client
    Client(domain, credentials=(username, password), insecure=insecure).ping()
    store_credentials(domain, username, password, config_directory)
    return True


def logout(domain, config_directory=None):
    from .auth import remove_credentials
    return remove_credentials(domain, config_directory)
