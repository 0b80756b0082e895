"""Issue 3's acceptance on the cgroup v2 lane (runs in scripts/vm-test), with real containers.

The same scenarios run on the v1/hybrid lane (test_run_cgroups_accept.py, on
this host); tests/cgroups_accept_helpers.py holds them.
"""

import pytest

import cgroups_accept_helpers as accept
from conftest import has_cgroup2_controllers, needs_busybox, needs_root

pytestmark = [
    pytest.mark.cgroupv2, needs_root, needs_busybox,
    pytest.mark.skipif(not has_cgroup2_controllers(),
                       reason="machine lacks a unified cgroup v2 hierarchy with controllers "
                              "(run it in scripts/vm-test)"),
]

# Where each limit lives in the unified hierarchy.  Asked: -m 32m
# --memory-reservation 16m --cpus 0.5 --pids-limit 20; Docker's default
# memory+swap of twice the memory leaves 32m of swap (memory.swap.max is
# swap alone).
FILES = {
    "memory": ("unified", "memory.max"),
    "memory_swap": ("unified", "memory.swap.max"),
    "reservation": ("unified", "memory.low"),
    "cpu": ("unified", "cpu.max"),
    "pids": ("unified", "pids.max"),
}
EXPECTED = {"memory": str(32 << 20), "memory_swap": str(32 << 20), "reservation": str(16 << 20),
            "cpu": "50000 100000", "pids": "20"}
# update -m 64m --pids-limit 30: memory+swap stays 64m, so no swap is left
UPDATED = {"memory": str(64 << 20), "memory_swap": "0", "pids": "30"}

LANE = accept.Lane(2, FILES, EXPECTED, UPDATED, optional=("memory_swap",),
                   inside_dir=lambda hierarchy: "/sys/fs/cgroup")


def test_memory_32m_oom_kill_exits_137_and_is_recorded_on_v2(mc):
    accept.oom_kill_is_reported(mc, LANE)


def test_fork_loop_stops_at_the_pids_limit_on_v2(mc):
    accept.fork_loop_stops_at_the_pids_limit(mc, LANE)


def test_half_a_cpu_shows_throttling_in_stats_on_v2(mc):
    stats = accept.half_a_cpu_is_throttled(mc, LANE)
    print(f"v2 --cpus 0.5 stats: {stats}")


def test_limits_read_back_from_outside_on_v2(mc):
    accept.limits_read_back_from_outside(mc, LANE)


def test_limits_read_back_from_inside_on_v2(mc):
    accept.limits_read_back_from_inside(mc, LANE)


def test_update_changes_limits_live_on_v2(mc):
    accept.update_changes_limits_live(mc, LANE)


def test_nothing_left_in_any_hierarchy_after_rm_on_v2(mc):
    accept.nothing_left_after_rm(mc, LANE)


def test_missing_rate_limit_device_is_refused_before_any_kernel_step_on_v2(mc):
    accept.missing_device_refused_before_any_kernel_step(mc, LANE)


def test_bad_limits_fail_with_one_line_and_125_creating_nothing_on_v2(mc):
    accept.bad_limits_create_nothing(mc, LANE)
