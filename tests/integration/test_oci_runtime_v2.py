"""An OCI config's resources, device rules, cgroup mount and cgroupsPath on the
cgroup v2 lane (runs in scripts/vm-test; skipped on the v1/hybrid host)."""

import os

import pytest

from conftest import has_cgroup2_controllers, needs_busybox, needs_root
from oci_helpers import base_config, run_config

pytestmark = [
    pytest.mark.cgroupv2, needs_root, needs_busybox,
    pytest.mark.skipif(not has_cgroup2_controllers(),
                       reason="machine lacks a unified cgroup v2 hierarchy with controllers "
                              "(run it in scripts/vm-test)"),
]

PROBE_DEVICES = ("mknod /dev/mctest-k c 1 2; cat /dev/mctest-k; "
                 "echo x > /dev/null && echo null-ok || echo null-denied")


@pytest.fixture(autouse=True)
def _no_pull(monkeypatch):
    monkeypatch.setenv("MINICONTAINER_PULL", "never")


def _with_cgroup_mount(config):
    config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup",
                             "source": "cgroup", "options": ["ro", "nosuid", "noexec"]})
    config["linux"]["namespaces"].append({"type": "cgroup"})
    return config


def test_resources_read_back_inside(state_root):
    config = _with_cgroup_mount(base_config(["sh", "-c", "cat /sys/fs/cgroup/memory.max "
                                             "/sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max; "
                                             "cat /proc/self/cgroup"]))
    config["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 30},
                                    "cpu": {"quota": 50000, "period": 100000}}
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [str(64 << 20), "30", "50000 100000"]
    assert lines[3] == "0::/"


def test_ordered_device_rules(state_root):
    config = base_config(["sh", "-c", PROBE_DEVICES])
    config["linux"]["resources"] = {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}
    result = run_config(state_root, config)
    assert result.stdout.split() == ["null-ok"]
    assert "mctest-k': Operation not permitted" in result.stderr
    # a later rule wins: allow 1:2 after denying it
    config["linux"]["resources"] = {"devices": [
        {"allow": False, "type": "c", "major": 1, "minor": 2, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 2, "access": "r"}]}
    result = run_config(state_root, config)
    assert "mctest-k': No such device or address" in result.stderr
    config["linux"]["resources"] = {"devices": [
        {"allow": True, "type": "c", "major": 1, "minor": 2, "access": "r"},
        {"allow": False, "type": "c", "major": 1, "minor": 2, "access": "r"}]}
    result = run_config(state_root, config)
    assert "mctest-k': Operation not permitted" in result.stderr


def test_cgroups_path_beneath_our_own(state_root):
    name = f"mctest-cgp-{os.getpid()}"
    config = base_config(["cat", "/proc/self/cgroup"])
    config["linux"]["cgroupsPath"] = f"/{name}/box"
    result = run_config(state_root, config)
    with open("/proc/self/cgroup") as f:
        ours = f.read().strip().split("::", 1)[1].rstrip("/")
    assert result.stdout.strip().split("::", 1)[1].endswith(f"/{name}/box")
    assert result.stdout.strip().split("::", 1)[1].startswith(ours)
    assert not any(name in entry for entry in os.listdir("/sys/fs/cgroup" + ours))


def test_cgroup_mount_without_a_cgroup_namespace(state_root):
    """Without a cgroup namespace the container's own cgroup is bound there."""
    config = base_config(["sh", "-c", "cat /sys/fs/cgroup/pids.max; "
                          "echo 5 > /sys/fs/cgroup/pids.max; echo rc=$?"])
    config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup",
                             "source": "cgroup", "options": ["ro", "nosuid", "noexec"]})
    config["linux"]["resources"] = {"pids": {"limit": 42}}
    assert run_config(state_root, config).stdout.split() == ["42", "rc=1"]
