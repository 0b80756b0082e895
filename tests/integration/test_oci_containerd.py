"""Acceptance: containerd runs containers through minicontainer-oci (`ctr run --runc-binary`).

containerd (Debian's) is started by the test on a private root, state and
socket, with the CRI plugin off; busybox is imported from a docker-archive
made by `minicontainer save` (nothing is ever pulled: any registry request
would hit a closed local proxy port).  containerd's shim (containerd-shim-
runc-v2) calls our binary exactly as it calls runc: create/start/state/kill/
delete/exec/ps/pause/resume with --root, --log and --log-format json.
"""

import json
import os
import shutil
import subprocess

import pytest

from conftest import needs_root
from oci_cli_helpers import OCI_BINARY, Containerd, wait_for

pytestmark = [
    needs_root,
    pytest.mark.skipif(not all(shutil.which(tool) for tool in
                               ("containerd", "ctr", "containerd-shim-runc-v2")),
                       reason="machine lacks containerd (apt-get install containerd)"),
]
needs_script = pytest.mark.skipif(not shutil.which("script"),
                                  reason="machine lacks script(1) for a terminal (util-linux)")


@pytest.fixture(scope="module")
def containerd():
    engine = Containerd()
    try:
        yield engine.start()
    finally:
        records = os.path.join(engine.runc_root, "default", "containers")
        left = os.listdir(records) if os.path.isdir(records) else []
        engine.stop()
    assert not left, f"minicontainer-oci records left by containerd: {left}"


def _name(base):
    return f"mctest-ctd-{base}-{os.getpid()}"


def _run(containerd, name, *command, flags=(), **kwargs):
    return containerd.ctr("run", "--rm", *containerd.runtime_flags(), *flags,
                          containerd.IMAGE, name, *command, **kwargs)


def test_exit_codes_and_output(containerd):
    result = _run(containerd, _name("out"), "sh", "-c", "echo hello from containerd; exit 0")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from containerd\n"
    result = _run(containerd, _name("code"), "sh", "-c", "echo to-stderr >&2; exit 3")
    assert result.returncode == 3 and result.stderr.startswith("to-stderr")
    result = _run(containerd, _name("missing"), "/no/such/program")
    assert result.returncode != 0
    assert "no/such/program" in result.stderr  # the shim read our JSON log line


def test_stdin_reaches_the_container(containerd):
    result = containerd.ctr("run", "--rm", *containerd.runtime_flags(), containerd.IMAGE,
                            _name("stdin"), "sh", "-c", "read line; echo got $line",
                            input="a-line\n")
    assert result.returncode == 0 and result.stdout == "got a-line\n"


def test_task_kill(containerd):
    name = _name("kill")
    run = subprocess.Popen(["ctr", "--address", containerd.address, "run", "--rm",
                            *containerd.runtime_flags(), containerd.IMAGE, name,
                            "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.05; done"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: containerd.tasks().get(name) == "RUNNING", timeout=30,
                 what="the task to run")
        assert containerd.ctr("task", "kill", name).returncode == 0  # SIGTERM
        assert run.wait(timeout=30) == 42
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    name = _name("kill9")
    assert containerd.ctr("run", "-d", *containerd.runtime_flags(), containerd.IMAGE, name,
                          "sleep", "100").returncode == 0
    assert containerd.ctr("task", "kill", "-s", "SIGKILL", name).returncode == 0
    wait_for(lambda: containerd.tasks().get(name) == "STOPPED", what="the task to stop")
    assert containerd.ctr("task", "delete", name).returncode == 0
    assert containerd.ctr("container", "rm", name).returncode == 0


def test_task_exec_ps_metrics_pause_resume_kill_all(containerd):
    name = _name("exec")
    assert containerd.ctr("run", "-d", *containerd.runtime_flags(), containerd.IMAGE, name,
                          "sleep", "100").returncode == 0
    try:
        result = containerd.ctr("task", "exec", "--fifo-dir", containerd.fifo_dir,
                                "--exec-id", "e1", name,
                                "sh", "-c", "echo exec in $(cat /proc/1/comm); exit 4")
        assert result.returncode == 4 and result.stdout == "exec in sleep\n"
        pid = containerd.task_pid(name)
        ps = containerd.ctr("task", "ps", name).stdout.split()
        assert str(pid) in ps
        metrics = containerd.ctr("task", "metrics", name).stdout  # read from our cgroup
        assert "pids.current" in metrics and "memory.usage_in_bytes" in metrics
        assert containerd.ctr("task", "pause", name).returncode == 0
        assert containerd.tasks()[name] == "PAUSED"
        assert containerd.ctr("task", "resume", name).returncode == 0
        assert containerd.tasks()[name] == "RUNNING"
        state = json.loads(subprocess.run(
            [OCI_BINARY, "--root", os.path.join(containerd.runc_root, "default"), "state", name],
            capture_output=True, text=True).stdout)
        assert state["status"] == "running" and state["pid"] == pid
        assert containerd.ctr("task", "kill", "--all", "-s", "SIGKILL", name).returncode == 0
        wait_for(lambda: containerd.tasks().get(name) == "STOPPED", what="the task to stop")
    finally:
        containerd.ctr("task", "kill", "-s", "SIGKILL", name)
        wait_for(lambda: containerd.tasks().get(name) == "STOPPED", what="the task to stop")
        containerd.ctr("task", "delete", name)
        containerd.ctr("container", "rm", name)


def _in_terminal(command):
    """Run ``command`` (argv) with a pseudo-terminal as its stdin/stdout (script(1))."""
    line = " ".join(f"'{arg}'" for arg in command)
    return subprocess.run(["script", "-qec", line, "/dev/null"], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


@needs_script
def test_terminal(containerd):
    result = _in_terminal(["ctr", "--address", containerd.address, "run", "-t", "--rm",
                           *containerd.runtime_flags(), containerd.IMAGE, _name("tty"),
                           "sh", "-c", "tty; echo columns $(stty size); exit 5"])
    assert result.returncode == 5, result.stdout + result.stderr
    assert "/dev/pts/0" in result.stdout and "columns" in result.stdout
    name = _name("ttyexec")
    assert containerd.ctr("run", "-d", *containerd.runtime_flags(), containerd.IMAGE, name,
                          "sleep", "100").returncode == 0
    try:
        result = _in_terminal(["ctr", "--address", containerd.address, "task", "exec", "-t",
                               "--fifo-dir", containerd.fifo_dir, "--exec-id", "t1", name,
                               "sh", "-c", "tty; exit 6"])
        assert result.returncode == 6 and "/dev/pts/" in result.stdout
    finally:
        containerd.ctr("task", "kill", "-s", "SIGKILL", name)
        wait_for(lambda: containerd.tasks().get(name) == "STOPPED", what="the task to stop")
        containerd.ctr("task", "delete", name)
        containerd.ctr("container", "rm", name)
