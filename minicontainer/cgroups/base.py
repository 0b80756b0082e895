"""The one interface both cgroup backends offer, and what they share.

A manager owns one container's cgroup: a leaf directory in each hierarchy
(one for cgroup v2, one per controller hierarchy for v1) beneath the cgroup
of the process that made it.  Constructing a manager touches nothing; the
launcher calls, in order::

    create()          before the container's first process exists (with the
                      device restriction unless privileged)
    add_pid(pid)      (or clone3 into open_fd() on v2) before the child runs
    apply(resources)  limits; again for ``update``
    stats() / freeze() / thaw() / oom_killed()
    kill(); destroy() on teardown (destroy is idempotent: ENOENT is success)

``record()`` is what to keep in state.json; ``from_record`` rebuilds a
manager from it alone, so ``rm -f`` works after a crash.
"""

import errno
import os
import stat
import time

from ..errors import MiniContainerError, SetupError, SpecError, from_oserror
from ..linux import cgroupfs

# How long to wait for the kernel to finish freezing (it reports "FREEZING"
# meanwhile); generous because a slow emulated VM needs it, and it only
# matters when something is badly wrong.
FREEZE_WAIT_SECONDS = 30.0


def check_name(name, what):
    """One path component that stays where it is put ('' '.' '..' '/' refused)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise SpecError(f"invalid {what} {name!r} for a cgroup name", op="cgroup")
    return name


def parent_parts(parent):
    """--cgroup-parent 'a/b' (or '/a/b') → ('a', 'b'), relative to our own cgroup."""
    if not parent:
        return ()
    parts = tuple(p for p in parent.strip("/").split("/") if p)
    for part in parts:
        if part in (".", ".."):
            raise SpecError(f"invalid --cgroup-parent {parent!r}: it must stay beneath "
                            "the invoking process's cgroup", op="cgroup")
        check_name(part, "--cgroup-parent component")
    return parts


def device_numbers(path):
    """'MAJOR:MINOR' of a block device node, for the throttle files.

    "MAJOR:MINOR" itself is taken as it is (OCI's blockIO gives numbers)."""
    major, sep, minor = str(path).partition(":")
    if sep and major.isdigit() and minor.isdigit():
        return f"{int(major)}:{int(minor)}"
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SpecError(f"cannot use device {path} for a rate limit: {exc.strerror}",
                        op="cgroup", path=path) from None
    if not stat.S_ISBLK(st.st_mode):
        raise SpecError(f"{path} is not a block device", op="cgroup", path=path)
    return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"


def needed_controllers(resources):
    """The (v2) names of the controllers the limits in ``resources`` write to."""
    if resources is None:
        return set()
    r = resources
    need = set()
    if r.memory or r.memory_swap or r.memory_reservation:
        need.add("memory")
    if r.cpus or r.cpu_shares or r.cpu_quota or r.cpu_period:
        need.add("cpu")
    if r.cpuset_cpus is not None or r.cpuset_mems is not None:
        need.add("cpuset")
    if r.pids_limit:
        need.add("pids")
    if r.blkio_weight or r.device_read_bps or r.device_write_bps:
        need.add("io")
    return need


def wait_until(predicate, seconds, what):
    """Poll ``predicate`` with a growing pause; SetupError after ``seconds``."""
    deadline = time.monotonic() + seconds
    delay = 0.001
    while not predicate():
        if time.monotonic() > deadline:
            raise SetupError(f"timed out waiting for {what}", op="cgroup")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


class CgroupManager:
    """One container's cgroup(s).  ``dirs`` maps hierarchy → leaf directory."""

    version = None

    def __init__(self, dirs, created=(), resources=None, privileged=False):
        self._dirs = dict(dirs)
        # --privileged: no device restriction (Docker's rule); otherwise
        # create() confines the container to the default devices
        self.privileged = privileged
        # parent directories (from --cgroup-parent) this manager made, deepest
        # last; destroy removes them again when nothing else uses them
        self._created = list(created)
        self.resources = resources
        self.warnings = []
        self._made = []

    # -- what to record -------------------------------------------------------

    def paths(self):
        """hierarchy → directory of this container's cgroup ('unified' on v2)."""
        return dict(self._dirs)

    def record(self):
        """Everything ``from_record`` needs to find and remove this cgroup later."""
        return {"version": self.version, "paths": self.paths(), "created": list(self._created)}

    def unique_dirs(self):
        """Each leaf directory once (co-mounted v1 controllers share one)."""
        seen = []
        for path in self._dirs.values():
            if path not in seen:
                seen.append(path)
        return seen

    def warn(self, text):
        # Docker carries on with a warning where the kernel lacks a feature
        # (no swap accounting, no blkio weight); the launcher prints these.
        self.warnings.append(text)

    # -- the interface ----------------------------------------------------------

    def create(self):
        """Make the cgroup and write the limits given to create_manager.

        Everything that can be refused without touching the system (a device
        that is not a block device, a controller this host lacks) is checked
        first; if a later step fails, what was made is removed again.
        """
        self.check(self.resources)
        self._made = []
        try:
            self._create()
            if not self.privileged:
                self._restrict_devices()
            if self.resources is not None:
                self.apply(self.resources)
        except BaseException:
            self._undo_create()
            raise

    def _undo_create(self):
        """Remove what a failed create() made -- and only that: a clashing
        directory that was already there belongs to someone else."""
        try:
            for path in reversed(self._made):
                cgroupfs.remove_dir(path, "undo: remove the cgroup made for the failed start",
                                    attempts=1)
            self._remove_created_parents()
        except Exception:
            pass            # the first error is the one worth reporting

    def check(self, resources):
        """Refuse limits this host cannot apply, before anything is made."""
        if resources is None:
            return
        for attr in ("device_read_bps", "device_write_bps"):
            for device, _rate in getattr(resources, attr):
                device_numbers(device)
        self._check_controllers(needed_controllers(resources))

    def _create(self):
        raise NotImplementedError

    def _check_controllers(self, needed):
        raise NotImplementedError

    def _restrict_devices(self):
        """Allow only the default device nodes (cgroups/devices.py), or apply the
        OCI rules in ``resources.devices``."""
        raise NotImplementedError

    def device_rules(self):
        """None (Docker's default list) or the OCI rules, in order."""
        return getattr(self.resources, "devices", None)

    def add_pid(self, pid):
        raise NotImplementedError

    def self_join_files(self):
        """(file, controllers) the container's first process writes "0" into to
        join this cgroup by itself; empty: the launcher moves it (``add_pid``)."""
        return ()

    def join_self(self, why):
        """Move the calling (single-threaded) process into this cgroup."""
        files = self.self_join_files()
        for path, controllers in files:
            cgroupfs.write(path, 0, f"{why}: {controllers}")
        if not files:
            self.add_pid(os.getpid())

    def apply(self, resources):
        raise NotImplementedError

    def stats(self):
        raise NotImplementedError

    def oom_killed(self):
        """Did the kernel's OOM killer kill a process in this cgroup?"""
        return bool(self.stats().get("oom_kills"))

    def freeze(self):
        raise NotImplementedError

    def thaw(self):
        raise NotImplementedError

    def kill(self):
        raise NotImplementedError

    def open_fd(self):
        """An O_PATH fd of the leaf for CLONE_INTO_CGROUP; None where unsupported."""
        return None

    def pids(self):
        """Every process in the container's cgroup, nested cgroups included."""
        found = []
        top = self.unique_dirs()[0] if self._dirs else None
        if top is None or not os.path.isdir(top):
            return found
        for root, _dirs, _files in os.walk(top):
            found.extend(cgroupfs.pids(root))
        return found

    def exists(self):
        return any(os.path.isdir(path) for path in self.unique_dirs())

    # -- shared steps -----------------------------------------------------------

    def _make_tree(self, leaf, base, on_new_dir):
        """mkdir every missing directory from ``base`` down to ``leaf``.

        ``on_new_dir(path)`` runs right after each mkdir (cpuset copying on v1,
        controller enabling on v2).  Only the leaf must be new: an existing
        leaf means a stale or clashing container.
        """
        rel = os.path.relpath(leaf, base)
        path = base
        parts = rel.split(os.sep)
        for index, part in enumerate(parts):
            path = os.path.join(path, part)
            is_leaf = index == len(parts) - 1
            why = ("make the container's own cgroup" if is_leaf else
                   "make the --cgroup-parent group the container's cgroup goes in")
            try:
                cgroupfs.make_dir(path, why)
            except FileExistsError as exc:
                if is_leaf:
                    raise SetupError("a cgroup by that name already exists", op="create cgroup",
                                     path=path, errno=exc.errno) from None
                if path not in self._created:
                    on_new_dir(path, existed=True)
                continue
            except OSError as exc:
                raise from_oserror(exc, "create cgroup", path) from None
            if is_leaf:
                self._made.append(path)
            else:
                self._created.append(path)
            on_new_dir(path, existed=False)

    def _write(self, path, value, why):
        try:
            cgroupfs.write(path, value, why)
        except OSError as exc:
            raise from_oserror(exc, "write cgroup file", path) from None

    def destroy(self):
        """Remove the cgroup (and nested ones), then the parents made for it.

        Call after kill(): the kernel refuses to remove a populated cgroup.
        Idempotent: a missing directory counts as removed.
        """
        failure = None
        for leaf in self.unique_dirs():
            if not os.path.isdir(leaf):
                continue
            # One hierarchy that refuses must not leave the others behind:
            # every one is tried, then the first failure is raised.
            try:
                # nested cgroups the container made itself go first, deepest first
                for root, dirs, _files in os.walk(leaf, topdown=False):
                    for name in dirs:
                        self._remove(os.path.join(root, name),
                                     "remove a cgroup the container made")
                self._remove(leaf, "remove the container's cgroup")
            except MiniContainerError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        self._remove_created_parents()

    def _remove_created_parents(self):
        for path in reversed(self._created):
            try:
                cgroupfs.remove_dir(path, "remove the --cgroup-parent group made for it",
                                    attempts=1)
            except OSError as exc:
                if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                    raise from_oserror(exc, "remove cgroup", path) from None

    def _remove(self, path, why):
        try:
            cgroupfs.remove_dir(path, why)
        except OSError as exc:
            raise from_oserror(exc, "remove cgroup", path) from None


def bytes_or_none(value):
    """v1 reports 'no limit' as a huge number (PAGE_COUNTER_MAX pages)."""
    if value is None or value >= 1 << 60:
        return None
    return value
