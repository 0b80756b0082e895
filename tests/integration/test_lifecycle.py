"""Detached containers under the supervisor, and Docker's commands on them."""

import json
import os
import signal
import time


from run_helpers import detached, inspect, wait_for
from conftest import needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox]
BASE = ("--network", "none")


def state(mc, ref):
    return inspect(mc, ref)


def test_run_detached_ps_logs_and_stop(mc):
    container_id = detached(mc, "mctest-svc", "sh", "-c",
                            "echo out-line; echo err-line >&2; exec sleep 60")
    assert mc("ps", "-q").stdout.split() == [container_id[:12]]
    logs = wait_for(lambda: (r := mc("logs", "mctest-svc")).stdout and r)
    assert logs.stdout == "out-line\n" and logs.stderr == "err-line\n"
    stamped = mc("logs", "-t", "--tail", "2", "mctest-svc")
    assert stamped.stdout.startswith(time.strftime("%Y-")) and stamped.stdout.endswith(" out-line\n")
    log_file = state(mc, "mctest-svc")["LogPath"]
    entries = [json.loads(line) for line in open(log_file)]
    assert {e["stream"] for e in entries} == {"stdout", "stderr"}
    assert mc("stop", "-t", "1", "mctest-svc").returncode == 0
    info = state(mc, "mctest-svc")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 137
    assert mc("ps", "-q").stdout.strip() == ""
    assert mc("rm", "mctest-svc").returncode == 0


def test_stop_uses_the_stop_signal_and_init_forwards_it(mc):
    detached(mc, "mctest-init", "sleep", "60", flags=("--init",))
    started = time.monotonic()
    assert mc("stop", "mctest-init").returncode == 0
    assert time.monotonic() - started < 10  # TERM was enough: no 10 s wait for KILL
    assert state(mc, "mctest-init")["State"]["ExitCode"] == 143
    mc("rm", "mctest-init")


def test_exec_joins_the_container(mc):
    detached(mc, "mctest-exec", "sleep", "60", flags=("-h", "inside", "-u", "app"))
    result = mc("exec", "mctest-exec", "sh", "-c",
                "hostname; id -u; ps -o pid,comm | grep -c sleep; grep Seccomp: /proc/self/status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["inside", "1000", "1", "Seccomp:", "2"]
    assert mc("exec", "-u", "0", "-w", "/tmp", "mctest-exec", "pwd").stdout == "/tmp\n"
    # In the container's cgroups: its cgroup namespace shows each one as "/"
    # (a process left outside would see a path such as "/..").
    cgroups = mc("exec", "mctest-exec", "cat", "/proc/self/cgroup").stdout.splitlines()
    assert cgroups and all(line.endswith(":/") for line in cgroups), cgroups
    assert mc("exec", "mctest-exec", "sh", "-c", "exit 9").returncode == 9
    missing = mc("exec", "mctest-exec", "nosuchcmd")
    assert missing.returncode == 127 and "executable file not found" in missing.stderr
    assert mc("rm", "-f", "mctest-exec").returncode == 0
    gone = mc("exec", "mctest-exec", "true")
    assert gone.returncode != 0 and "no such container" in gone.stderr


def test_restart_on_failure_stops_after_the_limit(mc):
    detached(mc, "mctest-retry", "sh", "-c", "echo try; exit 3", flags=("--restart", "on-failure:2"))
    info = wait_for(lambda: (s := state(mc, "mctest-retry"))["RestartCount"] == 2
                    and s["State"]["Status"] == "exited" and s)
    assert info["State"]["ExitCode"] == 3
    assert mc("logs", "mctest-retry").stdout == "try\ntry\ntry\n"
    mc("rm", "mctest-retry")


def test_restart_always_until_stopped(mc):
    detached(mc, "mctest-always", "sh", "-c", "sleep 0.2", flags=("--restart", "always"))
    wait_for(lambda: state(mc, "mctest-always")["RestartCount"] >= 2)
    assert mc("stop", "-t", "1", "mctest-always").returncode == 0
    time.sleep(0.5)
    assert state(mc, "mctest-always")["State"]["Status"] == "exited"
    mc("rm", "mctest-always")


def test_pause_freezes_and_unpause_thaws(mc):
    detached(mc, "mctest-pause", "sleep", "60")
    cgroup = _cgroup_paths(mc, "mctest-pause")
    assert mc("pause", "mctest-pause").returncode == 0
    assert "Up (Paused)" in mc("ps").stdout
    with open(os.path.join(cgroup["freezer"], "freezer.state")) as f:
        assert f.read().strip() == "FROZEN"
    assert mc("unpause", "mctest-pause").returncode == 0
    with open(os.path.join(cgroup["freezer"], "freezer.state")) as f:
        assert f.read().strip() == "THAWED"
    stats = json.loads(mc("stats", "--no-stream", "--format", "json", "mctest-pause").stdout)
    assert stats["pids_current"] == 1 and stats["memory_current"] > 0
    assert "sleep 60" in mc("top", "mctest-pause").stdout
    mc("rm", "-f", "mctest-pause")


def test_create_start_wait_and_prune(mc):
    created = mc("create", "--name", "mctest-created", *BASE, "busybox", "sh", "-c", "exit 4")
    assert created.returncode == 0, created.stderr
    assert state(mc, "mctest-created")["State"]["Status"] == "created"
    assert mc("start", "mctest-created").returncode == 0
    assert mc("wait", "mctest-created").stdout.strip() == "4"
    pruned = mc("container", "prune", "-f")
    assert created.stdout.strip() in pruned.stdout
    assert mc("ps", "-aq").stdout.strip() == ""


def test_containers_outlive_the_supervisor_and_are_adopted(mc):
    detached(mc, "mctest-adopt", "sh", "-c",
             "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done")
    supervisor = _supervisor_pid(mc)
    os.kill(supervisor, signal.SIGKILL)
    time.sleep(0.5)
    assert state(mc, "mctest-adopt")["State"]["Running"]
    # A new supervisor (started by the next request) adopts it and keeps logging.
    detached(mc, "mctest-other", "sleep", "60")
    before = mc("logs", "mctest-adopt").stdout.count("tick")
    wait_for(lambda: mc("logs", "mctest-adopt").stdout.count("tick") > before + 3)
    assert mc("stop", "-t", "1", "mctest-adopt").returncode == 0
    assert state(mc, "mctest-adopt")["State"]["Status"] == "exited"
    mc("rm", "-f", "mctest-adopt", "mctest-other")


def _cgroup_paths(mc, name):
    cid = os.readlink(os.path.join(mc.state_root, "names", name))
    with open(os.path.join(mc.state_root, "containers", cid, "state.json")) as f:
        return json.load(f)["cgroup"]["paths"]


def _supervisor_pid(mc):
    from minicontainer.supervisor_client import request
    return request({"op": "ping"}, state_root=mc.state_root)["pid"]


def test_health_checks_turn_healthy_then_unhealthy(mc):
    detached(mc, "mctest-health", "sh", "-c", "touch /tmp/ok; exec sleep 60",
             flags=("--health-cmd", "test -e /tmp/ok && echo fine", "--health-interval", "200ms",
                    "--health-retries", "2", "--health-timeout", "5s"))
    health = wait_for(lambda: (h := state(mc, "mctest-health")["State"].get("Health"))
                      and h["Status"] == "healthy" and h)
    assert health["Log"][-1]["ExitCode"] == 0 and health["Log"][-1]["Output"] == "fine\n"
    assert "Up (healthy)" in mc("ps").stdout
    mc("exec", "mctest-health", "rm", "/tmp/ok")
    health = wait_for(lambda: (h := state(mc, "mctest-health")["State"]["Health"])
                      ["Status"] == "unhealthy" and h)
    assert health["FailingStreak"] >= 2
    mc("rm", "-f", "mctest-health")
