"""Issue 3's acceptance on the cgroup v1/hybrid lane (this host), with real containers.

The same scenarios run on the v2 lane (test_run_cgroups_accept_v2.py, in
scripts/vm-test); tests/cgroups_accept_helpers.py holds them.
"""

import os

import pytest

import cgroups_accept_helpers as accept
from conftest import needs_busybox, needs_root

pytestmark = [
    needs_root, needs_busybox,
    pytest.mark.skipif(not os.path.isdir("/sys/fs/cgroup/memory"),
                       reason="machine lacks cgroup v1 controllers (the v2 lane covers it)"),
]

# Where each limit lives in the v1 hierarchies.  Asked: -m 32m
# --memory-reservation 16m --cpus 0.5 --pids-limit 20, and so Docker's default
# memory+swap of twice the memory (where swap accounting is on).
FILES = {
    "memory": ("memory", "memory.limit_in_bytes"),
    "memory_swap": ("memory", "memory.memsw.limit_in_bytes"),
    "reservation": ("memory", "memory.soft_limit_in_bytes"),
    "cpu_quota": ("cpu", "cpu.cfs_quota_us"),
    "cpu_period": ("cpu", "cpu.cfs_period_us"),
    "pids": ("pids", "pids.max"),
}
EXPECTED = {"memory": str(32 << 20), "memory_swap": str(64 << 20), "reservation": str(16 << 20),
            "cpu_quota": "50000", "cpu_period": "100000", "pids": "20"}
# update -m 64m --pids-limit 30 (memory+swap stays 64m: memory may now use it all)
UPDATED = {"memory": str(64 << 20), "memory_swap": str(64 << 20), "pids": "30"}

LANE = accept.Lane(1, FILES, EXPECTED, UPDATED, optional=("memory_swap",),
                   inside_dir=lambda hierarchy: f"/sys/fs/cgroup/{hierarchy}")


def test_memory_32m_oom_kill_exits_137_and_is_recorded(mc):
    accept.oom_kill_is_reported(mc, LANE)


def test_fork_loop_stops_at_the_pids_limit(mc):
    accept.fork_loop_stops_at_the_pids_limit(mc, LANE)


def test_half_a_cpu_shows_throttling_in_stats(mc):
    stats = accept.half_a_cpu_is_throttled(mc, LANE)
    print(f"v1 --cpus 0.5 stats: {stats}")


def test_limits_read_back_from_outside(mc):
    accept.limits_read_back_from_outside(mc, LANE)


def test_limits_read_back_from_inside(mc):
    accept.limits_read_back_from_inside(mc, LANE)


def test_update_changes_limits_live(mc):
    accept.update_changes_limits_live(mc, LANE)


def test_nothing_left_in_any_hierarchy_after_rm(mc):
    accept.nothing_left_after_rm(mc, LANE)


def test_missing_rate_limit_device_is_refused_before_any_kernel_step(mc):
    accept.missing_device_refused_before_any_kernel_step(mc, LANE)


def test_bad_limits_fail_with_one_line_and_125_creating_nothing(mc):
    accept.bad_limits_create_nothing(mc, LANE)
