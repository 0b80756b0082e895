"""Hostile and ordinary layers, unpacked into a temporary directory.

Each hostile case checks two things: the unpack is refused with a one-line
error, and nothing appeared outside the layer directory.
"""

import hashlib
import io
import os

import pytest

from minicontainer.errors import SetupError
from minicontainer.image.unpack import clean_name, unpack_layer

from image_helpers import entry, make_tar


@pytest.fixture
def area(tmp_path):
    layer = tmp_path / "store" / "layer"
    layer.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("original")
    os.utime(outside / "victim", (1_000_000, 1_000_000))
    os.chmod(outside / "victim", 0o600)
    return tmp_path, str(layer), outside


def everything(root):
    found = set()
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(base, name), root))
    return found


def assert_nothing_outside(tmp_path, outside):
    """Content, mode, owner and times of the victim unchanged; nothing new anywhere."""
    assert (outside / "victim").read_text() == "original"
    st = os.lstat(outside / "victim")
    assert (st.st_mtime, st.st_mode & 0o7777, st.st_uid, st.st_nlink) == \
        (1_000_000, 0o600, os.geteuid(), 1)
    assert set(os.listdir(outside)) == {"victim"}
    assert set(os.listdir(tmp_path)) == {"store", "outside"}
    assert os.listdir(tmp_path / "store") == ["layer"]


def unpack(data, dest):
    return unpack_layer(io.BytesIO(data), dest)


# Targets outside the layer are written "@OUTSIDE@" and point at the test's own
# victim directory, so that even a failing test cannot touch the host's files.
HOSTILE = {
    "absolute path": [entry("/@OUTSIDE@/evil", data=b"x")],
    "dot-dot": [entry("../outside/victim", data=b"pwned")],
    "dot-dot inside": [entry("a/../../outside/victim", data=b"pwned")],
    "write through symlink dir": [
        entry("link", "symlink", linkname="../../outside"),
    ],
    "write through absolute symlink": [
        entry("link", "symlink", linkname="@OUTSIDE@"),
        entry("link/victim", data=b"pwned", mode=0o777),
    ],
    "hardlink escape": [entry("h", "hardlink", linkname="../outside/victim")],
    "hardlink absolute": [entry("h", "hardlink", linkname="@OUTSIDE@/victim")],
    "hardlink to missing": [entry("h", "hardlink", linkname="nothere")],
    "symlink climbing out": [entry("a/b", "symlink", linkname="../../x")],
    "hardlink through a symlinked dir": [
        entry("d", "dir"), entry("d/f", data=b"x"), entry("s", "symlink", linkname="d"),
        entry("h", "hardlink", linkname="s/f"),
    ],
    "hardlink to an absolute symlink": [
        entry("l", "symlink", linkname="@OUTSIDE@/victim"),
        entry("h", "hardlink", linkname="l", mode=0o777, mtime=5),
    ],
    "hardlink to a directory": [entry("d", "dir"), entry("h", "hardlink", linkname="d")],
    "file replacing a directory": [entry("d", "dir"), entry("d")],
    "whiteout escape": [entry("../.wh.victim")],
    "malformed whiteout": [entry(".wh.")],
    "whiteout through symlink": [
        entry("l", "symlink", linkname="/"),
        entry("l/outside/.wh.victim"),
    ],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layers_are_refused_and_write_nothing_outside(area, case):
    tmp_path, layer, outside = area
    entries = [dict(item, name=item["name"].replace("/@OUTSIDE@", str(outside)),
                    linkname=item["linkname"].replace("@OUTSIDE@", str(outside)))
               for item in HOSTILE[case]]
    with pytest.raises(SetupError) as info:
        unpack(make_tar(entries), layer)
    assert "\n" not in str(info.value)
    assert_nothing_outside(tmp_path, outside)


def test_planted_symlink_is_replaced_not_followed(area):
    """A file entry at the path of an earlier symlink replaces the link."""
    tmp_path, layer, outside = area
    victim = str(outside / "victim")
    unpack(make_tar([entry("f", "symlink", linkname=victim),
                     entry("f", data=b"new content")]), layer)
    assert not os.path.islink(os.path.join(layer, "f"))
    assert open(os.path.join(layer, "f"), "rb").read() == b"new content"
    assert_nothing_outside(tmp_path, outside)


def test_planted_symlink_replaced_by_a_directory(area):
    tmp_path, layer, outside = area
    unpack(make_tar([entry("d", "symlink", linkname=str(outside)), entry("d", "dir"),
                     entry("d/victim", data=b"inside")]), layer)
    assert open(os.path.join(layer, "d", "victim"), "rb").read() == b"inside"
    assert_nothing_outside(tmp_path, outside)


def test_absolute_symlinks_are_kept_verbatim(area):
    tmp_path, layer, outside = area
    unpack(make_tar([entry("bin", "dir"), entry("bin/sh", "symlink", linkname="/bin/busybox"),
                     entry("etc", "symlink", linkname="/../../../etc")]), layer)
    assert os.readlink(os.path.join(layer, "bin/sh")) == "/bin/busybox"
    assert os.readlink(os.path.join(layer, "etc")) == "/../../../etc"
    assert_nothing_outside(tmp_path, outside)


def test_device_nodes_are_skipped_with_a_warning(area):
    tmp_path, layer, outside = area
    result = unpack(make_tar([entry("dev", "dir"),
                              entry("dev/sda", "blk", devmajor=8, devminor=0),
                              entry("dev/mem", "chr", devmajor=1, devminor=1)]), layer)
    assert os.listdir(os.path.join(layer, "dev")) == []
    assert any("/dev/sda" in w for w in result.warnings)
    assert any("/dev/mem" in w for w in result.warnings)


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_compressions_and_digests(area, compression):
    tmp_path, layer, outside = area
    entries = [entry("dir", "dir"), entry("dir/file", data=b"hello\n"),
               entry("dir/link", "symlink", linkname="file"),
               entry("dir/hard", "hardlink", linkname="dir/file")]
    plain = make_tar(entries)
    blob = make_tar(entries, compression)
    result = unpack(blob, layer)
    assert result.diff_id == "sha256:" + hashlib.sha256(plain).hexdigest()
    assert result.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert (result.size, result.diff_size) == (len(blob), len(plain))
    assert open(os.path.join(layer, "dir/hard"), "rb").read() == b"hello\n"
    assert os.stat(os.path.join(layer, "dir/hard")).st_ino == \
        os.stat(os.path.join(layer, "dir/file")).st_ino
    assert everything(layer) == {"dir", "dir/file", "dir/link", "dir/hard"}


def test_leading_dot_slash_names_and_root_entry(area):
    tmp_path, layer, outside = area
    unpack(make_tar([entry("./", "dir", mode=0o700), entry("./a", "dir"),
                     entry("./a/b", data=b"b")]), layer)
    assert everything(layer) == {"a", "a/b"}


def test_truncated_archive_is_a_clear_error(area):
    tmp_path, layer, outside = area
    blob = make_tar([entry("a", data=b"x" * 5000)], "gzip")
    with pytest.raises(SetupError) as info:
        unpack(blob[: len(blob) // 2], layer)
    assert "bad layer archive" in str(info.value)


def test_clean_name():
    assert clean_name("./a//b/./c") == "a/b/c"
    assert clean_name("./") is None
    for bad in ("/abs", "a/../b", ".."):
        with pytest.raises(SetupError):
            clean_name(bad)
