"""The build cache: keys follow the parent, the step and its inputs; entries
come back only while their layers are in the store."""

from minicontainer.build.cache import BuildCache, BuildState, step_key


class FakeStore:
    def __init__(self, data_root, blobs=(), layers=()):
        self.data_root = data_root
        self.build_cache_dir = f"{data_root}/build/cache"
        self.blobs, self.layers = set(blobs), set(layers)

    def has_blob(self, digest):
        return digest in self.blobs

    def has_layer(self, diff_id):
        return diff_id in self.layers

    def ensure_layer(self, digest, diff_id):
        if digest not in self.blobs:
            raise FileNotFoundError(digest)
        self.layers.add(diff_id)


def _state(diff_ids=(), created="2026-01-01T00:00:00Z"):
    layers = [{"digest": "sha256:" + d[-1] * 64, "size": 1, "mediaType": "x"} for d in diff_ids]
    return BuildState({"created": created, "config": {"Env": ["A=1"]},
                       "rootfs": {"type": "layers", "diff_ids": list(diff_ids)}}, layers)


def test_state_id_is_the_digest_of_the_canonical_config():
    import hashlib
    import json
    state = _state()
    body = json.dumps(state.config, separators=(",", ":"), sort_keys=True).encode()
    assert state.id == "sha256:" + hashlib.sha256(body).hexdigest()
    assert _state(created="2026-01-02T00:00:00Z").id != state.id


def test_keys_change_with_parent_and_inputs():
    parent = _state()
    key = step_key(parent, "layer", "COPY a /", "sha256:1")
    assert key == step_key(_state(), "layer", "COPY a /", "sha256:1")
    assert key != step_key(parent, "layer", "COPY a /", "sha256:2")
    assert key != step_key(_state(created="later"), "layer", "COPY a /", "sha256:1")
    assert step_key(parent, "a b", "c") != step_key(parent, "a", "b c")


def test_entries_round_trip_and_miss_when_blobs_are_gone(tmp_path):
    diff = "sha256:" + "d" * 64
    state = _state([diff])
    blob = state.layers[0]["digest"]
    store = FakeStore(str(tmp_path), blobs=[blob])
    cache = BuildCache(store)
    cache.put("k1", state)
    found = cache.get("k1")
    assert found.config == state.config and found.layers == state.layers
    assert diff in store.layers  # unpacked again from its blob
    assert cache.get("nothing") is None
    store.blobs.clear()
    assert cache.get("k1") is None  # pruned since: a miss, not an error
