"""cgroup v2 (the unified hierarchy) with real processes, beneath our own cgroup.

This machine's controllers are on v1, so these run in the cgroup-v2 lane:
    scripts/vm-test -- python3 -m pytest -m cgroupv2 tests/integration/test_cgroups_v2.py
"""

import errno
import os

import pytest

from cgroups_helpers import PATIENCE, cgroup, leftovers, read  # noqa: F401 (fixture)
from conftest import has_cgroup2_controllers, needs_root
from minicontainer import units
from minicontainer.cgroups import from_record, host_layout
from minicontainer.cgroups.base import wait_until

pytestmark = [
    pytest.mark.cgroupv2,
    needs_root,
    pytest.mark.skipif(not has_cgroup2_controllers() or host_layout().v1,
                       reason="machine lacks a unified cgroup v2 hierarchy with controllers "
                              "(run it in scripts/vm-test)"),
]


def limits(**options):
    return units.parse_resources(options)


def leaf_file(manager, name):
    return os.path.join(manager.paths()["unified"], name)


def test_beneath_our_own_cgroup(cgroup):
    manager = cgroup()
    assert os.path.dirname(manager.paths()["unified"]) == host_layout().v2


def test_oom_kill_is_detected(cgroup):
    manager = cgroup(limits(memory="16m"))
    assert read(leaf_file(manager, "memory.max")) == str(16 << 20)
    # Docker's default swap: as much as the memory again
    assert read(leaf_file(manager, "memory.swap.max")) == str(16 << 20)
    hog = cgroup.probe(manager, "hog", 64)
    assert hog.wait() == -9
    assert manager.oom_killed()
    stats = manager.stats()
    assert stats["oom_kills"] >= 1
    assert stats["memory_limit"] == 16 << 20
    assert stats["memory_peak"] is None or 0 < stats["memory_peak"] <= 16 << 20


def test_no_oom_under_the_limit(cgroup):
    manager = cgroup(limits(memory="64m"))
    hog = cgroup.probe(manager, "hog", 8)
    assert hog.line() == "survived"
    assert hog.wait() == 0
    assert not manager.oom_killed()


def test_pids_limit_stops_forks(cgroup):
    manager = cgroup(limits(pids_limit="5"))
    assert read(leaf_file(manager, "pids.max")) == "5"
    forker = cgroup.probe(manager, "forks", 10)
    assert forker.line() == f"made 4 then errno {errno.EAGAIN}"
    stats = manager.stats()
    assert (stats["pids_current"], stats["pids_limit"]) == (5, 5)
    manager.kill()
    assert forker.wait() == -9
    assert manager.pids() == []


def test_cpu_quota_throttles(cgroup):
    manager = cgroup(limits(cpus="0.5", cpu_shares="512"))
    assert read(leaf_file(manager, "cpu.max")) == "50000 100000"
    assert read(leaf_file(manager, "cpu.weight")) == "20"
    spinner = cgroup.probe(manager, "spin")
    assert spinner.line() == "spinning"
    wait_until(lambda: manager.stats()["cpu_throttled_periods"], PATIENCE, "throttling")
    stats = manager.stats()
    assert stats["cpu_throttled_ns"] > 0 and stats["cpu_usage_ns"] > 0
    assert stats["cpu_periods"] >= stats["cpu_throttled_periods"]


def test_freeze_and_thaw(cgroup):
    manager = cgroup()
    echo = cgroup.probe(manager, "echo")
    echo.send(b"a")
    assert echo.read() == b"a"
    manager.freeze()
    assert "frozen 1" in read(leaf_file(manager, "cgroup.events")).splitlines()
    echo.send(b"b")
    assert not echo.ready(0.3)          # a frozen process cannot answer
    manager.thaw()
    assert echo.read() == b"b"


def test_kill_takes_every_process(cgroup):
    manager = cgroup(limits(pids_limit="50"))
    forker = cgroup.probe(manager, "forks", 3)
    assert forker.line() == "made 3"
    assert len(manager.pids()) == 4
    manager.kill()
    assert forker.wait() == -9
    assert manager.pids() == []


def test_update_changes_limits_live(cgroup):
    current = limits(memory="32m", pids_limit="10", cpus="1")
    manager = cgroup(current)
    cgroup.probe(manager, "echo")
    changed = units.merge_resources(current, units.parse_resources(
        {"memory": "48m", "memory_swap": "96m", "pids_limit": "20", "cpus": "0.25"},
        update=True))
    manager.apply(changed)
    assert read(leaf_file(manager, "memory.max")) == str(48 << 20)
    assert read(leaf_file(manager, "memory.swap.max")) == str(48 << 20)
    assert read(leaf_file(manager, "pids.max")) == "20"
    assert read(leaf_file(manager, "cpu.max")) == "25000 100000"


def test_cpuset(cgroup):
    manager = cgroup(limits(cpuset_cpus="0", cpuset_mems="0"))
    echo = cgroup.probe(manager, "echo")
    assert read(leaf_file(manager, "cpuset.cpus")) == "0"
    assert os.sched_getaffinity(echo.pid) == {0}


def test_child_born_in_the_cgroup(cgroup):
    """clone3(CLONE_INTO_CGROUP) with open_fd(): the child never runs outside."""
    from minicontainer.linux import syscalls
    manager = cgroup(limits(pids_limit="5"))
    fd = manager.open_fd()
    reader, writer = os.pipe()
    try:
        pid = syscalls.clone(0, cgroup_fd=fd)
        if pid == 0:                    # the child: report where it is, leave at once
            try:
                os.write(writer, open("/proc/self/cgroup", "rb").read())
            finally:
                os._exit(0)
        os.close(writer)
        where = os.read(reader, 4096).decode()
        os.waitpid(pid, 0)
    finally:
        os.close(fd)
        os.close(reader)
    own = host_layout().v2[len("/sys/fs/cgroup"):]
    assert where.strip() == f"0::{own.rstrip('/')}/{os.path.basename(manager.paths()['unified'])}"


def test_destroy_from_record_leaves_nothing(cgroup):
    manager = cgroup(limits(pids_limit="5", memory="32m"),
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


ALONE = r"""
import os, sys
group, name = sys.argv[1], sys.argv[2]
with open(os.path.join(group, "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))                  # a cgroup of its own, like a delegated scope
from minicontainer import units
from minicontainer.cgroups import create_manager
manager = create_manager(name, units.parse_resources({"memory": "32m"}))
manager.create()
try:
    print(open(os.path.join(manager.paths()["unified"], "memory.max")).read().strip())
    print(open("/proc/self/cgroup").read().strip())
finally:
    manager.destroy()
"""


@pytest.fixture
def own_group():
    """A cgroup for a child runtime to live in; removed with whatever is left in it."""
    group = os.path.join(host_layout().v2, f"mctest-{os.getpid()}-alone")
    os.mkdir(group)
    sleepers = []
    yield group, sleepers
    for sleeper in sleepers:
        sleeper.kill()
        sleeper.wait()
    for root, dirs, _files in os.walk(group, topdown=False):
        for name in dirs:
            os.rmdir(os.path.join(root, name))
    os.rmdir(group)


def _runtime_in(group):
    import subprocess
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return subprocess.run([sys.executable, "-c", ALONE, group, f"mctest-{os.getpid()}-c"],
                          cwd=repo, capture_output=True, text=True, timeout=PATIENCE)


def test_runtime_alone_in_its_cgroup_steps_aside(own_group):
    group, _ = own_group
    done = _runtime_in(group)
    assert done.returncode == 0, done.stderr
    limit, where = done.stdout.split()
    assert limit == str(32 << 20)
    assert where.endswith(f"/{os.path.basename(group)}/minicontainer-runtime")
    assert os.listdir(group).count("minicontainer-runtime") == 1


def test_runtime_sharing_its_cgroup_gets_a_clear_error(own_group):
    import subprocess
    group, sleepers = own_group
    sleepers.append(subprocess.Popen(["sleep", "1000"]))
    with open(os.path.join(group, "cgroup.procs"), "w") as f:
        f.write(str(sleepers[0].pid))
    done = _runtime_in(group)
    assert done.returncode != 0
    assert "cannot enable the memory controller(s) here" in done.stderr
    assert "Delegate=yes" in done.stderr
