"""Mount targets resolved inside the root, and read-only trees (no root needed).

openat2(RESOLVE_IN_ROOT) works for any user on a plain directory, so the
resolution is checked against the real kernel in tmp_path; the mount steps
themselves are faked.
"""

import errno
import os

import pytest

from minicontainer.linux import mountattr
from minicontainer.rootfs import apply


@pytest.fixture
def root(tmp_path):
    """A root whose etc/link is an absolute symlink to /etc and whose up -> ../../.."""
    base = tmp_path / "root"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "inside").write_text("in the root")
    (base / "data").mkdir()
    (base / "data" / "link").symlink_to("/etc")
    (base / "data" / "up").symlink_to("../../../..")
    return str(base)


def where(fd):
    return os.readlink(f"/proc/self/fd/{fd}")


@pytest.mark.parametrize("fallback", [False, True], ids=["openat2", "no-openat2"])
def test_symlinks_resolve_inside_the_root(root, monkeypatch, fallback):
    if fallback:
        def enosys(*args, **kwargs):
            raise OSError(errno.ENOSYS, "no openat2")
        monkeypatch.setattr(mountattr, "open_in_root", enosys)
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        for path, expected in (("/data/link/inside", "etc/inside"), ("/data/up", ""),
                               ("data/up/etc", "etc")):
            fd = apply._open_in_root(root, root_fd, path)
            try:
                assert where(fd) == os.path.join(root, expected).rstrip("/"), path
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)


def test_missing_targets_are_made_inside_the_root(root):
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = apply._open_or_create(root, root_fd, "/data/link/new/dir", "dir")
        os.close(fd)
        fd = apply._open_or_create(root, root_fd, "/data/up/made/file", "file")
        os.close(fd)
    finally:
        os.close(root_fd)
    assert os.path.isdir(os.path.join(root, "etc/new/dir"))
    assert os.path.isfile(os.path.join(root, "made/file"))
    assert not os.path.exists("/etc/new")


def test_read_only_beneath_falls_back_to_one_remount_per_submount(monkeypatch):
    calls = []

    def no_setattr(*args, **kwargs):
        raise OSError(errno.ENOSYS, "no mount_setattr")
    monkeypatch.setattr(apply, "mount_setattr", no_setattr)
    monkeypatch.setattr(apply, "_mountpoints", lambda: [
        "/", "/r/host", "/r/host/proc", "/r/host/sys", "/r/hostile", "/r/host/sys/fs/cgroup"])
    monkeypatch.setattr(apply, "_current_flags", lambda path: 0)
    monkeypatch.setattr(apply.sc, "mount", lambda src, target, *a, **k: calls.append(target))
    apply._readonly_beneath("why", "/proc/self/fd/9", listed_as="/r/host")
    assert calls == ["/r/host/proc", "/r/host/sys", "/r/host/sys/fs/cgroup"]


def test_mountinfo_unescape():
    assert apply._unescape(r"/a\040b\011c\134d") == "/a b\tc\\d"
