"""cgroup v2: one unified hierarchy (every current distribution).

Docker's flags on the v2 files (the conversions are the ones runc uses):

  --memory               memory.max
  --memory-swap          memory.swap.max = memory-swap - memory (-1: max)
  --memory-reservation   memory.low
  --cpus, --cpu-quota    cpu.max "QUOTA PERIOD"
  --cpu-shares           cpu.weight = 1 + (shares - 2) * 9999 / 262142
  --cpuset-cpus/-mems    cpuset.cpus / cpuset.mems
  --pids-limit           pids.max
  --blkio-weight         io.bfq.weight, or io.weight = 1 + (w - 10) * 9999 / 990
  --device-*-bps         io.max "MAJ:MIN rbps=N wbps=N"
  (not --privileged)     a BPF device program attached to the cgroup (v2 has no
                         devices controller files)

A controller works in a group only when its parent lists it in
cgroup.subtree_control, so create() enables what the container needs in the
invoking process's own cgroup and in every --cgroup-parent group between.
"""

import errno
import os
import signal

from ..errors import SetupError
from ..linux import cgroupfs, syscalls
from ..units import DEFAULT_CPU_PERIOD, human_bytes
from .base import (FREEZE_WAIT_SECONDS, CgroupManager, device_numbers, needed_controllers,
                   wait_until)
from .detect import RUNTIME_LEAF

CONTROLLERS = ("cpu", "cpuset", "io", "memory", "pids")


def shares_to_weight(shares):
    """cgroup v1 cpu.shares (2..262144) → v2 cpu.weight (1..10000), as runc does."""
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_to_io_weight(weight):
    """Docker's --blkio-weight (10..1000) → v2 io.weight (1..10000), as runc does."""
    return 1 + ((weight - 10) * 9999) // 990


class V2Manager(CgroupManager):
    version = 2

    def __init__(self, dirs, base=None, created=(), resources=None, privileged=False):
        super().__init__(dirs, created, resources, privileged)
        self._base = base

    @property
    def leaf(self):
        return self._dirs["unified"]

    def _file(self, name):
        return os.path.join(self.leaf, name)

    # -- create / join ------------------------------------------------------------

    def _check_controllers(self, needed):
        if self._base is None:
            return          # rebuilt from a record: the cgroup exists already
        path = os.path.join(self._base, "cgroup.controllers")
        try:
            available = set(cgroupfs.read(path).split())
        except OSError as exc:
            raise SetupError(exc.strerror, op="create cgroup", path=path,
                             errno=exc.errno) from None
        missing = needed - available
        if missing:
            raise SetupError(f"the {', '.join(sorted(missing))} cgroup controller(s) are not "
                             f"delegated to {self._base}", op="create cgroup", path=self._base)

    def _create(self):
        need = needed_controllers(self.resources)
        self._enable_controllers(self._base, need, ours=False)
        self._make_tree(self.leaf, self._base,
                        lambda path, existed: path != self.leaf and
                        self._enable_controllers(path, need, ours=True))

    def _restrict_devices(self):
        from .devices import ordered_program, restrict_v2
        rules = self.device_rules()
        if rules is None:
            restrict_v2(self.leaf)
        else:
            restrict_v2(self.leaf, code=ordered_program(rules))

    def _enable_controllers(self, directory, need, ours):
        """Turn on, for ``directory``'s children, every controller we can use.

        All available ones are asked for (stats and OOM detection want memory,
        cpu and pids even without limits); only a failure for a controller a
        limit needs is an error.  In our own cgroup the kernel answers EBUSY
        while it holds processes and is not the root (v2's "no internal
        processes" rule): see _step_aside.
        """
        try:
            available = cgroupfs.read(os.path.join(directory, "cgroup.controllers")).split()
            enabled = cgroupfs.read(os.path.join(directory, "cgroup.subtree_control")).split()
        except OSError as exc:
            raise SetupError(exc.strerror, op="create cgroup", path=directory,
                             errno=exc.errno) from None
        missing = need - set(available)
        if missing:
            raise SetupError(f"the {', '.join(sorted(missing))} cgroup controller(s) are not "
                             f"delegated to {directory}", op="create cgroup", path=directory)
        wanted = [n for n in CONTROLLERS if n in available and n not in enabled]
        if wanted and not ours and _holds_processes(directory) and not _step_aside(directory):
            # Enabling only the threaded controllers (cpu, cpuset, pids) would
            # work but turn the group into a "thread root" for everyone in it.
            if need:
                raise SetupError(
                    f"cannot enable the {', '.join(sorted(need))} controller(s) here: this "
                    "cgroup holds other processes than minicontainer (run it in a cgroup of "
                    "its own, e.g. systemd-run --scope -p Delegate=yes)",
                    op="create cgroup", path=directory, errno=errno.EBUSY)
            return
        for name in wanted:
            try:
                cgroupfs.write(os.path.join(directory, "cgroup.subtree_control"), f"+{name}",
                               f"let the groups below use the {name} controller")
            except OSError as exc:
                if name in need:
                    raise SetupError(f"cannot enable the {name} controller", op="create cgroup",
                                     path=directory, errno=exc.errno) from None

    def add_pid(self, pid):
        self._write(self._file("cgroup.procs"), pid,
                    f"move process {pid} into the container's cgroup")

    def open_fd(self):
        """O_PATH fd of the leaf: clone3(CLONE_INTO_CGROUP) starts the child in it."""
        try:
            return cgroupfs.open_dir(self.leaf, "hold the container's cgroup so the child "
                                                "is born in it (CLONE_INTO_CGROUP)")
        except OSError as exc:
            raise SetupError(exc.strerror, op="open cgroup", path=self.leaf,
                             errno=exc.errno) from None

    # -- limits -------------------------------------------------------------------

    def apply(self, resources):
        self.resources = r = resources
        if r.memory:
            self._write(self._file("memory.max"), r.memory,
                        f"cap the container's memory at {human_bytes(r.memory)}")
        if r.memory_swap:
            self._apply_swap(r)
        if r.memory_reservation:
            self._write(self._file("memory.low"), r.memory_reservation,
                        "protect the container's first "
                        f"{human_bytes(r.memory_reservation)} from reclaim")
        if r.cpu_shares:
            weight = shares_to_weight(r.cpu_shares)
            self._write(self._file("cpu.weight"), weight,
                        f"give the container CPU weight {weight} ({r.cpu_shares} shares)")
        if r.cpus:
            period = r.cpu_period or DEFAULT_CPU_PERIOD
            quota = round(r.cpus * period)
            self._write(self._file("cpu.max"), f"{quota} {period}",
                        f"let the container use {r.cpus:g} CPUs "
                        f"({quota} us every {period} us)")
        elif r.cpu_quota or r.cpu_period:
            quota = "max" if not r.cpu_quota or r.cpu_quota < 0 else str(r.cpu_quota)
            value = f"{quota} {r.cpu_period}" if r.cpu_period else quota
            self._write(self._file("cpu.max"), value,
                        "lift the CPU quota" if quota == "max" else
                        f"let the container run {quota} us per period")
        if r.cpuset_cpus is not None:
            self._write(self._file("cpuset.cpus"), r.cpuset_cpus,
                        f"run the container only on CPUs {r.cpuset_cpus}")
        if r.cpuset_mems is not None:
            self._write(self._file("cpuset.mems"), r.cpuset_mems,
                        f"allocate memory only from nodes {r.cpuset_mems}")
        if r.pids_limit:
            limit = "max" if r.pids_limit < 0 else r.pids_limit
            self._write(self._file("pids.max"), limit,
                        "lift the process count limit" if limit == "max" else
                        f"allow at most {limit} processes in the container")
        self._apply_io(r)

    def _apply_swap(self, r):
        path = self._file("memory.swap.max")
        if not os.path.exists(path):
            self.warn("your kernel does not support swap limit capabilities; "
                      "memory limited without swap")
            return
        if r.memory_swap < 0:
            self._write(path, "max", "let the container use unlimited swap")
            return
        if not r.memory:
            raise SetupError("a swap limit needs a memory limit (--memory)", op="apply limits")
        swap = r.memory_swap - r.memory
        self._write(path, swap, f"allow the container {human_bytes(swap)} of swap "
                                f"(--memory-swap is memory plus swap)")

    def _apply_io(self, r):
        if r.blkio_weight:
            bfq = self._file("io.bfq.weight")
            if os.path.exists(bfq):
                self._write(bfq, r.blkio_weight,
                            f"give the container block I/O weight {r.blkio_weight}")
            elif os.path.exists(self._file("io.weight")):
                weight = blkio_to_io_weight(r.blkio_weight)
                self._write(self._file("io.weight"), f"default {weight}",
                            f"give the container I/O weight {weight} "
                            f"(--blkio-weight {r.blkio_weight})")
            else:
                self.warn("your kernel does not support I/O weight; weight discarded")
        limits = {}
        for attr, key in (("device_read_bps", "rbps"), ("device_write_bps", "wbps")):
            for device, rate in getattr(r, attr):
                limits.setdefault((device_numbers(device), device), []).append(f"{key}={rate}")
        for (numbers, device), parts in limits.items():
            self._write(self._file("io.max"), f"{numbers} {' '.join(parts)}",
                        f"throttle the container's I/O on {device} ({' '.join(parts)} bytes/s)")

    # -- reading ------------------------------------------------------------------

    def stats(self):
        cpu = cgroupfs.read_keyed(self._file("cpu.stat"))
        events = cgroupfs.read_keyed(self._file("memory.events"))

        def ns(key):
            return cpu[key] * 1000 if key in cpu else None
        return {
            "memory_current": cgroupfs.read_int(self._file("memory.current")),
            "memory_limit": cgroupfs.read_int(self._file("memory.max")),
            "memory_peak": cgroupfs.read_int(self._file("memory.peak")),
            "memory_failcnt": events.get("max"),
            "cpu_usage_ns": ns("usage_usec"),
            "cpu_periods": cpu.get("nr_periods"),
            "cpu_throttled_periods": cpu.get("nr_throttled"),
            "cpu_throttled_ns": ns("throttled_usec"),
            "pids_current": cgroupfs.read_int(self._file("pids.current")),
            "pids_limit": cgroupfs.read_int(self._file("pids.max")),
            "oom_kills": events.get("oom_kill"),
        }

    def oom_killed(self):
        return cgroupfs.read_keyed(self._file("memory.events")).get("oom_kill", 0) > 0

    # -- freezing and killing -----------------------------------------------------

    def _events(self):
        return cgroupfs.read_keyed(self._file("cgroup.events"))

    def freeze(self):
        self._write(self._file("cgroup.freeze"), 1, "freeze every process in the container")
        wait_until(lambda: self._events().get("frozen") == 1, FREEZE_WAIT_SECONDS,
                   "the container's processes to freeze")

    def thaw(self):
        self._write(self._file("cgroup.freeze"), 0, "let the container's processes run again")

    def kill(self):
        """SIGKILL everything in the cgroup at once (cgroup.kill, Linux >= 5.14)."""
        if not os.path.isdir(self.leaf):
            return
        if os.path.exists(self._file("cgroup.kill")):
            self._write(self._file("cgroup.kill"), 1,
                        "kill every process in the container in one step")
        else:
            # older kernels: freeze so nothing forks or exits meanwhile, then signal
            self.freeze()
            for pid in self.pids():
                try:
                    syscalls.kill(pid, signal.SIGKILL, why="kill a process of the container")
                except ProcessLookupError:
                    pass
            self.thaw()
        wait_until(lambda: self._events().get("populated") == 0, FREEZE_WAIT_SECONDS,
                   "the container's processes to die")


def _holds_processes(directory):
    """True for a non-root group with processes (the root, without a
    cgroup.type file, is exempt from the "no internal processes" rule)."""
    return os.path.exists(os.path.join(directory, "cgroup.type")) and bool(cgroupfs.pids(directory))


def _step_aside(directory):
    """Leave our own cgroup for a leaf of it, when we are alone in it.

    A v2 group that holds processes cannot hand controllers to its children.
    When the only process in our own cgroup is this one (a scope made for us,
    e.g. ``systemd-run --scope -p Delegate=yes``), we move into a leaf below
    it, as systemd's delegation rules describe; the containers' groups then
    sit beside that leaf, still beneath our own cgroup.  Other processes are
    never moved.
    """
    if cgroupfs.pids(directory) != [os.getpid()]:
        return False
    leaf = os.path.join(directory, RUNTIME_LEAF)
    try:
        cgroupfs.make_dir(leaf, "make a leaf for minicontainer itself: a v2 group with "
                                "processes cannot give controllers to its children")
    except FileExistsError:
        pass
    cgroupfs.write(os.path.join(leaf, "cgroup.procs"), os.getpid(),
                   "step minicontainer aside into that leaf")
    return True
