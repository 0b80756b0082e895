"""``depends_on`` conditions: what ``up`` waits for before starting a dependent.

service_started (running is enough), service_healthy (the dependency's
healthcheck says healthy; unhealthy or exited fails ``up``) and
service_completed_successfully (it exited with code 0).
"""

import time

from .. import lifecycle
from .loader import ComposeError
from .specs import container_name


def wait_for_dependencies(ops, service):
    """Block until each dependency meets its condition; a failed one stops ``up``."""
    for name, rule in service["depends_on"].items():
        if name not in ops.project.services:
            continue
        found = ops.containers(name)
        if not found:
            if rule["required"]:
                raise ComposeError(f"service {service['name']} depends on {name}, which has "
                                   "no container")
            continue
        _wait_condition(ops, found[0]["id"],
                        container_name(ops.project, ops.project.services[name]),
                        rule["condition"])


def _wait_condition(ops, container_id, label, condition):
    from ..state import StateStore
    store = StateStore()
    if condition == "service_healthy":
        ops.say("Container", label, "Waiting")
    while True:
        state = store.load(container_id)
        status = lifecycle.current_status(state)
        if condition == "service_started":
            return
        if condition == "service_completed_successfully":
            if status == "exited":
                code = lifecycle.wait(container_id)  # the exit code, once recorded
                if code != 0:
                    raise ComposeError(f"service {label} didn't complete successfully: "
                                       f"exit {code}")
                ops.say("Container", label, "Exited")
                return
        else:
            health = (state.get("health") or {}).get("Status")
            if not _has_healthcheck(state):
                raise ComposeError(f"container {label} has no healthcheck configured")
            if health == "healthy":
                ops.say("Container", label, "Healthy")
                return
            if health == "unhealthy":
                raise ComposeError(f"dependency failed to start: container {label} is "
                                   "unhealthy")
            if status == "exited":
                raise ComposeError(f"dependency failed to start: container {label} exited "
                                   f"({state.get('exit_code')})")
        time.sleep(0.1)

def _has_healthcheck(state):
    """Whether the container has a check (its own, or its image's, merged at create)."""
    check = state["spec"].get("healthcheck")
    return bool(check and check.get("Test") and check["Test"] != ["NONE"])
