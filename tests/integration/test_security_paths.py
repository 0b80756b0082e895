"""Docker's masked and read-only /proc and /sys paths, applied for real.

The child makes its own private mount namespace, mounts a fresh proc and
sysfs under a temporary root and masks them there; nothing reaches the
host's mounts, and the namespace dies with the child.  No test writes to a
kernel file: write access is checked by open(O_WRONLY) without writing.
"""

import errno
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from security_helpers import run_in_child  # noqa: E402

from minicontainer.linux import constants as C  # noqa: E402
from minicontainer.linux import syscalls  # noqa: E402
from minicontainer.security import paths  # noqa: E402
from minicontainer.spec import Security  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="machine lacks root (run as root)")


def _private_proc_and_sys(root):
    syscalls.unshare(C.CLONE_NEWNS)
    syscalls.mount(None, "/", None, C.MS_REC | C.MS_PRIVATE)
    os.makedirs(os.path.join(root, "proc"))
    os.makedirs(os.path.join(root, "sys"))
    syscalls.mount("proc", os.path.join(root, "proc"), "proc", C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC)
    syscalls.mount("sysfs", os.path.join(root, "sys"), "sysfs", C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC)


def _open_for_write(path):
    try:
        os.close(os.open(path, os.O_WRONLY))
        return "ok"
    except OSError as exc:
        return errno.errorcode[exc.errno]


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read(64).decode(errors="replace")
    except OSError as exc:
        return errno.errorcode[exc.errno]


def _look(root):
    def p(path):
        return os.path.join(root, path.lstrip("/"))
    return {
        "kcore": os.path.getsize(p("/proc/kcore")) if os.path.exists(p("/proc/kcore")) else None,
        "keys": _read(p("/proc/keys")),
        "interrupts": _read(p("/proc/interrupts")),
        "timer_list": _read(p("/proc/timer_list")),
        "firmware": sorted(os.listdir(p("/sys/firmware"))),
        "firmware_ro": bool(os.statvfs(p("/sys/firmware")).f_flag & C.ST_RDONLY),
        "sysrq_w": _open_for_write(p("/proc/sysrq-trigger")),
        "hostname_w": _open_for_write(p("/proc/sys/kernel/hostname")),
        "hostname_r": _read(p("/proc/sys/kernel/hostname")),
        "proc_sys_ro": bool(os.statvfs(p("/proc/sys")).f_flag & C.ST_RDONLY),
        "proc_sys_nosuid": bool(os.statvfs(p("/proc/sys")).f_flag & C.ST_NOSUID),
        "irq_listable": isinstance(os.listdir(p("/proc/irq")), list),
        "uptime": _read(p("/proc/uptime")) != "",
    }


def test_default_masks_hide_and_freeze(tmp_path):
    root = str(tmp_path / "mctest-root")

    def setup():
        _private_proc_and_sys(root)
        security = Security()
        paths.apply_masks(paths.masked_paths(security), paths.readonly_paths(security), root=root)
        return _look(root)
    state, seen = run_in_child(setup, exec_probe=False)
    assert state == "ok", seen
    assert seen["kcore"] in (0, None)  # None: this kernel has no /proc/kcore
    assert seen["keys"] == "" and seen["interrupts"] == "" and seen["timer_list"] == ""
    assert seen["firmware"] == [] and seen["firmware_ro"]
    assert seen["sysrq_w"] in ("EROFS", "ENOENT")  # ENOENT: kernel built without sysrq
    assert seen["hostname_w"] == "EROFS"
    assert seen["hostname_r"].strip() == os.uname().nodename[:64].strip()
    assert seen["proc_sys_ro"] and seen["proc_sys_nosuid"]  # nosuid kept on remount
    assert seen["irq_listable"] and seen["uptime"]          # read-only, not hidden


def test_unconfined_leaves_them_alone(tmp_path):
    root = str(tmp_path / "mctest-root")

    def setup():
        _private_proc_and_sys(root)
        security = Security(systempaths_unconfined=True)
        paths.apply_masks(paths.masked_paths(security), paths.readonly_paths(security), root=root)
        return _look(root)
    state, seen = run_in_child(setup, exec_probe=False)
    assert state == "ok", seen
    assert seen["kcore"] is None or seen["kcore"] > 0
    assert seen["interrupts"] != ""
    assert seen["hostname_w"] == "ok"      # opened, never written
    assert not seen["proc_sys_ro"]


def test_missing_paths_are_skipped(tmp_path):
    root = str(tmp_path / "mctest-root")

    def setup():
        _private_proc_and_sys(root)
        return [paths.mask_path("/proc/mctest-absent", root),
                paths.readonly_path("/proc/mctest-absent", root)]
    state, seen = run_in_child(setup, exec_probe=False)
    assert state == "ok", seen
    assert seen == [False, False]
