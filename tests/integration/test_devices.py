"""The device cgroup and /dev, against the real kernel.

Probes never read or write a disk: a block device node is only created and
opened (the open is what the device cgroup refuses), and the control that
shows a probe can succeed opens /dev/kmsg's numbers read-only, which reads
nothing.  --privileged tests only stat the nodes.
"""

import json
import os
import stat
import subprocess
import sys
import tempfile

import pytest

from conftest import has_cgroup2_controllers, needs_busybox, needs_root
from minicontainer.cgroups import devices, host_layout

pytestmark = [needs_root]

BLOCK_PROBE = "mknod /tmp/sda b 8 0 && head -c1 /tmp/sda"


def run_sh(mc, script, *flags):
    return mc("run", "--rm", "--network", "none", *flags, "busybox", "sh", "-c", script)


# -- in a container (v1 devices lists here; the BPF program on v2) -----------------

@needs_busybox
def test_a_block_device_node_can_be_made_but_not_opened(mc):
    # CAP_MKNOD is a default capability, and the device cgroup allows "m" for
    # every node, so mknod works; opening the disk's numbers is refused.
    result = run_sh(mc, BLOCK_PROBE)
    assert result.returncode == 1
    assert "/tmp/sda: Operation not permitted" in result.stderr


@needs_busybox
def test_the_default_devices_still_work(mc):
    result = run_sh(mc, "echo x > /dev/null && head -c3 /dev/zero | wc -c && "
                        "head -c3 /dev/urandom | wc -c && head -c3 /dev/random | wc -c && "
                        "(echo x > /dev/full || echo full-refused)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "3", "3", "full-refused"]
    assert "No space left on device" in result.stderr


@needs_busybox
def test_a_char_device_outside_the_list_is_refused(mc):
    # /dev/kmsg's numbers (1:11), opened read-only: harmless if it were allowed
    result = run_sh(mc, "mknod /tmp/kmsg c 1 11 && head -c0 /tmp/kmsg")
    assert result.returncode == 1
    assert "/tmp/kmsg: Operation not permitted" in result.stderr


# -- the BPF program itself, attached to a real cgroup2 group ----------------------

PROBE = r"""
import json, os, stat, sys
os.read(0, 1)                      # "go": we are in the cgroup now
where = sys.argv[1]
def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as exc:
        return os.strerror(exc.errno)
def make(name, kind, major, minor):
    return attempt(lambda: os.mknod(os.path.join(where, name), kind | 0o600,
                                    os.makedev(major, minor)))
def open_ro(name):
    return attempt(lambda: os.close(os.open(os.path.join(where, name), os.O_RDONLY)))
out = {"mknod_kmsg": make("kmsg", stat.S_IFCHR, 1, 11),
       "mknod_null": make("null", stat.S_IFCHR, 1, 3)}
out["open_kmsg"] = open_ro("kmsg")
out["open_null"] = open_ro("null")
print(json.dumps(out))
"""


def _own_v2_dir():
    layout = host_layout()
    if not layout.v2 or not os.path.isdir(layout.v2):
        pytest.skip("machine lacks a cgroup2 hierarchy we can create groups in")
    return layout.v2


def probe_in_cgroup(rules):
    """Run PROBE in a new cgroup2 group beneath ours, with ``rules`` attached (or none)."""
    base = _own_v2_dir()
    group = os.path.join(base, f"mctest-devices-{os.getpid()}")
    os.mkdir(group)
    where = tempfile.mkdtemp(prefix="mctest-devnodes-")
    child = None
    try:
        if rules is not None:
            devices.restrict_v2(group, rules)
        child = subprocess.Popen([sys.executable, "-c", PROBE, where], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        with open(os.path.join(group, "cgroup.procs"), "w") as f:
            f.write(str(child.pid))
        out, _ = child.communicate("g", timeout=120)
        return json.loads(out)
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        for name in os.listdir(where):
            os.unlink(os.path.join(where, name))
        os.rmdir(where)
        os.rmdir(group)


def test_bpf_filter_allows_the_defaults_and_refuses_the_rest():
    seen = probe_in_cgroup(devices.DEFAULT_RULES)
    assert seen == {"mknod_kmsg": "ok", "mknod_null": "ok",
                    "open_kmsg": "Operation not permitted", "open_null": "ok"}


def test_bpf_filter_without_a_mknod_rule_refuses_mknod():
    seen = probe_in_cgroup((("c", 1, 3, "rw", "/dev/null, no mknod"),))
    assert seen["mknod_kmsg"] == seen["mknod_null"] == "Operation not permitted"


def test_without_the_filter_the_probe_succeeds():
    # the control: the same probe in a group with nothing attached
    seen = probe_in_cgroup(None)
    assert seen == {"mknod_kmsg": "ok", "mknod_null": "ok", "open_kmsg": "ok",
                    "open_null": "ok"}


# -- --privileged: the host's devices, no restriction ------------------------------

def host_device_nodes():
    """relative path -> (kind, rdev) for the char/block nodes in the host's /dev."""
    nodes = {}
    for root, dirs, files in os.walk("/dev"):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/dev/pts", "/dev/shm",
                                                                   "/dev/mqueue")]
        for name in files:
            st = os.lstat(os.path.join(root, name))
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                rel = os.path.relpath(os.path.join(root, name), "/dev")
                nodes[rel] = ("b" if stat.S_ISBLK(st.st_mode) else "c", st.st_rdev)
    return nodes


def container_device_nodes(mc, *flags):
    # busybox stat: %n name, %F type, %t/%T major/minor in hex
    result = run_sh(mc, "for f in $(find /dev -path /dev/pts -prune -o -print); do "
                        "[ ! -L $f ] && [ -b $f -o -c $f ] && "
                        "stat -c '%n %F %t %T' $f; done; true", *flags)
    assert result.returncode == 0, result.stderr
    nodes = {}
    for line in result.stdout.splitlines():
        name, *kind, major, minor = line.split()
        letter = "b" if kind[0] == "block" else "c"
        nodes[os.path.relpath(name, "/dev")] = (letter, os.makedev(int(major, 16), int(minor, 16)))
    return nodes


@needs_busybox
def test_privileged_sees_the_hosts_devices(mc):
    host = host_device_nodes()
    inside = container_device_nodes(mc, "--privileged")
    # every host node is there with the same type and numbers, except the
    # ones Docker replaces with the container's own (ptmx, console)
    for name, node in host.items():
        if name in ("ptmx", "console"):
            continue
        assert inside.get(name) == node, f"/dev/{name}"
    assert host, "the host's /dev has no device nodes to compare"
    if any(kind == "b" for kind, _ in host.values()):
        assert any(kind == "b" for kind, _ in inside.values()), "no block device inside"


@needs_busybox
def test_privileged_may_open_any_device(mc):
    result = run_sh(mc, "mknod /tmp/kmsg c 1 11 && head -c0 /tmp/kmsg && echo opened",
                    "--privileged")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "opened"


@needs_busybox
def test_default_dev_has_only_dockers_nodes(mc):
    inside = container_device_nodes(mc)
    assert sorted(inside) == ["full", "null", "random", "tty", "urandom", "zero"]


# -- cgroup v2: the same rules as a BPF program, in a real container ---------------

@pytest.mark.cgroupv2
@needs_busybox
@pytest.mark.skipif(not has_cgroup2_controllers() or bool(host_layout().v1),
                    reason="machine lacks a unified cgroup v2 hierarchy with controllers "
                           "(run it in scripts/vm-test)")
def test_v2_container_gets_the_device_filter(mc):
    # v2 has no devices.allow: the filter is the BPF program attached to the
    # container's cgroup, and it must give the same answers as v1's lists
    refused_disk = run_sh(mc, BLOCK_PROBE)
    assert refused_disk.returncode == 1
    assert "/tmp/sda: Operation not permitted" in refused_disk.stderr
    refused_kmsg = run_sh(mc, "mknod /tmp/kmsg c 1 11 && head -c0 /tmp/kmsg")
    assert "/tmp/kmsg: Operation not permitted" in refused_kmsg.stderr
    works = run_sh(mc, "echo x > /dev/null && head -c3 /dev/zero | wc -c")
    assert works.returncode == 0 and works.stdout.strip() == "3", works.stderr
