"""What order to start services in, and what changed since the last ``up``.

Services start after what they depend on (``depends_on``, ``network_mode:
service:X``) and stop in the reverse order; a cycle is an error naming the
line where it closes.  Each container carries the hash of the configuration
it was made from (label ``com.docker.compose.config-hash``, as Docker Compose
does): ``up`` recreates a container only when that hash differs.
"""

import hashlib
import json

from .loader import error

LABEL_PROJECT = "com.docker.compose.project"
LABEL_SERVICE = "com.docker.compose.service"
LABEL_NUMBER = "com.docker.compose.container-number"
LABEL_HASH = "com.docker.compose.config-hash"
LABEL_ONEOFF = "com.docker.compose.oneoff"
LABEL_NETWORK = "com.docker.compose.network"
LABEL_VOLUME = "com.docker.compose.volume"
LABEL_WORKDIR = "com.docker.compose.project.working_dir"
LABEL_FILES = "com.docker.compose.project.config_files"


def dependencies(service, services):
    """The services ``service`` needs started first (only those in the project)."""
    needed = list(service["depends_on"])
    mode = service.get("network_mode") or ""
    if mode.startswith("service:"):
        needed.append(mode[len("service:"):])
    return [name for name in dict.fromkeys(needed) if name in services]


def start_order(services, nodes=None):
    """Service names, each after its dependencies (file order otherwise); cycles fail."""
    order, state = [], {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = trail[trail.index(name):] + [name]
            where = None
            if nodes is not None:
                from .model import _where_in
                where = _where_in(nodes[cycle[-2]], "depends_on", name)
            raise error(where, f"services.{cycle[-2]}.depends_on",
                        f"dependency cycle: {' -> '.join(cycle)}")
        state[name] = "visiting"
        for dependency in dependencies(services[name], services):
            visit(dependency, trail + [name])
        state[name] = "done"
        order.append(name)

    for name in services:
        visit(name, [])
    return order


def with_dependencies(services, names):
    """``names`` and everything they depend on, transitively (``up web`` starts db too)."""
    wanted, stack = set(), list(names)
    while stack:
        name = stack.pop()
        if name in wanted:
            continue
        wanted.add(name)
        stack += dependencies(services[name], services)
    return wanted


def config_hash(spec_json, extra=None):
    """A stable digest of what a container is made from (spec, networks, image id)."""
    text = json.dumps({"spec": spec_json, "extra": extra}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def labels_of(state):
    return dict(state.get("spec", {}).get("labels") or [])


def project_containers(states, project, service=None, oneoff=False):
    """The recorded containers of a project (optionally one service), by number."""
    result = []
    for state in states:
        labels = labels_of(state)
        if labels.get(LABEL_PROJECT) != project:
            continue
        if service is not None and labels.get(LABEL_SERVICE) != service:
            continue
        if (labels.get(LABEL_ONEOFF) == "True") != oneoff:
            continue
        result.append(state)
    result.sort(key=lambda s: (labels_of(s).get(LABEL_SERVICE, ""),
                               int(labels_of(s).get(LABEL_NUMBER) or 0)))
    return result


def decide(existing, wanted_hash, force=False, no_recreate=False):
    """What ``up`` does with one service: "create", "recreate", "start" or "keep"."""
    if existing is None:
        return "create"
    same = labels_of(existing).get(LABEL_HASH) == wanted_hash
    if (force or not same) and not no_recreate:
        return "recreate"
    return "keep" if existing.get("status") in ("running", "paused", "restarting") else "start"
