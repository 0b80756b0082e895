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
DEFAULT_OCI_ROOT = "/run/minicontainer-oci"


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


# -- engines: containerd and Podman on private roots --------------------------------------------

# Any registry request an engine might make goes to a closed local port: the
# tests run images imported from local archives only, never pulled.
NO_INTERNET = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
               "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
               "NO_PROXY": "", "no_proxy": ""}


def busybox_archive(path):
    """A docker-archive of the embedded busybox image, made by ``minicontainer save``."""
    scratch = tempfile.mkdtemp(prefix="mctest-save-")
    try:
        env = dict(os.environ, MINICONTAINER_STATE_ROOT=os.path.join(scratch, "state"),
                   MINICONTAINER_DATA_ROOT=os.path.join(scratch, "data"),
                   MINICONTAINER_PULL="never", MINICONTAINER_NET_PREFIX="mctestz")
        subprocess.run([sys.executable, "-m", "minicontainer", "save", "-o", path, "busybox"],
                       check=True, env=env, capture_output=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path


def busybox_rootfs_tar(path):
    """A plain tar of the busybox tree (for ``podman import``)."""
    subprocess.run(["tar", "-C", BUSYBOX, "-cf", path, "."], check=True)
    return path


def mounts_under(prefix):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == prefix or p.startswith(prefix.rstrip("/") + "/")]


def unmount_under(prefix):
    for point in sorted(mounts_under(prefix), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def processes_mentioning(text):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def stop_pid(pid, timeout=10):
    """SIGTERM, then SIGKILL after ``timeout``; reaped if it is our child."""
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            if not os.path.exists(f"/proc/{pid}"):
                return
        time.sleep(0.05)
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


CONTAINERD_CONFIG = """version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing", "io.containerd.internal.v1.restart"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"""


class Containerd:
    """A containerd of our own: private root, state, socket; no CRI; stopped by its pid."""

    IMAGE = "docker.io/library/busybox:latest"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mctest-containerd-")
        self.address = os.path.join(self.dir, "containerd.sock")
        self.runc_root = os.path.join(self.dir, "oci-root")
        self.proc = None
        self._shared = {}

    # containerd 1.6's shims put their sockets in /run/containerd/s whatever
    # the state directory, and ctr its fifos in /run/containerd/fifo unless told:
    # what the tests made there is removed again (only if still empty).
    SHARED_DIRS = ("/run/containerd", "/run/containerd/s", "/run/containerd/fifo")

    def start(self):
        self._shared = {path: os.path.isdir(path) for path in self.SHARED_DIRS}
        config = os.path.join(self.dir, "config.toml")
        with open(config, "w") as f:
            f.write(CONTAINERD_CONFIG.format(d=self.dir))
        self.log = open(os.path.join(self.dir, "containerd.log"), "w")
        self.proc = subprocess.Popen(["containerd", "--config", config], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=dict(os.environ, **NO_INTERNET))
        wait_for(lambda: self.ctr("version").returncode == 0, timeout=30,
                 what="containerd to answer")
        archive = busybox_archive(os.path.join(self.dir, "busybox.tar"))
        result = self.ctr("image", "import", archive)
        assert result.returncode == 0, result.stderr
        return self

    def ctr(self, *args, timeout=60, **kwargs):
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.run(["ctr", "--address", self.address, *args], text=True,
                              timeout=timeout, **kwargs)

    def runtime_flags(self):
        """For `ctr run`: our runtime, its root, and the fifos in our directory."""
        return ["--runc-binary", OCI_BINARY, "--runc-root", self.runc_root,
                "--fifo-dir", self.fifo_dir]

    @property
    def fifo_dir(self):
        return os.path.join(self.dir, "fifo")

    def tasks(self):
        """task name -> status (RUNNING, PAUSED, STOPPED...)."""
        return {name: status for name, (_pid, status) in self._task_rows().items()}

    def task_pid(self, name):
        return self._task_rows()[name][0]

    def _task_rows(self):
        lines = self.ctr("task", "ls").stdout.splitlines()[1:]
        return {line.split()[0]: (int(line.split()[1]), line.split()[2])
                for line in lines if line.strip()}

    def stop(self):
        for task in self.tasks():
            self.ctr("task", "kill", "-s", "SIGKILL", task)
            self.ctr("task", "delete", "--force", task)
        for line in self.ctr("container", "ls", "-q").stdout.split():
            self.ctr("container", "rm", line)
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.log.close()
        for pid in processes_mentioning(self.address):  # shims, if any survived
            stop_pid(pid)
        unmount_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
        sockets = "/run/containerd/s"
        if not self._shared.get(sockets, True):
            # Each shim removes its socket as it exits, shortly after its task.
            deadline = time.monotonic() + 10
            while os.path.isdir(sockets) and os.listdir(sockets) and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
        for path in sorted(self._shared, key=len, reverse=True):
            if not self._shared[path]:
                try:
                    os.rmdir(path)
                except OSError:
                    pass


def own_cgroups():
    """hierarchy mount point -> our own cgroup path in it ('/...'), v1 controllers only."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controllers and not controllers.startswith("name="):
                own[os.path.join("/sys/fs/cgroup", controllers.split(",")[0])] = path
    return own


def podman_cgroup_parent(name):
    """A --cgroup-parent beneath our own cgroup in every v1 hierarchy, or None.

    Podman's cgroupfs manager puts the container and conmon under one absolute
    path in each hierarchy; that path is beneath ours everywhere only if our
    cgroups are nested along one line (e.g. / in all but memory).
    """
    own = own_cgroups()
    if not own:
        return None
    deepest = max(own.values(), key=len)
    for path in own.values():
        if not (deepest == path or deepest.startswith(path.rstrip("/") + "/")):
            return None
    return deepest.rstrip("/") + "/" + name


class Podman:
    """Podman with private --root/--runroot/--tmpdir, vfs, cgroupfs, no network, no events."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mctest-podman-")
        os.chmod(self.dir, 0o755)
        # The runtime's default root: a --runtime-flag root=... would not reach
        # the `podman container cleanup` that conmon runs when a container
        # exits (it deletes the container from the runtime), and conmon passes
        # the runtime no environment of ours.  Podman's ids are random.
        self.oci_root = DEFAULT_OCI_ROOT
        self.cgroup_parent = podman_cgroup_parent(f"mctest-podman-{os.getpid()}")
        self._existed = {}
        self._run_dirs = {}

    def argv(self, *args):
        return ["podman", "--root", os.path.join(self.dir, "root"),
                "--runroot", os.path.join(self.dir, "runroot"),
                "--tmpdir", os.path.join(self.dir, "tmp"),
                "--network-config-dir", os.path.join(self.dir, "networks"),
                "--volumepath", os.path.join(self.dir, "volumes"),
                "--storage-driver", "vfs", "--cgroup-manager=cgroupfs",
                "--events-backend=none", "--runtime", OCI_BINARY,
                "--runtime-flag", f"log={os.path.join(self.dir, 'oci-log.json')}",
                "--runtime-flag", "log-format=json", "--runtime-flag", "debug", *args]

    def __call__(self, *args, timeout=120, **kwargs):
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.run(self.argv(*args), text=True, timeout=timeout,
                              env=self.env(), **kwargs)

    def env(self):
        return dict(os.environ, **NO_INTERNET)

    def run_flags(self):
        return ["--network", "none", "--cgroup-parent", self.cgroup_parent,
                "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]

    def _chain(self):
        """Every directory from our own cgroup down to the cgroup parent, per hierarchy."""
        for mount, own in own_cgroups().items():
            rest = os.path.relpath(self.cgroup_parent, own if own != "/" else "/")
            path = os.path.join(mount, own.lstrip("/"))
            for part in rest.split("/"):
                path = os.path.join(path, part)
                yield path

    def start(self):
        self._existed = {path: os.path.isdir(path) for path in self._chain()}
        # Podman 4.3 always makes /run/containers/networks (no flag moves it).
        self._run_dirs = {path: os.path.isdir(path) for path in
                          ("/run/containers", "/run/containers/networks", DEFAULT_OCI_ROOT,
                           *(os.path.join(DEFAULT_OCI_ROOT, d)
                             for d in ("containers", "names", ".removing")))}
        tar = busybox_rootfs_tar(os.path.join(self.dir, "busybox.tar"))
        result = self("import", tar, "mctest-busybox")
        assert result.returncode == 0, result.stderr
        return self

    def stop(self):
        self("rm", "--all", "--force")
        self("rmi", "--all", "--force")
        for pid in processes_mentioning(self.dir):  # conmon, if any survived
            stop_pid(pid)
        # Podman leaves its conmon cgroup (and the parents it made): remove
        # exactly the directories that were not there before the tests.
        for path in sorted(self._existed, key=len, reverse=True):
            if self._existed[path] or not os.path.isdir(path):
                continue
            for root, dirs, _files in os.walk(path, topdown=False):
                for name in dirs:
                    os.rmdir(os.path.join(root, name))
            os.rmdir(path)
        for path in sorted(self._run_dirs, key=len, reverse=True):
            if not self._run_dirs[path]:
                try:
                    os.rmdir(path)  # only if still empty: then nobody else uses it
                except OSError:
                    pass
        unmount_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
