"""--privileged's /dev and user mounts in the rootfs plan (pure: the host's /dev is faked)."""

import stat

from minicontainer.rootfs import plan as rootfs_plan
from minicontainer.spec import ContainerSpec, Security

FAKE_HOST_DEV = [
    ("kmsg", "c", 1, 11, 0o644),
    ("net", "dir", 0, 0, 0o755),
    ("net/tun", "c", 10, 200, 0o600),
    ("null", "c", 1, 3, 0o666),           # a default: made once, not twice
    ("vda", "b", 254, 0, 0o600),
]


def make_spec(tmp_path, privileged):
    return ContainerSpec(rootfs=str(tmp_path), args=("true",),
                         security=Security(privileged=privileged))


def steps_for(tmp_path, monkeypatch, privileged):
    monkeypatch.setattr(rootfs_plan, "host_device_nodes", lambda top="/dev": FAKE_HOST_DEV)
    plan = rootfs_plan.plan_rootfs(make_spec(tmp_path, privileged), str(tmp_path / "c"))
    dev = str(tmp_path / "dev")
    return [s for s in plan.steps if s[0] in ("device", "mkdir") and s[2].startswith(dev)], dev


def test_default_dev_has_only_dockers_nodes(tmp_path, monkeypatch):
    steps, dev = steps_for(tmp_path, monkeypatch, privileged=False)
    nodes = sorted(s[2][len(dev) + 1:] for s in steps if s[0] == "device")
    assert nodes == ["full", "null", "random", "tty", "urandom", "zero"]


def test_privileged_copies_the_hosts_nodes(tmp_path, monkeypatch):
    steps, dev = steps_for(tmp_path, monkeypatch, privileged=True)
    devices = {s[2][len(dev) + 1:]: s for s in steps if s[0] == "device"}
    assert devices["vda"][3:] == (254, 0, 0o600, "/dev/vda", "b")
    assert devices["kmsg"][3:] == (1, 11, 0o644, "/dev/kmsg", "c")
    assert devices["net/tun"][3:] == (10, 200, 0o600, "/dev/net/tun", "c")
    assert [s[0] for s in steps].count("device") == 6 + 3     # null only once
    mkdirs = [s[2] for s in steps if s[0] == "mkdir"]
    assert mkdirs.index(f"{dev}/net") == 0                    # before its node


def test_host_device_nodes_reads_a_dev_tree(tmp_path):
    # a fake /dev with a directory, a symlink and a plain file: only nodes and dirs count
    (tmp_path / "net").mkdir()
    (tmp_path / "pts").mkdir()              # skipped: the container's own devpts
    (tmp_path / "stdout").symlink_to("/proc/self/fd/1")
    (tmp_path / "notes").write_text("x")
    found = rootfs_plan.host_device_nodes(str(tmp_path))
    assert found == [("net", "dir", 0, 0, 0o755)]
    real = rootfs_plan.host_device_nodes()
    null = [n for n in real if n[0] == "null"]
    assert null and null[0][1:4] == ("c", 1, 3)
    assert all(kind == "dir" or mode == stat.S_IMODE(mode) for _p, kind, _a, _b, mode in real)


def test_user_mounts_are_resolved_inside_the_root_when_mounted(tmp_path):
    from minicontainer.spec import Mount
    source = tmp_path / "vol"
    source.mkdir()
    spec = make_spec(tmp_path / "root", False).replace(mounts=(
        Mount(target="/data", source=str(source), type="bind", readonly=True),
        Mount(target="/data/t", source="tmpfs", type="tmpfs")))
    plan = rootfs_plan.plan_rootfs(spec, str(tmp_path / "c"))
    user = [s for s in plan.steps if s[0] == "mount_in_root"]
    root = str(tmp_path / "root")
    assert [s[2:] for s in user] == [
        (str(source), root, "/data", None, rootfs_plan.C.MS_BIND | rootfs_plan.C.MS_REC, None,
         "dir", True),
        ("tmpfs", root, "/data/t", "tmpfs",
         rootfs_plan.C.MS_NOEXEC | rootfs_plan.C.MS_NOSUID | rootfs_plan.C.MS_NODEV, None,
         "dir", False)]
    assert "read-only" in user[0][1]
