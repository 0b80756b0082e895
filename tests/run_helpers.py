"""Small helpers the runtime's integration tests share (polling, detached starts)."""

import json
import os
import time


def wait_for(probe, timeout=30, what="the container"):
    """Poll ``probe`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_running(state_root, timeout=20):
    """The state of the first container in ``state_root`` that reaches "running"."""
    containers = os.path.join(state_root, "containers")

    def running():
        for cid in os.listdir(containers) if os.path.isdir(containers) else []:
            path = os.path.join(containers, cid, "state.json")
            try:
                with open(path) as f:
                    state = json.load(f)
            except (OSError, ValueError):
                continue
            if state.get("status") == "running":
                return state
        return None
    return wait_for(running, timeout, "a running container")


def detached(mc, name, *args, flags=(), base=("--network", "none")):
    """``run -d --name NAME ... busybox ARGS``; the new container's full id."""
    result = mc("run", "-d", "--name", name, *base, *flags, "busybox", *args)
    assert result.returncode == 0, result.stderr
    container_id = result.stdout.strip()
    assert len(container_id) == 64
    return container_id


def inspect(mc, ref):
    result = mc("inspect", ref)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]
