"""Unpacking as root: owners, setuid bits, xattrs and overlay whiteouts are real."""

import io
import os
import stat

import pytest

from minicontainer.image.unpack import unpack_layer

from image_helpers import entry, make_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="machine lacks root (chown, mknod)")

# A file capability: cap_net_bind_service=ep in VFS_CAP_REVISION_2 layout.
CAP_NET_BIND = bytes.fromhex("0100000200040000000000000000000000000000")


def unpack(entries, dest, compression=None):
    return unpack_layer(io.BytesIO(make_tar(entries, compression)), str(dest))


def test_owners_modes_times_kept(tmp_path):
    unpack([entry("usr", "dir", mode=0o755), entry("usr/bin", "dir", mode=0o755),
            entry("usr/bin/passwd", data=b"p", mode=0o4755, uid=0, gid=0),
            entry("usr/bin/wall", data=b"w", mode=0o2755, uid=0, gid=5),
            entry("tmp", "dir", mode=0o1777),
            entry("home", "dir"), entry("home/app", "dir", mode=0o700, uid=1000, gid=1000,
                                        mtime=1_234_567_890),
            entry("home/app/f", data=b"f", uid=1000, gid=1001),
            entry("fifo", "fifo", mode=0o600)], tmp_path, "gzip")
    def info(rel):
        st = os.lstat(tmp_path / rel)
        return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
    assert info("usr/bin/passwd") == (0o4755, 0, 0)
    assert info("usr/bin/wall") == (0o2755, 0, 5)
    assert info("tmp")[0] == 0o1777
    assert info("home/app") == (0o700, 1000, 1000)
    assert os.stat(tmp_path / "home/app").st_mtime == 1_234_567_890
    assert info("home/app/f")[1:] == (1000, 1001)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)


def test_whiteouts_become_overlay_whiteouts(tmp_path):
    result = unpack([entry("etc", "dir"), entry("etc/.wh.hosts"),
                     entry("var", "dir"), entry("var/lib", "dir"),
                     entry("var/lib/.wh..wh..opq"), entry("var/lib/fresh", data=b"x"),
                     entry("deep/new/.wh..wh..opq"),
                     entry("also", "dir"), entry("also/x", data=b"kept"), entry("also/.wh.x")],
                    tmp_path)
    st = os.lstat(tmp_path / "etc" / "hosts")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(tmp_path / "var" / "lib", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(tmp_path / "deep" / "new", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(tmp_path / "var" / "lib")) == ["fresh"]
    # the same layer's own entry wins over its whiteout
    assert (tmp_path / "also" / "x").read_bytes() == b"kept"
    assert not any(name.startswith(".wh.") for _b, d, f in os.walk(tmp_path) for name in d + f)
    assert result.warnings == []


def test_overlay_style_whiteout_device_is_kept(tmp_path):
    unpack([entry("gone", "chr", devmajor=0, devminor=0)], tmp_path)
    st = os.lstat(tmp_path / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_file_replacing_a_whiteout_in_the_same_layer(tmp_path):
    unpack([entry(".wh.f"), entry("f", data=b"back")], tmp_path)
    assert (tmp_path / "f").read_bytes() == b"back"


def test_xattrs_capability_and_user_kept_others_dropped(tmp_path):
    result = unpack([entry("ping", data=b"p", mode=0o755,
                           xattrs={"security.capability":
                                       CAP_NET_BIND.decode("utf-8", "surrogateescape"),
                                   "user.note": "hello",
                                   "trusted.overlay.redirect": "/etc"})], tmp_path)
    assert os.getxattr(tmp_path / "ping", "security.capability") == CAP_NET_BIND
    assert os.getxattr(tmp_path / "ping", "user.note") == b"hello"
    with pytest.raises(OSError):
        os.getxattr(tmp_path / "ping", "trusted.overlay.redirect")
    assert any("trusted.overlay.redirect" in w for w in result.warnings)
