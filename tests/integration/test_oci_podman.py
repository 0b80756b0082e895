"""Acceptance: Podman runs containers through minicontainer-oci (`podman --runtime`).

Podman (Debian's 4.3, with conmon) on private --root/--runroot/--tmpdir, the
vfs storage driver, the cgroupfs manager with a --cgroup-parent beneath this
process's own cgroups, no network; the image is `podman import` of the
busybox tree.  The ulimits are given because Podman's defaults exceed this
machine's hard limits.  conmon calls `create --bundle B --pid-file P ID`
(with --console-socket for -t), Podman then `start`, `state`, `kill`,
`delete --force`, and `exec` through conmon.
"""

import json
import os
import shutil
import subprocess

import pytest

from conftest import needs_root
from oci_cli_helpers import Podman, podman_cgroup_parent

pytestmark = [
    needs_root,
    pytest.mark.skipif(not (shutil.which("podman") and shutil.which("conmon")),
                       reason="machine lacks podman and conmon (apt-get install podman)"),
    pytest.mark.skipif(podman_cgroup_parent("x") is None,
                       reason="machine lacks a cgroup path beneath this process's own cgroup "
                              "in every hierarchy (Podman's cgroupfs manager needs one)"),
]


@pytest.fixture(scope="module")
def podman():
    engine = Podman()
    records = os.path.join(engine.oci_root, "containers")
    before = set(os.listdir(records)) if os.path.isdir(records) else set()
    try:
        yield engine.start()
    finally:
        left = (set(os.listdir(records)) if os.path.isdir(records) else set()) - before
        engine.stop()
    assert not left, f"minicontainer-oci records left by Podman: {sorted(left)}"


def test_run_rm_output_and_exit_codes(podman):
    result = podman("run", "--rm", *podman.run_flags(), "mctest-busybox",
                    "sh", "-c", "echo hello from podman")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from podman\n"
    result = podman("run", "--rm", *podman.run_flags(), "mctest-busybox", "sh", "-c", "exit 3")
    assert result.returncode == 3, result.stderr
    result = podman("run", "--rm", *podman.run_flags(), "mctest-busybox", "/no/such/program")
    assert result.returncode in (126, 127), result.stderr


def test_the_container_sees_what_podman_asked(podman):
    result = podman("run", "--rm", *podman.run_flags(), "--hostname", "mctest-pod",
                    "--env", "GREETING=hi", "mctest-busybox",
                    "sh", "-c", "echo $(hostname) $GREETING $(ulimit -n) $(cat /proc/1/comm)")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "mctest-pod hi 1024 sh\n"


def test_detached_exec_stop_and_rm(podman):
    name = f"mctest-pod-{os.getpid()}"
    result = podman("run", "-d", "--name", name, *podman.run_flags(), "mctest-busybox",
                    "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done",
                    stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    try:
        result = podman("exec", name, "sh", "-c", "echo exec ok; exit 4")
        assert result.returncode == 4 and result.stdout == "exec ok\n", result.stderr
        result = podman("exec", "-i", name, "sh", "-c", "read x; echo got $x", input="line\n")
        assert result.returncode == 0 and result.stdout == "got line\n", result.stderr
        if shutil.which("script"):  # exec -t needs a terminal of ours: script(1) gives one
            command = " ".join(f"'{arg}'" for arg in podman.argv("exec", "-t", name,
                                                                  "sh", "-c", "tty; exit 6"))
            result = subprocess.run(["script", "-qec", command, "/dev/null"],
                                    capture_output=True, text=True, timeout=120,
                                    stdin=subprocess.DEVNULL)
            assert result.returncode == 6 and "/dev/pts/" in result.stdout
        inspect = json.loads(podman("inspect", name).stdout)[0]
        assert inspect["State"]["Status"] == "running"
        assert podman("stop", "-t", "10", name).returncode == 0
        inspect = json.loads(podman("inspect", name).stdout)[0]
        assert inspect["State"]["Status"] == "exited" and inspect["State"]["ExitCode"] == 0
    finally:
        result = podman("rm", "--force", name)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not shutil.which("script"),
                    reason="machine lacks script(1) for a terminal (util-linux)")
def test_terminal(podman):
    command = " ".join(f"'{arg}'" for arg in podman.argv(
        "run", "--rm", "-t", *podman.run_flags(), "mctest-busybox", "sh", "-c", "tty; exit 5"))
    result = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 5, result.stdout + result.stderr
    assert "/dev/pts/0" in result.stdout


def test_pause_unpause_top_kill_wait(podman):
    name = f"mctest-podpause-{os.getpid()}"
    result = podman("run", "-d", "--name", name, *podman.run_flags(), "mctest-busybox",
                    "sleep", "100", stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    try:
        def status():
            return podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        assert podman("pause", name).returncode == 0 and status() == "paused"
        assert podman("unpause", name).returncode == 0 and status() == "running"
        top = podman("top", name).stdout
        assert "sleep 100" in top
        assert podman("kill", name).returncode == 0  # SIGKILL, Podman's default
        result = podman("wait", name)
        assert result.returncode == 0 and result.stdout.strip() == "137"
    finally:
        result = podman("rm", "--force", name)
    assert result.returncode == 0, result.stderr
