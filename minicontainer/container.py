"""The lifecycle facade: one object per container, used by the CLI and by scripts.

    from minicontainer import Container, ContainerSpec
    result = Container(ContainerSpec(rootfs="busybox", args=("hostname",),
                                     hostname="lab")).run(capture_output=True)
    print(result.exit_code, result.stdout)        # 0 b'lab\\n'

A container is *created* (validated, state directory, name, image root) and
*started* (cgroup, clone, network, exec) as separate steps, like Docker's
``create`` and ``start``; ``run`` does both and waits.  Every step registers
its undo, so a failure anywhere leaves nothing behind; what stays between
runs is in state.json, from which ``lifecycle`` can also release everything.
"""

import os
import sys
import time

from . import validate
from .errors import SpecError
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


def resolve_image(spec):
    """(spec, image handle, image VOLUMEs): the image's defaults merged into ``spec``.

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
        from .image.config import _healthcheck
        return spec.replace(rootfs=os.path.abspath(spec.rootfs), cwd=spec.cwd or "/",
                            healthcheck=_healthcheck(None, {"healthcheck": spec.healthcheck})
                            if spec.healthcheck else None), None, ()
    from .image.config import merge_run_config
    from .state import data_root
    if spec.pull == "always" or image._cached_image(data_root(), spec.rootfs) is None:
        image.ensure_image(data_root(), spec.rootfs, spec.pull)
    config, handle = image.open_image(data_root(), spec.rootfs)
    run = merge_run_config(config, {"entrypoint": spec.entrypoint, "args": spec.args,
                                    "env": spec.env, "workdir": spec.cwd, "user": spec.user,
                                    "hostname": spec.hostname, "tty": spec.tty,
                                    "healthcheck": spec.healthcheck,
                                    "stop_signal": spec.stop_signal})
    return spec.replace(args=run.args, env=run.env, cwd=run.cwd or "/", user=run.user,
                        image=spec.image or spec.rootfs, healthcheck=run.healthcheck,
                        stop_signal=run.stop_signal), handle, run.volumes


def find_init_binary():
    for path in INIT_BINARIES:
        if os.access(path, os.X_OK):
            return path
    raise SpecError("--init needs tini's static binary (apt-get install tini)")


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Container:
    """One container: ``create``, ``start`` (then ``wait``), or ``run`` for all three."""

    def __init__(self, spec, state_root=None, container_id=None):
        self.spec = spec
        self.store = StateStore(state_root)
        self.id = container_id or os.urandom(32).hex()
        self.created = container_id is not None
        self.image = None
        self.cgroup = None
        self.network = None
        self._pending_network = None
        self.state = None
        self.oom_killed = False

    @classmethod
    def load(cls, container_id, state_root=None):
        """The created container recorded under ``container_id`` (for start/restart)."""
        from .spec import ContainerSpec
        store = StateStore(state_root)
        state = store.load(container_id)
        return cls(ContainerSpec.from_json_dict(state["spec"]), state_root, container_id)

    # -- run: create + start + wait ---------------------------------------------

    def run(self, *, stdin=None, stdout=None, stderr=None, capture_output=False,
            explain=None):
        """Run to completion; a RunResult with the exit code (and output if captured).

        ``stdin``/``stdout``/``stderr`` are file descriptors (default: ours);
        ``explain`` is a callable such as runtime.explain.ExplainPrinter().
        """
        if capture_output:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            stdio = (stdin if stdin is not None else 0, out_w, err_w)
        else:
            stdio = (stdin if stdin is not None else 0, stdout if stdout is not None else 1,
                     stderr if stderr is not None else 2)
        try:
            self.create()
            try:
                proc = self.start(stdio, explain)
            except BaseException:
                self._remove()  # a run that could not start leaves nothing behind
                raise
        except BaseException:
            if capture_output:
                for fd in (out_r, err_r):
                    os.close(fd)
            raise
        finally:
            if capture_output:
                os.close(out_w)
                os.close(err_w)
        outputs = (None, None)
        from .runtime import launcher
        try:
            if capture_output:
                outputs = _drain(out_r, err_r)
            code = launcher.wait(proc, interactive=self.spec.interactive)
        except BaseException:
            launcher.kill_and_reap(proc)
            self.finish(None)
            raise
        code = self.finish(code)
        return RunResult(self.id, code, *outputs, oom_killed=self.oom_killed)

    # -- create -------------------------------------------------------------------

    def create(self):
        """Validate, claim the name, mount the image root, record "created"."""
        if self.created:
            return self.id
        spec = self.spec
        if spec.hostname is None and spec.mount_plan == "docker":
            spec = spec.replace(hostname=self.id[:12])
        spec, self.image, self.image_volumes = resolve_image(spec)
        if spec.has("time") and not procfs.has_namespace("time"):
            spec = spec.replace(namespaces=spec.namespaces - {"time"})
        validate.check_spec(spec)
        if spec.resources.device_read_bps or spec.resources.device_write_bps:
            from .cgroups.base import device_numbers  # a missing device fails before anything exists
            for device, _rate in spec.resources.device_read_bps + spec.resources.device_write_bps:
                device_numbers(device)
        self.store.create(self.id, spec.name)
        try:
            if self.image is not None:
                from .image import mount_image
                from .state import data_root
                spec = spec.replace(rootfs=mount_image(data_root(), self.image, self.id))
            anonymous = []
            if spec.mount_plan == "docker" and (spec.mounts or self.image_volumes):
                from .state import data_root
                from .volumes import volume_mounts
                mounts, anonymous = volume_mounts(data_root(), spec.mounts, self.image_volumes,
                                                  spec.rootfs if self.image is not None else None)
                spec = spec.replace(mounts=mounts)
            self.spec = spec
            self.state = {"id": self.id, "name": spec.name, "status": "created",
                                      "anonymous_volumes": anonymous,
                                      "image_id": self.image and self.image["id"],
                                      "created": _now(), "pid": None, "exit_code": None,
                                      "restart_count": 0, "spec": spec.to_json_dict()}
            self.store.save(self.id, self.state)
        except BaseException:
            from .lifecycle import release
            release(self.store, self.id, {"spec": spec.to_json_dict()})
            raise
        self.created = True
        return self.id

    # -- start ---------------------------------------------------------------------

    def start(self, stdio=(0, 1, 2), explain=None, foreground=True, start_fifo=None,
              extra_hooks=()):
        """Start the created container's PID 1; returns the launcher's Process.

        ``start_fifo`` (OCI create): the init waits on a FIFO made there just
        before its execve, and this returns once it waits (pass
        ``foreground=False``); ``runtime.launcher.release_waiting`` lets it go.
        ``extra_hooks`` are ``hook(pid)`` callables run in the launcher after
        the init is in its cgroup and network, before it is released ("go").
        """
        from .cgroups import create_manager
        from .rootfs.etc_files import write_etc_files
        from .rootfs.plan import plan_rootfs
        from .runtime import launcher
        spec = self.spec
        container_dir = self.store.container_dir(self.id)
        try:
            if spec.image and self.image is None:
                spec = self.spec = self._remount_image(spec)
            if spec.mount_plan == "docker":  # an OCI config binds no /etc files of ours
                write_etc_files(container_dir, spec)
                if spec.has("user"):
                    _give_to_container_root(container_dir, spec)
            init_binary = find_init_binary() if spec.init else None
            from .cgroups import container_mounts
            plan = plan_rootfs(spec, container_dir, init_binary, container_mounts())
            if explain is not None:
                from .linux import syscalls
                syscalls.set_recorder(explain)
            # Named so an operator (and the test suite's leak check) can tell
            # whose it is, beneath our own cgroup in every hierarchy.
            leaf, parent = f"minicontainer-{self.id}", spec.cgroup_parent
            if spec.cgroup_path:  # OCI cgroupsPath, beneath our own cgroup
                parent, _, leaf = spec.cgroup_path.strip("/").rpartition("/")
            self.cgroup = create_manager(leaf, spec.resources, parent=parent or None,
                                         privileged=spec.security.privileged)
            self.cgroup.create()
            for warning in self.cgroup.warnings:
                sys.stderr.write(f"WARNING: {warning}\n")
            # The init joins its cgroups by itself where that is cheaper (v1); in
            # a user namespace it may not write the host's cgroupfs: we move it.
            self_join = () if spec.has("user") else self.cgroup.self_join_files()
            place = () if self_join else (self.cgroup.add_pid,)
            proc = launcher.start(spec, plan, stdio, explain, foreground=foreground,
                                  hooks=(self._begin_network,) + place
                                  + (self._finish_network,) + tuple(extra_hooks),
                                  cgroup_files=self_join,
                                  join_net=self._joined_net_pid(spec),
                                  start_fifo=start_fifo)
            # The record create() wrote (or load() read), kept: reading it back
            # would import json on the hot path.
            state = self.state if self.state is not None else self.store.load(self.id)
            state.update(status="running", pid=proc.pid, started=procfs.start_time(proc.pid),
                         started_at=_now(), exit_code=None, oom_killed=False,
                         cgroup=self.cgroup.record(), network=self.network)
            self.store.save(self.id, state)
        except BaseException:
            if self._pending_network is not None:
                self._collect_network()  # what it wired, known, so that it is undone
            self._release_runtime()
            raise
        return proc

    def finish(self, code):
        """Record how PID 1 ended (or remove the container with --rm); Docker's code."""
        # The kernel's OOM counters vanish with the cgroup: read them first.
        oom_killed = bool(self.cgroup and code is not None and self.cgroup.oom_killed())
        if oom_killed:
            code = 137
            sys.stderr.write("minicontainer: the container was killed by the kernel's OOM "
                             "killer (memory limit reached)\n")
        self.oom_killed = oom_killed
        self._release_runtime()
        if self.spec.auto_remove or code is None:
            self._remove()
            return code
        state = self.store.load(self.id)  # others (stop, restart counts) may have written
        state.update(status="exited", exit_code=code, pid=None, oom_killed=oom_killed,
                     finished_at=_now())
        self.store.save(self.id, state)
        return code

    def _remount_image(self, spec):
        """A created container started again: its root, mounted again if it is not."""
        from .image import mount_image, open_image
        from .state import data_root
        self.image = open_image(data_root(), spec.image)[1]
        return spec.replace(rootfs=mount_image(data_root(), self.image, self.id))

    def _begin_network(self, pid):
        """Start wiring a bridge-networked container's veth, address and ports (a
        launch hook); the supervisor works while the launcher attaches the cgroup."""
        spec = self.spec
        if spec.network in ("none", "host") or spec.network.startswith("container:"):
            return
        from .state import data_root
        from .supervisor_client import network_attach_begin
        self._pending_network = network_attach_begin(
            self.store.root, data_root(), self.id, pid, spec.network, spec.network_options,
            name=spec.name, hostname=spec.hostname,
            hosts_file=os.path.join(self.store.container_dir(self.id), "hosts"))

    def _finish_network(self, pid):
        """Wait for the network wiring begun by ``_begin_network``, then attach the
        further networks (a launch hook)."""
        if self._pending_network is None:
            return
        self._collect_network()
        if self.spec.extra_networks:
            self._attach_extra_networks(pid)

    def _collect_network(self):
        pending, self._pending_network = self._pending_network, None
        from .linux import syscalls
        from .supervisor_client import network_attach_finish

        def finish():
            self.network = network_attach_finish(pending)
            return f"{self.network['interface']} {self.network['ip']}/{self.network['prefixlen']}"
        syscalls.timed("network_attach", (self.spec.network,),
                       "connect the container to its network: a veth pair with one end in its "
                       "namespace, an address, routes, ports (done by the supervisor while "
                       "the cgroup attach waits)", finish)

    def _attach_extra_networks(self, pid):
        """The further networks (eth1, ...) that ``network connect`` or compose added."""
        from .state import data_root
        from .supervisor_client import network_attach
        records = [self.network]
        self.network = records  # so that a failure below detaches what is attached
        for name, options in self.spec.extra_networks:
            records.append(network_attach(
                self.store.root, data_root(), self.id, pid, name, options,
                name=self.spec.name, hostname=self.spec.hostname,
                hosts_file=os.path.join(self.store.container_dir(self.id), "hosts")))

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

    def _release_runtime(self):
        """Undo what start made: the network, then the cgroup."""
        from .lifecycle import release_runtime
        release_runtime(self.id, self.network, self.cgroup, self.store.root)
        self.network = None
        self.cgroup = None
        if self.state is not None:
            self.state.update(network=None, cgroup=None)

    def _remove(self):
        from .lifecycle import release
        release(self.store, self.id, self.state or self.store.load(self.id))


def _give_to_container_root(container_dir, spec):
    """Let the remapped root reach its /etc files (as Docker's userns-remap does)."""
    uid, gid = spec.uid_map[0].host_id, spec.gid_map[0].host_id
    for name in ("", "hostname", "hosts", "resolv.conf"):
        os.chown(os.path.join(container_dir, name), uid, gid)


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
