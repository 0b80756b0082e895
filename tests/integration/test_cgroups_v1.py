"""cgroup v1 (legacy and hybrid hosts) with real processes, beneath our own cgroups."""

import errno
import os

import pytest

from cgroups_helpers import cgroup, leftovers, read  # noqa: F401  (cgroup is a fixture)
from conftest import needs_root
from minicontainer import units
from minicontainer.cgroups import from_record, host_layout

pytestmark = [
    needs_root,
    pytest.mark.skipif(not host_layout().v1, reason="machine lacks cgroup v1 controllers"),
]


def limits(**options):
    return units.parse_resources(options)


def needs(*controllers):
    missing = [c for c in controllers if c not in host_layout().v1]
    if missing:
        pytest.skip(f"machine lacks the v1 {', '.join(missing)} controller(s)")


def test_beneath_our_own_cgroup(cgroup):
    manager = cgroup()
    for controller, leaf in manager.paths().items():
        assert os.path.dirname(leaf) == host_layout().v1[controller]


def test_oom_kill_is_detected(cgroup):
    needs("memory")
    manager = cgroup(limits(memory="16m"))
    assert read(os.path.join(manager.paths()["memory"], "memory.limit_in_bytes")) == \
        str(16 << 20)
    hog = cgroup.probe(manager, "hog", 64)
    assert hog.wait() == -9
    assert manager.oom_killed()
    stats = manager.stats()
    assert stats["oom_kills"] >= 1
    assert stats["memory_limit"] == 16 << 20
    assert 0 < stats["memory_peak"] <= 16 << 20


def test_no_oom_under_the_limit(cgroup):
    needs("memory")
    manager = cgroup(limits(memory="64m"))
    hog = cgroup.probe(manager, "hog", 8)
    assert hog.line() == "survived"
    assert hog.wait() == 0
    assert not manager.oom_killed()


def test_pids_limit_stops_forks(cgroup):
    needs("pids")
    manager = cgroup(limits(pids_limit="5"))
    assert read(os.path.join(manager.paths()["pids"], "pids.max")) == "5"
    forker = cgroup.probe(manager, "forks", 10)
    assert forker.line() == f"made 4 then errno {errno.EAGAIN}"
    stats = manager.stats()
    assert (stats["pids_current"], stats["pids_limit"]) == (5, 5)
    manager.kill()
    assert forker.wait() == -9
    assert manager.pids() == []


def test_cpu_quota_throttles(cgroup):
    needs("cpu", "cpuacct")
    manager = cgroup(limits(cpus="0.5"))
    cpu_dir = manager.paths()["cpu"]
    assert read(os.path.join(cpu_dir, "cpu.cfs_quota_us")) == "50000"
    assert read(os.path.join(cpu_dir, "cpu.cfs_period_us")) == "100000"
    spinner = cgroup.probe(manager, "spin")
    assert spinner.line() == "spinning"
    # wait until a period has run out of quota (or the patience bound fails it)
    from cgroups_helpers import PATIENCE
    from minicontainer.cgroups.base import wait_until
    wait_until(lambda: manager.stats()["cpu_throttled_periods"], PATIENCE, "throttling")
    stats = manager.stats()
    assert stats["cpu_throttled_ns"] > 0 and stats["cpu_usage_ns"] > 0
    assert stats["cpu_periods"] >= stats["cpu_throttled_periods"]


def test_freeze_and_thaw(cgroup):
    needs("freezer")
    manager = cgroup()
    echo = cgroup.probe(manager, "echo")
    echo.send(b"a")
    assert echo.read() == b"a"
    manager.freeze()
    assert read(os.path.join(manager.paths()["freezer"], "freezer.state")) == "FROZEN"
    echo.send(b"b")
    assert not echo.ready(0.3)          # a frozen process cannot answer
    manager.thaw()
    assert echo.read() == b"b"


def test_kill_takes_every_process(cgroup):
    manager = cgroup(limits(pids_limit="50") if "pids" in host_layout().v1 else None)
    forker = cgroup.probe(manager, "forks", 3)
    assert forker.line() == "made 3"
    assert len(manager.pids()) == 4
    manager.kill()
    assert forker.wait() == -9
    assert manager.pids() == []


def test_update_changes_limits_live(cgroup):
    needs("memory", "pids", "cpu")
    current = limits(memory="32m", pids_limit="10", cpu_shares="512")
    manager = cgroup(current)
    cgroup.probe(manager, "echo")
    changed = units.merge_resources(current, units.parse_resources(
        {"memory": "48m", "memory_swap": "96m", "pids_limit": "20"}, update=True))
    manager.apply(changed)
    paths = manager.paths()
    assert read(os.path.join(paths["memory"], "memory.limit_in_bytes")) == str(48 << 20)
    assert read(os.path.join(paths["memory"], "memory.memsw.limit_in_bytes")) == str(96 << 20) \
        or "memory.memsw.limit_in_bytes" not in os.listdir(paths["memory"])
    assert read(os.path.join(paths["pids"], "pids.max")) == "20"
    assert read(os.path.join(paths["cpu"], "cpu.shares")) == "512"


def test_cpuset_is_inherited_then_narrowed(cgroup):
    needs("cpuset")
    manager = cgroup(limits(cpuset_cpus="0", cpuset_mems="0"))
    echo = cgroup.probe(manager, "echo")        # joining works: the cpuset is not empty
    assert read(os.path.join(manager.paths()["cpuset"], "cpuset.cpus")) == "0"
    assert os.sched_getaffinity(echo.pid) == {0}


def test_destroy_from_record_leaves_nothing(cgroup):
    manager = cgroup(limits(pids_limit="5") if "pids" in host_layout().v1 else None,
                     parent=f"mctest-{os.getpid()}-parent/inner")
    echo = cgroup.probe(manager, "echo")
    record = manager.record()
    again = from_record(record)
    again.kill()
    assert echo.wait() == -9
    again.destroy()
    again.destroy()                      # idempotent: ENOENT is success
    assert not again.exists()
    assert record["created"] and leftovers(record) == []
