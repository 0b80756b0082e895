"""The lifecycle facade: one object per container, used by the CLI and by scripts.

    from minicontainer import Container, ContainerSpec
    result = Container(ContainerSpec(rootfs="busybox", args=("hostname",),
                                     hostname="lab")).run(capture_output=True)
    print(result.exit_code, result.stdout)        # 0 b'lab\\n'

Order of a run: validate (pure) -> state directory and name -> /etc files ->
rootfs plan -> launcher.start (clone, maps, "go", exec) -> state.json ->
wait -> remove (--rm) or record the exit.  Every step registers its undo, so a
failure anywhere leaves nothing behind.
"""

import os
import sys
import time

from . import validate
from .errors import NotFound, SpecError
from .linux import proc as procfs
from .state import StateStore

INIT_BINARIES = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init")


class RunResult:
    __slots__ = ("id", "exit_code", "stdout", "stderr", "oom_killed")

    def __init__(self, container_id, exit_code, stdout=None, stderr=None, oom_killed=False):
        self.id, self.exit_code, self.stdout, self.stderr = container_id, exit_code, stdout, stderr
        self.oom_killed = oom_killed

    def __repr__(self):
        return f"RunResult(id={self.id[:12]!r}, exit_code={self.exit_code})"


def resolve_image(spec, container_id):
    """The image's defaults merged into ``spec`` (Docker's rules), and its handle.

    A directory (``/x``, ``./x``) is used as the root as it is, with no image
    and no copy-on-write layer; anything else names an image in the store
    (``busybox`` is embedded), pulled first when ``--pull`` says so.
    """
    from . import image
    if image.looks_like_path(spec.rootfs):
        if not os.path.isdir(spec.rootfs):
            raise SpecError(f"root filesystem {spec.rootfs!r} is not a directory")
        if not spec.args:
            raise SpecError("no command specified")
        return spec.replace(rootfs=os.path.abspath(spec.rootfs), cwd=spec.cwd or "/"), None
    from .image.config import merge_run_config
    from .state import data_root
    if spec.pull != "missing" or not _image_cached(spec.rootfs):
        image.ensure_image(data_root(), spec.rootfs, spec.pull)
    config, handle = image.open_image(data_root(), spec.rootfs)
    run = merge_run_config(config, {"entrypoint": spec.entrypoint, "args": spec.args,
                                    "env": spec.env, "workdir": spec.cwd, "user": spec.user,
                                    "hostname": spec.hostname, "tty": spec.tty})
    return spec.replace(args=run.args, env=run.env, cwd=run.cwd or "/", user=run.user,
                        image=spec.image or spec.rootfs), handle


def _image_cached(ref):
    """Cheap check on the hot path: is ``ref`` already known to the run cache?"""
    from . import image
    from .state import data_root
    return image._cached_image(data_root(), ref) is not None


def find_init_binary():
    for path in INIT_BINARIES:
        if os.access(path, os.X_OK):
            return path
    raise SpecError("--init needs tini's static binary (apt-get install tini)")


class Container:
    """One container: ``run()`` starts it in the foreground and waits."""

    def __init__(self, spec, state_root=None):
        self.spec = spec
        self.store = StateStore(state_root)
        self.id = os.urandom(32).hex()
        self.cgroup = None
        self.network = None
        self.image = None
        self.rootfs_mounted = False
        self.oom_killed = False

    def run(self, *, stdin=None, stdout=None, stderr=None, capture_output=False,
            explain=None, interactive=None):
        """Run to completion; a RunResult with the exit code (and output if captured).

        ``stdin``/``stdout``/``stderr`` are file descriptors (default: ours);
        ``explain`` is a callable such as runtime.explain.ExplainPrinter().
        """
        from .runtime import launcher
        spec = self._prepare()
        if capture_output:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            stdio = (stdin if stdin is not None else 0, out_w, err_w)
        else:
            stdio = (stdin if stdin is not None else 0, stdout if stdout is not None else 1,
                     stderr if stderr is not None else 2)
        try:
            proc = self._start(spec, stdio, explain)
        finally:
            if capture_output:
                os.close(out_w)
                os.close(err_w)
        outputs = (None, None)
        try:
            if capture_output:
                outputs = _drain(out_r, err_r)
            code = launcher.wait(proc, interactive=spec.interactive)
        except BaseException:
            launcher._kill_and_reap(proc)
            self._finish(spec, proc, None)
            raise
        code = self._finish(spec, proc, code)
        return RunResult(self.id, code, *outputs, oom_killed=self.oom_killed)

    def _prepare(self):
        spec = self.spec
        if spec.hostname is None:
            spec = spec.replace(hostname=self.id[:12])
        spec, self.image = resolve_image(spec, self.id)
        if spec.has("time") and not procfs.has_namespace("time"):
            spec = spec.replace(namespaces=spec.namespaces - {"time"})
        validate.check_spec(spec)
        self.spec = spec
        return spec

    def _start(self, spec, stdio, explain):
        from .cgroups import create_manager
        from .rootfs.etc_files import write_etc_files
        from .rootfs.plan import plan_rootfs
        from .runtime import launcher
        container_dir = self.store.create(self.id, spec.name)
        self.cgroup = None
        try:
            if self.image is not None:
                from .image import mount_image
                from .state import data_root
                self.rootfs_mounted = True
                spec = self.spec = spec.replace(rootfs=mount_image(data_root(), self.image, self.id))
            write_etc_files(container_dir, spec)
            if spec.has("user"):
                _give_to_container_root(container_dir, spec)
            init_binary = find_init_binary() if spec.init else None
            plan = plan_rootfs(spec, container_dir, init_binary)
            if explain is not None:
                from .linux import syscalls
                syscalls.set_recorder(explain)
            # Named so an operator (and the test suite's leak check) can tell
            # whose it is, beneath our own cgroup in every hierarchy.
            self.cgroup = create_manager(f"minicontainer-{self.id}", spec.resources,
                                         parent=spec.cgroup_parent)
            self.cgroup.create()
            for warning in self.cgroup.warnings:
                sys.stderr.write(f"WARNING: {warning}\n")
            proc = launcher.start(spec, plan, stdio, explain, foreground=True,
                                  hooks=(self.cgroup.add_pid, self._attach_network),
                                  join_net=self._joined_net_pid(spec))
            self.store.save(self.id, self._state(spec, proc, "running"))
        except BaseException:
            self._release()
            raise
        return proc

    def _state(self, spec, proc, status, exit_code=None):
        return {"id": self.id, "name": spec.name, "pid": proc.pid,
                "started": procfs.start_time(proc.pid), "status": status,
                "exit_code": exit_code, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "cgroup": self.cgroup.record(), "network": self.network,
                "spec": spec.to_json_dict()}

    def _finish(self, spec, proc, code):
        # The kernel's OOM counters vanish with the cgroup: read them first.
        oom_killed = bool(self.cgroup and code is not None and self.cgroup.oom_killed())
        if oom_killed:
            code = 137
            sys.stderr.write("minicontainer: the container was killed by the kernel's OOM "
                             "killer (memory limit reached)\n")
        self.oom_killed = oom_killed
        if spec.auto_remove or code is None:
            self._release()
            return code
        self._release(keep_state=True)
        state = self.store.load(self.id)
        state.update(status="exited", exit_code=code, pid=None, oom_killed=oom_killed,
                     finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.store.save(self.id, state)
        return code

    def _attach_network(self, pid):
        """Give a bridge-networked container its veth, address and ports (a launch hook)."""
        spec = self.spec
        if spec.network in ("none", "host") or spec.network.startswith("container:"):
            return
        from . import network
        from .state import data_root
        self.network = network.attach(
            data_root(), self.id, pid, spec.network, spec.network_options, name=spec.name,
            hostname=spec.hostname,
            hosts_file=os.path.join(self.store.container_dir(self.id), "hosts"))

    def _joined_net_pid(self, spec):
        """--network container:NAME: the pid whose network namespace we join."""
        if not spec.network.startswith("container:"):
            return None
        ref = spec.network[len("container:"):]
        state = self.store.load(self.store.resolve(ref))
        if not procfs.is_alive(state.get("pid"), state.get("started")):
            from .errors import Conflict
            raise Conflict(f"cannot join the network of container {ref}: it is not running")
        return state["pid"]

    def _release(self, keep_state=False):
        """Undo what _start made: network, cgroup, then (unless kept) the state."""
        if self.network is not None:
            from . import network
            from .state import data_root
            network.detach(data_root(), self.id, self.network)
            self.network = None
        if self.cgroup is not None:
            self.cgroup.kill()
            self.cgroup.destroy()
        if not keep_state:
            if self.rootfs_mounted:
                from .image import release_rootfs
                from .state import data_root
                release_rootfs(data_root(), self.id)
            self.store.remove(self.id, self.spec.name)


def _give_to_container_root(container_dir, spec):
    """Let the remapped root reach its /etc files (as Docker's userns-remap does)."""
    uid, gid = spec.uid_map[0].host_id, spec.gid_map[0].host_id
    for name in ("", "hostname", "hosts", "resolv.conf"):
        os.chown(os.path.join(container_dir, name), uid, gid)


def remove(ref, force=False, state_root=None):
    """Delete a container's record (``rm``); a running one only with force."""
    store = StateStore(state_root)
    container_id = store.resolve(ref)
    state = store.load(container_id)
    if procfs.is_alive(state.get("pid"), state.get("started")):
        if not force:
            from .errors import Conflict
            raise Conflict(f"cannot remove container {ref}: it is running (stop it first or use -f)")
        os.kill(state["pid"], 9)
    if state.get("network"):
        from . import network
        from .state import data_root
        network.detach(data_root(), container_id, state["network"])
    if state.get("cgroup"):
        from .cgroups import from_record
        manager = from_record(state["cgroup"])
        manager.kill()
        manager.destroy()
    if state["spec"].get("image"):
        from .image import release_rootfs
        from .state import data_root
        release_rootfs(data_root(), container_id)
    store.remove(container_id, state.get("name"))
    return container_id


def list_containers(state_root=None):
    store = StateStore(state_root)
    result = []
    for container_id in store.list_ids():
        try:
            state = store.load(container_id)
        except NotFound:
            continue
        if state.get("status") == "running" and not procfs.is_alive(state.get("pid"),
                                                                    state.get("started")):
            state["status"] = "exited"
        result.append(state)
    return result


def _drain(*fds):
    """Read every pipe to its end (all at once, so none fills up and blocks)."""
    import select
    buffers = {fd: [] for fd in fds}
    open_fds = list(fds)
    while open_fds:
        ready, _, _ = select.select(open_fds, [], [])
        for fd in ready:
            data = os.read(fd, 65536)
            if data:
                buffers[fd].append(data)
            else:
                open_fds.remove(fd)
                os.close(fd)
    return tuple(b"".join(buffers[fd]) for fd in fds)
