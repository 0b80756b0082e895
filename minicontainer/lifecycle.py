"""Operations on recorded containers, by name or id, working from state.json alone.

Whoever started a container (a foreground ``run``, or the supervisor for
``run -d``), these act on it through what the state records: the pid and its
start time (so a recycled pid is never signalled), the cgroup paths, the
network attachment and the image root.  Releasing is idempotent, so ``rm -f``
after a crash cleans everything.
"""

import os
import time

from .errors import Conflict, NotFound, SpecError
from .linux import proc as procfs
from .state import StateStore, data_root

SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 10, "USR2": 12, "TERM": 15,
           "CONT": 18, "STOP": 19, "WINCH": 28}


def parse_signal(value):
    """Docker's signal syntax: 9, KILL or SIGKILL."""
    text = str(value).upper().removeprefix("SIG")
    if text.isdigit() and 0 < int(text) < 65:
        return int(text)
    if text in SIGNALS:
        return SIGNALS[text]
    raise SpecError(f"invalid signal: {value}")


def load(ref, state_root=None):
    """(store, id, state) for a container name, id or unique id prefix."""
    store = StateStore(state_root)
    container_id = store.resolve(ref)
    return store, container_id, store.load(container_id)


def is_running(state):
    return state.get("status") in ("running", "paused") and procfs.is_alive(
        state.get("pid"), state.get("started"))


def current_status(state):
    """The status to show: a recorded "running" whose process is gone is "exited"."""
    status = state.get("status", "created")
    if status in ("running", "paused") and not is_running(state):
        return "exited"
    return status


# -- releasing what a container holds --------------------------------------------

def release_runtime(container_id, network_record, cgroup, state_root=None):
    """Undo a start: detach the network, kill and remove the cgroup (idempotent)."""
    if network_record:
        from .supervisor_client import network_detach
        network_detach(state_root, data_root(), container_id, network_record)
    if cgroup is not None:
        if isinstance(cgroup, dict):
            from .cgroups import from_record
            cgroup = from_record(cgroup)
        cgroup.kill()
        cgroup.destroy()


def release(store, container_id, state, remove_volumes=True):
    """Remove a container for good: runtime pieces, image root, name, state."""
    release_runtime(container_id, state.get("network"), state.get("cgroup"), store.root)
    spec = state.get("spec", {})
    if spec.get("image"):
        from .image import release_rootfs, rootfs_path
        merged = spec.get("rootfs")
        release_rootfs(data_root(), container_id,
                       merged=merged if merged == rootfs_path(data_root(), container_id) else None)
    if state.get("anonymous_volumes") and remove_volumes:
        from .volumes import remove_anonymous
        remove_anonymous(data_root(), state["anonymous_volumes"])
    store.remove(container_id, state.get("spec", {}).get("name") or state.get("name"))


def remove(ref, force=False, state_root=None, volumes=False):
    """``rm``: a running container only with force (it is killed first); its
    anonymous volumes only with ``volumes`` (``rm -v``), as in Docker."""
    store, container_id, state = load(ref, state_root)
    if is_running(state):
        if not force:
            raise Conflict(f"cannot remove container {ref}: it is running "
                           "(stop it first or use rm -f)")
        if state.get("supervised"):
            stop(container_id, timeout=0, signal="KILL", state_root=state_root)
        else:
            _mark(store, container_id, stop_requested=True)
            os.kill(state["pid"], 9)
            _wait_gone(state, 10)
    elif state.get("status") == "restarting" and state.get("supervised"):
        stop(container_id, timeout=0, state_root=state_root)  # cancel the pending restart
    release(store, container_id, store.load(container_id), remove_volumes=volumes)
    return container_id


def list_containers(state_root=None):
    store = StateStore(state_root)
    result = []
    for container_id in store.list_ids():
        try:
            state = store.load(container_id)
        except NotFound:
            continue
        state["status"] = current_status(state)
        result.append(state)
    return result


# -- signals ----------------------------------------------------------------------

def kill(ref, signal="KILL", state_root=None):
    store, container_id, state = load(ref, state_root)
    if not is_running(state):
        raise Conflict(f"cannot kill container {ref}: it is not running")
    number = parse_signal(signal)
    if number == 9:
        _mark(store, container_id, stop_requested=True)
    os.kill(state["pid"], number)
    return container_id


def stop(ref, timeout=10, signal=None, state_root=None):
    """Docker's stop: the stop signal, ``timeout`` seconds, then SIGKILL."""
    store, container_id, state = load(ref, state_root)
    number = parse_signal(signal or state["spec"].get("stop_signal") or "TERM")
    if state.get("supervised"):
        # The supervisor parents it: it signals, holds back any restart and
        # kills after the timeout; we wait for the exit to be recorded.
        if state.get("status") == "paused":
            unpause(ref, state_root)
        from .supervisor_client import request
        request({"op": "stop", "id": container_id, "signal": number, "timeout": timeout},
                state_root)
        _wait_gone(state, timeout + 30)
        _wait_recorded(store, container_id, 10)
        return container_id
    if not is_running(state):
        return container_id
    _mark(store, container_id, stop_requested=True)
    if state.get("status") == "paused":
        unpause(ref, state_root)
    try:
        os.kill(state["pid"], number)
    except ProcessLookupError:
        return container_id
    if not _wait_gone(state, timeout):
        os.kill(state["pid"], 9)
        _wait_gone(state, 30)
    _wait_recorded(store, container_id, 10)
    return container_id


def wait(ref, state_root=None, poll=0.05):
    """Block until the container is no longer running; its exit code."""
    store, container_id, state = load(ref, state_root)
    while True:
        if state.get("status") not in ("running", "paused", "restarting", "created"):
            return state.get("exit_code")
        if not is_running(state) and state.get("status") != "restarting":
            _wait_recorded(store, container_id, 5)
            return store.load(container_id).get("exit_code")
        time.sleep(poll)
        state = store.load(container_id)


# -- networks of a running container ---------------------------------------------------

def exec_command(state, command, env=(), workdir=None, user=None, tty=False,
                 interactive=False, detach=False):
    """``exec`` in the running container ``state`` describes: its exit code
    (Docker's 128+N for a signal), or 0 at once with ``detach``."""
    from .runtime import launcher
    from .runtime.exec import exec_in
    from .spec import ContainerSpec
    spec = ContainerSpec.from_json_dict(state["spec"])
    spec = spec.replace(args=tuple(command), env=tuple(spec.env) + tuple(env),
                        cwd=workdir or spec.cwd, user=user or spec.user, tty=tty,
                        interactive=interactive and not detach)
    stdio = (0, 1, 2)
    if detach:
        null = os.open("/dev/null", os.O_RDWR)
        stdio = (null, null, null)
    proc = exec_in(state, spec, stdio, detach)
    if detach:
        return 0
    return launcher.wait(proc, interactive=spec.interactive)


def _records(state):
    record = state.get("network")
    return [] if not record else (record if isinstance(record, list) else [record])


def connect(ref, network_name, ip=None, aliases=(), state_root=None):
    """``network connect``: another interface (eth1, ...) on another network."""
    from .spec import NetworkOptions
    from .supervisor_client import network_attach
    store, container_id, state = load(ref, state_root)
    if not is_running(state):
        raise Conflict(f"container {ref} is not running")
    records = _records(state)
    if any(r["network"] == network_name for r in records):
        raise Conflict(f"container {ref} is already connected to network {network_name}")
    spec = state["spec"]
    record = network_attach(store.root, data_root(), container_id, state["pid"], network_name,
                            NetworkOptions(ip=ip, aliases=tuple(aliases)),
                            name=spec.get("name"), hostname=spec.get("hostname"),
                            hosts_file=os.path.join(store.container_dir(container_id), "hosts"))
    # Kept in the container's config too, as Docker does: a restart (by the
    # supervisor's policy, or ``start`` after ``stop``) connects it again.
    spec = dict(spec, extra_networks=list(spec.get("extra_networks", ())) + [
        [network_name, NetworkOptions(ip=ip, aliases=tuple(aliases)).as_dict()]])
    _mark(store, container_id, network=records + [record], spec=spec)
    return record


def disconnect(ref, network_name, state_root=None):
    from .supervisor_client import network_detach
    store, container_id, state = load(ref, state_root)
    records = _records(state)
    mine = [r for r in records if r["network"] == network_name]
    if not mine:
        raise NotFound(f"container {ref} is not connected to network {network_name}")
    network_detach(store.root, data_root(), container_id, mine[0])
    rest = [r for r in records if r is not mine[0]]
    spec = state["spec"]
    spec = dict(spec, extra_networks=[entry for entry in spec.get("extra_networks", ())
                                      if entry[0] not in (network_name, mine[0]["network_id"])])
    _mark(store, container_id, network=rest[0] if len(rest) == 1 else (rest or None), spec=spec)


# -- cgroup-backed operations --------------------------------------------------------

def _manager(state, ref):
    if not is_running(state) or not state.get("cgroup"):
        raise Conflict(f"container {ref} is not running")
    from .cgroups import from_record
    return from_record(state["cgroup"])


def pause(ref, state_root=None):
    store, container_id, state = load(ref, state_root)
    _manager(state, ref).freeze()
    _mark(store, container_id, status="paused")
    return container_id


def unpause(ref, state_root=None):
    store, container_id, state = load(ref, state_root)
    if state.get("status") != "paused":
        raise Conflict(f"container {ref} is not paused")
    _manager(state, ref).thaw()
    _mark(store, container_id, status="running")
    return container_id


def stats(ref, state_root=None):
    _store, container_id, state = load(ref, state_root)
    values = _manager(state, ref).stats()
    values.update(id=container_id, name=state.get("spec", {}).get("name"))
    return values


def update(ref, options, state_root=None):
    """Change a running container's limits (Docker's update flags, as typed)."""
    from .units import merge_resources, parse_resources
    from .spec import Resources
    store, container_id, state = load(ref, state_root)
    manager = _manager(state, ref)
    current = Resources(**state["spec"].get("resources", {}))
    merged = merge_resources(current, parse_resources(options, update=True))
    manager.apply(merged)
    state["spec"]["resources"] = merged.as_dict()
    store.save(container_id, state)
    return container_id


def top(ref, state_root=None):
    """(pid, command line) of every process in the container's cgroup."""
    _store, _id, state = load(ref, state_root)
    rows = []
    for pid in sorted(_manager(state, ref).pids()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        rows.append((pid, command))
    return rows


def prune(state_root=None):
    """Remove every container that is not running; their ids."""
    removed = []
    for state in list_containers(state_root):
        if state["status"] in ("exited", "created"):
            try:
                removed.append(remove(state["id"], state_root=state_root))
            except (NotFound, Conflict):
                continue
    return removed


# -- helpers -------------------------------------------------------------------------

def _mark(store, container_id, **fields):
    state = store.load(container_id)
    state.update(fields)
    store.save(container_id, state)


def _wait_gone(state, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not procfs.is_alive(state.get("pid"), state.get("started")):
            return True
        time.sleep(0.02)
    return False


def _wait_recorded(store, container_id, seconds):
    """Give the container's parent a moment to record the exit."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if store.load(container_id).get("status") not in ("running", "paused"):
                return
        except NotFound:
            return
        time.sleep(0.02)
