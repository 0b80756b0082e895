"""Bundles for the OCI runtime-core tests (tests/*/test_oci_config*, test_oci_runtime*).

``Bundle`` writes a config.json into a temporary bundle directory whose
``rootfs`` is the busybox tree, bind-mounted read-only (no copy; a test
that needs a writable root asks for ``copy=True``).  ``run`` converts it with
``load_bundle`` and runs it through the Python API, returning the RunResult.
"""

import copy
import json
import os
import shutil
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUSYBOX = os.path.join(REPO, "rootfs", "build", "busybox")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]

BASE = {
    "ociVersion": "1.0.2",
    "process": {
        "terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["true"],
        "env": [PATH_ENV], "cwd": "/",
        "capabilities": {"bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS,
                         "permitted": DEFAULT_CAPS},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "mctest-oci",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=1777"]},
    ],
    "linux": {
        "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
        "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                          "/proc/sysrq-trigger"],
    },
}


def base_config(args=("true",)):
    config = copy.deepcopy(BASE)
    config["process"]["args"] = list(args)
    return config


class Bundle:
    """A bundle directory; use as a context manager (removes it, unmounts the root)."""

    def __init__(self, config=None, copy_root=False):
        self.dir = tempfile.mkdtemp(prefix="mctest-ocib-")
        os.chmod(self.dir, 0o755)
        self.rootfs = os.path.join(self.dir, "rootfs")
        self.mounted = False
        if copy_root:
            shutil.copytree(BUSYBOX, self.rootfs, symlinks=True)
        else:
            os.mkdir(self.rootfs)
            subprocess.run(["mount", "--bind", "-o", "ro", BUSYBOX, self.rootfs], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", self.rootfs], check=True)
            self.mounted = True
        try:
            self.write(config or base_config())
        except BaseException:
            self.close()
            raise

    def write(self, config):
        self.config = config
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
        return self

    def load(self):
        from minicontainer.oci.config import load_bundle
        return load_bundle(self.dir)

    def run(self, state_root, stdin=None):
        from minicontainer import Container
        spec = self.load().spec.replace(auto_remove=True)
        return Container(spec, state_root=state_root).run(capture_output=True, stdin=stdin)

    def close(self):
        if self.mounted:
            subprocess.run(["umount", self.rootfs], check=True)
            self.mounted = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_config(state_root, config, copy_root=False, stdin=None):
    """Run ``config`` in a fresh bundle; the RunResult (stdout/stderr as text)."""
    with Bundle(config, copy_root=copy_root) as bundle:
        result = bundle.run(state_root, stdin=stdin)
    result.stdout = result.stdout.decode()
    result.stderr = result.stderr.decode()
    return result
