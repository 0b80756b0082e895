"""create, start, run and exec: the commands that launch processes.

``create`` builds the whole container and leaves its init waiting, just
before the user's program, on an exec fifo in the container's state
directory; then ``create`` exits.  The init is our child, so when we exit it
is handed to the nearest child subreaper above us: containerd's shim or
conmon, which wait for it and collect its exit status, as they do with runc.
``start`` opens the fifo for reading, which lets the init exec the program.
"""

import os
import time

from ..errors import Conflict, SpecError
from . import state as oci_state


def _now():
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


def _write_pid_file(path, pid):
    from ..linux.fs import atomic_write
    atomic_write(os.path.abspath(path), str(pid), durable=False)


# -- create -------------------------------------------------------------------------------

def create(root, options, args, log):
    create_container(root, args[0], options, log)
    return 0


def create_container(root, container_id, options, log, detach=True):
    """Everything up to the init waiting on its fifo; returns (store, record, proc)."""
    from ..container import Container
    from .config import load_bundle
    from .hooks import run_all
    oci_state.check_id(container_id)
    if options.get("preserve-fds") not in (None, "0"):
        raise SpecError("--preserve-fds is not supported by minicontainer-oci")
    bundle_dir = os.path.abspath(options.get("bundle") or ".")
    bundle = load_bundle(bundle_dir)
    for warning in getattr(bundle, "warnings", ()) or ():
        log.warning(warning)
    spec = bundle.spec
    console_socket = options.get("console-socket")
    if spec.tty and detach and not console_socket:
        raise SpecError("cannot allocate a terminal when detached without --console-socket "
                        "(process.terminal is true)")
    if console_socket and not spec.tty:
        raise SpecError("--console-socket given but process.terminal is false")
    store = oci_state.store_for(root)
    if oci_state.exists(root, container_id):
        raise Conflict(f"container with id exists: {container_id}")
    container = Container(spec, state_root=root)
    container.id = container_id
    container.create()
    fifo = oci_state.fifo_path(store, container_id)
    hooks = bundle.hooks or {}
    oci = {"bundle": bundle_dir, "annotations": dict(bundle.annotations or {}),
           "oci_version": bundle.oci_version, "created": _now(), "fifo": fifo,
           "hooks": hooks, "creating": True}

    def record_early(pid):
        # Before anything that may hang or crash (the hooks, the init's setup):
        # the pid and the cgroup on disk, so a `delete` after a crash of this
        # very process still finds and releases them.
        container.state.update(pid=pid, started=oci_state.process_state(pid)[1],
                               cgroup=container.cgroup.record())
        store.save(container_id, container.state)

    def runtime_hooks_now(pid):
        # In the launcher, once the init is in its cgroup and before it builds
        # its root: where runc runs them (a CNI plugin can wire the network
        # namespace here).
        document = oci_state.oci_state(container_id, container.state)
        document.update(status="creating", pid=pid)
        run_all("prestart", hooks, document)
        run_all("createRuntime", hooks, document)
    launch_hooks = (record_early,)
    if hooks.get("prestart") or hooks.get("createRuntime"):
        launch_hooks += (runtime_hooks_now,)
    try:
        # Container.start saves its in-memory record: the OCI part goes in it.
        container.state["oci"] = oci
        store.save(container_id, container.state)
        proc = container.start((0, 1, 2), start_fifo=fifo, foreground=False,
                               extra_hooks=launch_hooks)
        record = oci_state.save_fields(store, container_id, status="created",
                                       oci={"creating": False})
        if hooks.get("createContainer"):
            document = oci_state.oci_state(container_id, record)
            document["status"] = "creating"
            run_all("createContainer", hooks, document, pid=proc.pid)
        if proc.pty is not None:
            if console_socket:
                from .console import send_master
                send_master(console_socket, proc.pty)
                os.close(proc.pty)
                proc.pty = None
        if options.get("pid-file"):
            _write_pid_file(options["pid-file"], proc.pid)
    except BaseException:
        from .commands import destroy
        try:
            destroy(store, container_id, store.load(container_id))
        except Exception as exc:  # noqa: BLE001 - the first error is the one to report
            log.debug(f"cleaning up after a failed create: {exc}")
        raise
    log.debug(f"created {container_id}: init pid {proc.pid}")
    return store, record, proc


# -- start ----------------------------------------------------------------------------------

def start(root, options, args, log):
    start_container(root, args[0], log)
    return 0


def start_container(root, container_id, log):
    from .hooks import HookError, run_all
    store, record = oci_state.load(root, container_id)
    current = oci_state.status(record)
    if current != "created":
        raise Conflict(f"cannot start container {container_id}: it is {current}, "
                       "not created")
    oci = record.get("oci") or {}
    hooks = oci.get("hooks") or {}
    if hooks.get("startContainer"):
        document = oci_state.oci_state(container_id, record)
        try:
            run_all("startContainer", hooks, document, pid=record["pid"])
        except HookError:
            # The spec: stop the container; it is deleted by the caller's delete.
            from .commands import destroy_processes
            destroy_processes(record)
            raise
    from ..runtime.startfifo import release_waiting  # not launcher: 7 ms less to import
    release_waiting(oci["fifo"], record["pid"])
    record = oci_state.save_fields(store, container_id, status="running",
                                   oci={"started": _now()})
    if hooks.get("poststart"):
        try:
            run_all("poststart", hooks, oci_state.oci_state(container_id, record))
        except HookError as exc:
            log.warning(str(exc))  # the spec: log it, the start stands
    return record


# -- run: create + start + wait --------------------------------------------------------------

def run(root, options, args, log):
    """Create, start and (unless --detach) wait; the container's exit code."""
    container_id = args[0]
    detach = bool(options.get("detach"))
    store, record, proc = create_container(root, container_id, options, log, detach=detach)
    try:
        start_container(root, container_id, log)
    except BaseException:
        from .commands import destroy
        destroy(store, container_id, store.load(container_id))
        raise
    if detach:
        return 0
    from ..runtime import launcher
    launcher._install_forwarding(proc)
    try:
        code = launcher.wait(proc, interactive=True)
    finally:
        if not options.get("keep"):
            from .commands import delete
            delete(root, {"force": True}, [container_id], log)
    return code


# -- exec -----------------------------------------------------------------------------------

def exec(root, options, args, log):  # noqa: A001 - the command's name
    from .process import exec_spec
    container_id = args[0]
    store, record = oci_state.load(root, container_id)
    current = oci_state.status(record)
    allowed = ("created", "running", "paused") if options.get("ignore-paused") else \
        ("created", "running")
    if current not in allowed:
        raise Conflict(f"cannot exec in container {container_id}: it is {current}")
    spec = exec_spec(record, options, args[1:])
    detach = bool(options.get("detach"))
    console_socket = options.get("console-socket")
    if spec.tty and detach and not console_socket:
        raise SpecError("cannot allocate a terminal when detached without --console-socket")
    from ..runtime.exec import exec_in
    proc = exec_in(record, spec, (0, 1, 2), detach=detach)
    if proc.pty is not None and console_socket:
        from .console import send_master
        send_master(console_socket, proc.pty)
        os.close(proc.pty)
        proc.pty = None
    if options.get("pid-file"):
        _write_pid_file(options["pid-file"], proc.pid)
    if detach:
        return 0
    from ..runtime import launcher
    return launcher.wait(proc, interactive=True)

