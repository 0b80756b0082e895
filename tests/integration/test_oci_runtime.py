"""An OCI config's process and security fields, proved from inside the container.

Each test writes a bundle (tests/oci_helpers.py), converts it with
load_bundle and runs it through the Python API; the probe inside prints what
the kernel says (/proc/self/status, id, ulimit ...).
"""

import os
import select
import time

import pytest

from conftest import needs_busybox, needs_root
from minicontainer import Container
from minicontainer.errors import MiniContainerError
from minicontainer.security.capabilities import NUMBERS, to_mask
from oci_helpers import Bundle, base_config, run_config

pytestmark = [needs_root, needs_busybox]


def status_fields(text):
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


def test_args_env_cwd_exactly(state_root):
    config = base_config(["sh", "-c", "env | sort; pwd; echo \"$0|$1\"", "zero", "one"])
    config["process"]["env"] = ["PATH=/bin:/sbin", "FOO=bar baz", "EMPTY="]
    config["process"]["cwd"] = "/tmp/made/here"
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    # env prints the config's variables and what sh itself sets (PWD, SHLVL): no
    # HOSTNAME or TERM added by the runtime, only HOME from /etc/passwd as runc does.
    env = [line for line in lines[:-2] if not line.startswith(("PWD=", "SHLVL="))]
    assert env == ["EMPTY=", "FOO=bar baz", "HOME=/root", "PATH=/bin:/sbin"]
    assert lines[-2:] == ["/tmp/made/here", "zero|one"]


def test_user_and_additional_gids(state_root):
    config = base_config(["sh", "-c", "id -u; id -g; grep Groups /proc/self/status"])
    config["process"]["user"] = {"uid": 1234, "gid": 567, "additionalGids": [10, 20]}
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    uid, gid, groups = result.stdout.splitlines()
    assert (uid, gid) == ("1234", "567")
    assert groups.split()[1:] == ["10", "20"]


def test_no_additional_gids_means_no_groups(state_root):
    config = base_config(["grep", "Groups", "/proc/self/status"])
    config["process"]["user"] = {"uid": 1, "gid": 1}
    result = run_config(state_root, config)
    assert result.stdout.split() == ["Groups:"]


def test_five_capability_sets(state_root):
    config = base_config(["cat", "/proc/self/status"])
    config["process"]["noNewPrivileges"] = False
    config["process"]["capabilities"] = {
        "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW", "CAP_SETUID"],
        "effective": ["CAP_KILL"],
        "inheritable": ["CAP_NET_RAW", "CAP_KILL"],
        "permitted": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"],
        "ambient": ["CAP_NET_RAW"],
    }
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    fields = status_fields(result.stdout)
    caps = config["process"]["capabilities"]
    assert int(fields["CapBnd"], 16) == to_mask(caps["bounding"])
    assert int(fields["CapInh"], 16) == to_mask(caps["inheritable"])
    assert int(fields["CapAmb"], 16) == to_mask(caps["ambient"])
    # uid 0's exec: the kernel treats the program as having every file capability, so
    # permitted = effective = the bounding set (runc's containers see the same)
    assert int(fields["CapPrm"], 16) == to_mask(caps["bounding"])
    assert int(fields["CapEff"], 16) == to_mask(caps["bounding"])


def test_capabilities_of_a_non_root_user(state_root):
    """A non-root user keeps exactly the config's sets across the exec via ambient."""
    config = base_config(["cat", "/proc/self/status"])
    config["process"]["user"] = {"uid": 1000, "gid": 1000}
    config["process"]["noNewPrivileges"] = False
    config["process"]["capabilities"] = {
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    fields = status_fields(result.stdout)
    assert fields["Uid"].split()[0] == "1000"
    bind = to_mask(["CAP_NET_BIND_SERVICE"])
    assert int(fields["CapAmb"], 16) == bind
    # after exec a non-root process keeps only what ambient carries
    assert int(fields["CapEff"], 16) == bind and int(fields["CapPrm"], 16) == bind
    assert int(fields["CapInh"], 16) == to_mask(["CAP_KILL", "CAP_NET_BIND_SERVICE"])
    assert int(fields["CapBnd"], 16) == to_mask(config["process"]["capabilities"]["bounding"])


def test_no_capabilities_object_means_none(state_root):
    config = base_config(["cat", "/proc/self/status"])
    del config["process"]["capabilities"]
    fields = status_fields(run_config(state_root, config).stdout)
    for key in ("CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(fields[key], 16) == 0, key


def test_rlimits_and_no_new_privileges(state_root):
    config = base_config(["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c; "
                          "grep NoNewPrivs /proc/self/status"])
    config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
                                    {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
    result = run_config(state_root, config)
    assert result.stdout.split() == ["123", "456", "0", "NoNewPrivs:", "1"]
    config["process"]["noNewPrivileges"] = False
    assert run_config(state_root, config).stdout.split()[-1] == "0"


def _have_cap(name):
    with open("/proc/self/status") as f:
        fields = status_fields(f.read())
    return bool(int(fields["CapEff"], 16) >> NUMBERS[name] & 1)


def test_oom_score_adj(state_root):
    config = base_config(["cat", "/proc/self/oom_score_adj"])
    config["process"]["oomScoreAdj"] = 321
    assert run_config(state_root, config).stdout.strip() == "321"
    config["process"]["oomScoreAdj"] = -100
    if _have_cap("CAP_SYS_RESOURCE"):
        assert run_config(state_root, config).stdout.strip() == "-100"
    else:  # this runtime may only raise it: a clear error, nothing left behind
        with pytest.raises(MiniContainerError, match="cannot set oomScoreAdj to -100.*"
                           "CAP_SYS_RESOURCE"):
            run_config(state_root, config)


def test_seccomp_in_oci_form(state_root):
    config = base_config(["sh", "-c", "grep Seccomp: /proc/self/status; mkdir /tmp/x; "
                          "echo mkdir=$?; kill -0 $$; echo kill0=$?; kill -CONT $$; "
                          "echo cont=$?"])
    config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            # kill(pid, 0) refused, any other signal allowed
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
        ],
    }
    if os.uname().machine != "x86_64":
        config["linux"]["seccomp"].pop("architectures")
    result = run_config(state_root, config)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Seccomp:", "2"]
    assert lines[1:] == ["mkdir=1", "kill0=1", "cont=0"]
    assert "Permission denied" in result.stderr and "Operation not permitted" in result.stderr


def test_seccomp_default_action_errno_and_absent_seccomp(state_root):
    config = base_config(["sh", "-c", "grep Seccomp: /proc/self/status; mkdir /tmp/x"])
    config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "syscalls": [{"names": sorted(ALLOWED_FOR_SH), "action": "SCMP_ACT_ALLOW"}]}
    result = run_config(state_root, config)
    assert result.stdout.split() == ["Seccomp:", "2"]
    assert "Function not implemented" in result.stderr  # ENOSYS (38) for mkdir
    del config["linux"]["seccomp"]
    result = run_config(state_root, config)
    assert result.stdout.split() == ["Seccomp:", "0"] and result.exit_code == 0


# What busybox sh, grep and mkdir need, and the exec/wait steps after the filter.
ALLOWED_FOR_SH = {
    "read", "write", "open", "openat", "close", "fstat", "newfstatat", "stat", "lstat",
    "mmap", "munmap", "mprotect", "brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "execve", "exit", "exit_group", "wait4", "clone", "fork", "vfork", "getpid", "getppid",
    "getuid", "geteuid", "getgid", "getegid", "uname", "fcntl", "dup2", "dup3", "ioctl",
    "arch_prctl", "set_tid_address", "prlimit64", "getcwd", "chdir", "lseek", "readlink",
    "access", "faccessat", "faccessat2", "statx", "pipe", "pipe2", "getrandom", "rseq",
    "set_robust_list", "futex", "sigaltstack", "getpgrp", "setpgid", "getdents64",
    "close_range", "capget", "capset", "prctl", "setgroups", "setresuid", "setresgid",
    "sched_getaffinity", "madvise", "poll", "ppoll", "pselect6", "select", "umask",
}


def test_terminal(state_root):
    config = base_config(["sh", "-c", "test -t 0 && test -t 1 && echo on-a-tty; tty; "
                          "stat -L -c 'console=%t:%T' /dev/console; "
                          "stat -L -c 'pts=%t:%T' $(tty)"])
    config["process"]["terminal"] = True
    with Bundle(config) as bundle:
        container = Container(bundle.load().spec, state_root=state_root)
        container.create()
        proc = container.start((0, 1, 2), foreground=False)
        output = b""
        try:
            while True:
                ready, _, _ = select.select([proc.pty], [], [], 10)
                if not ready:
                    break
                try:
                    chunk = os.read(proc.pty, 4096)
                except OSError:  # EIO: the slave side is closed
                    break
                if not chunk:
                    break
                output += chunk
            _, status = os.waitpid(proc.pid, 0)
            proc.status = status
        finally:
            os.close(proc.pty)
            container.finish(None)  # None: remove it
    text = output.decode().replace("\r", "")
    assert "on-a-tty" in text and "/dev/pts/0" in text
    # the runtime-spec: /dev/console is the terminal too
    console = text.split("console=")[1].split()[0]
    assert console == text.split("pts=")[1].split()[0] and console.startswith("88:")


def test_stdin_is_the_runtimes_own(state_root):
    read_end, write_end = os.pipe()
    os.write(write_end, b"from the engine\n")
    os.close(write_end)
    try:
        result = run_config(state_root, base_config(["cat"]), stdin=read_end)
    finally:
        os.close(read_end)
    assert result.stdout == "from the engine\n"


def test_launch_errors(state_root):
    config = base_config(["/no/such/program"])
    result_error = None
    try:
        run_config(state_root, config)
    except MiniContainerError as exc:
        result_error = exc
    assert result_error is not None and "no such file" in str(result_error)


def test_umask(state_root):
    config = base_config(["sh", "-c", "umask"])
    config["process"]["user"]["umask"] = 0o27
    assert run_config(state_root, config).stdout.strip() == "0027"


def test_start_fifo_with_an_oci_config(state_root):
    """The create/start split with a config that has no /proc at all."""
    config = base_config(["sh", "-c", "ls /proc | wc -l"])
    config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/proc"]
    config["linux"]["maskedPaths"] = []
    config["linux"]["readonlyPaths"] = []
    from minicontainer.runtime import launcher
    with Bundle(config) as bundle:
        container = Container(bundle.load().spec, state_root=state_root)
        container.create()
        fifo = os.path.join(container.store.container_dir(container.id), "exec.fifo")
        out_r, out_w = os.pipe()
        try:
            proc = container.start((0, out_w, out_w), start_fifo=fifo, foreground=False)
            os.close(out_w)
            out_w = None
            time.sleep(0.05)
            assert os.path.exists(f"/proc/{proc.pid}")
            launcher.release_waiting(fifo, proc.pid)
            output = os.read(out_r, 4096)
            assert launcher.wait(proc) == 0
        finally:
            os.close(out_r)
            if out_w is not None:
                os.close(out_w)
            container.finish(None)
    assert output.strip() == b"0"  # the empty /proc directory of the root


def test_capability_numbers_match_the_kernel():
    assert NUMBERS["CAP_NET_BIND_SERVICE"] == 10 and NUMBERS["CAP_KILL"] == 5


@pytest.fixture(autouse=True)
def _no_pull(monkeypatch):
    monkeypatch.setenv("MINICONTAINER_PULL", "never")


def test_the_default_config_runs(state_root):
    """What `spec` writes runs (terminal off): ambient capabilities that are not
    inheritable are skipped, as runc does, instead of failing the start."""
    from minicontainer.oci.config import default_config
    config = default_config()
    config["process"]["terminal"] = False
    config["process"]["args"] = ["sh", "-c", "grep -E 'CapAmb|CapBnd' /proc/self/status; "
                                 "exit 6"]
    result = run_config(state_root, config)
    assert result.exit_code == 6, result.stderr
    fields = status_fields(result.stdout)
    assert int(fields["CapAmb"], 16) == 0
    assert int(fields["CapBnd"], 16) == to_mask(config["process"]["capabilities"]["bounding"])


def test_home_given_by_the_config_is_kept(state_root):
    config = base_config(["sh", "-c", "echo $HOME"])
    config["process"]["env"] = ["PATH=/bin", "HOME=/somewhere"]
    result = run_config(state_root, config)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "/somewhere\n"
