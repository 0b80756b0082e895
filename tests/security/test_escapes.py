"""The escape suite: known ways out of a container, each shown to fail.

Every test runs an attack's first step inside a default container (Docker's
confinement: 14 capabilities, the seccomp profile, masked and read-only /proc
paths, the device cgroup, private namespaces) and asserts that it fails.  A
*control* then shows the same probe succeeding where the confinement is
lifted (--privileged, --cap-add, seccomp=unconfined, or on the host itself),
so a test cannot pass merely because its probe is broken.

The host is never harmed, whatever the outcome: probes only stat, access(2)
or open without reading, mount inside the container's own mount namespace,
call dangerous syscalls with arguments the kernel rejects after its
permission check (bad flags, bad fds, NULL pointers), and never write to
/proc/sys, sysrq-trigger, a device or a disk.  Where a probe needs a syscall
busybox cannot make, a small static C program is compiled for the test run.
"""

import errno
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import BUSYBOX, needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox]

PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

/* "NAME ok" or "NAME EPERM": one line per step, for the test to read. */
static void say(const char *name, long result) {
    if (result < 0) printf("%s %s\n", name, strerrorname_np(errno));
    else printf("%s ok\n", name);
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "keyctl"))           /* KEYCTL_GET_KEYRING_ID, session keyring, no create */
        say(what, syscall(SYS_keyctl, 0, -3, 0));
    else if (!strcmp(what, "bpf"))         /* BPF_PROG_LOAD with no attributes: EINVAL if reached */
        say(what, syscall(SYS_bpf, 5, NULL, 0));
    else if (!strcmp(what, "perf_event_open"))   /* NULL attr: EFAULT if reached */
        say(what, syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    else if (!strcmp(what, "finit_module"))      /* fd -1: EBADF if reached */
        say(what, syscall(SYS_finit_module, -1, "", 0));
    else if (!strcmp(what, "kexec_load"))        /* invalid flags: EINVAL if reached */
        say(what, syscall(SYS_kexec_load, 0, 0, NULL, 0x7fff0000UL));
    else if (!strcmp(what, "reboot"))            /* bad magic: EINVAL if reached */
        say(what, syscall(SYS_reboot, 0, 0, 0, NULL));
    else if (!strcmp(what, "ioperm"))            /* access to port 0x80 for this process only */
        say(what, ioperm(0x80, 1, 1));
    else if (!strcmp(what, "userfaultfd"))
        say(what, syscall(SYS_userfaultfd, O_CLOEXEC));
    else if (!strcmp(what, "unshare_user"))
        say(what, unshare(CLONE_NEWUSER));
    else if (!strcmp(what, "ptrace") && argc > 2)  /* SEIZE does not stop the tracee */
        say(what, ptrace(PTRACE_SEIZE, atoi(argv[2]), NULL, NULL));
    else if (!strcmp(what, "access"))            /* access(2) W_OK: asks, writes nothing */
        for (int i = 2; i < argc; i++) say(argv[i], access(argv[i], W_OK));
    else if (!strcmp(what, "euid"))
        printf("euid %d\n", (int)geteuid());
    else if (!strcmp(what, "open_by_handle") && argc > 2) {
        struct { struct file_handle h; unsigned char bytes[128]; } fh;
        int mount_id;
        fh.h.handle_bytes = sizeof fh.bytes;
        say("name_to_handle_at", name_to_handle_at(AT_FDCWD, argv[2], &fh.h, &mount_id, 0));
        int mount_fd = open(argv[2], O_RDONLY);
        say("open_by_handle_at", open_by_handle_at(mount_fd, &fh.h, O_RDONLY));
    } else if (!strcmp(what, "chroot_escape") && argc > 3) {
        /* the classic: chroot into a subdirectory without entering it, walk
           ".." from the old cwd, then chroot to wherever that ended */
        mkdir(argv[2], 0700);
        say("chroot_jail", chroot(argv[2]));
        for (int i = 0; i < 64; i++) chdir("..");
        say("chroot_dot", chroot("."));
        struct stat st;
        say("marker_visible", stat(argv[3], &st));
    } else if (!strcmp(what, "tty")) {
        char c = ' ';
        say("open_dev_tty", open("/dev/tty", O_RDWR));
        say("tiocsti", ioctl(0, TIOCSTI, &c));
    } else {
        fprintf(stderr, "unknown probe %s\n", what);
        return 2;
    }
    return 0;
}
"""


# -- fixtures ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def probe_dir():
    """A directory (mounted at /probe) with the static C probe in it."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("machine lacks gcc")
    path = tempfile.mkdtemp(prefix="mctest-probe-")
    os.chmod(path, 0o755)
    source = os.path.join(path, "probe.c")
    with open(source, "w") as f:
        f.write(PROBE_C)
    built = subprocess.run([gcc, "-static", "-O1", "-o", os.path.join(path, "probe"), source],
                           capture_output=True, text=True)
    if built.returncode != 0:
        shutil.rmtree(path)
        pytest.skip(f"machine lacks a static C library for gcc: {built.stderr[-200:]}")
    yield path
    shutil.rmtree(path)


@pytest.fixture
def host_dir():
    """A host directory on the root filesystem with a marker file in it."""
    path = tempfile.mkdtemp(prefix="mctest-escape-", dir="/var/tmp")
    os.chmod(path, 0o755)
    with open(os.path.join(path, "host-marker"), "w") as f:
        f.write("on the host\n")
    yield path
    shutil.rmtree(path)


def sh(mc, script, *flags, probe=None, **kwargs):
    volumes = ("-v", f"{probe}:/probe:ro") if probe else ()
    return mc("run", "--rm", "--network", "none", *volumes, *flags, "busybox", "sh", "-c",
              script, **kwargs)


def probe(mc, probe_dir, *args, flags=()):
    """Run the C probe in a container → {step: "ok" | errno name}."""
    result = mc("run", "--rm", "--network", "none", "-v", f"{probe_dir}:/probe:ro", *flags,
                "busybox", "/probe/probe", *args)
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


def host_disk():
    """(major, minor) of a real block device: the root filesystem's, else any disk."""
    dev = os.stat("/").st_dev
    if os.major(dev) != 0:
        return os.major(dev), os.minor(dev)
    for name in sorted(os.listdir("/sys/block")):
        try:
            with open(f"/sys/block/{name}/dev") as f:
                major, minor = f.read().strip().split(":")
            return int(major), int(minor)
        except OSError:
            continue
    pytest.skip("machine lacks a block device")


def refused(stderr):
    """EPERM/EACCES as busybox words them ("mount: permission denied (are you root?)")."""
    text = stderr.lower()
    return "operation not permitted" in text or "permission denied" in text


def mount_options(mountinfo, mountpoint):
    """The per-mount options of ``mountpoint`` (last mount wins), or None."""
    found = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[4] == mountpoint:
            found = fields[5].split(",")
    return found


def container_mountinfo(mc, *flags, volumes=()):
    result = sh(mc, "cat /proc/self/mountinfo", *flags, *volumes)
    assert result.returncode == 0, result.stderr
    return result.stdout


# -- block devices ------------------------------------------------------------------

@pytest.fixture(scope="module")
def test_disk():
    """(major, minor) of a small ext4 image on a READ-ONLY loop device made for the tests.

    It stands in for the host's disk where a probe must be able to succeed
    (the controls); nothing can be written to it even then.
    """
    losetup, mkfs = shutil.which("losetup"), shutil.which("mkfs.ext4")
    if not losetup or not mkfs:
        pytest.skip("machine lacks losetup or mkfs.ext4")
    path = tempfile.mkdtemp(prefix="mctest-disk-")
    image = os.path.join(path, "disk.img")
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run([mkfs, "-q", "-F", image], check=True, capture_output=True)
    made = subprocess.run([losetup, "--find", "--show", "--read-only", image],
                          capture_output=True, text=True)
    if made.returncode != 0:
        shutil.rmtree(path)
        pytest.skip(f"machine lacks a free loop device: {made.stderr.strip()}")
    device = made.stdout.strip()
    try:
        rdev = os.stat(device).st_rdev
        yield os.major(rdev), os.minor(rdev)
    finally:
        subprocess.run([losetup, "-d", device], check=False)
        shutil.rmtree(path)


MOUNT_DISK = ("mknod /tmp/disk b {0} {1} && mkdir /tmp/m && mount -o ro /tmp/disk /tmp/m && "
              "ls /tmp/m && umount /tmp/m")


def test_mounting_a_disk_is_refused(mc, test_disk):
    # Technique: mknod the host disk's numbers (CAP_MKNOD is a default) and
    # mount it to read the host's files.  Refused twice over: mount needs
    # CAP_SYS_ADMIN (and seccomp), opening the node is denied by the device cgroup.
    result = sh(mc, MOUNT_DISK.format(*test_disk))
    assert result.returncode != 0 and "lost+found" not in result.stdout
    assert refused(result.stderr), result.stderr


def test_control_privileged_mounts_the_disk(mc, test_disk):
    # the read-only loop device, mounted read-only in the container's own namespace
    result = sh(mc, MOUNT_DISK.format(*test_disk), "--privileged")
    assert "lost+found" in result.stdout.split(), result.stderr


def test_opening_the_host_disk_is_refused(mc, test_disk):
    # Technique: raw disk read through a node made with mknod (no mount
    # needed).  The probe only opens (zero bytes read): the device cgroup
    # refuses the open -- for the host's real disk and for the test disk.
    for major, minor in (host_disk(), test_disk):
        result = sh(mc, f"mknod /tmp/disk b {major} {minor} && head -c0 /tmp/disk")
        assert result.returncode == 1
        assert "/tmp/disk: Operation not permitted" in result.stderr


def test_control_privileged_opens_the_disk(mc, test_disk):
    result = sh(mc, "mknod /tmp/disk b {0} {1} && head -c0 /tmp/disk && echo opened"
                .format(*test_disk), "--privileged")
    assert result.stdout.strip() == "opened", result.stderr


def test_dev_mem_through_mknod_is_refused(mc):
    # Technique: physical memory through /dev/mem (1:1) made with mknod; open only.
    result = sh(mc, "mknod /tmp/mem c 1 1 && head -c0 /tmp/mem")
    assert result.returncode == 1
    assert "/tmp/mem: Operation not permitted" in result.stderr


# -- mounting kernel filesystems ---------------------------------------------------

PROC_MOUNT = "mkdir /tmp/p && mount -t proc proc /tmp/p && echo mounted"


def test_mounting_proc_again_is_refused(mc):
    # Technique: mount a fresh procfs, whose /proc/sys and sysrq-trigger are
    # not covered by the runtime's read-only bind mounts.
    result = sh(mc, PROC_MOUNT)
    assert result.returncode != 0 and "mounted" not in result.stdout
    assert refused(result.stderr), result.stderr


def test_control_privileged_may_mount_proc(mc):
    # harmless: the mount lives and dies in the container's mount namespace
    result = sh(mc, PROC_MOUNT, "--privileged")
    assert result.stdout.strip() == "mounted", result.stderr


def test_cgroup_release_agent_mount_is_refused(mc):
    # Technique (CVE-2022-0492): mount a cgroup v1 hierarchy, set
    # notify_on_release and write a host path into release_agent, which the
    # kernel runs as root on the host.  The first step, the mount, is refused.
    result = sh(mc, "mkdir /tmp/cg && mount -t cgroup -o memory cgroup /tmp/cg && echo mounted")
    assert result.returncode != 0 and "mounted" not in result.stdout
    assert refused(result.stderr), result.stderr


def test_control_privileged_may_mount_a_cgroup_hierarchy(mc):
    if not os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        pytest.skip("machine lacks a mounted v1 memory hierarchy to mount again")
    # read-only, an existing hierarchy, in the container's own mount namespace
    result = sh(mc, "mkdir /tmp/cg && mount -t cgroup -o ro,memory cgroup /tmp/cg && "
                    "echo mounted", "--privileged")
    assert result.stdout.strip() == "mounted", result.stderr


# -- /proc knobs that act on the host ------------------------------------------------

def test_sysrq_trigger_is_absent_or_read_only(mc, probe_dir):
    # Technique: echo b > /proc/sysrq-trigger reboots the host.  Checked by
    # mount flags and access(2) only -- never by writing.  (busybox's
    # `test -w` is no help: for root it answers yes without asking the kernel.)
    if not os.path.exists("/proc/sysrq-trigger"):
        result = sh(mc, "[ -e /proc/sysrq-trigger ] && echo present || echo absent")
        assert result.stdout.strip() == "absent"
        return
    assert probe(mc, probe_dir, "access", "/proc/sysrq-trigger") == \
        {"/proc/sysrq-trigger": "EROFS"}
    assert "ro" in mount_options(container_mountinfo(mc), "/proc/sysrq-trigger")


def test_core_pattern_is_read_only(mc, probe_dir):
    # Technique: write "|/path/in/container" to /proc/sys/kernel/core_pattern:
    # the host kernel runs it as root on the next crash.  /proc/sys must be
    # a read-only mount; checked by mount flags and access(2), never by writing.
    result = sh(mc, "cat /proc/sys/kernel/core_pattern >/dev/null && echo readable")
    assert result.stdout.strip() == "readable", result.stderr
    knobs = [p for p in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
                         "/proc/sys/kernel/hotplug") if os.path.exists(p)]
    assert probe(mc, probe_dir, "access", *knobs) == {p: "EROFS" for p in knobs}
    assert "ro" in mount_options(container_mountinfo(mc), "/proc/sys")


def test_control_privileged_proc_sys_is_writable(mc, probe_dir):
    # access(2) only: nothing is written
    seen = probe(mc, probe_dir, "access", "/proc/sys/kernel/core_pattern",
                 flags=("--privileged",))
    assert seen == {"/proc/sys/kernel/core_pattern": "ok"}


def test_masked_proc_files_read_empty(mc):
    # Technique: read kernel state that leaks host secrets or addresses
    # (/proc/kcore, keys, timer_list, sched_debug ...).  Docker masks them
    # with /dev/null (files) or an empty read-only tmpfs (directories).
    script = ("for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug "
              "/proc/latency_stats /proc/timer_stats; do "
              "[ -e $f ] && echo $f $(head -c 4096 $f | wc -c); done; "
              "[ -d /proc/acpi ] && echo /proc/acpi $(ls -A /proc/acpi | wc -l); true")
    result = sh(mc, script)
    assert result.returncode == 0, result.stderr
    sizes = dict(line.split() for line in result.stdout.splitlines())
    assert sizes, "no masked file exists to check"
    assert set(sizes.values()) == {"0"}, sizes


def test_control_privileged_reads_timer_list(mc):
    if not os.path.exists("/proc/timer_list"):
        pytest.skip("machine lacks /proc/timer_list")
    result = sh(mc, "head -c 4096 /proc/timer_list | wc -c", "--privileged")
    assert int(result.stdout) > 0, result.stderr


def test_sysfs_is_read_only(mc, probe_dir):
    # Technique: write to /sys (e.g. /sys/kernel/uevent_helper, run by the
    # host kernel on device events).  sysfs is mounted read-only.
    assert probe(mc, probe_dir, "access", "/sys/kernel") == {"/sys/kernel": "EROFS"}
    assert "ro" in mount_options(container_mountinfo(mc), "/sys")


def test_control_access_probe_sees_the_hosts_writable_sysfs(probe_dir):
    # the probe itself, on the host: access(2) says yes where nothing is read-only
    out = subprocess.run([os.path.join(probe_dir, "probe"), "access", "/sys/kernel"],
                         capture_output=True, text=True)
    assert out.stdout.strip() == "/sys/kernel ok"


# -- namespaces and processes --------------------------------------------------------

@pytest.fixture
def host_sleeper():
    """A host process of our own to aim at (the host's pid 1 may be out of our reach)."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_proc_1_root_is_the_containers_own_root(mc, host_dir):
    # Technique: walk /proc/1/root (pid 1's root) to reach the host's files.
    # In a private PID namespace pid 1 is the container's own process.
    marker = os.path.join(host_dir, "host-marker")
    script = (f"ls /proc/1/root{marker} 2>/dev/null && echo host-visible; "
              f"ls /proc/1/root/../../..{marker} 2>/dev/null && echo host-visible; "
              "[ $(stat -c %i /proc/1/root/) = $(stat -c %i /) ] && echo same-root")
    result = sh(mc, script)
    assert result.stdout.split() == ["same-root"], result.stdout + result.stderr


def test_control_host_pid_namespace_shows_the_hosts_root(mc, host_dir, host_sleeper):
    # with the host's PID namespace and every capability, a host process's
    # root is the host's / (stat only)
    marker = os.path.join(host_dir, "host-marker")
    result = sh(mc, f"ls /proc/{host_sleeper}/root{marker} >/dev/null && echo host-visible",
                "--privileged", "--pid", "host")
    assert result.stdout.strip() == "host-visible", result.stderr


def test_host_namespaces_cannot_be_entered(mc):
    # Technique: setns into pid 1's mount namespace (nsenter -t 1 -m) to get
    # the host's filesystem.  pid 1 is the container's, and setns needs
    # CAP_SYS_ADMIN anyway.
    result = sh(mc, "readlink /proc/1/ns/mnt; nsenter -t 1 -m -- true && echo entered")
    lines = result.stdout.split()
    assert "entered" not in lines
    assert lines[0] != os.readlink("/proc/self/ns/mnt")
    assert refused(result.stderr), result.stderr


def test_control_privileged_host_pid_may_enter(mc, host_sleeper):
    # harmless: runs `true` in the host's mount namespace
    result = sh(mc, f"nsenter -t {host_sleeper} -m -- true && echo entered",
                "--privileged", "--pid", "host")
    assert result.stdout.strip() == "entered", result.stderr


def test_host_processes_cannot_be_traced_or_signalled(mc, probe_dir, host_sleeper):
    # Technique: ptrace a host process (inject code into it) or signal it.
    # Host PIDs do not exist in the container's PID namespace.
    seen = probe(mc, probe_dir, "ptrace", str(host_sleeper))
    assert seen == {"ptrace": "ESRCH"}
    result = sh(mc, f"[ -e /proc/{host_sleeper} ] && echo visible; kill -0 {host_sleeper}")
    assert "visible" not in result.stdout
    assert result.returncode != 0


def test_control_host_pid_namespace_may_trace(mc, probe_dir, host_sleeper):
    # PTRACE_SEIZE does not stop the tracee; the probe exits and detaches
    seen = probe(mc, probe_dir, "ptrace", str(host_sleeper),
                 flags=("--privileged", "--pid", "host"))
    assert seen == {"ptrace": "ok"}


def test_unshare_to_regain_capabilities_is_refused(mc, probe_dir):
    # Technique: unshare(CLONE_NEWUSER) gives every capability again -- in a
    # new user namespace.  Docker's seccomp profile refuses it outright.
    assert probe(mc, probe_dir, "unshare_user") == {"unshare_user": "EPERM"}


def test_capabilities_of_a_new_user_namespace_do_not_reach_host_devices(mc, test_disk):
    # With seccomp lifted, unshare -Urm succeeds; the capabilities it gives
    # still do not mount a disk (ext4 is not mountable in a user namespace,
    # and the device cgroup refuses the open).  test_control_privileged_mounts_
    # the_disk shows the same mount working with real capabilities.
    major, minor = test_disk
    result = sh(mc, f"mknod /tmp/disk b {major} {minor} && mkdir /tmp/m && "
                    "unshare -Urm sh -c 'echo in-userns; mount -o ro /tmp/disk /tmp/m "
                    "&& echo mounted'", "--security-opt", "seccomp=unconfined")
    assert result.stdout.split() == ["in-userns"], result.stderr
    assert refused(result.stderr), result.stderr


def test_chroot_escape_stays_in_the_container(mc, probe_dir, host_dir):
    # Technique: chroot into a subdirectory without chdir, walk ".." out of
    # it, chroot(".").  Works against a chroot; pivot_root plus a detached old
    # root leave nothing above the container's root.
    marker = os.path.join(host_dir, "host-marker")
    seen = probe(mc, probe_dir, "chroot_escape", "/tmp/jail", marker)
    assert seen == {"chroot_jail": "ok", "chroot_dot": "ok", "marker_visible": "ENOENT"}


def test_control_chroot_escape_works_from_a_plain_chroot(probe_dir, host_dir):
    # the same probe on the host, started inside a chroot of host_dir: it gets out
    # (the chroot ends with the probe process; nothing else is touched)
    jail = os.path.join(host_dir, "root")
    os.mkdir(jail)
    shutil.copy(os.path.join(probe_dir, "probe"), jail)
    marker = os.path.join(host_dir, "host-marker")
    out = subprocess.run(["chroot", jail, "/probe", "chroot_escape", "/inner", marker],
                         capture_output=True, text=True)
    assert dict(line.split(" ", 1) for line in out.stdout.splitlines())["marker_visible"] == "ok"


def test_open_by_handle_at_is_refused(mc, probe_dir):
    # Technique ("shocker", 2014): open_by_handle_at opens any inode of a
    # filesystem by number, bypassing the mount the container sees -- e.g. the
    # host's root inode through a bind-mounted file.  Needs
    # CAP_DAC_READ_SEARCH, which Docker does not grant.
    seen = probe(mc, probe_dir, "open_by_handle", "/etc/hosts")
    assert seen == {"name_to_handle_at": "ok", "open_by_handle_at": "EPERM"}


def test_control_dac_read_search_opens_by_handle(mc, probe_dir):
    seen = probe(mc, probe_dir, "open_by_handle", "/etc/hosts",
                 flags=("--cap-add", "DAC_READ_SEARCH"))
    assert seen == {"name_to_handle_at": "ok", "open_by_handle_at": "ok"}


# -- syscalls Docker's profile or capabilities refuse --------------------------------

# (probe, the technique it is the first step of)
REFUSED_SYSCALLS = [
    ("keyctl", "read or plant keys in the kernel keyring, which is not namespaced"),
    ("bpf", "load eBPF programs (kernel memory reads, verifier exploits)"),
    ("perf_event_open", "profile the host kernel / perf exploits"),
    ("finit_module", "load a kernel module"),
    ("kexec_load", "boot another kernel"),
    ("reboot", "reboot the host"),
    ("ioperm", "raw I/O port access (CAP_SYS_RAWIO)"),
    ("userfaultfd", "stall the kernel in a page fault to win races in exploits"),
]


@pytest.mark.parametrize("call,technique", REFUSED_SYSCALLS, ids=[c for c, _ in REFUSED_SYSCALLS])
def test_dangerous_syscall_is_refused(mc, probe_dir, call, technique):
    assert probe(mc, probe_dir, call) == {call: "EPERM"}, technique


@pytest.mark.parametrize("call", [c for c, _ in REFUSED_SYSCALLS])
def test_control_privileged_reaches_the_kernel(mc, probe_dir, call):
    # the kernel's own answer to the bad arguments: anything but EPERM
    # (kexec_load may be ENOSYS where the kernel lacks kexec)
    seen = probe(mc, probe_dir, call, flags=("--privileged",))
    assert seen[call] != "EPERM", seen


# -- the terminal ---------------------------------------------------------------------

@pytest.mark.parametrize("interactive", [(), ("-i",)], ids=["no-stdin", "with-i"])
def test_tiocsti_cannot_inject_into_the_launchers_terminal(mc, probe_dir, interactive):
    # Technique: ioctl(TIOCSTI) pushes characters into the input of the
    # terminal the container was started from, as if the user typed them;
    # they run in the host shell after the container exits.  The container
    # has its own session with no controlling terminal: even with -i, where
    # its stdin is that very terminal, the kernel refuses (EPERM).
    master, slave = pty.openpty()
    try:
        result = subprocess.run(
            [*mc.argv, "run", "--rm", *interactive, "--network", "none",
             "-v", f"{probe_dir}:/probe:ro", "busybox", "/probe/probe", "tty"],
            stdin=slave, capture_output=True, text=True, env=mc.env, timeout=60)
        seen = dict(line.split(" ", 1) for line in result.stdout.splitlines())
        assert seen["open_dev_tty"] == "ENXIO", result.stderr
        # without -i stdin is /dev/null (ENOTTY); with -i it is the terminal
        assert seen["tiocsti"] == ("EPERM" if interactive else "ENOTTY"), seen
        assert not select.select([master], [], [], 0)[0], "something reached the terminal"
    finally:
        os.close(master)
        os.close(slave)


def test_control_tiocsti_works_on_a_controlling_terminal(probe_dir):
    with open("/proc/sys/dev/tty/legacy_tiocsti") if os.path.exists(
            "/proc/sys/dev/tty/legacy_tiocsti") else open(os.devnull) as f:
        if f.read().strip() == "0":
            pytest.skip("machine lacks legacy TIOCSTI (dev.tty.legacy_tiocsti=0)")
    pid, master = pty.fork()
    if pid == 0:                                   # session leader with the pty as its tty
        os.execv(os.path.join(probe_dir, "probe"), ["probe", "tty"])
    output = b""
    try:
        while True:
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.waitpid(pid, 0)
        os.close(master)
    assert b"tiocsti ok" in output


# -- leaked descriptors and the runtime's own binary -----------------------------------

@pytest.fixture
def host_dir_fd(host_dir):
    fd = os.open(host_dir, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def test_no_host_fd_or_cwd_leaks_in(mc, host_dir, host_dir_fd):
    # Technique (CVE-2024-21626): a host directory fd the runtime leaves open
    # (or a cwd on the host) lets the container reach the host through
    # /proc/self/fd/N.  The test launches the runtime holding such an fd and
    # from within the host directory; neither may arrive in the container.
    result = sh(mc, "ls /proc/self/fd; readlink /proc/1/cwd; "
                    "for f in /proc/self/fd/*; do ls $f/host-marker 2>/dev/null; done; true",
                pass_fds=(host_dir_fd,), cwd=host_dir)
    lines = result.stdout.split()
    assert sorted(lines[:-1], key=int) == ["0", "1", "2", "3"], lines   # 3: ls's own
    assert lines[-1] == "/"


def test_workdir_through_a_leaked_fd_stays_inside(mc, host_dir_fd):
    # The CVE's own form: -w /proc/self/fd/N, N a host directory the runtime
    # inherited.  The container must fail to start or stay in its own tree.
    result = mc("run", "--rm", "--network", "none", "-w", f"/proc/self/fd/{host_dir_fd}",
                "busybox", "sh", "-c", "ls host-marker && echo leaked",
                pass_fds=(host_dir_fd,))
    assert "leaked" not in result.stdout


def test_the_runtime_binary_is_not_reachable(mc):
    # Technique (CVE-2019-5736): overwrite the runtime's binary through
    # /proc/<pid>/exe while the runtime enters the container.  No process in
    # the container is the host's Python; the container's own exe is busy and
    # is not opened for writing (the probe appends nothing: `exec 3>>` only opens).
    result = sh(mc, "for p in /proc/[0-9]*; do readlink $p/exe; done; "
                    "(exec 3>>/proc/1/exe) && echo opened-for-writing")
    exes = result.stdout.split()
    assert "opened-for-writing" not in exes
    assert all(exe.startswith("/bin/") for exe in exes), exes
    assert not any("python" in exe for exe in exes)
    assert "Text file busy" in result.stderr


def test_setuid_binaries_stay_unprivileged_with_no_new_privileges(mc, probe_dir):
    # Technique: a setuid-root binary in the image turns a non-root user into
    # root.  With --security-opt no-new-privileges exec grants nothing.
    setuid_dir = tempfile.mkdtemp(prefix="mctest-setuid-")
    try:
        os.chmod(setuid_dir, 0o755)
        binary = os.path.join(setuid_dir, "probe")
        shutil.copy(os.path.join(probe_dir, "probe"), binary)
        os.chmod(binary, 0o4755)
        run = ("run", "--rm", "--network", "none", "-v", f"{setuid_dir}:/su:ro", "-u", "1000")
        confined = mc(*run, "--security-opt", "no-new-privileges", "busybox", "/su/probe", "euid")
        assert confined.stdout.strip() == "euid 1000", confined.stderr
        # control: without the option the setuid bit works
        plain = mc(*run, "busybox", "/su/probe", "euid")
        assert plain.stdout.strip() == "euid 0", plain.stderr
    finally:
        shutil.rmtree(setuid_dir)


# -- mounts the user asked for -----------------------------------------------------------

def test_symlinked_mount_target_in_the_image_stays_in_the_root(mc, tmp_path, host_dir):
    # Technique: an image ships /etc/hosts as a symlink to a host path; a
    # runtime that follows it while creating or mounting the target writes on
    # (or mounts over) the host's file.  Targets are resolved within the root.
    victim = os.path.join(host_dir, "host-marker")
    absent = os.path.join(host_dir, "made-by-runtime")
    rootfs = tmp_path / "mctest-rootfs"
    shutil.copytree(BUSYBOX, rootfs, symlinks=True)
    os.chmod(tmp_path, 0o755)
    (rootfs / "etc").mkdir(exist_ok=True)
    for name in ("hosts", "hostname", "resolv.conf"):
        if (rootfs / "etc" / name).exists() or (rootfs / "etc" / name).is_symlink():
            (rootfs / "etc" / name).unlink()
    (rootfs / "etc" / "hosts").symlink_to(victim)                        # an existing file
    (rootfs / "etc" / "hostname").symlink_to("../../../../../../.." + absent)  # a new one
    # the plain reading of the link leads out of the root: the danger is real
    assert os.path.realpath(rootfs / "etc" / "hosts") == victim
    before = os.stat(victim)
    with open(victim) as f:
        content = f.read()
    result = mc("run", "--rm", "--network", "none", str(rootfs), "cat", "/etc/hosts")
    assert result.returncode == 0, result.stderr
    assert "localhost" in result.stdout
    after = os.stat(victim)
    with open(victim) as f:
        assert f.read() == content
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == \
        (before.st_ino, before.st_mtime_ns, before.st_size)
    assert not os.path.exists(absent)
    assert (rootfs / host_dir.lstrip("/") / "host-marker").exists()   # made inside instead


def test_symlink_in_a_volume_cannot_redirect_a_later_mount(mc, host_dir):
    # Technique (CVE-2021-30465): a volume holds a symlink (or swaps one in)
    # where a later mount's target lies, e.g. -v shared:/data -v x:/data/link
    # with shared/link -> /etc.  Resolved before the volume is mounted, or by
    # the kernel from the host's root, the second mount lands outside the
    # container.  It must land inside: on the container's own /etc.
    shared = os.path.join(host_dir, "shared")
    other = os.path.join(host_dir, "other")
    os.mkdir(shared)
    os.mkdir(other)
    os.symlink("/etc", os.path.join(shared, "link"))
    with open(os.path.join(other, "other-marker"), "w") as f:
        f.write("x")
    result = sh(mc, "ls /etc/other-marker && awk '$5 == \"/etc\" {print $4}' /proc/self/mountinfo",
                "-v", f"{shared}:/data", "-v", f"{other}:/data/link:ro")
    assert result.returncode == 0, result.stderr
    marker, mount_root = result.stdout.split()
    assert marker == "/etc/other-marker"
    # the mount on the container's /etc is that volume (its path within its filesystem)
    assert mount_root.endswith(os.path.join(os.path.basename(host_dir), "other"))
    assert os.readlink(os.path.join(shared, "link")) == "/etc"     # the volume is untouched


def test_read_only_bind_of_the_host_root_stays_read_only(mc, probe_dir, host_dir):
    # Technique: -v /:/host:ro looks harmless, but a bind of / brings /proc,
    # /sys and the host's cgroupfs along; unless each is read-only too, the
    # container writes /host/proc/sys/kernel/core_pattern or a cgroup's
    # release_agent.  Checked by mount flags; the one write attempt goes to
    # this test's own directory on the host's root filesystem.
    mountinfo = container_mountinfo(mc, volumes=("-v", "/:/host:ro"))
    host_mounts = [line.split() for line in mountinfo.splitlines()
                   if line.split()[4] == "/host" or line.split()[4].startswith("/host/")]
    assert len(host_mounts) > 1
    writable = [m[4] for m in host_mounts if "ro" not in m[5].split(",")]
    assert not writable, writable
    knobs = ["/host/proc/sys/kernel/core_pattern", "/host/sys/kernel"]
    release_agents = [f"/host{d}/release_agent" for d in
                      ("/sys/fs/cgroup/memory", "/sys/fs/cgroup/devices")
                      if os.path.exists(os.path.join(d, "release_agent"))]
    seen = probe(mc, probe_dir, "access", *knobs, *release_agents,
                 flags=("-v", "/:/host:ro"))
    assert seen == {path: "EROFS" for path in knobs + release_agents}
    target = f"/host{host_dir}/written"
    result = sh(mc, f"touch {target}", "-v", "/:/host:ro")
    assert "Read-only file system" in result.stderr
    assert not os.path.exists(os.path.join(host_dir, "written"))


def test_control_a_read_write_bind_is_writable(mc, host_dir):
    result = sh(mc, "touch /h/written && echo wrote", "-v", f"{host_dir}:/h")
    assert result.stdout.strip() == "wrote", result.stderr
    assert os.path.exists(os.path.join(host_dir, "written"))
