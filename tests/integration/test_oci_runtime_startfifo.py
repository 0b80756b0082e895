"""The OCI create/start split: the init waits on its exec fifo just before the execve.

Driven through the Python API (Container.start(start_fifo=...) and
runtime.launcher.release_waiting), which minicontainer-oci's create and start use.
"""

import os
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from minicontainer import Container, ContainerSpec
from minicontainer.errors import CommandNotFound, MiniContainerError, SetupError
from minicontainer.runtime import launcher
from minicontainer.spec import IdMap

from conftest import BUSYBOX, has_userns, needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox]


def _spec(args, **fields):
    return ContainerSpec(rootfs=BUSYBOX, args=tuple(args), network="none", **fields)


def _created(spec, state_root):
    container = Container(spec, state_root=state_root)
    container.create()
    fifo = os.path.join(container.store.container_dir(container.id), "exec.fifo")
    return container, fifo


def _wchan(pid):
    with open(f"/proc/{pid}/wchan") as f:
        return f.read()


def test_init_waits_on_the_fifo_until_released(state_root):
    container, fifo = _created(_spec(["sh", "-c", "echo started; id -u"], user="1000:1000"),
                               state_root)
    out_r, out_w = os.pipe()
    try:
        proc = container.start((0, out_w, 2), start_fifo=fifo, foreground=False)
        os.close(out_w)
        assert oct(os.stat(fifo).st_mode & 0o777) == oct(0o622)
        # Fully set up (it already runs as the config's user), blocked in the open.
        with open(f"/proc/{proc.pid}/status") as f:
            status = f.read()
        assert "\nUid:\t1000\t1000\t1000\t1000\n" in status
        # it says "ready" just before the open: poll until it sleeps in it
        for _ in range(1000):
            if _wchan(proc.pid) in ("wait_for_partner", "fifo_open", "pipe_wait"):
                break
            time.sleep(0.01)
        assert _wchan(proc.pid) in ("wait_for_partner", "fifo_open", "pipe_wait")
        launcher.release_waiting(fifo, proc.pid)
        assert not os.path.exists(fifo)
        output = b""
        while chunk := os.read(out_r, 4096):
            output += chunk
        assert output == b"started\n1000\n"
        assert launcher.wait(proc) == 0
    finally:
        os.close(out_r)
        container.finish(None)


def test_launch_errors_reach_create_before_the_wait(state_root):
    container, fifo = _created(_spec(["no-such-command"]), state_root)
    try:
        with pytest.raises(CommandNotFound):
            container.start((0, 1, 2), start_fifo=fifo, foreground=False)
        assert not os.path.exists(fifo)
    finally:
        container._remove()


def test_release_fails_clearly_when_the_init_died(state_root):
    container, fifo = _created(_spec(["true"]), state_root)
    try:
        proc = container.start((0, 1, 2), start_fifo=fifo, foreground=False)
        os.kill(proc.pid, 9)
        os.waitpid(proc.pid, 0)
        with pytest.raises(MiniContainerError, match="has exited"):
            launcher.release_waiting(fifo, proc.pid)
        os.unlink(fifo)
        with pytest.raises(SetupError, match="already started"):
            launcher.release_waiting(fifo, proc.pid)
    finally:
        container.finish(None)


def test_init_outlives_the_launcher_process(state_root):
    """``create`` exits while its init waits: no PDEATHSIG; the init goes on to the
    nearest subreaper (here the launcher's parent, made a subreaper for the test)."""
    fifo = os.path.join(tempfile.mkdtemp(prefix="mctest-fifo-"), "exec.fifo")
    out = fifo + ".out"
    script = textwrap.dedent(f"""
        import os, sys
        from minicontainer import Container, ContainerSpec
        spec = ContainerSpec(rootfs={BUSYBOX!r}, args=("sh", "-c", "echo released"),
                             network="none")
        c = Container(spec, state_root={state_root!r})
        c.create()
        out = os.open({out!r}, os.O_WRONLY | os.O_CREAT, 0o644)
        proc = c.start((0, out, out), start_fifo={fifo!r}, foreground=False)
        print(proc.pid, c.id)
    """)
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: we play containerd's shim
    container = None
    try:
        done = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60, check=True)
        pid_text, container_id = done.stdout.split()
        pid = int(pid_text)
        container = Container.load(container_id, state_root)
        assert os.path.exists(f"/proc/{pid}")  # the launcher is gone, the init waits
        launcher.release_waiting(fifo, pid)
        _, status = os.waitpid(pid, 0)  # reparented to us
        assert os.waitstatus_to_exitcode(status) == 0
        with open(out) as f:
            assert f.read() == "released\n"
    finally:
        libc.prctl(36, 0, 0, 0, 0)
        if container is not None:
            from minicontainer.lifecycle import release
            release(container.store, container.id, container.store.load(container.id))
        for path in (fifo, out):
            if os.path.exists(path):
                os.unlink(path)
        os.rmdir(os.path.dirname(fifo))


@pytest.mark.skipif(not has_userns(), reason="machine lacks user namespaces")
def test_user_namespaced_init_waits_too(state_root):
    maps = (IdMap(container_id=0, host_id=100000, size=65536),)
    spec = _spec(["sh", "-c", "cat /proc/self/uid_map"], namespaces=frozenset(
        ("user", "pid", "mount", "uts", "ipc", "net")), uid_map=maps, gid_map=maps)
    container, fifo = _created(spec, state_root)
    out_r, out_w = os.pipe()
    try:
        proc = container.start((0, out_w, 2), start_fifo=fifo, foreground=False)
        os.close(out_w)
        launcher.release_waiting(fifo, proc.pid)
        output = b""
        while chunk := os.read(out_r, 4096):
            output += chunk
        assert output.split() == [b"0", b"100000", b"65536"]
        assert launcher.wait(proc) == 0
    finally:
        os.close(out_r)
        container.finish(None)
