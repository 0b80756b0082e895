"""Resource limits as the container lives them (cgroup v1/hybrid on this host)."""

import json
import os
import subprocess

import pytest

from run_helpers import wait_running
from conftest import needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox]


def test_memory_limit_ends_in_an_oom_kill_with_137(mc):
    result = mc("run", "--name", "mctest-oom", "-m", "16m", "busybox", "sh", "-c",
                'x=$(head -c 64000000 /dev/zero | tr "\\0" a); echo survived')
    assert result.returncode == 137
    assert "survived" not in result.stdout
    assert "OOM" in result.stderr
    state = _state(mc, "mctest-oom")
    assert state["oom_killed"] is True and state["exit_code"] == 137
    assert mc("rm", "mctest-oom").returncode == 0


def test_pids_limit_stops_fork_bombs(mc):
    result = mc("run", "--rm", "--pids-limit", "5", "busybox", "sh", "-c",
                "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; echo done")
    assert "can't fork" in result.stdout or "Resource temporarily unavailable" in result.stdout


def test_container_sees_its_cgroup_as_root(mc):
    result = mc("run", "--rm", "busybox", "cat", "/proc/self/cgroup")
    for line in result.stdout.splitlines():
        assert line.endswith(":/"), result.stdout
    host = mc("run", "--rm", "--cgroupns", "host", "busybox", "cat", "/proc/self/cgroup")
    assert "minicontainer-" in host.stdout


def test_limits_are_written_beneath_our_own_cgroup(mc):
    proc = subprocess.Popen(mc.argv + ["run", "--rm", "--cpus", "0.5", "-m", "64m",
                                       "--pids-limit", "20", "busybox", "sleep", "30"],
                            env=mc.env)
    try:
        state = wait_running(mc.state_root)
        paths = state["cgroup"]["paths"]
        own = {line.split(":")[1]: line.split(":")[2] for line in open("/proc/self/cgroup").read().splitlines()}
        assert paths["memory"].startswith(os.path.join("/sys/fs/cgroup/memory", own["memory"].lstrip("/")))
        assert _read(paths["memory"], "memory.limit_in_bytes") == str(64 << 20)
        assert _read(paths["cpu"], "cpu.cfs_quota_us") == "50000"
        assert _read(paths["cpu"], "cpu.cfs_period_us") == "100000"
        assert _read(paths["pids"], "pids.max") == "20"
        assert str(state["pid"]) in _read(paths["memory"], "cgroup.procs").split()
    finally:
        os.kill(wait_running(mc.state_root)["pid"], 9)
        proc.wait(timeout=30)
    assert not any(os.path.exists(p) for p in paths.values())  # removed with the container


def test_nonsense_limits_are_refused_before_anything_starts(mc):
    for flags, message in ((["-m", "1k"], "Minimum memory limit allowed is 6MB"),
                           (["--cpus", "1000"], "range of CPUs"),
                           (["--memory", "lots"], "memory"),
                           (["--blkio-weight", "5"], "blkio")):
        result = mc("run", "--rm", *flags, "busybox", "true")
        assert result.returncode == 125, flags
        assert message in result.stderr, result.stderr


def _read(directory, name):
    with open(os.path.join(directory, name)) as f:
        return f.read().strip()


def _state(mc, name):
    cid = os.readlink(os.path.join(mc.state_root, "names", name))
    with open(os.path.join(mc.state_root, "containers", cid, "state.json")) as f:
        return json.load(f)


def test_cgroupfs_inside_is_the_containers_own_and_read_only(mc):
    result = mc("run", "--rm", "--network", "none", "-m", "32m", "--pids-limit", "20", "busybox",
                "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                "/sys/fs/cgroup/pids/pids.max; { echo 1 > /sys/fs/cgroup/pids/pids.max; } 2>&1")
    lines = result.stdout.splitlines()
    assert lines[:2] == [str(32 << 20), "20"], result.stdout  # its own cgroup is the root
    assert "Read-only file system" in lines[2]


def test_on_v1_the_init_joins_its_cgroups_itself(mc):
    # A thread moving itself (write "0" to tasks) skips the kernel's global
    # threadgroup lock; the init does it, and ends up in every hierarchy.
    from minicontainer.cgroups.detect import detect
    if not detect().v1:
        pytest.skip("machine lacks cgroup v1 hierarchies")
    result = mc("run", "--rm", "--network", "none", "--cgroupns", "host", "--explain",
                "busybox", "cat", "/proc/self/cgroup")
    assert result.returncode == 0, result.stderr
    joins = [line for line in result.stderr.splitlines()
             if "[container] write(" in line and "/tasks', '0')" in line]
    assert joins, result.stderr
    assert "cgroup.procs" not in result.stderr
    memberships = [line for line in result.stdout.splitlines()
                   if line.split(":")[1] and not line.split(":")[1].startswith("name=")]
    assert memberships and all("/minicontainer-" in line for line in memberships), result.stdout
