"""Health checks (``--health-cmd`` and the image's HEALTHCHECK), run by the supervisor.

Every ``Interval`` the check runs inside the container like ``exec`` (same
namespaces, cgroup and confinement), is killed after ``Timeout``, and its
exit code moves the container between Docker's states: ``starting`` until a
first success, ``healthy`` on success, ``unhealthy`` after ``Retries``
failures in a row (failures within ``StartPeriod`` do not count).  The last
five results are kept in state.json, as ``docker inspect`` shows them.
"""

import os
import time

from . import lifecycle

NS = 10**9
KEEP_RESULTS = 5


def _stamp():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Probe:
    __slots__ = ("container_id", "pid", "output", "started", "started_at")

    def __init__(self, container_id, pid, output):
        self.container_id, self.pid, self.output = container_id, pid, output
        self.started, self.started_at = time.monotonic(), _stamp()


class HealthMonitor:
    """Schedules probes through the supervisor's timers and records their results."""

    def __init__(self, store, add_timer):
        self.store = store
        self.add_timer = add_timer   # add_timer(seconds_from_now, action, container_id)
        self.probes = {}             # pid -> Probe
        self.began = {}              # container id -> monotonic start of this run

    def container_started(self, container_id, spec):
        check = spec.healthcheck
        if not check or check.get("Test") in (None, ["NONE"]):
            return
        self.began[container_id] = time.monotonic()
        lifecycle._mark(self.store, container_id,
                        health={"Status": "starting", "FailingStreak": 0, "Log": []})
        self.add_timer(check["Interval"] / NS, "health", container_id)

    def run_probe(self, container_id):
        """Start one check (a timer fired); its exit comes back through ``finished``."""
        from .runtime.exec import exec_in
        from .spec import ContainerSpec
        try:
            state = self.store.load(container_id)
        except Exception:
            return
        if state.get("status") != "running" or not lifecycle.is_running(state):
            return
        spec = ContainerSpec.from_json_dict(state["spec"])
        test = spec.healthcheck["Test"]
        args = ("/bin/sh", "-c", test[1]) if test[0] == "CMD-SHELL" else tuple(test[1:])
        probe_spec = spec.replace(args=args, tty=False, interactive=False)
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        try:
            proc = exec_in(state, probe_spec, (null, write_end, write_end), detach=True)
        except Exception as exc:
            os.close(read_end)
            self._record(container_id, spec, -1, f"the check could not start: {exc}",
                         _stamp())
            self.add_timer(spec.healthcheck["Interval"] / NS, "health", container_id)
            return
        finally:
            os.close(write_end)
            os.close(null)
        os.set_blocking(read_end, False)
        self.probes[proc.pid] = Probe(container_id, proc.pid, read_end)
        self.add_timer(spec.healthcheck["Timeout"] / NS, "health-timeout", container_id)

    def timeout_of(self, container_id):
        return self._spec(container_id).healthcheck["Timeout"] / NS

    def timed_out(self, container_id, timeout_seconds):
        """The check's Timeout passed: kill a probe of this container that is that old."""
        for probe in self.probes.values():
            if (probe.container_id == container_id
                    and time.monotonic() - probe.started >= timeout_seconds * 0.99):
                try:
                    os.kill(probe.pid, 9)
                except ProcessLookupError:
                    pass

    def finished(self, pid, code):
        """A reaped pid: if it was a probe, record its result; True when it was."""
        probe = self.probes.pop(pid, None)
        if probe is None:
            return False
        try:
            output = os.read(probe.output, 4096).decode(errors="replace")
        except OSError:
            output = ""
        os.close(probe.output)
        try:
            spec = self._spec(probe.container_id)
        except Exception:
            return True  # the container is gone
        if code == 137 and time.monotonic() - probe.started >= spec.healthcheck["Timeout"] / NS:
            output = f"Health check exceeded timeout ({spec.healthcheck['Timeout'] / NS:g}s)"
        self._record(probe.container_id, spec, code, output, probe.started_at)
        self.add_timer(spec.healthcheck["Interval"] / NS, "health", probe.container_id)
        return True

    def _spec(self, container_id):
        from .spec import ContainerSpec
        return ContainerSpec.from_json_dict(self.store.load(container_id)["spec"])

    def _record(self, container_id, spec, code, output, started_at):
        state = self.store.load(container_id)
        health = state.get("health") or {"Status": "starting", "FailingStreak": 0, "Log": []}
        health["Log"] = (health["Log"] + [{"Start": started_at, "End": _stamp(),
                                           "ExitCode": code, "Output": output}])[-KEEP_RESULTS:]
        check = spec.healthcheck
        in_start_period = (time.monotonic() - self.began.get(container_id, 0)
                           < check.get("StartPeriod", 0) / NS)
        if code == 0:
            health["Status"], health["FailingStreak"] = "healthy", 0
        elif not in_start_period:
            health["FailingStreak"] += 1
            if health["FailingStreak"] >= check.get("Retries", 3):
                health["Status"] = "unhealthy"
        state["health"] = health
        self.store.save(container_id, state)
