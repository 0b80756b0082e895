"""An OCI config's root, mounts and linux fields, proved from inside the container."""

import os
import subprocess
import tempfile

import pytest

from conftest import has_userns, needs_busybox, needs_root
from minicontainer.cgroups import host_layout
from minicontainer.errors import MiniContainerError
from oci_helpers import Bundle, base_config, run_config

pytestmark = [needs_root, needs_busybox]


def mountinfo_targets(text):
    return [line.split()[4] for line in text.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def _no_pull(monkeypatch):
    monkeypatch.setenv("MINICONTAINER_PULL", "never")


# -- root and mounts -------------------------------------------------------------------------

def test_exactly_the_listed_mounts(state_root):
    result = run_config(state_root, base_config(["cat", "/proc/self/mountinfo"]))
    targets = mountinfo_targets(result.stdout)
    listed = ["/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/tmp"]
    masked = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
              "/proc/keys", "/proc/timer_list", "/sys/firmware"]
    assert [t for t in targets if t not in masked] == listed
    by_target = {line.split()[4]: line for line in result.stdout.splitlines()}
    assert " - proc " in by_target["/proc"] and "nosuid,nodev,noexec" in by_target["/proc"]
    assert " - sysfs " in by_target["/sys"] and by_target["/sys"].split()[5].startswith("ro")
    assert " - devpts " in by_target["/dev/pts"] and "ptmxmode=666" in by_target["/dev/pts"]
    assert " - mqueue " in by_target["/dev/mqueue"]
    assert "size=65536k" in by_target["/dev/shm"]


def test_no_proc_listed_means_none(state_root):
    config = base_config(["sh", "-c", "ls -A /proc | wc -l; ls /dev"])
    config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/proc"]
    config["linux"]["maskedPaths"] = config["linux"]["readonlyPaths"] = []
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.split()
    assert lines[0] == "0"
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "fd"} <= \
        set(lines[1:])


def test_no_dev_tmpfs_means_no_default_nodes(state_root):
    config = base_config(["ls", "-A", "/dev"])
    config["mounts"] = [m for m in config["mounts"] if not m["destination"].startswith("/dev")]
    with Bundle(config, copy_root=True) as bundle:
        for name in os.listdir(os.path.join(bundle.rootfs, "dev")):
            os.unlink(os.path.join(bundle.rootfs, "dev", name))
        result = bundle.run(state_root)
    assert result.exit_code == 0 and result.stdout == b""


def test_bind_mount_options(state_root, shared_dir):
    shared_dir = str(shared_dir)
    with open(os.path.join(shared_dir, "file"), "w") as f:
        f.write("shared\n")
    nested = os.path.join(shared_dir, "nested")
    os.mkdir(nested)
    subprocess.run(["mount", "-t", "tmpfs", "mctest-nested", nested], check=True)
    try:
        config = base_config(["sh", "-c", "cat /data/file; touch /data/new; echo rc=$?; "
                              "touch /data/nested/x; echo nested=$?; touch /rw/ok; echo rw=$?; "
                              "grep -E ' /(data|rw)' /proc/self/mountinfo"])
        config["mounts"] += [
            {"destination": "/data", "source": shared_dir, "type": "bind",
             "options": ["rbind", "ro", "nosuid", "nodev"]},
            {"destination": "/rw", "source": nested, "options": ["bind", "noexec"]},
        ]
        result = run_config(state_root, config, copy_root=True)
    finally:
        subprocess.run(["umount", nested], check=True)
    lines = result.stdout.splitlines()
    assert lines[:4] == ["shared", "rc=1", "nested=1", "rw=0"]
    mounts = {line.split()[4]: line for line in lines if len(line.split()) > 5}
    data = mounts["/data"]
    assert data.split()[5].startswith("ro,nosuid,nodev")
    assert mounts["/data/nested"].split()[5].startswith("ro")  # rbind + ro: recursively
    rw = mounts["/rw"]
    assert rw.split()[5].startswith("rw") and "noexec" in rw.split()[5]
    assert not os.path.exists(os.path.join(nested, "ok"))   # the tmpfs was unmounted


def test_tmpfs_options_and_readonly_root(state_root):
    config = base_config(["sh", "-c", "touch /newfile; echo root=$?; "
                          "grep ' /scratch ' /proc/self/mountinfo"])
    config["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                             "options": ["ro", "size=1m", "mode=700"]})
    with Bundle(config, copy_root=True) as bundle:
        result = bundle.run(state_root)
        assert not os.path.exists(os.path.join(bundle.rootfs, "newfile"))
        config["root"]["readonly"] = False
        bundle.write(config)
        writable = bundle.run(state_root)
        assert os.path.exists(os.path.join(bundle.rootfs, "newfile"))
    text = result.stdout.decode()
    assert "root=1" in text
    scratch = text.splitlines()[1]
    assert scratch.split()[5].startswith("ro") and "size=1024k" in scratch and "mode=700" in \
        scratch
    assert "root=0" in writable.stdout.decode()


def test_cgroup_mount(state_root):
    config = base_config(["sh", "-c", "ls /sys/fs/cgroup; cat /proc/self/cgroup"])
    config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup",
                             "source": "cgroup", "options": ["ro", "nosuid", "noexec"]})
    config["linux"]["namespaces"].append({"type": "cgroup"})
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    names = result.stdout.split()
    if host_layout().mode == "unified":
        assert "cgroup.procs" in names
    else:
        assert "memory" in names and "pids" in names
    # in its own cgroup namespace the container's cgroup is the root
    assert any(line.endswith(":/") for line in result.stdout.splitlines())


def test_relative_bind_source_is_in_the_bundle(state_root):
    config = base_config(["cat", "/etc/mctest-note"])
    config["mounts"].append({"destination": "/etc/mctest-note", "source": "note",
                             "options": ["bind", "ro"]})
    with Bundle(config, copy_root=True) as bundle:
        with open(os.path.join(bundle.dir, "note"), "w") as f:
            f.write("from the bundle\n")
        result = bundle.run(state_root)
    assert result.stdout == b"from the bundle\n"


# -- hostname, namespaces, id maps --------------------------------------------------------

def test_hostname_and_domainname(state_root):
    config = base_config(["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"])
    config["domainname"] = "mctest.example"
    assert run_config(state_root, config).stdout.split() == ["mctest-oci", "mctest.example"]


def test_new_namespaces(state_root):
    kinds = ("pid", "net", "mnt", "ipc", "uts", "cgroup")
    config = base_config(["sh", "-c", "for k in " + " ".join(kinds) +
                          "; do readlink /proc/self/ns/$k; done; echo $$"])
    config["linux"]["namespaces"].append({"type": "cgroup"})
    inside = run_config(state_root, config).stdout.split()
    outside = [os.readlink(f"/proc/self/ns/{k}") for k in kinds]
    for kind, mine, theirs in zip(kinds, inside, outside):
        assert mine != theirs, kind
    assert inside[-1] == "1"
    # without a network namespace in the list it shares ours
    config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"]
                                     if n["type"] != "network"]
    inside = run_config(state_root, config).stdout.split()
    assert inside[1] == outside[1]


@pytest.fixture
def holder():
    """A process in its own network, ipc and uts namespaces (to be joined by path)."""
    proc = subprocess.Popen(["unshare", "--net", "--ipc", "--uts", "sh", "-c",
                             "hostname mctest-holder; ip link set lo up; exec sleep 300"])
    try:
        for _ in range(500):
            if os.readlink(f"/proc/{proc.pid}/ns/uts") != os.readlink("/proc/self/ns/uts"):
                break
            import time
            time.sleep(0.01)
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_join_namespaces_by_path(state_root, holder):
    config = base_config(["sh", "-c", "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; "
                          "readlink /proc/self/ns/uts; hostname"])
    del config["hostname"]
    config["linux"]["namespaces"] = [
        {"type": "mount"}, {"type": "pid"},
        {"type": "network", "path": f"/proc/{holder}/ns/net"},
        {"type": "ipc", "path": f"/proc/{holder}/ns/ipc"},
        {"type": "uts", "path": f"/proc/{holder}/ns/uts"}]
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    net, ipc, uts, hostname = result.stdout.split()
    assert net == os.readlink(f"/proc/{holder}/ns/net")
    assert ipc == os.readlink(f"/proc/{holder}/ns/ipc")
    assert uts == os.readlink(f"/proc/{holder}/ns/uts")
    assert hostname == "mctest-holder"


def test_join_a_missing_namespace_fails_clearly(state_root):
    config = base_config(["true"])
    del config["hostname"]
    config["linux"]["namespaces"] = [{"type": "mount"},
                                     {"type": "network", "path": "/proc/999999999/ns/net"}]
    with pytest.raises(MiniContainerError, match="cannot open the net namespace"):
        run_config(state_root, config)


@pytest.mark.skipif(not has_userns(), reason="machine lacks user namespaces")
def test_uid_and_gid_mappings(state_root):
    config = base_config(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"])
    config["linux"]["namespaces"].append({"type": "user"})
    config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
    config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/sys"]
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["0", "200000", "65536", "0", "300000", "65536", "0"]


# -- masked and read-only paths, sysctl, devices --------------------------------------------

def test_masked_and_readonly_paths(state_root):
    config = base_config(["sh", "-c", "wc -c < /proc/keys; ls -A /sys/firmware | wc -l; "
                          "echo 1 > /proc/sys/kernel/domainname; echo rc=$?; "
                          "cat /proc/timer_list | wc -c"])
    config["linux"]["maskedPaths"] = ["/proc/keys", "/sys/firmware", "/proc/no-such-path"]
    config["linux"]["readonlyPaths"] = ["/proc/sys"]
    result = run_config(state_root, config)
    lines = result.stdout.split()
    assert lines[:3] == ["0", "0", "rc=1"]
    assert int(lines[3]) > 0  # not in this config's list: visible


def test_sysctl(state_root):
    config = base_config(["sh", "-c", "cat /proc/sys/kernel/shmmni "
                          "/proc/sys/net/ipv4/ip_unprivileged_port_start"])
    config["linux"]["sysctl"] = {"kernel.shmmni": "1234",
                                 "net.ipv4.ip_unprivileged_port_start": "80"}
    host = open("/proc/sys/kernel/shmmni").read()
    result = run_config(state_root, config)
    assert result.stdout.split() == ["1234", "80"], result.stderr
    assert open("/proc/sys/kernel/shmmni").read() == host  # the host's is untouched


def test_linux_devices(state_root):
    config = base_config(["sh", "-c", "ls -ln /dev/mctest-null /dev/sub/mctest-zero; "
                          "echo hi > /dev/mctest-null && echo written; "
                          "head -c 3 /dev/sub/mctest-zero | wc -c"])
    config["linux"]["devices"] = [
        {"path": "/dev/mctest-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o620,
         "uid": 1000, "gid": 5},
        {"path": "/dev/sub/mctest-zero", "type": "c", "major": 1, "minor": 5},
    ]
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    first, second, written, count = result.stdout.splitlines()
    assert first.split()[:6] == ["crw--w----", "1", "1000", "5", "1,", "3"]
    assert second.split()[0] == "crw-rw-rw-" and second.split()[4:6] == ["1,", "5"]
    assert written == "written" and count.strip() == "3"


# -- resources and cgroupsPath ------------------------------------------------------------

def _cgroup_file(cgroup_text, controller, name):
    """Read a cgroup file of the container from the host (its /proc/self/cgroup lines)."""
    for line in cgroup_text.splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return open(f"/sys/fs/cgroup/{controller}{path}/{name}").read().strip()
    raise AssertionError(f"no {controller} line in {cgroup_text!r}")


@pytest.mark.skipif(host_layout().mode == "unified", reason="machine lacks cgroup v1 "
                    "(the v2 lane covers the unified files)")
def test_resources_and_devices_rules(state_root):
    config = base_config(["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                          "/sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares "
                          "/sys/fs/cgroup/cpu/cpu.cfs_quota_us; "
                          "mknod /dev/mctest-k c 1 2; cat /dev/mctest-k; "
                          "mknod /dev/mctest-l c 1 2; echo x > /dev/null && echo null-ok"])
    config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup",
                             "source": "cgroup", "options": ["ro"]})
    config["linux"]["namespaces"].append({"type": "cgroup"})
    config["linux"]["resources"] = {
        "memory": {"limit": 64 << 20}, "pids": {"limit": 30},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"}],
    }
    result = run_config(state_root, config)
    lines = result.stdout.split()
    assert lines[:4] == [str(64 << 20), "30", "512", "50000"], result.stderr
    assert lines[4:] == ["null-ok"]
    # 1:2 is in no rule: mknod is allowed (the default "c *:* m"), opening is not
    assert "mctest-k': Operation not permitted" in result.stderr
    # a linux.devices entry is allowed: the open reaches the kernel (which has no 1:2)
    config["linux"]["devices"] = [{"path": "/dev/mctest-k", "type": "c", "major": 1,
                                   "minor": 2}]
    config["process"]["args"] = ["cat", "/dev/mctest-k"]
    result = run_config(state_root, config)
    assert "No such device or address" in result.stderr


@pytest.mark.skipif(host_layout().mode == "unified", reason="machine lacks cgroup v1 "
                    "(the v2 lane covers the unified files)")
def test_block_io_throttle(state_root):
    dev = os.stat("/").st_dev
    major, minor = os.major(dev), os.minor(dev)
    if not os.path.exists(f"/sys/dev/block/{major}:{minor}"):
        pytest.skip("machine lacks a block device under / (an overlay or tmpfs root)")
    config = _with_blkio_probe(base_config(["cat", "/sys/fs/cgroup/blkio/"
                                            "blkio.throttle.read_bps_device",
                                            "/sys/fs/cgroup/blkio/"
                                            "blkio.throttle.write_bps_device"]))
    config["linux"]["resources"] = {"blockIO": {
        "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
        "throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": 2097152}]}}
    result = run_config(state_root, config)
    assert result.stdout.splitlines() == [f"{major}:{minor} 1048576", f"{major}:{minor} 2097152"]


def _with_blkio_probe(config):
    config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup",
                             "source": "cgroup", "options": ["ro"]})
    config["linux"]["namespaces"].append({"type": "cgroup"})
    return config


def test_cgroups_path_beneath_our_own(state_root):
    name = f"mctest-cgp-{os.getpid()}"
    config = base_config(["cat", "/proc/self/cgroup"])
    config["linux"]["cgroupsPath"] = f"/{name}/box"
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    with open("/proc/self/cgroup") as f:
        ours = {line.split(":")[1]: line.split(":", 2)[2].strip() for line in f}
    for line in result.stdout.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers in ("memory", "pids") and controllers in ours:
            base = ours[controllers].rstrip("/")
            assert path == f"{base}/{name}/box", line
    # nothing left: neither the leaf nor the parent it made
    for top, dirs, _files in os.walk("/sys/fs/cgroup"):
        assert not [d for d in dirs if name in d], top
        dirs[:] = [d for d in dirs if top == "/sys/fs/cgroup"]  # two levels suffice


def test_missing_root_is_refused(state_root):
    with tempfile.TemporaryDirectory(prefix="mctest-") as directory:
        import json
        with open(os.path.join(directory, "config.json"), "w") as f:
            json.dump(base_config(), f)
        from minicontainer.errors import SpecError
        from minicontainer.oci.config import load_bundle
        with pytest.raises(SpecError, match="root.path 'rootfs' is not a directory"):
            load_bundle(directory)


@pytest.fixture
def pid_holder():
    """A process that is PID 1 of its own PID namespace."""
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "sleep", "300"])
    try:
        import time
        for _ in range(500):
            children = open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()
            if children:
                break
            time.sleep(0.01)
        yield int(children[0])
    finally:
        proc.kill()
        proc.wait()


def test_join_a_pid_namespace_by_path(state_root, pid_holder):
    config = base_config(["sh", "-c", "readlink /proc/self/ns/pid; echo $$; ps -o pid,args"])
    config["linux"]["namespaces"] = [
        {"type": "mount"}, {"type": "uts"},
        {"type": "pid", "path": f"/proc/{pid_holder}/ns/pid"}]
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == os.readlink(f"/proc/{pid_holder}/ns/pid")
    assert lines[1] != "1"  # the holder's sleep is PID 1 there
    assert any(line.split()[:2] == ["1", "sleep"] for line in lines[2:]), lines
    # and the launcher (this process) is back in its own PID namespace for its children
    assert os.readlink("/proc/self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")


@pytest.mark.parametrize("propagation, seen", [("rslave", True), ("rprivate", False),
                                               (None, False)])
def test_rootfs_propagation(state_root, propagation, seen):
    """rslave: a mount the host makes later, under a shared mount bound into the
    container, shows up inside; private (the default) keeps it out."""
    from minicontainer import Container
    from minicontainer.runtime import launcher
    shared = tempfile.mkdtemp(prefix="mctest-prop-")
    subprocess.run(["mount", "-t", "tmpfs", "mctest-prop", shared], check=True)
    subprocess.run(["mount", "--make-shared", shared], check=True)
    late = os.path.join(shared, "late")
    os.mkdir(late)
    config = base_config(["sh", "-c", "ls /home/late"])
    config["mounts"].append({"destination": "/home", "source": shared,
                             "options": ["rbind"]})
    if propagation:
        config["linux"]["rootfsPropagation"] = propagation
    container = None
    try:
        with Bundle(config) as bundle:
            container = Container(bundle.load().spec, state_root=state_root)
            container.create()
            fifo = os.path.join(container.store.container_dir(container.id), "exec.fifo")
            out_r, out_w = os.pipe()
            try:
                proc = container.start((0, out_w, out_w), start_fifo=fifo, foreground=False)
                os.close(out_w)
                out_w = None
                # the container is set up; now the host mounts something new
                subprocess.run(["mount", "-t", "tmpfs", "mctest-late", late], check=True)
                with open(os.path.join(late, "mctest-file"), "w") as f:
                    f.write("x")
                launcher.release_waiting(fifo, proc.pid)
                output = b""
                while chunk := os.read(out_r, 4096):
                    output += chunk
                assert launcher.wait(proc) == 0
            finally:
                os.close(out_r)
                if out_w is not None:
                    os.close(out_w)
    finally:
        if container is not None:
            container.finish(None)
        subprocess.run(["umount", "-R", shared], check=True)
        os.rmdir(shared)
    assert (output.split() == [b"mctest-file"]) is seen, output


def test_cgroup_mount_without_a_cgroup_namespace_shows_only_its_own(state_root):
    """No cgroup namespace: each hierarchy at /sys/fs/cgroup is the container's own
    cgroup directory (bound), not the host's whole tree; read-only as asked."""
    config = base_config(["sh", "-c", "cat /sys/fs/cgroup/pids/pids.max; "
                          "ls /sys/fs/cgroup/pids | grep -c '^minicontainer-'; "
                          "echo 5 > /sys/fs/cgroup/pids/pids.max; echo rc=$?; "
                          "grep ' /sys/fs/cgroup/pids ' /proc/self/mountinfo"])
    config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup",
                             "source": "cgroup", "options": ["ro", "nosuid", "noexec"]})
    config["linux"]["resources"] = {"pids": {"limit": 42}}
    if host_layout().mode == "unified":
        config["process"]["args"][2] = "cat /sys/fs/cgroup/pids.max"
        assert run_config(state_root, config).stdout.split() == ["42"]
        return
    result = run_config(state_root, config)
    lines = result.stdout.splitlines()
    assert lines[:3] == ["42", "0", "rc=1"], (result.stdout, result.stderr)
    assert lines[3].split()[5].startswith("ro")


@pytest.mark.skipif(not has_userns(), reason="machine lacks user namespaces")
def test_rootless_default_config_binds_its_own_cgroups(state_root):
    """User + cgroup namespaces (the rootless default): cgroup v1 cannot be mounted
    there, so the container's own cgroup directories are bound, found before
    the cgroup namespace hid their paths."""
    from minicontainer.oci.config import default_config
    config = default_config(rootless=True)
    config["process"]["terminal"] = False
    probe = ("test -e /sys/fs/cgroup/cgroup.procs" if host_layout().mode == "unified" else
             "test -e /sys/fs/cgroup/pids/pids.max -a ! -e /sys/fs/cgroup/pids/"
             "cgroup.sane_behavior")
    config["process"]["args"] = ["sh", "-c", probe + " && echo own-cgroup"]
    result = run_config(state_root, config)
    assert result.stdout.split() == ["own-cgroup"], result.stderr
