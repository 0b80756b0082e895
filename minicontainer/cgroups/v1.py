"""cgroup v1: one directory per controller hierarchy (legacy and hybrid hosts).

Docker's mapping of its flags onto the v1 files:

  --memory               memory.limit_in_bytes
  --memory-swap          memory.memsw.limit_in_bytes (memory + swap)
  --memory-reservation   memory.soft_limit_in_bytes
  --cpus                 cpu.cfs_quota_us / cpu.cfs_period_us
  --cpu-quota/-period    the same two files
  --cpu-shares           cpu.shares
  --cpuset-cpus/-mems    cpuset.cpus / cpuset.mems
  --pids-limit           pids.max
  --blkio-weight         blkio.weight (or blkio.bfq.weight)
  --device-*-bps         blkio.throttle.read_bps_device / write_bps_device
  (not --privileged)     devices.deny "a", devices.allow the default list
"""

import os
import _signal  # not "signal": it imports enum, a few ms on every start

from ..errors import SetupError
from ..linux import cgroupfs, syscalls
from ..units import DEFAULT_CPU_PERIOD, human_bytes
from .base import (FREEZE_WAIT_SECONDS, CgroupManager, bytes_or_none, device_numbers,
                   wait_until)


class V1Manager(CgroupManager):
    version = 1

    def __init__(self, dirs, bases=None, created=(), resources=None, privileged=False):
        super().__init__(dirs, created, resources, privileged)
        self._bases = dict(bases or {})   # controller → our own cgroup's directory

    def _dir(self, controller):
        return self._dirs.get(controller)

    def _file(self, controller, name):
        directory = self._dirs.get(controller)
        return os.path.join(directory, name) if directory else None

    # -- create / join ------------------------------------------------------------

    def _check_controllers(self, needed):
        flags = {"memory": "--memory", "cpu": "CPU limits", "cpuset": "--cpuset-cpus/-mems",
                 "pids": "--pids-limit", "io": "--blkio-weight/--device-*-bps"}
        for name in sorted(needed):
            if name != "cpu":       # Docker only warns when CPU limits cannot be applied
                self._need("blkio" if name == "io" else name, flags[name])

    def _create(self):
        done = set()
        for controller, leaf in self._dirs.items():
            if leaf in done:
                continue
            done.add(leaf)
            copy_cpuset = controller == "cpuset" or self._dirs.get("cpuset") == leaf
            self._make_tree(leaf, self._bases[controller],
                            self._init_cpuset if copy_cpuset else _nothing)

    def _restrict_devices(self):
        directory = self._dir("devices")
        if directory is None:
            self.warn("no devices cgroup controller is mounted: the container may open any "
                      "device node it can create")
            return
        from .devices import apply_rules_v1, restrict_v1
        rules = self.device_rules()
        if rules is None:
            restrict_v1(directory)
        else:
            apply_rules_v1(directory, rules)

    def _init_cpuset(self, path, existed):
        # A new v1 cpuset starts with empty cpus and mems, and the kernel refuses
        # to put a task in it (ENOSPC) until both are set: copy the parent's.
        for name in ("cpuset.cpus", "cpuset.mems"):
            target = os.path.join(path, name)
            if existed and cgroupfs.read(target).strip():
                continue
            value = _inherited(os.path.dirname(path), name)
            self._write(target, value, f"give the new cpuset its parent's {name[7:]} "
                                       "(v1 cpusets start empty and accept no task)")

    def self_join_files(self):
        # A thread moving itself through ``tasks`` is the one migration for which
        # the kernel skips its global threadgroup lock, whose write side waits
        # for an RCU grace period (10-15 ms here, against about 1 ms).  The
        # container's first process is single-threaded: the thread is the process.
        return tuple((os.path.join(leaf, "tasks"),
                      ",".join(c for c, d in self._dirs.items() if d == leaf))
                     for leaf in self.unique_dirs())

    def add_pid(self, pid):
        for leaf in self.unique_dirs():
            names = ",".join(c for c, d in self._dirs.items() if d == leaf)
            self._write(os.path.join(leaf, "cgroup.procs"), pid,
                        f"move process {pid} into the container's {names} cgroup")

    # -- limits -------------------------------------------------------------------

    def apply(self, resources):
        self.resources = resources
        r = resources
        self._apply_memory(r)
        if self._dir("cpu"):
            if r.cpu_shares:
                self._write(self._file("cpu", "cpu.shares"), r.cpu_shares,
                            f"give the container {r.cpu_shares} CPU shares (1024 = normal)")
            if r.cpus:
                period = r.cpu_period or DEFAULT_CPU_PERIOD
                quota = round(r.cpus * period)
                self._write(self._file("cpu", "cpu.cfs_period_us"), period,
                            f"measure CPU time in periods of {period} microseconds")
                self._write(self._file("cpu", "cpu.cfs_quota_us"), quota,
                            f"let the container use {r.cpus:g} CPUs ({quota} us per period)")
            else:
                if r.cpu_period:
                    self._write(self._file("cpu", "cpu.cfs_period_us"), r.cpu_period,
                                f"measure CPU time in periods of {r.cpu_period} microseconds")
                if r.cpu_quota:
                    self._write(self._file("cpu", "cpu.cfs_quota_us"), r.cpu_quota,
                                "lift the CPU quota" if r.cpu_quota < 0 else
                                f"let the container run {r.cpu_quota} us per period")
        elif r.cpus or r.cpu_shares or r.cpu_quota or r.cpu_period:
            self.warn("no cpu controller is mounted: CPU limits discarded")
        if r.cpuset_cpus is not None or r.cpuset_mems is not None:
            self._need("cpuset", "--cpuset-cpus/--cpuset-mems")
            if r.cpuset_cpus is not None:
                self._write(self._file("cpuset", "cpuset.cpus"), r.cpuset_cpus,
                            f"run the container only on CPUs {r.cpuset_cpus}")
            if r.cpuset_mems is not None:
                self._write(self._file("cpuset", "cpuset.mems"), r.cpuset_mems,
                            f"allocate memory only from nodes {r.cpuset_mems}")
        if r.pids_limit:
            self._need("pids", "--pids-limit")
            limit = "max" if r.pids_limit < 0 else r.pids_limit
            self._write(self._file("pids", "pids.max"), limit,
                        "lift the process count limit" if limit == "max" else
                        f"allow at most {limit} processes in the container")
        self._apply_blkio(r)

    def _need(self, controller, flag):
        if not self._dir(controller):
            raise SetupError(f"{flag} needs the {controller} cgroup controller, which is not "
                             "mounted on this host", op="apply limits")

    def _apply_memory(self, r):
        if not (r.memory or r.memory_swap or r.memory_reservation):
            return
        self._need("memory", "--memory")
        limit_file = self._file("memory", "memory.limit_in_bytes")
        swap_file = self._file("memory", "memory.memsw.limit_in_bytes")
        steps = []
        if r.memory:
            steps.append((limit_file, r.memory,
                          f"cap the container's memory at {human_bytes(r.memory)}"))
        if r.memory_swap:
            if not os.path.exists(swap_file):
                self.warn("your kernel does not support swap limit capabilities or the cgroup "
                          "is not mounted; memory limited without swap")
            else:
                why = ("let the container use unlimited swap" if r.memory_swap < 0 else
                       f"cap the container's memory plus swap at {human_bytes(r.memory_swap)}")
                swap_step = (swap_file, r.memory_swap, why)
                # memsw may never be below the memory limit: raising both means
                # the swap limit goes first, lowering both means it goes last.
                current = cgroupfs.read_int(limit_file) or 0
                if r.memory_swap < 0 or r.memory_swap > current:
                    steps.insert(0, swap_step)
                else:
                    steps.append(swap_step)
        for path, value, why in steps:
            self._write(path, value, why)
        if r.memory_reservation:
            self._write(self._file("memory", "memory.soft_limit_in_bytes"), r.memory_reservation,
                        "reclaim the container's memory first above "
                        f"{human_bytes(r.memory_reservation)} when the host runs short")

    def _apply_blkio(self, r):
        if not (r.blkio_weight or r.device_read_bps or r.device_write_bps):
            return
        self._need("blkio", "--blkio-weight/--device-*-bps")
        if r.blkio_weight:
            for name in ("blkio.weight", "blkio.bfq.weight"):
                path = self._file("blkio", name)
                if os.path.exists(path):
                    self._write(path, r.blkio_weight,
                                f"give the container block I/O weight {r.blkio_weight}")
                    break
            else:
                self.warn("your kernel does not support Block I/O weight or the cgroup is not "
                          "mounted; weight discarded")
        for attr, name, verb in (("device_read_bps", "blkio.throttle.read_bps_device", "read"),
                                 ("device_write_bps", "blkio.throttle.write_bps_device", "write")):
            for device, rate in getattr(r, attr):
                numbers = device_numbers(device)
                self._write(self._file("blkio", name), f"{numbers} {rate}",
                            f"let the container {verb} at most {human_bytes(rate)}/s "
                            f"from {device}")

    # -- reading ------------------------------------------------------------------

    def stats(self):
        mem = lambda name: cgroupfs.read_int(self._file("memory", name)) \
            if self._dir("memory") else None                         # noqa: E731
        cpu_stat = cgroupfs.read_keyed(self._file("cpu", "cpu.stat")) if self._dir("cpu") else {}
        oom = self._oom_control()
        usage = (cgroupfs.read_int(self._file("cpuacct", "cpuacct.usage"))
                 if self._dir("cpuacct") else None)
        pids_limit = cgroupfs.read_int(self._file("pids", "pids.max")) if self._dir("pids") \
            else None
        return {
            "memory_current": mem("memory.usage_in_bytes"),
            "memory_limit": bytes_or_none(mem("memory.limit_in_bytes")),
            "memory_peak": mem("memory.max_usage_in_bytes"),
            "memory_failcnt": mem("memory.failcnt"),
            "cpu_usage_ns": usage,
            "cpu_periods": cpu_stat.get("nr_periods"),
            "cpu_throttled_periods": cpu_stat.get("nr_throttled"),
            "cpu_throttled_ns": cpu_stat.get("throttled_time"),
            "pids_current": (cgroupfs.read_int(self._file("pids", "pids.current"))
                             if self._dir("pids") else None),
            "pids_limit": pids_limit,
            "oom_kills": oom.get("oom_kill"),
        }

    def _oom_control(self):
        if not self._dir("memory"):
            return {}
        return cgroupfs.read_keyed(self._file("memory", "memory.oom_control"))

    def oom_killed(self):
        if not self._dir("memory"):
            return False
        oom = self._oom_control()
        if "oom_kill" in oom:          # kernels >= 4.13 count the kills
            return oom["oom_kill"] > 0
        # Older kernels do not count kills: having hit the limit is the best
        # sign left afterwards (the caller also sees the SIGKILL exit status).
        return (cgroupfs.read_int(self._file("memory", "memory.failcnt")) or 0) > 0

    # -- freezing and killing -----------------------------------------------------

    def freeze(self):
        state = self._file("freezer", "freezer.state")
        if not state:
            raise SetupError("no freezer cgroup controller is mounted", op="freeze")

        def frozen():
            # v1 may stay in FREEZING while a task is busy: ask again until done
            if cgroupfs.read(state).strip() == "FROZEN":
                return True
            cgroupfs.write(state, "FROZEN", "freeze every process in the container")
            return False
        self._write(state, "FROZEN", "freeze every process in the container")
        wait_until(frozen, FREEZE_WAIT_SECONDS, "the container's processes to freeze")

    def thaw(self):
        state = self._file("freezer", "freezer.state")
        if state:
            self._write(state, "THAWED", "let the container's processes run again")

    def kill(self):
        """v1 has no cgroup.kill: freeze, SIGKILL every pid, thaw, until empty.

        Freezing first means no process can fork a new one, or exit and have
        its pid reused, between reading the list and signalling it.
        """
        for _ in range(100):
            pids = self.pids()
            if not pids:
                return
            if self._dir("freezer"):
                self.freeze()
            for pid in self.pids():
                try:
                    syscalls.kill(pid, _signal.SIGKILL,
                                  why="kill a process of the container (v1 has no cgroup.kill)")
                except ProcessLookupError:
                    pass
            self.thaw()
            wait_until(lambda: not self.pids(), FREEZE_WAIT_SECONDS,
                       "the container's processes to die")


def _inherited(directory, name):
    """A cpuset value, from the nearest ancestor that has one set."""
    while True:
        value = cgroupfs.read(os.path.join(directory, name)).strip()
        parent = os.path.dirname(directory)
        if value or parent == directory or not os.path.exists(os.path.join(parent, name)):
            return value
        directory = parent


def _nothing(path, existed):
    return None
