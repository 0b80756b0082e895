"""Docker's default confinement, seen from inside a running container."""

import pytest

from conftest import needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox]

DOCKER_DEFAULT_CAPS = "00000000a80425fb"


def status(mc, *flags, script="cat /proc/self/status"):
    result = mc("run", "--rm", *flags, "busybox", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    fields = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def test_default_capabilities_and_seccomp_equal_dockers(mc):
    fields = status(mc)
    assert fields["CapBnd"] == fields["CapEff"] == fields["CapPrm"] == DOCKER_DEFAULT_CAPS
    assert fields["CapInh"] == fields["CapAmb"] == "0000000000000000"
    assert fields["Seccomp"] == "2"
    assert fields["NoNewPrivs"] == "0"


def test_a_non_root_user_keeps_only_the_bounding_set(mc):
    fields = status(mc, "-u", "1000")
    assert fields["CapBnd"] == DOCKER_DEFAULT_CAPS
    assert fields["CapEff"] == fields["CapPrm"] == "0000000000000000"


def test_cap_drop_all_and_cap_add(mc):
    fields = status(mc, "--cap-drop", "ALL", "--cap-add", "net_admin", "--cap-add", "CAP_KILL")
    assert int(fields["CapEff"], 16) == (1 << 12) | (1 << 5)  # NET_ADMIN, KILL


def test_unknown_capability_is_refused(mc):
    result = mc("run", "--rm", "--cap-add", "NOPE", "busybox", "true")
    assert result.returncode == 125 and "unknown capability 'NOPE'" in result.stderr


def test_privileged_has_every_capability_no_filter_no_masks(mc):
    fields = status(mc, "--privileged")
    assert int(fields["CapEff"], 16) == int(fields["CapBnd"], 16) > int(DOCKER_DEFAULT_CAPS, 16)
    assert fields["Seccomp"] == "0"


def test_sys_is_read_write_only_when_privileged(mc):
    # Read the mount options, never write: /sys under --privileged is the host's kernel.
    def sys_options(*flags):
        result = mc("run", "--rm", "--network", "none", *flags, "busybox", "sh", "-c",
                    "awk '$5 == \"/sys\" {print $6}' /proc/self/mountinfo")
        assert result.returncode == 0, result.stderr
        return result.stdout.split(",")[0].strip()
    assert sys_options() == "ro"
    assert sys_options("--privileged") == "rw"


def test_seccomp_unconfined_and_no_new_privileges(mc):
    unconfined = status(mc, "--security-opt", "seccomp=unconfined")
    assert unconfined["Seccomp"] == "0" and unconfined["CapEff"] == DOCKER_DEFAULT_CAPS
    nnp = status(mc, "--security-opt", "no-new-privileges")
    assert nnp["NoNewPrivs"] == "1" and nnp["Seccomp"] == "2"


def test_mount_and_unshare_are_refused(mc):
    result = mc("run", "--rm", "busybox", "sh", "-c",
                "mount -t tmpfs none /mnt 2>&1; unshare -n true 2>&1; echo done")
    assert "mount: permission denied" in result.stdout, result.stdout
    assert "unshare(0x40000000): Operation not permitted" in result.stdout


def test_system_paths_are_masked_and_read_only(mc):
    script = ("wc -c < /proc/keys; wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l; "
              # /proc/sys/kernel/hostname is per UTS namespace: harmless even if writable
              "{ echo probe > /proc/sys/kernel/hostname; } 2>&1 || true; "
              "grep -E ' /proc/(sys|bus|fs|irq) ' /proc/self/mounts | cut -d' ' -f4 | cut -c1-2 | sort -u")
    result = mc("run", "--rm", "busybox", "sh", "-c", script)
    lines = result.stdout.splitlines()
    assert lines[:3] == ["0", "0", "0"], result.stdout
    assert "Read-only file system" in lines[3]
    assert lines[4:] == ["ro"]


def test_systempaths_unconfined_lifts_the_masks(mc):
    result = mc("run", "--rm", "--security-opt", "systempaths=unconfined", "busybox", "sh", "-c",
                "grep -c ' /proc/sys ' /proc/self/mounts || true")
    assert result.stdout.strip() == "0"


def test_ulimit_is_applied_and_raising_is_refused(mc):
    lowered = mc("run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh", "-c",
                 "ulimit -n; ulimit -Hn")
    assert lowered.stdout.split() == ["100", "200"]
    raised = mc("run", "--rm", "--ulimit", "nofile=1048576:1048576", "busybox", "true")
    assert raised.returncode == 125 and "nofile" in raised.stderr


@pytest.mark.parametrize("flags", [(), ("-u", "1000")])
def test_no_descriptors_and_no_host_cwd_leak(mc, flags):
    result = mc("run", "--rm", *flags, "busybox", "sh", "-c", "ls /proc/self/fd; pwd; ls /proc/1/cwd/")
    lines = result.stdout.split()
    assert lines[:4] == ["0", "1", "2", "3"] and lines[4] == "/"
