"""Helpers for driving ``minicontainer-oci`` as containerd and Podman do.

* ``make_bundle`` writes a bundle: a copy of the busybox tree as ``rootfs``
  and a config.json like the ones the engines write (see the captured ones
  described in the OCI tests), with the process and hooks a test asks for.
* ``Runtime`` runs the command line with a private ``--root``.
* ``subreaper`` makes this test process what containerd's shim is for the
  runtime: the nearest child subreaper, so a container's init (orphaned when
  ``create`` exits) becomes our child and we can collect its exit status.
"""

import contextlib
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUSYBOX = os.path.join(REPO, "rootfs", "build", "busybox")
OCI_BINARY = os.path.join(os.path.dirname(sys.executable), "minicontainer-oci")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
PR_SET_CHILD_SUBREAPER = 36


def base_config(args, terminal=False):
    """A config.json like containerd's for ``ctr run`` (without cgroupsPath)."""
    caps = list(DEFAULT_CAPS)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": terminal, "user": {"uid": 0, "gid": 0}, "args": list(args),
            "env": [PATH_ENV, "TERM=xterm"], "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "mctest-oci",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }


def make_bundle(parent, args, terminal=False, hooks=None, annotations=None, edit=None):
    """A bundle directory under ``parent``: rootfs (a busybox copy) + config.json."""
    bundle = tempfile.mkdtemp(prefix="mctest-bundle-", dir=parent)
    os.chmod(bundle, 0o755)
    shutil.copytree(BUSYBOX, os.path.join(bundle, "rootfs"), symlinks=True)
    config = base_config(args, terminal)
    if hooks:
        config["hooks"] = hooks
    if annotations:
        config["annotations"] = annotations
    if edit:
        edit(config)
    write_config(bundle, config)
    return bundle


def write_config(bundle, config):
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


class Runtime:
    """``minicontainer-oci --root ROOT ...`` as a subprocess (text output)."""

    def __init__(self, root, log=None):
        self.root, self.log = root, log

    def argv(self, *args):
        extra = ["--log", self.log, "--log-format", "json"] if self.log else []
        return [OCI_BINARY, "--root", self.root, *extra, *args]

    def __call__(self, *args, input=None, timeout=60, **kwargs):
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.run(self.argv(*args), input=input, text=True, timeout=timeout,
                              **kwargs)

    def ok(self, *args, **kwargs):
        result = self(*args, **kwargs)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def fails(self, *args, **kwargs):
        result = self(*args, **kwargs)
        assert result.returncode != 0, (args, result.stdout, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
        return result

    def state(self, container_id):
        return json.loads(self.ok("state", container_id).stdout)

    def status(self, container_id):
        return self.state(container_id)["status"]

    def cleanup(self):
        """delete --force every container still recorded under the root."""
        containers = os.path.join(self.root, "containers")
        left = sorted(os.listdir(containers)) if os.path.isdir(containers) else []
        for container_id in left:
            self("delete", "--force", container_id)
        return left


@contextlib.contextmanager
def subreaper():
    """Orphaned descendants (a created container's init) become our children."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        reap_all()


def reap_all():
    """Collect any orphan that was handed to us (zombies must not pile up)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_exit(pid, timeout=30):
    """The exit code (128+N for signal N) of our child ``pid``, waiting at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} did not exit within {timeout}s")
        time.sleep(0.01)


def wait_for(predicate, timeout=10, what="the condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


def read_pid_file(path):
    with open(path) as f:
        return int(f.read().strip())
