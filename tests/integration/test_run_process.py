"""PID 1's life: exit codes, signals, --init, terminals, errors and rollback."""

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from run_helpers import wait_running
from conftest import needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox]


def sh(mc, script, *flags, **kwargs):
    return mc("run", "--rm", *flags, "busybox", "sh", "-c", script, **kwargs)


@pytest.mark.parametrize("args,code,message", [
    (["sh", "-c", "exit 3"], 3, None),
    (["nosuchcommand"], 127, 'exec: "nosuchcommand": executable file not found in $PATH'),
    (["/no/such/path"], 127, "no such file or directory"),
    (["/etc/passwd"], 126, "permission denied"),
    (["/etc"], 126, "permission denied"),
])
def test_exit_codes_follow_docker(mc, args, code, message):
    result = mc("run", "--rm", "busybox", *args)
    assert result.returncode == code, result.stderr
    if message:
        assert message in result.stderr
        assert result.stderr.count("\n") == 1  # one clear line


def test_runtime_errors_are_125_with_one_line(mc, tmp_path):
    cases = [
        (["--bogus", "busybox", "true"], "unknown flag: --bogus"),
        (["--name", "-bad", "busybox", "true"], "invalid container name"),
        (["nosuchimage", "true"], "No such image: nosuchimage"),
        ([str(tmp_path / "missing"), "true"], "is not a directory"),
        (["--network", "mctest-nosuch", "busybox", "true"], "network mctest-nosuch not found"),
        (["--userns", "remap:0", "busybox", "true"], "must not include host root"),
    ]
    for args, message in cases:
        result = mc("run", "--rm", *args)
        assert result.returncode == 125, (args, result.stderr)
        assert message in result.stderr, result.stderr


def test_a_failed_setup_step_is_reported_and_rolled_back(mc, tmp_path):
    # Binding a file over a directory fails inside the container's init, after
    # the clone: the error must come back as one line and nothing may remain.
    host_file = tmp_path / "file"
    host_file.write_text("x")
    result = mc("run", "--rm", "--name", "mctest-rollback", "-v", f"{host_file}:/bin",
                "busybox", "true")
    assert result.returncode == 125
    assert "mount" in result.stderr and "/bin" in result.stderr
    assert "Not a directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not os.listdir(os.path.join(mc.state_root, "containers"))
    assert not os.path.lexists(os.path.join(mc.state_root, "names", "mctest-rollback"))


def test_container_killed_by_a_signal_exits_128_plus_n(mc):
    proc = subprocess.Popen(mc.argv + ["run", "--name", "mctest-sig", "busybox", "sleep", "30"],
                            env=mc.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = wait_running(mc.state_root)
    os.kill(state["pid"], signal.SIGKILL)  # PID 1 only dies of SIGKILL from outside
    assert proc.wait(timeout=30) == 137
    ps = mc("ps", "-a")
    assert "Exited (137)" in ps.stdout
    assert mc("rm", "mctest-sig").returncode == 0


def test_signals_are_forwarded_to_pid_1(mc):
    proc = subprocess.Popen(
        mc.argv + ["run", "--rm", "busybox", "sh", "-c",
                   'trap "echo got-TERM; exit 7" TERM; echo ready; while :; do sleep 0.1; done'],
        env=mc.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert "got-TERM" in out
    assert proc.returncode == 7


def test_pid_1_without_handler_ignores_sigterm_but_init_does_not(mc):
    # As in Docker: the kernel protects a namespace's init from signals it has
    # no handler for; with --init, tini is PID 1 and the shell dies of SIGTERM.
    plain = sh(mc, "kill -TERM $$; echo survived")
    assert plain.stdout.strip() == "survived"
    with_init = sh(mc, "kill -TERM $$; echo survived", "--init")
    assert with_init.returncode == 143
    assert "survived" not in with_init.stdout


def test_init_is_pid_1_and_reaps_orphans(mc):
    script = ("cat /proc/1/cmdline | tr '\\0' ' '; echo; "
              "sh -c 'sleep 0.2 & exit 0'; sleep 1; ps -o stat,comm; true")
    result = sh(mc, script, "--init")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("/sbin/docker-init -- sh -c")
    states = [line.split()[0] for line in lines[2:]]
    assert "Z" not in "".join(states), result.stdout  # the orphaned sleep was reaped


def test_tty_gives_a_real_terminal_in_its_own_session(mc):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    proc = subprocess.Popen(
        mc.argv + ["run", "--rm", "-t", "busybox", "sh", "-c",
                   "tty; stty size; cut -d' ' -f6 /proc/1/stat; [ -t 0 ] && echo stdin-is-tty"],
        env=mc.env,
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    output = _read_all(master, proc)
    assert proc.wait(timeout=30) == 0, output
    lines = [line.strip() for line in output.replace("\r", "").splitlines() if line.strip()]
    assert lines[0] == "/dev/pts/0"
    assert lines[1] == "33 101"
    assert lines[2] == "1"  # PID 1 leads its own session
    assert "stdin-is-tty" in lines


def test_interactive_tty_passes_keystrokes(mc):
    master, slave = os.openpty()
    proc = subprocess.Popen(mc.argv + ["run", "--rm", "-it", "busybox", "sh"],
                            env=mc.env,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    os.write(master, b"echo $((6*7)); exit 5\n")
    output = _read_all(master, proc)
    assert proc.wait(timeout=30) == 5
    assert "42" in output


def test_interactive_stdin_without_tty(mc):
    result = mc("run", "--rm", "-i", "busybox", "sh", "-c", "wc -l", input="a\nb\nc\n")
    assert result.stdout.strip() == "3"
    closed = mc("run", "--rm", "busybox", "sh", "-c", "wc -l", input="a\nb\n")
    assert closed.stdout.strip() == "0"  # without -i stdin is /dev/null


def test_no_descriptor_leaks_into_the_container(mc):
    result = sh(mc, "ls /proc/self/fd")
    assert sorted(result.stdout.split()) == ["0", "1", "2", "3"]  # 3 is ls's own listing


def test_explain_narrates_each_kernel_step(mc):
    result = mc("run", "--rm", "--explain", "busybox", "true")
    assert result.returncode == 0
    text = result.stderr
    for expected in ("clone(CLONE_NEW", "CLONE_NEWPID", "mount('proc'", "pivot_root('.', '.')",
                     "umount2('.', MNT_DETACH)", "sethostname(", "execve('/bin/true'",
                     "exit code 0"):
        assert expected in text, expected
    assert "a /proc that shows only this PID namespace's processes" in text
    assert text.index("clone(") < text.index("pivot_root") < text.index("execve")


def test_name_is_unique_until_removed(mc):
    first = mc("run", "--name", "mctest-unique", "busybox", "true")
    assert first.returncode == 0
    second = mc("run", "--name", "mctest-unique", "busybox", "true")
    assert second.returncode == 125
    assert 'name "/mctest-unique" is already in use' in second.stderr
    assert mc("rm", "mctest-unique").returncode == 0
    third = mc("run", "--rm", "--name", "mctest-unique", "busybox", "true")
    assert third.returncode == 0


def _read_all(master, proc, timeout=30):
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_the_command_starts_with_no_signal_ignored_or_blocked(mc):
    # Python ignores SIGPIPE and SIGXFSZ and the launcher blocks the forwarded
    # signals around the clone; none of that may reach the container.
    result = mc("run", "--rm", "--network", "none", "busybox", "grep", "-E", "^Sig(Ign|Blk)",
                "/proc/self/status")
    assert result.stdout.split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"]
