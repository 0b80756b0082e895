"""What a process sees inside a container: probes run in it, assertions on their output."""

import os
import socket

import pytest

from conftest import needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox]


def sh(mc, script, *flags, **kwargs):
    return mc("run", "--rm", *flags, "busybox", "sh", "-c", script, **kwargs)


def test_command_is_pid_1_and_sees_only_its_own_processes(mc):
    result = sh(mc, "echo pid=$$; ps -o pid,comm; true")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "pid=1"
    pids = [line.split()[0] for line in lines[2:]]
    assert pids[0] == "1"
    assert len(pids) == 2, result.stdout  # sh and ps, nothing of the host


def test_default_hostname_is_the_short_id_and_flag_sets_it(mc):
    default = sh(mc, "hostname; cat /etc/hostname")
    name, file_name = default.stdout.split()
    assert len(name) == 12 and all(c in "0123456789abcdef" for c in name)
    assert file_name == name
    assert name != socket.gethostname()
    chosen = sh(mc, "hostname; cat /etc/hostname", "--hostname", "lab")
    assert chosen.stdout.split() == ["lab", "lab"]


def test_network_none_has_only_loopback_and_it_is_up(mc):
    result = sh(mc, "ls /sys/class/net; cat /sys/class/net/lo/flags; ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-ok",
                "--network", "none")
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    assert words[0] == "lo" and words[1] == "0x9"  # IFF_UP|IFF_LOOPBACK
    assert "ping-ok" in words


def test_network_host_sees_the_hosts_interfaces(mc):
    result = sh(mc, "ls /sys/class/net", "--network", "host")
    assert sorted(result.stdout.split()) == sorted(os.listdir("/sys/class/net"))


def test_mounts_are_the_containers_own(mc):
    result = sh(mc, "cat /proc/self/mounts")
    mounts = {line.split()[1]: line.split() for line in result.stdout.splitlines()}
    assert mounts["/proc"][2] == "proc"
    assert mounts["/sys"][2] == "sysfs" and mounts["/sys"][3].startswith("ro")
    assert mounts["/dev"][2] == "tmpfs"
    assert mounts["/dev/pts"][2] == "devpts"
    assert mounts["/dev/shm"][2] == "tmpfs" and mounts["/dev/mqueue"][2] == "mqueue"
    for name in ("hostname", "hosts", "resolv.conf"):
        assert f"/etc/{name}" in mounts
    assert not any(target.startswith(("/work", "/root", "/home/")) for target in mounts)
    assert "/run/minicontainer" not in result.stdout  # the old root is gone


def test_only_the_default_devices_exist(mc):
    result = sh(mc, "ls /dev; ls -l /dev/null")
    names = set(result.stdout.split())
    for expected in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm",
                     "mqueue", "fd", "stdin", "stdout", "stderr", "ptmx"):
        assert expected in names
    assert "sda" not in names and "vda" not in names and "kmsg" not in names
    assert "1," in result.stdout and "3" in result.stdout  # /dev/null is char 1,3


def test_host_root_is_unreachable(mc):
    result = sh(mc, "ls /work 2>&1; cat /proc/1/root/etc/hostname; ls /.. ")
    assert "/work" not in result.stdout or "No such file" in result.stdout
    assert "bin" in result.stdout  # /.. is the container's own /


@pytest.mark.parametrize("flag,kind", [("--pid", "pid"), ("--ipc", "ipc"), ("--uts", "uts"),
                                       ("--cgroupns", "cgroup")])
def test_each_namespace_can_stay_the_hosts(mc, flag, kind):
    host = os.readlink(f"/proc/self/ns/{kind}")
    private = sh(mc, f"readlink /proc/self/ns/{kind}")
    shared = sh(mc, f"readlink /proc/self/ns/{kind}", flag, "host")
    assert private.stdout.strip() != host
    assert shared.stdout.strip() == host, shared.stderr


def test_pid_host_sees_the_hosts_processes(mc):
    result = sh(mc, f"test -d /proc/{os.getpid()} && echo visible", "--pid", "host")
    assert result.stdout.strip() == "visible"


def test_time_namespace_is_private_where_the_kernel_has_it(mc):
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("machine lacks time namespaces")
    result = sh(mc, "readlink /proc/self/ns/time")
    assert result.stdout.strip() != os.readlink("/proc/self/ns/time")


def test_environment_workdir_and_user(mc, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=yes\n")
    result = sh(mc, 'echo "$A|$FROM_FILE|$HOSTNAME|$HOME|$PATH|$COPIED"; pwd; id',
                "-e", "A=1", "--env-file", str(env_file), "-e", "COPIED", "-h", "box",
                "-w", "/tmp/new/dir", "-u", "app", env={"COPIED": "from-host"})
    assert result.returncode == 0, result.stderr
    first, pwd, ids = result.stdout.splitlines()
    assert first == ("1|yes|box|/home/app|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                     "/sbin:/bin|from-host")
    assert pwd == "/tmp/new/dir"
    assert ids.startswith("uid=1000(app) gid=1000(app)") and "1001(extra)" in ids


def test_numeric_user_without_passwd_entry_gets_gid_0(mc):
    result = sh(mc, "id -u; id -g", "-u", "4242")
    assert result.stdout.split() == ["4242", "0"]
    grouped = sh(mc, "id -G", "-u", "4242:4243", "--group-add", "1001")
    assert grouped.stdout.split() == ["4243", "1001"]


def test_read_only_root_with_a_writable_tmpfs(mc):
    result = sh(mc, "touch /blocked 2>&1; touch /tmp/ok && echo tmp-ok; grep ' /tmp ' /proc/self/mounts",
                "--read-only", "--tmpfs", "/tmp:size=1m")
    assert "Read-only file system" in result.stdout
    assert "tmp-ok" in result.stdout
    assert "tmpfs /tmp tmpfs rw,nosuid,nodev,noexec" in result.stdout
    assert not os.path.exists("/work/main/rootfs/build/busybox/blocked")


def test_bind_mounts_read_write_and_read_only(mc, tmp_path):
    shared = tmp_path / "data"
    shared.mkdir()
    (shared / "in.txt").write_text("from host\n")
    result = sh(mc, "cat /data/in.txt; echo from container > /data/out.txt; "
                "echo x > /ro/x 2>&1 || echo ro-refused",
                "-v", f"{shared}:/data", "-v", f"{shared}:/ro:ro")
    assert "from host" in result.stdout and "ro-refused" in result.stdout
    assert (shared / "out.txt").read_text() == "from container\n"
    assert not (shared / "x").exists()


def test_volume_creates_a_missing_host_directory(mc, tmp_path):
    missing = tmp_path / "made-by-v"
    result = sh(mc, "ls -d /m", "-v", f"{missing}:/m")
    assert result.returncode == 0 and missing.is_dir()


def test_user_namespace_maps_root_to_an_unprivileged_range(mc, shared_dir):
    shared = shared_dir
    result = sh(mc, "cat /proc/self/uid_map; id -u; touch /owned/f; echo $$",
                "--userns", "remap:200000:65536", "-v", f"{shared}:/owned")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[0].split() == ["0", "200000", "65536"]
    assert lines[1] == "0"
    assert (shared / "f").stat().st_uid == 200000  # container root is nobody special on the host


def test_volumes_from_another_container(mc, shared_dir):
    (shared_dir / "note").write_text("shared\n")
    assert mc("run", "--name", "mctest-vfrom", "--network", "none", "-v", f"{shared_dir}:/data",
              "busybox", "true").returncode == 0
    result = sh(mc, "cat /data/note; touch /data/x 2>&1 || echo read-only", "--network", "none",
                "--volumes-from", "mctest-vfrom:ro")
    assert result.stdout.splitlines() == ["shared", "read-only"] or \
        "Read-only file system" in result.stdout, result.stdout + result.stderr
    assert mc("rm", "mctest-vfrom").returncode == 0
