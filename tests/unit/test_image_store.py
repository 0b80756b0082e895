"""The store on its own: blobs by digest, names, lookups, untagged images, gc."""

import hashlib
import os

import pytest

from minicontainer.errors import NotFound, SetupError, SpecError
from minicontainer.image.store import Store

from image_helpers import add_tar_image, entry, make_tar


def test_blobs_are_verified(tmp_path):
    store = Store(str(tmp_path / "mctest-data")).ensure()
    digest = store.put_blob(b"hello")
    assert digest == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert store.read_blob(digest) == b"hello"
    with pytest.raises(SetupError, match="digest mismatch"):
        store.put_blob(b"other", "sha256:" + "0" * 64)
    assert not store.has_blob("sha256:" + "0" * 64)
    assert [n for n in os.listdir(store.blobs_dir) if n.startswith(".tmp")] == []
    with pytest.raises(SpecError):
        store.blob_path("sha256:../../etc/passwd")
    with pytest.raises(NotFound):
        store.open_blob("sha256:" + "1" * 64)


def test_names_and_lookups(tmp_path):
    store = Store(str(tmp_path / "mctest-data")).ensure()
    desc = add_tar_image(store, "docker.io/library/app:latest",
                         [make_tar([entry("f", data=b"1")], "gzip")])
    image = store.image(desc["digest"])
    for text in ("app", "app:latest", "library/app", "docker.io/library/app:latest",
                 image.id, image.id[7:], image.id[7:19], f"app@{desc['digest']}"):
        assert store.resolve(text) == ("docker.io/library/app:latest", desc["digest"]), text
    for missing in ("app:2", "other", "abcd" * 3, f"other@{desc['digest']}"):
        with pytest.raises(NotFound):
            store.resolve(missing)
    store.set_name("localhost/app:2", desc)
    assert sorted(n for n, _d in store.entries()) == ["docker.io/library/app:latest",
                                                      "localhost/app:2"]
    assert store.remove_name("localhost/app:2")["digest"] == desc["digest"]
    assert store.remove_name("localhost/app:2") is None


def test_untagged_images_and_gc(tmp_path):
    store = Store(str(tmp_path / "mctest-data")).ensure()
    kept = add_tar_image(store, "localhost/kept:1", [make_tar([entry("a", data=b"a")])])
    loose = add_tar_image(store, None, [make_tar([entry("b", data=b"b")])])
    assert (None, loose) in [(n, {k: d[k] for k in ("mediaType", "digest", "size")})
                             for n, d in store.entries()]
    store.image_layer_dirs(store.image(kept["digest"]))
    store.image_layer_dirs(store.image(loose["digest"]))
    assert len(os.listdir(store.layers_dir)) == 2
    assert store.gc() == 0  # everything is referenced
    assert store.remove_untagged(loose["digest"]) and not store.remove_untagged(loose["digest"])
    assert store.gc() > 0
    assert len(os.listdir(store.layers_dir)) == 1
    assert store.image(kept["digest"])  # the named image is intact


def test_layer_with_wrong_diff_id_is_refused(tmp_path):
    store = Store(str(tmp_path / "mctest-data")).ensure()
    blob = make_tar([entry("f", data=b"x")])
    digest = store.put_blob(blob)
    with pytest.raises(SetupError, match="diff id"):
        store.ensure_layer(digest, "sha256:" + "2" * 64)
    assert os.listdir(store.layers_dir) == []
