"""The v1 and v2 backends against a pretend cgroupfs in tmp_path.

A small fake stands in for the kernel: mkdir fills a new group with the
controllers' files, writes to a few files behave as the kernel's do (procs,
subtree_control, freeze, kill), rmdir removes the group.  Every write is
recorded, so the tests check which file got which value and why.
"""

import os
import shutil

import pytest

from minicontainer import units
from minicontainer.cgroups import create_manager, from_record
from minicontainer.cgroups.detect import HYBRID, LEGACY, UNIFIED, Layout, layout_from
from minicontainer.cgroups.v2 import blkio_to_io_weight, shares_to_weight
from minicontainer.errors import SetupError, SpecError
from minicontainer.linux import cgroupfs

V1_FILES = {
    "memory": {"memory.limit_in_bytes": "9223372036854771712",
               "memory.memsw.limit_in_bytes": "9223372036854771712",
               "memory.soft_limit_in_bytes": "9223372036854771712",
               "memory.usage_in_bytes": "1048576", "memory.max_usage_in_bytes": "2097152",
               "memory.failcnt": "0",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"},
    "cpu": {"cpu.shares": "1024", "cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000",
            "cpu.stat": "nr_periods 10\nnr_throttled 4\nthrottled_time 5000\n"},
    "cpuacct": {"cpuacct.usage": "123456"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "blkio": {"blkio.weight": "500", "blkio.throttle.read_bps_device": "",
              "blkio.throttle.write_bps_device": ""},
    "freezer": {"freezer.state": "THAWED"},
}
V2_FILES = {
    "cgroup.controllers": "cpuset cpu io memory pids", "cgroup.subtree_control": "",
    "cgroup.procs": "",
    "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.freeze": "0", "cgroup.kill": "",
    "memory.max": "max", "memory.swap.max": "max", "memory.low": "0",
    "memory.current": "4096", "memory.peak": "8192",
    "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
    "cpu.max": "max 100000", "cpu.weight": "100",
    "cpu.stat": "usage_usec 7\nuser_usec 5\nsystem_usec 2\nnr_periods 9\nnr_throttled 3\n"
                "throttled_usec 11\n",
    "cpuset.cpus": "", "cpuset.mems": "", "pids.max": "max", "pids.current": "1",
    "io.weight": "default 100", "io.max": "",
}


class FakeKernel:
    """Patches the cgroupfs seam; ``writes`` lists (file name, value, why)."""

    def __init__(self, monkeypatch, root):
        self.root = root
        self.writes = []
        monkeypatch.setattr(cgroupfs, "make_dir", self.make_dir)
        monkeypatch.setattr(cgroupfs, "write", self.write)
        monkeypatch.setattr(cgroupfs, "remove_dir", self.remove_dir)
        # the v2 device filter is a bpf(2) call, not a file write: record it
        from minicontainer.cgroups import devices
        monkeypatch.setattr(devices, "restrict_v2", lambda path: self.writes.append(
            ("bpf device filter", path, "attach the device filter")))

    def files_for(self, path):
        rel = os.path.relpath(path, self.root).split(os.sep)
        if rel[0] == "v2":
            return V2_FILES
        return {"cgroup.procs": "", "cpuset.cpus": "", **V1_FILES[rel[1]]}

    def populate(self, path):
        # a new group starts with the kernel's defaults (empty v1 cpusets too)
        for name, text in self.files_for(path).items():
            with open(os.path.join(path, name), "w") as f:
                f.write(text)

    def make_dir(self, path, why):
        os.mkdir(path)
        self.populate(path)

    def write(self, path, value, why):
        name = os.path.basename(path)
        value = str(value)
        self.writes.append((name, value, why))
        if not os.path.exists(path):
            raise FileNotFoundError(2, "No such file or directory", path)
        mode = "w"
        if name == "cgroup.procs":
            mode, value = "a", value + "\n"
        elif name == "cgroup.subtree_control":
            with open(path) as f:
                value = " ".join(f.read().split() + [value.lstrip("+")])
        elif name == "cgroup.freeze":
            with open(os.path.join(os.path.dirname(path), "cgroup.events"), "w") as f:
                f.write(f"populated 0\nfrozen {value}\n")
        with open(path, mode) as f:
            f.write(value)

    def remove_dir(self, path, why, attempts=60):
        if not os.path.isdir(path):
            return "absent"
        if any(os.path.isdir(os.path.join(path, n)) for n in os.listdir(path)):
            raise OSError(16, "Device or resource busy", path)
        for name in os.listdir(path):
            os.unlink(os.path.join(path, name))
        os.rmdir(path)
        return 0

    def written(self, name):
        return [value for file, value, _ in self.writes if file == name]


@pytest.fixture
def v1(tmp_path, monkeypatch):
    kernel = FakeKernel(monkeypatch, str(tmp_path))
    bases = {}
    for controller in V1_FILES:
        base = tmp_path / "v1" / controller / "ours"
        base.mkdir(parents=True)
        kernel.populate(str(base))
        bases[controller] = str(base)
    (tmp_path / "v1" / "cpuset" / "ours" / "cpuset.cpus").write_text("0-1\n")
    (tmp_path / "v1" / "cpuset" / "ours" / "cpuset.mems").write_text("0\n")
    kernel.layout = Layout(HYBRID, v1=bases, v2=str(tmp_path / "unified"))
    return kernel


@pytest.fixture
def v2(tmp_path, monkeypatch):
    kernel = FakeKernel(monkeypatch, str(tmp_path))
    base = tmp_path / "v2" / "ours"
    base.mkdir(parents=True)
    kernel.populate(str(base))
    kernel.layout = Layout(UNIFIED, v2=str(base))
    return kernel


def fake_numbers(monkeypatch, backend):
    for module in ("base", backend):
        monkeypatch.setattr(f"minicontainer.cgroups.{module}.device_numbers", lambda path: "8:0")


def resources(**options):
    return units.parse_resources(options, cpus_available=(0, 1), mems_available=(0,))


# -- detection ---------------------------------------------------------------------

HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_detect_hybrid_with_comounted_controllers():
    layout = layout_from(HYBRID_MOUNTINFO,
                         "4:memory:/sess/a\n2:cpu,cpuacct:/\n8:pids:/x\n1:name=systemd:/\n0::/u\n")
    assert layout.mode == HYBRID
    assert layout.v1 == {"cpu": "/sys/fs/cgroup/cpu,cpuacct",
                         "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                         "memory": "/sys/fs/cgroup/memory/sess/a",
                         "pids": "/sys/fs/cgroup/pids/x"}
    assert layout.v2 == "/sys/fs/cgroup/unified/u"


def test_detect_legacy_and_unified():
    legacy = "\n".join(HYBRID_MOUNTINFO.splitlines()[:4])
    assert layout_from(legacy, "4:memory:/\n2:cpu,cpuacct:/\n8:pids:/\n").mode == LEGACY
    unified = "29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
    layout = layout_from(unified, "0::/user.slice/session-1.scope\n")
    assert layout.mode == UNIFIED and not layout.v1
    assert layout.v2 == "/sys/fs/cgroup/user.slice/session-1.scope"


def test_detect_after_stepping_aside():
    unified = "29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
    layout = layout_from(unified, "0::/system.slice/run-1.scope/minicontainer-runtime\n")
    assert layout.v2 == "/sys/fs/cgroup/system.slice/run-1.scope"


def test_detect_inside_a_cgroup_namespace_mount():
    # a container's view: the mount's root is its own cgroup
    mountinfo = "29 23 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    assert layout_from(mountinfo, "0::/docker/abc/inner\n").v2 == "/sys/fs/cgroup/inner"
    # our cgroup not visible through that mount: no usable hierarchy
    assert layout_from(mountinfo, "0::/elsewhere\n").v2 is None


def test_detect_this_host():
    from minicontainer.cgroups import host_layout
    layout = host_layout()
    assert layout.mode in (UNIFIED, HYBRID, LEGACY)
    assert layout is host_layout()           # read once


# -- naming --------------------------------------------------------------------------

def test_no_side_effects_until_create(v1):
    manager = create_manager("mctest-a", resources(memory="64m"), layout=v1.layout)
    assert not v1.writes and not manager.exists()


@pytest.mark.parametrize("parent", ["..", "a/../..", "./x"])
def test_cgroup_parent_may_not_climb(v1, parent):
    with pytest.raises(SpecError, match="beneath"):
        create_manager("mctest-a", None, parent=parent, layout=v1.layout)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_container_id_is_one_component(v1, name):
    with pytest.raises(SpecError):
        create_manager(name, None, layout=v1.layout)


# -- v1 ------------------------------------------------------------------------------

def test_v1_create_apply_and_join(v1):
    r = resources(memory="512m", memory_reservation="256m", cpus="1.5", cpu_shares="512",
                  cpuset_cpus="1", pids_limit="20", blkio_weight="300")
    manager = create_manager("mctest-a", r, layout=v1.layout)
    manager.create()
    paths = manager.paths()
    assert paths["memory"] == os.path.join(v1.layout.v1["memory"], "mctest-a")
    assert set(paths) == set(V1_FILES)
    # the new cpuset got its parent's CPUs and nodes before the limit narrowed it
    assert v1.written("cpuset.cpus") == ["0-1", "1"]
    assert v1.written("cpuset.mems") == ["0"]
    assert v1.written("memory.limit_in_bytes") == [str(512 << 20)]
    assert v1.written("memory.memsw.limit_in_bytes") == [str(1 << 30)]
    assert v1.written("memory.soft_limit_in_bytes") == [str(256 << 20)]
    assert v1.written("cpu.cfs_period_us") == ["100000"]
    assert v1.written("cpu.cfs_quota_us") == ["150000"]
    assert v1.written("cpu.shares") == ["512"]
    assert v1.written("pids.max") == ["20"]
    assert v1.written("blkio.weight") == ["300"]
    why = dict((f, w) for f, _, w in v1.writes)
    assert why["memory.limit_in_bytes"] == "cap the container's memory at 512 MiB"
    manager.add_pid(4242)
    assert v1.written("cgroup.procs") == ["4242"] * len(V1_FILES)


def test_v1_swap_goes_first_when_limits_rise(v1):
    manager = create_manager("mctest-a", resources(memory="64m"), layout=v1.layout)
    manager.create()
    order = [f for f, _, _ in v1.writes if f.startswith("memory.")]
    assert order == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    v1.writes.clear()
    manager.apply(resources(memory="256m", memory_swap="512m"))
    order = [f for f, _, _ in v1.writes if f.startswith("memory.")]
    assert order == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    v1.writes.clear()
    manager.apply(units.parse_resources({"memory_swap": "-1"}, update=True))
    assert v1.written("memory.memsw.limit_in_bytes") == ["-1"]


def test_v1_without_swap_accounting_warns(v1):
    for controller in ("memory",):
        os.unlink(os.path.join(v1.layout.v1[controller], "memory.memsw.limit_in_bytes"))
    V1_FILES["memory"].pop("memory.memsw.limit_in_bytes")
    try:
        manager = create_manager("mctest-a", resources(memory="64m"), layout=v1.layout)
        manager.create()
    finally:
        V1_FILES["memory"]["memory.memsw.limit_in_bytes"] = "9223372036854771712"
    assert any("swap" in w for w in manager.warnings)
    assert v1.written("memory.limit_in_bytes") == [str(64 << 20)]


def test_v1_unlimited_values(v1):
    manager = create_manager("mctest-a", resources(pids_limit="0", cpu_quota="-1"),
                             layout=v1.layout)
    manager.create()
    assert v1.written("pids.max") == ["max"]
    assert v1.written("cpu.cfs_quota_us") == ["-1"]


def test_v1_device_rates_use_device_numbers(v1, monkeypatch):
    fake_numbers(monkeypatch, "v1")
    manager = create_manager("mctest-a", resources(device_read_bps="/dev/sda:1mb",
                                                   device_write_bps="/dev/sda:2mb"),
                             layout=v1.layout)
    manager.create()
    assert v1.written("blkio.throttle.read_bps_device") == ["8:0 1048576"]
    assert v1.written("blkio.throttle.write_bps_device") == ["8:0 2097152"]


def test_v1_device_must_be_a_block_device(v1):
    manager = create_manager("mctest-a", resources(device_read_bps="/dev/null:1mb"),
                             layout=v1.layout)
    with pytest.raises(SpecError, match="not a block device"):
        manager.create()
    assert not v1.writes and not manager.exists()      # refused before anything was made


def test_v1_missing_controller_is_refused_before_mkdir(v1):
    layout = Layout(HYBRID, v1={k: v for k, v in v1.layout.v1.items() if k != "pids"})
    manager = create_manager("mctest-a", resources(pids_limit="5"), layout=layout)
    with pytest.raises(SetupError, match="pids"):
        manager.create()
    assert not v1.writes and not manager.exists()


def test_failed_create_removes_what_it_made(v1, monkeypatch):
    manager = create_manager("mctest-a", resources(memory="64m"), layout=v1.layout)
    real_write = v1.write

    def failing(path, value, why):
        if path.endswith("memory.limit_in_bytes"):
            raise OSError(22, "Invalid argument", path)
        real_write(path, value, why)
    monkeypatch.setattr(cgroupfs, "write", failing)
    with pytest.raises(SetupError, match="Invalid argument"):
        manager.create()
    assert not manager.exists()


def test_v1_stats_and_oom(v1):
    manager = create_manager("mctest-a", resources(memory="64m"), layout=v1.layout)
    manager.create()
    stats = manager.stats()
    assert stats["memory_limit"] == 64 << 20 and stats["memory_current"] == 1048576
    assert stats["memory_peak"] == 2097152 and stats["cpu_usage_ns"] == 123456
    assert (stats["cpu_periods"], stats["cpu_throttled_periods"]) == (10, 4)
    assert stats["pids_limit"] is None and stats["oom_kills"] == 0
    assert manager.oom_killed() is False
    oom = os.path.join(manager.paths()["memory"], "memory.oom_control")
    with open(oom, "w") as f:
        f.write("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert manager.oom_killed() is True


def test_v1_freeze_thaw_and_destroy_from_record(v1):
    manager = create_manager("mctest-a", None, parent="mctest-parent/inner", layout=v1.layout)
    manager.create()
    manager.freeze()
    manager.thaw()
    assert v1.written("freezer.state") == ["FROZEN", "THAWED"]
    record = manager.record()
    assert record["version"] == 1 and len(record["created"]) == 2 * len(V1_FILES)
    again = from_record(record)
    again.destroy()
    again.destroy()                                  # idempotent
    for base in v1.layout.v1.values():
        assert os.listdir(base) and not os.path.exists(os.path.join(base, "mctest-parent"))


def test_v1_existing_leaf_is_an_error_and_left_alone(v1):
    first = create_manager("mctest-a", None, layout=v1.layout)
    first.create()
    # memory (made first) is new this time, the clash comes in the cpu hierarchy:
    # the failed create removes its new memory dir and leaves the others alone
    shutil.rmtree(first.paths()["memory"])
    second = create_manager("mctest-a", None, layout=v1.layout)
    with pytest.raises(SetupError, match="already exists"):
        second.create()
    assert not os.path.exists(first.paths()["memory"])    # what the failed create made
    assert all(os.path.isdir(p) for c, p in first.paths().items() if c != "memory")


# -- v2 ------------------------------------------------------------------------------

def test_v2_conversions_match_runc():
    assert shares_to_weight(2) == 1 and shares_to_weight(262144) == 10000
    assert shares_to_weight(1024) == 39
    assert blkio_to_io_weight(10) == 1 and blkio_to_io_weight(1000) == 10000
    assert blkio_to_io_weight(500) == 4950


def test_v2_create_apply_and_join(v2, monkeypatch):
    fake_numbers(monkeypatch, "v2")
    r = resources(memory="512m", memory_swap="768m", memory_reservation="128m", cpus="0.5",
                  cpu_shares="1024", cpuset_cpus="0", cpuset_mems="0", pids_limit="5",
                  blkio_weight="500", device_read_bps="/dev/sda:1mb",
                  device_write_bps="/dev/sda:2mb")
    manager = create_manager("mctest-a", r, layout=v2.layout)
    manager.create()
    assert manager.paths() == {"unified": os.path.join(v2.layout.v2, "mctest-a")}
    assert v2.written("cgroup.subtree_control") == ["+cpu", "+cpuset", "+io", "+memory",
                                                    "+pids"]
    assert v2.written("memory.max") == [str(512 << 20)]
    assert v2.written("memory.swap.max") == [str(256 << 20)]
    assert v2.written("memory.low") == [str(128 << 20)]
    assert v2.written("cpu.max") == ["50000 100000"]
    assert v2.written("cpu.weight") == ["39"]
    assert v2.written("cpuset.cpus") == ["0"] and v2.written("cpuset.mems") == ["0"]
    assert v2.written("pids.max") == ["5"]
    assert v2.written("io.weight") == ["default 4950"]
    assert v2.written("io.max") == ["8:0 rbps=1048576 wbps=2097152"]
    manager.add_pid(77)
    assert v2.written("cgroup.procs") == ["77"]


def test_v2_quota_period_and_unlimited(v2):
    manager = create_manager("mctest-a", resources(cpu_quota="20000", cpu_period="50000",
                                                   pids_limit="-1"), layout=v2.layout)
    manager.create()
    assert v2.written("cpu.max") == ["20000 50000"]
    assert v2.written("pids.max") == ["max"]
    manager.apply(units.parse_resources({"cpu_quota": "-1", "memory_swap": "-1"}, update=True))
    assert v2.written("cpu.max")[-1] == "max"
    assert v2.written("memory.swap.max") == ["max"]


def test_v2_missing_controller_is_a_clear_error(v2):
    with open(os.path.join(v2.layout.v2, "cgroup.controllers"), "w") as f:
        f.write("cpu pids")
    manager = create_manager("mctest-a", resources(memory="64m"), layout=v2.layout)
    with pytest.raises(SetupError, match="memory cgroup controller"):
        manager.create()


def test_v2_parents_get_controllers_too(v2):
    manager = create_manager("mctest-a", resources(pids_limit="9"), parent="mctest-p",
                             layout=v2.layout)
    manager.create()
    parent = os.path.join(v2.layout.v2, "mctest-p")
    with open(os.path.join(parent, "cgroup.subtree_control")) as f:
        assert "pids" in f.read().split()
    manager.kill()
    manager.destroy()
    assert not os.path.exists(parent)


def test_v2_stats_oom_freeze_kill(v2):
    manager = create_manager("mctest-a", resources(memory="64m"), layout=v2.layout)
    manager.create()
    stats = manager.stats()
    assert stats["memory_limit"] == 64 << 20 and stats["memory_peak"] == 8192
    assert stats["cpu_usage_ns"] == 7000 and stats["cpu_throttled_ns"] == 11000
    assert stats["cpu_throttled_periods"] == 3 and stats["pids_current"] == 1
    assert stats["pids_limit"] is None and stats["oom_kills"] == 1
    assert manager.oom_killed() is True
    manager.freeze()
    manager.thaw()
    assert v2.written("cgroup.freeze") == ["1", "0"]
    manager.kill()
    assert v2.written("cgroup.kill") == ["1"]
    fd = manager.open_fd()
    os.close(fd)
    manager.destroy()
    assert not manager.exists()
    manager.destroy()


def _own_group_holds(v2, pids):
    base = v2.layout.v2
    with open(os.path.join(base, "cgroup.type"), "w") as f:
        f.write("domain\n")                          # not the root
    with open(os.path.join(base, "cgroup.procs"), "w") as f:
        f.write("".join(f"{pid}\n" for pid in pids))


def test_v2_alone_in_our_cgroup_we_step_aside(v2):
    _own_group_holds(v2, [os.getpid()])
    manager = create_manager("mctest-a", resources(memory="64m"), layout=v2.layout)
    manager.create()
    leaf = os.path.join(v2.layout.v2, "minicontainer-runtime")
    with open(os.path.join(leaf, "cgroup.procs")) as f:
        assert f.read().split() == [str(os.getpid())]
    first = [f for f, _, _ in v2.writes].index("cgroup.subtree_control")
    assert v2.writes[first - 1][0] == "cgroup.procs"       # moved before enabling
    assert v2.written("memory.max") == [str(64 << 20)]


def test_v2_sharing_our_cgroup_is_refused_untouched(v2):
    _own_group_holds(v2, [os.getpid(), 1])
    manager = create_manager("mctest-a", resources(memory="64m"), layout=v2.layout)
    with pytest.raises(SetupError, match="holds other processes"):
        manager.create()
    assert not v2.writes and not manager.exists()
    # without limits there is nothing to refuse: the group is made, nothing enabled
    manager = create_manager("mctest-b", None, layout=v2.layout)
    manager.create()
    assert v2.written("cgroup.subtree_control") == []
    manager.destroy()
