"""What ``minicontainer-oci`` remembers of each container, and its OCI status.

Each container is a directory ``<root>/containers/<id>/`` (the same StateStore
the rest of minicontainer uses, so ``lifecycle.release`` can undo a container
from its record alone) whose ``state.json`` holds the runtime's record (spec,
pid and its start time, cgroup) plus an ``oci`` section: the bundle,
annotations, hooks, config ociVersion, creation time and the exec fifo.

The status is never trusted from the file; it is computed:

  creating  the record exists but create has not finished (no pid yet)
  created   the init is alive and still waits on its exec fifo
  running   the init is alive (its pid and start time match) and not frozen
  paused    the same, with its cgroup frozen by ``pause``
  stopped   the init is gone, or is a zombie waiting for its parent
"""

import os

from ..errors import Conflict, NotFound, SpecError

STATUSES = ("creating", "created", "running", "paused", "stopped")
FIFO_NAME = "exec.fifo"


def check_id(container_id):
    """runc's rule for ids: letters, digits and ``_ + - .``, not "." or ".."."""
    if not container_id or container_id in (".", "..") or len(container_id) > 1024 or any(
            not (c.isascii() and (c.isalnum() or c in "_+-.")) for c in container_id):
        raise SpecError(f"invalid container id {container_id!r}: use letters, digits "
                        "and _ + - . only")
    return container_id


def store_for(root):
    from ..state import StateStore
    return StateStore(root)


def load(root, container_id):
    """(store, state) of an existing container; NotFound with runc's words otherwise."""
    check_id(container_id)
    store = store_for(root)
    path = os.path.join(store.container_dir(container_id), "state.json")
    try:
        with open(path) as f:
            return store, parse_json(f.read(), path)
    except FileNotFoundError:
        raise NotFound(f"container does not exist: {container_id}") from None


def parse_json(text, what="state.json"):
    """JSON text -> value with the C scanner alone.

    ``import json`` costs about 7 ms here (its pure-Python parts pull in
    ``re`` and ``enum``), and containerd's shim runs ``state``, ``start``,
    ``kill`` and ``delete`` once or more per container; the C scanner the
    json module itself uses needs none of that.
    """
    try:
        import _json
    except ImportError:  # an interpreter without the accelerator
        import json
        return json.loads(text)
    scanner = _json.make_scanner(_ScanContext())
    start = len(text) - len(text.lstrip())
    try:
        value, end = scanner(text, start)
    except Exception:  # noqa: BLE001 - StopIteration, ValueError, or the scanner's
        end, value = -1, None  # SystemError when json.decoder is not imported
    if end < 0 or text[end:].strip():
        from ..errors import SetupError
        raise SetupError("the container's record is not valid JSON", op="read state", path=what)
    return value


class _ScanContext:
    """The attributes ``_json.make_scanner`` reads from a JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    def __init__(self):
        self.memo = {}

    @staticmethod
    def parse_constant(name):
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


def exists(root, container_id):
    return os.path.isdir(store_for(root).container_dir(container_id))


def fifo_path(store, container_id):
    return os.path.join(store.container_dir(container_id), FIFO_NAME)


def process_state(pid):
    """(state letter, start time) of a process from /proc/PID/stat; (None, None) if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None, None
    fields = data[data.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[19])


def init_alive(state):
    """Is the container's init still the process recorded (and not a zombie)?"""
    pid, started = state.get("pid"), state.get("started")
    if not pid or started is None:
        return False
    letter, start = process_state(pid)
    return start == started and letter not in ("Z", "X", "x")


def status(state):
    oci = state.get("oci") or {}
    if not state.get("pid"):
        return "creating" if oci.get("creating") else "stopped"
    if not init_alive(state):
        return "stopped"
    if oci.get("creating"):
        return "creating"
    fifo = oci.get("fifo")
    if fifo and os.path.exists(fifo):
        return "created"
    if state.get("status") == "paused":
        return "paused"
    return "running"


def oci_state(container_id, state):
    """The state document of the runtime spec (plus runc's rootfs/created/owner)."""
    oci = state.get("oci") or {}
    current = status(state)
    return {
        "ociVersion": oci.get("oci_version") or "1.0.2",
        "id": container_id,
        "pid": state.get("pid") or 0 if current not in ("stopped",) else 0,
        "status": current,
        "bundle": oci.get("bundle", ""),
        "rootfs": (state.get("spec") or {}).get("rootfs", ""),
        "created": oci.get("created") or "",
        "owner": "",
        "annotations": oci.get("annotations") or {},
    }


def require(state, container_id, allowed, action):
    """Refuse ``action`` unless the container's status is one of ``allowed``."""
    current = status(state)
    if current not in allowed:
        raise Conflict(f"cannot {action} container {container_id}: it is {current} "
                       f"(needs {' or '.join(allowed)})")
    return current


def save_fields(store, container_id, **fields):
    """Merge ``fields`` into the record (``oci`` merged key by key)."""
    state = load(store.root, container_id)[1]
    oci = fields.pop("oci", None)
    state.update(fields)
    if oci:
        state.setdefault("oci", {}).update(oci)
    store.save(container_id, state)
    return state
