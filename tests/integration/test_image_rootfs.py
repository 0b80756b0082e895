"""Images become container roots: builtin import, overlayfs, copy-up, release."""

import os
import stat
import subprocess

import pytest

from minicontainer import image
from minicontainer.errors import NotFound
from minicontainer.image.overlay import is_mounted, mount_rootfs, unmount_rootfs
from minicontainer.image.store import Store

from image_helpers import add_tar_image, disk_usage, entry, make_busybox_tree, make_tar

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="machine lacks root (overlay mounts)"),
    pytest.mark.skipif("overlay" not in open("/proc/filesystems").read(),
                       reason="machine lacks overlayfs"),
]


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """(data root, state root) of our own, and a private busybox tree for the builtin."""
    base = tmp_path / "mctest-img"
    source = make_busybox_tree(str(base / "busybox-src"))
    monkeypatch.setenv("MINICONTAINER_BUSYBOX_ROOTFS", source)
    data, state = base / "data", base / "state"
    data.mkdir()
    state.mkdir()
    yield str(data), str(state)
    for line in open("/proc/self/mountinfo"):
        assert str(base) not in line, "a test left a mount behind"


def container_state(state_root, cid):
    path = os.path.join(state_root, cid)
    os.makedirs(path, exist_ok=True)
    return path


def test_builtin_busybox_overlay_copy_up_and_release(roots):
    data, state = roots
    config, handle = image.open_image(data, "busybox")
    rootfs = image.mount_image(data, handle, "mctest-c1")
    try:
        assert rootfs == image.rootfs_path(data, "mctest-c1") and is_mounted(rootfs)
        assert config.cmd == ("sh",) and any(e.startswith("PATH=") for e in config.env)
        assert stat.S_IMODE(os.stat(os.path.join(rootfs, "tmp")).st_mode) == 0o1777
        # the image's own busybox runs from the merged root
        out = subprocess.run(["chroot", rootfs, "/bin/sh", "-c", "echo hi > /etc/new; cat /etc/new"],
                             capture_output=True, text=True, check=True).stdout
        assert out == "hi\n"
        # copy-up: a change lands in this container's upper dir, never in the shared layer
        with open(os.path.join(rootfs, "etc", "passwd"), "a") as handle:
            handle.write("app:x:1000:1000::/:/bin/sh\n")
        upper = image.container_upper_dir(data, "mctest-c1")
        assert sorted(os.listdir(os.path.join(upper, "etc"))) == ["new", "passwd"]
        (layer,) = Store(data).image_layer_dirs(image.find_image(data, "busybox")[1])
        assert "app:" not in open(os.path.join(layer, "etc", "passwd")).read()
        # deleting an image file leaves a whiteout in upper, the layer keeps it
        os.unlink(os.path.join(rootfs, "bin", "ls"))
        assert stat.S_ISCHR(os.lstat(os.path.join(upper, "bin", "ls")).st_mode)
        assert os.path.lexists(os.path.join(layer, "bin", "ls"))
    finally:
        image.release_rootfs(data, "mctest-c1")
    assert not is_mounted(rootfs)
    assert not os.path.exists(rootfs)
    assert os.listdir(os.path.join(data, "overlay")) == []
    image.release_rootfs(data, "mctest-c1")  # idempotent
    image.release_rootfs(data, "never-existed")


def test_second_container_costs_no_layer_storage(roots):
    data, state = roots
    s1, s2 = container_state(state, "a"), container_state(state, "b")
    image.prepare_rootfs(data, "busybox", "a", s1)
    try:
        layers_before = disk_usage(os.path.join(data, "layers"))
        blobs_before = disk_usage(os.path.join(data, "images"))
        image.prepare_rootfs(data, "busybox", "b", s2)
        try:
            assert disk_usage(os.path.join(data, "layers")) == layers_before
            assert disk_usage(os.path.join(data, "images")) == blobs_before
            assert disk_usage(os.path.join(data, "overlay", "b", "upper")) == 0
            assert disk_usage(os.path.join(data, "overlay", "b", "work")) == 0
            assert os.listdir(os.path.join(data, "layers")) and \
                len(os.listdir(os.path.join(data, "layers"))) == 1
        finally:
            image.release_rootfs(data, "b", s2)
    finally:
        image.release_rootfs(data, "a", s1)


def test_builtin_import_is_idempotent_and_lazy(roots):
    data, state = roots
    assert not os.path.exists(os.path.join(data, "images"))
    name1, img1 = image.find_image(data, "busybox")
    name2, img2 = image.find_image(data, "docker.io/library/busybox:latest")
    assert name1 == name2 == "docker.io/library/busybox:latest"
    assert img1.manifest_digest == img2.manifest_digest
    assert len(Store(data).entries()) == 1


def test_directory_rootfs_is_used_as_is(roots, tmp_path):
    data, state = roots
    tree = make_busybox_tree(str(tmp_path / "mctest-plain"))
    assert image.prepare_rootfs(data, tree, "x", container_state(state, "x")) == (tree, None)
    with pytest.raises(NotFound):
        image.prepare_rootfs(data, str(tmp_path / "nope"), "x", state)


def test_unknown_image_is_not_found(roots):
    data, state = roots
    with pytest.raises(NotFound, match="No such image"):
        image.prepare_rootfs(data, "localhost:5999/nothing:here", "x", container_state(state, "x"))
    assert not os.path.exists(os.path.join(data, "overlay", "x"))


def test_layers_stack_with_whiteouts_and_opaque_dirs(roots):
    data, state = roots
    store = Store(data).ensure()
    base = make_tar([entry("etc", "dir"), entry("etc/keep", data=b"keep"),
                     entry("etc/gone", data=b"gone"), entry("cfg", "dir"),
                     entry("cfg/old1", data=b"1"), entry("cfg/old2", data=b"2"),
                     entry("bin", "dir"), entry("bin/su", data=b"su", mode=0o4755, uid=0)],
                    "gzip")
    top = make_tar([entry("etc", "dir"), entry("etc/.wh.gone"),
                    entry("cfg", "dir"), entry("cfg/.wh..wh..opq"), entry("cfg/new", data=b"n"),
                    entry("data", "dir", uid=1000, gid=1000, mode=0o750)], "zstd")
    add_tar_image(store, "localhost/mctest/stack:1", [base, top])
    sdir = container_state(state, "s")
    rootfs, _config = image.prepare_rootfs(data, "localhost/mctest/stack:1", "s", sdir)
    try:
        assert sorted(os.listdir(os.path.join(rootfs, "etc"))) == ["keep"]
        assert sorted(os.listdir(os.path.join(rootfs, "cfg"))) == ["new"]
        su = os.stat(os.path.join(rootfs, "bin", "su"))
        assert stat.S_IMODE(su.st_mode) == 0o4755
        owned = os.stat(os.path.join(rootfs, "data"))
        assert (owned.st_uid, owned.st_gid, stat.S_IMODE(owned.st_mode)) == (1000, 1000, 0o750)
    finally:
        image.release_rootfs(data, "s", sdir)


def test_many_layers_exceeding_one_page_of_mount_options(roots, tmp_path):
    data, state = roots
    layers = []
    for index in range(70):  # 70 x ~100-character paths: more than a page
        path = tmp_path / "mctest-many" / ("L" * 90 + f"{index:03d}")
        path.mkdir(parents=True)
        (path / f"file{index}").write_text(str(index))
        layers.append(str(path))
    assert len(":".join(layers)) > 4096
    cwd = os.getcwd()
    merged = mount_rootfs(layers, str(tmp_path / "mctest-many-c"))
    try:
        assert os.getcwd() == cwd
        assert len(os.listdir(merged)) == 70
    finally:
        unmount_rootfs(str(tmp_path / "mctest-many-c"))
    assert not os.path.exists(tmp_path / "mctest-many-c")


def test_gc_keeps_layers_of_mounted_containers(roots):
    data, state = roots
    store = Store(data).ensure()
    add_tar_image(store, "localhost/mctest/gc:1", [make_tar([entry("f", data=b"x")])])
    sdir = container_state(state, "g")
    image.prepare_rootfs(data, "localhost/mctest/gc:1", "g", sdir)
    try:
        store.remove_name("docker.io/localhost/mctest/gc:1")  # wrong name: nothing happens
        store.remove_name("localhost/mctest/gc:1")
        store.gc()
        assert len(os.listdir(store.layers_dir)) == 1  # still used by container g
    finally:
        image.release_rootfs(data, "g", sdir)
    assert store.gc() > 0
    assert os.listdir(store.layers_dir) == []
    assert os.listdir(os.path.join(store.blobs_dir, "sha256")) == []


def test_prepared_image_root_needs_neither_json_nor_re(roots):
    """The run cache keeps `run IMAGE` off the json/re imports (about 10 ms here)."""
    import sys
    data, state = roots
    sdir = container_state(state, "warm")
    image.prepare_rootfs(data, "busybox", "warm", sdir)
    image.release_rootfs(data, "warm", sdir)
    sdir = container_state(state, "fast")
    probe = (
        "import sys\n"
        "from minicontainer import image\n"
        f"root, config = image.prepare_rootfs({data!r}, 'busybox', 'fast', {sdir!r})\n"
        "print(config.cmd, 'json' in sys.modules, 're' in sys.modules)\n"
    )
    try:
        out = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=REPO), check=True).stdout
        assert out.split() == ["('sh',)", "False", "False"]
    finally:
        image.release_rootfs(data, "fast", sdir)


def test_rebuilt_builtin_tree_is_imported_again(roots):
    data, state = roots
    _config, first = image.open_image(data, "busybox")
    source = os.environ["MINICONTAINER_BUSYBOX_ROOTFS"]
    with open(os.path.join(source, "etc", "rebuilt"), "w") as handle:
        handle.write("yes\n")
    with open(source + ".stamp", "w") as handle:  # what rootfs/build-busybox leaves
        handle.write("rebuilt\n")
    _config, second = image.open_image(data, "busybox")
    assert second["id"] != first["id"]
    assert os.path.exists(os.path.join(second["layers"][0], "etc", "rebuilt"))
    _config, third = image.open_image(data, "busybox")
    assert third == second
    assert len(Store(data).entries()) == 1


def test_explain_records_unpack_and_overlay_mount(roots):
    from minicontainer.linux import syscalls
    data, state = roots
    records = []
    syscalls.set_recorder(lambda op, args, result, seconds, why: records.append((op, args, why)))
    try:
        rootfs, _config = image.prepare_rootfs(data, "busybox", "mctest-x")
        image.release_rootfs(data, "mctest-x")
    finally:
        syscalls.set_recorder(None)
    ops = [op for op, _args, _why in records]
    assert ops.index("import-image") < ops.index("unpack-layer") < ops.index("mount") < \
        ops.index("umount2")
    mount = next(r for r in records if r[0] == "mount")
    assert mount[1][:3] == ("overlay", rootfs, "overlay") and "copy-on-write" in mount[2]


def test_mount_again_reuses_or_restores_the_same_upper(roots):
    data, state = roots
    _config, handle = image.open_image(data, "busybox")
    rootfs = image.mount_image(data, handle, "mctest-again")
    try:
        with open(os.path.join(rootfs, "root", "kept"), "w") as out:
            out.write("state\n")
        assert image.mount_image(data, handle, "mctest-again") == rootfs  # still mounted
        assert sum(1 for line in open("/proc/self/mountinfo") if f" {rootfs} " in line) == 1
        unmount = __import__("minicontainer.linux.syscalls", fromlist=["umount2"]).umount2
        unmount(rootfs)  # as after a reboot: the mount is gone, the upper stays
        assert image.mount_image(data, handle, "mctest-again") == rootfs
        assert open(os.path.join(rootfs, "root", "kept")).read() == "state\n"
    finally:
        image.release_rootfs(data, "mctest-again")


def test_container_id_cannot_escape_the_overlay_dir(roots):
    from minicontainer.errors import SpecError
    data, state = roots
    for bad in ("", "..", "../x", "a/b"):
        with pytest.raises(SpecError):
            image.release_rootfs(data, bad)
