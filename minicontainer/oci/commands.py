"""The commands of ``minicontainer-oci`` that work from a container's record.

create/start/run/exec, which launch processes, are in ``launch.py``; the
informational ones (ps, list, features, spec) in ``info.py``.
"""

import os
import sys
import time

from ..errors import Conflict, NotFound, SpecError
from . import state as oci_state


def dispatch(command, root, options, args, log):
    if command in ("create", "run", "start", "exec"):
        from . import launch
        return getattr(launch, command)(root, options, args, log)
    if command in ("ps", "list", "features", "spec"):
        from . import info
        return getattr(info, command)(root, options, args, log)
    return globals()[command](root, options, args, log)


def _print_json(value, indent=None):
    import json
    sys.stdout.write(json.dumps(value, indent=indent) + "\n")


# -- state ----------------------------------------------------------------------------

def state(root, options, args, log):
    _store, record = oci_state.load(root, args[0])
    _print_json(oci_state.oci_state(args[0], record), indent=2)
    return 0


# -- kill -----------------------------------------------------------------------------

def parse_signal(value):
    """runc's signal syntax: a number, KILL or SIGKILL (any case)."""
    import signal as _signal
    text = str(value).strip()
    if text.isdigit():
        if 0 < int(text) < _signal.NSIG:
            return int(text)
    else:
        name = text.upper()
        found = _signal.Signals.__members__.get(name if name.startswith("SIG") else "SIG" + name)
        if found is not None:
            return int(found)
    raise SpecError(f"unknown signal {value!r}")


def kill(root, options, args, log):
    container_id = args[0]
    number = parse_signal(args[1] if len(args) > 1 else "SIGTERM")
    _store, record = oci_state.load(root, container_id)
    if oci_state.status(record) in ("stopped", "creating"):
        # runc's words: containerd's shim recognises "container not running"
        # (and "no such process") as a process that already finished.
        raise Conflict(f"cannot kill container {container_id}: container not running "
                       f"(it is {oci_state.status(record)})")
    current = oci_state.status(record)
    if options.get("all"):
        signal_all(record, number, current)
        return 0
    try:
        os.kill(record["pid"], number)
    except ProcessLookupError:
        raise Conflict(f"cannot kill container {container_id}: container not running "
                       "(no such process)") from None
    return 0


def signal_all(record, number, current="running"):
    """``kill --all``: every process in the container's cgroup (thawed for SIGKILL)."""
    manager = _cgroup(record)
    pids = manager.pids() if manager is not None else [record["pid"]]
    for pid in pids:
        try:
            os.kill(pid, number)
        except ProcessLookupError:
            pass
    if current == "paused" and number == 9 and manager is not None:
        manager.thaw()  # a frozen process cannot die until thawed


def _cgroup(record):
    if not record.get("cgroup"):
        return None
    from ..cgroups import from_record
    return from_record(record["cgroup"])


# -- delete ---------------------------------------------------------------------------

def delete(root, options, args, log):
    container_id = oci_state.check_id(args[0])
    force = bool(options.get("force"))
    try:
        store, record = oci_state.load(root, container_id)
    except NotFound:
        if force:
            return 0  # runc: deleting what is not there, with --force, succeeds
        raise
    current = oci_state.status(record)
    if current in ("running", "paused") and not force:
        raise Conflict(f"cannot delete container {container_id} that is not stopped: "
                       f"it is {current} (use --force)")
    document = oci_state.oci_state(container_id, record)
    destroy(store, container_id, record)
    hooks = (record.get("oci") or {}).get("hooks") or {}
    if hooks.get("poststop") and current != "creating":
        from .hooks import HookError, run_all
        document["status"] = "stopped"
        try:
            run_all("poststop", hooks, document)
        except HookError as exc:
            log.warning(str(exc))  # the spec: log it, the delete still succeeds
    return 0


def destroy(store, container_id, record):
    """Kill whatever still runs and release everything the container holds."""
    from ..lifecycle import release
    destroy_processes(record)
    release(store, container_id, record)


def destroy_processes(record):
    """SIGKILL every process of the container (frozen ones too) and wait for the init."""
    if not oci_state.init_alive(record):
        return
    manager = _cgroup(record)
    if manager is not None:
        manager.kill()
    try:
        os.kill(record["pid"], 9)
    except ProcessLookupError:
        pass
    _wait_gone(record, 10)


def _wait_gone(record, seconds):
    deadline = time.monotonic() + seconds
    while oci_state.init_alive(record) and time.monotonic() < deadline:
        time.sleep(0.005)


# -- pause / resume / update ------------------------------------------------------------

def pause(root, options, args, log):
    store, record = oci_state.load(root, args[0])
    oci_state.require(record, args[0], ("running",), "pause")
    _manager(record, args[0]).freeze()
    oci_state.save_fields(store, args[0], status="paused")
    return 0


def resume(root, options, args, log):
    store, record = oci_state.load(root, args[0])
    oci_state.require(record, args[0], ("paused",), "resume")
    _manager(record, args[0]).thaw()
    oci_state.save_fields(store, args[0], status="running")
    return 0


def _manager(record, container_id):
    manager = _cgroup(record)
    if manager is None:
        raise Conflict(f"container {container_id} has no cgroup to freeze")
    return manager


def update(root, options, args, log):
    """New limits for a live container: ``--resources FILE|-`` (the config's
    linux.resources) and/or runc's single-value flags."""
    from ..spec import Resources
    from .resources import from_flags, from_oci, merge
    store, record = oci_state.load(root, args[0])
    oci_state.require(record, args[0], ("created", "running", "paused"), "update")
    changes = {}
    if options.get("resources"):
        import json
        source = options["resources"]
        try:
            if source == "-":
                document = json.load(sys.stdin)
            else:
                with open(source) as f:
                    document = json.load(f)
        except ValueError as exc:
            raise SpecError(f"--resources: not valid JSON: {exc}") from None
        changes.update(from_oci(document))
    changes.update(from_flags(options))
    if not changes:
        return 0
    current = Resources(**(record.get("spec") or {}).get("resources", {}))
    merged = merge(current, changes)
    _manager(record, args[0]).apply(merged)
    record["spec"]["resources"] = merged.as_dict()
    store.save(args[0], record)
    return 0
