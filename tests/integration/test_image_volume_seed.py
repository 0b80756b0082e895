"""Volumes seeded from an image's root, as Docker does for a new named volume."""

import os
import stat

import pytest

from minicontainer import volumes
from minicontainer.spec import Mount

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="machine lacks root (chown)")


@pytest.fixture
def image_root(tmp_path):
    root = tmp_path / "mctest-rootfs"
    data = root / "var" / "lib" / "app"
    (data / "sub").mkdir(parents=True)
    (data / "conf").write_text("setting=1\n")
    os.chown(data / "conf", 1000, 1001)
    (data / "sub" / "tool").write_text("#!/bin/sh\n")
    os.chmod(data / "sub" / "tool", 0o4750)
    (data / "link").symlink_to("conf")
    os.chown(data, 999, 999)
    os.chmod(data, 0o750)
    (root / "srv").symlink_to("/var/lib/app")
    return str(root)


def test_new_named_volume_is_seeded_from_the_image(tmp_path, image_root):
    data_root = str(tmp_path / "mctest-data")
    mounts = [volumes.parse_volume("mctest-app:/var/lib/app"),
              volumes.parse_volume("/srv"),
              volumes.parse_volume("mctest-empty:/var/lib/app:nocopy"),
              volumes.parse_tmpfs("/run")]
    resolved, anonymous = volumes.resolve_mounts(data_root, mounts, rootfs=image_root)
    assert [m.type for m in resolved] == ["bind", "bind", "bind", "tmpfs"]
    assert len(anonymous) == 1
    named = resolved[0].source
    assert named == os.path.join(data_root, "volumes", "mctest-app", "_data")
    assert sorted(os.listdir(named)) == ["conf", "link", "sub"]
    st = os.lstat(os.path.join(named, "conf"))
    assert (st.st_uid, st.st_gid) == (1000, 1001)
    assert stat.S_IMODE(os.lstat(os.path.join(named, "sub", "tool")).st_mode) == 0o4750
    assert os.readlink(os.path.join(named, "link")) == "conf"
    top = os.lstat(named)
    assert (top.st_uid, stat.S_IMODE(top.st_mode)) == (999, 0o750)
    # the anonymous volume at /srv followed the image's symlink to /var/lib/app, inside the root
    assert sorted(os.listdir(resolved[1].source)) == ["conf", "link", "sub"]
    assert os.listdir(resolved[2].source) == []  # nocopy
    # an existing volume is never re-seeded
    os.unlink(os.path.join(named, "conf"))
    again, _ = volumes.resolve_mounts(data_root, mounts[:1], rootfs=image_root)
    assert sorted(os.listdir(again[0].source)) == ["link", "sub"]
    assert again[0] == Mount(target="/var/lib/app", source=named, type="bind")
