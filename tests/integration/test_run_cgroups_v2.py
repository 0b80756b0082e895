"""Containers under a pure cgroup v2 hierarchy (runs in the scripts/vm-test lane)."""

import os

import pytest

from conftest import has_cgroup2_controllers, needs_busybox, needs_root

pytestmark = [
    pytest.mark.cgroupv2, needs_root, needs_busybox,
    pytest.mark.skipif(not has_cgroup2_controllers(),
                       reason="machine lacks a unified cgroup v2 hierarchy with controllers "
                              "(run it in scripts/vm-test)"),
]


def test_memory_limit_oom_kills_with_137_on_v2(mc):
    result = mc("run", "--rm", "--network", "none", "-m", "16m", "busybox", "sh", "-c",
                'x=$(head -c 64000000 /dev/zero | tr "\\0" a); echo survived', timeout=600)
    assert result.returncode == 137, result.stderr
    assert "OOM" in result.stderr


def test_container_sees_its_cgroup_as_root_on_v2(mc):
    result = mc("run", "--rm", "--network", "none", "-m", "32m", "--cpus", "0.5",
                "--pids-limit", "20", "busybox", "cat", "/proc/self/cgroup", timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["0::/"]  # its own cgroup namespace, rooted at its cgroup


def test_pids_limit_on_v2(mc):
    result = mc("run", "--rm", "--network", "none", "--pids-limit", "5", "busybox", "sh", "-c",
                "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; echo done", timeout=600)
    assert "can't fork" in result.stdout or "Resource temporarily unavailable" in result.stdout


def test_no_cgroup_is_left_behind_on_v2(mc):
    before = _ours()
    assert mc("run", "--rm", "--network", "none", "-m", "32m", "busybox", "true",
              timeout=600).returncode == 0
    assert _ours() == before


def _ours():
    found = set()
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        found |= {os.path.join(root, d) for d in dirs if d.startswith("minicontainer-")}
    return found


def test_cgroupfs_inside_is_the_containers_own_and_read_only_on_v2(mc):
    result = mc("run", "--rm", "--network", "none", "-m", "32m", "--pids-limit", "20", "busybox",
                "sh", "-c", "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; "
                "{ echo 1 > /sys/fs/cgroup/pids.max; } 2>&1", timeout=600)
    lines = result.stdout.splitlines()
    assert lines[:2] == [str(32 << 20), "20"], result.stdout + result.stderr
    assert "Read-only file system" in lines[2]
