"""The build cache: what a step made, found again by what it was made from.

A step's key is a digest of its parent (the image config so far, which holds
every layer's diff id and every history entry, plus the layer blobs), the
instruction as it will run (variables expanded, the build args RUN sees) and,
for COPY/ADD, a digest of the copied files' names, modes and bytes.  The
entry stores the resulting config and layer descriptors as they were, created
timestamps included: that is why an unchanged rebuild runs nothing and ends
with the very same image id.

Entries live in ``<data root>/build/cache/<key>.json``; the layers they name
live in the image store like any other.  An entry whose blobs were removed
since (``builder prune``) is a miss, never an error; ``image prune`` keeps
them (Store.referenced reads these entries), as Docker keeps its build cache.
"""

import hashlib
import os

from ..image.files import atomic_write, canonical_json, read_json


class BuildState:
    """An image under construction: its config (a dict) and layer descriptors."""

    __slots__ = ("config", "layers")

    def __init__(self, config, layers):
        self.config = config
        self.layers = list(layers)

    def copy(self):
        import copy
        return BuildState(copy.deepcopy(self.config), list(self.layers))

    @property
    def id(self):
        """The image id this state would have: the digest of its canonical config."""
        return "sha256:" + hashlib.sha256(canonical_json(self.config)).hexdigest()

    @property
    def key(self):
        digest = hashlib.sha256(self.id.encode())
        for layer in self.layers:
            digest.update(b"\0" + layer["digest"].encode())
        return digest.hexdigest()

    @property
    def section(self):
        """The ``config`` section (Env, Cmd ...), created when missing."""
        return self.config.setdefault("config", {})

    @property
    def diff_ids(self):
        return list(self.config.get("rootfs", {}).get("diff_ids", []))


def step_key(parent, *parts):
    digest = hashlib.sha256(parent.key.encode())
    for part in parts:
        digest.update(b"\0" + str(part).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


class BuildCache:
    def __init__(self, store):
        self.store = store
        self.dir = store.build_cache_dir

    def _path(self, key):
        return os.path.join(self.dir, key + ".json")

    def get(self, key):
        """The BuildState stored under ``key`` with its layers present, or None."""
        entry = read_json(self._path(key))
        if not entry or "config" not in entry:
            return None
        state = BuildState(entry["config"], entry.get("layers", []))
        diff_ids = state.diff_ids
        if len(diff_ids) != len(state.layers):
            return None
        for layer, diff_id in zip(state.layers, diff_ids):
            if not self.store.has_blob(layer["digest"]):
                return None
            if not self.store.has_layer(diff_id):
                try:
                    self.store.ensure_layer(layer["digest"], diff_id)
                except Exception:  # noqa: BLE001 - a damaged entry is a miss, not an error
                    return None
        return state

    def put(self, key, state):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        atomic_write(self._path(key), canonical_json({"config": state.config,
                                                      "layers": state.layers}), durable=False)
