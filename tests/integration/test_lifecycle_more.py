"""More of issue 4's acceptance: logs -f, stop of a TERM-ignoring process, rm -f racing
run -d, repeatable rm -f / prune, ps --format json, kill -s, restart, wait, exec -d, exec
into a paused container, and names / short ids everywhere."""

import errno
import json
import traceback
import os
import queue
import subprocess
import threading
import time

import pytest

from run_helpers import detached, inspect, wait_for
from conftest import _own_cgroup_dirs, needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox]
BASE = ("--network", "none")


def state(mc, ref):
    return inspect(mc, ref)


def supervisor_pid(mc):
    """The supervisor's pid (started, if need be, with the runtime's environment)."""
    from minicontainer.supervisor_client import request
    saved = dict(os.environ)
    # request() starts a missing supervisor with our environment: it must see
    # the test's data root, or its containers would live under /var/lib.
    os.environ.update({k: v for k, v in mc.env.items() if k.startswith("MINICONTAINER_")})
    try:
        return request({"op": "ping"}, state_root=mc.state_root)["pid"]
    finally:
        os.environ.clear()
        os.environ.update(saved)


class LineReader:
    """A subprocess's stdout, line by line, without blocking the test forever."""

    def __init__(self, stream):
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream):
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def next(self, timeout=30):
        return self.lines.get(timeout=timeout)


# -- logs -f ------------------------------------------------------------------------

def test_logs_follow_shows_new_lines_and_ends_with_the_container(mc):
    detached(mc, "mctest-follow", "sh", "-c",
             "echo before; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo after; "
             "while [ ! -e /tmp/end ]; do sleep 0.05; done; echo last; exit 0")
    wait_for(lambda: mc("logs", "mctest-follow").stdout == "before\n")
    follower = subprocess.Popen([*mc.argv, "logs", "-f", "mctest-follow"], env=mc.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reader = LineReader(follower.stdout)
        assert reader.next() == "before\n"
        # Written only now, after logs -f has printed what was there.
        assert mc("exec", "mctest-follow", "touch", "/tmp/go").returncode == 0
        assert reader.next() == "after\n"
        assert follower.poll() is None  # still following while the container runs
        assert mc("exec", "mctest-follow", "touch", "/tmp/end").returncode == 0
        assert reader.next() == "last\n"
        assert follower.wait(timeout=30) == 0  # it ends when the container stops
        assert reader.next() is None
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert state(mc, "mctest-follow")["State"]["ExitCode"] == 0
    assert mc("rm", "mctest-follow").returncode == 0


# -- stop, kill, restart, wait ---------------------------------------------------------

def test_stop_kills_a_process_that_ignores_term_after_the_timeout(mc):
    detached(mc, "mctest-stubborn", "sh", "-c", 'trap "" TERM; while :; do sleep 0.1; done')
    started = time.monotonic()
    result = mc("stop", "-t", "1", "mctest-stubborn")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mctest-stubborn"
    info = state(mc, "mctest-stubborn")["State"]
    assert info["Status"] == "exited" and info["ExitCode"] == 137
    # It waited for the timeout (TERM did nothing), then SIGKILL ended it: not the
    # 30 s of stop's last-resort wait.
    assert 1 <= elapsed < 20
    assert mc("rm", "mctest-stubborn").returncode == 0


def test_kill_with_a_signal_reaches_the_containers_trap(mc):
    detached(mc, "mctest-usr1", "sh", "-c",
             'trap "echo got-usr1; exit 7" USR1; echo ready; while :; do sleep 0.1; done')
    wait_for(lambda: mc("logs", "mctest-usr1").stdout == "ready\n")
    result = mc("kill", "-s", "USR1", "mctest-usr1")
    assert result.returncode == 0, result.stderr
    assert mc("wait", "mctest-usr1").stdout.strip() == "7"
    assert mc("logs", "mctest-usr1").stdout == "ready\ngot-usr1\n"
    stopped = mc("kill", "mctest-usr1")
    assert stopped.returncode != 0 and "not running" in stopped.stderr
    bad = mc("kill", "-s", "NOSUCHSIG", "mctest-usr1")
    assert bad.returncode != 0
    assert mc("rm", "mctest-usr1").returncode == 0


def test_restart_starts_a_new_process_and_keeps_the_logs(mc):
    detached(mc, "mctest-restart", "sh", "-c", "echo boot; exec sleep 60")
    first = state(mc, "mctest-restart")["State"]
    wait_for(lambda: mc("logs", "mctest-restart").stdout == "boot\n")
    result = mc("restart", "-t", "1", "mctest-restart")
    assert result.returncode == 0, result.stderr
    second = state(mc, "mctest-restart")["State"]
    assert second["Running"] and second["Pid"] != first["Pid"]
    wait_for(lambda: mc("logs", "mctest-restart").stdout == "boot\nboot\n")
    assert mc("ps", "-q").stdout.split() == [state(mc, "mctest-restart")["Id"][:12]]
    # A stopped container is started again by restart too.
    assert mc("stop", "-t", "1", "mctest-restart").returncode == 0
    assert mc("restart", "mctest-restart").returncode == 0
    assert state(mc, "mctest-restart")["State"]["Running"]
    assert mc("rm", "-f", "mctest-restart").returncode == 0


def test_wait_blocks_until_exit_and_prints_each_code(mc):
    detached(mc, "mctest-wait-a", "sh", "-c", "sleep 0.5; exit 3")
    detached(mc, "mctest-wait-b", "sh", "-c", "exit 0")
    result = mc("wait", "mctest-wait-a", "mctest-wait-b")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "0"]
    assert state(mc, "mctest-wait-a")["State"]["Status"] == "exited"
    # An exited container's code is returned at once, as often as asked.
    assert mc("wait", "mctest-wait-a").stdout.strip() == "3"
    assert mc("rm", "mctest-wait-a", "mctest-wait-b").returncode == 0


# -- exec ---------------------------------------------------------------------------------

def test_exec_detached_runs_in_the_background(mc):
    detached(mc, "mctest-execd", "sleep", "60")
    result = mc("exec", "-d", "mctest-execd", "sh", "-c", "sleep 0.3; echo done > /tmp/marker")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    wait_for(lambda: mc("exec", "mctest-execd", "cat", "/tmp/marker").stdout == "done\n")
    assert mc("rm", "-f", "mctest-execd").returncode == 0


def test_exec_into_a_paused_container_is_refused(mc):
    detached(mc, "mctest-execp", "sleep", "60")
    assert mc("pause", "mctest-execp").returncode == 0
    refused = mc("exec", "mctest-execp", "true")
    assert refused.returncode != 0 and "paused" in refused.stderr
    assert mc("unpause", "mctest-execp").returncode == 0
    assert mc("exec", "mctest-execp", "true").returncode == 0
    stopped = mc("stop", "-t", "1", "mctest-execp")
    assert stopped.returncode == 0
    refused = mc("exec", "mctest-execp", "true")
    assert refused.returncode != 0 and "not running" in refused.stderr
    assert mc("rm", "mctest-execp").returncode == 0


# -- ps --format json, names and short ids ----------------------------------------------

def test_ps_format_json(mc):
    running = detached(mc, "mctest-psj-up", "sleep", "60")
    exited = detached(mc, "mctest-psj-done", "sh", "-c", "exit 5")
    assert mc("wait", "mctest-psj-done").stdout.strip() == "5"
    rows = [json.loads(line) for line in mc("ps", "--format", "json").stdout.splitlines()]
    assert rows == [{"ID": running[:12], "Names": "mctest-psj-up", "Command": "sleep 60",
                     "Status": "running", "ExitCode": None}]
    rows = [json.loads(line) for line in mc("ps", "-a", "--format", "json").stdout.splitlines()]
    by_id = {row["ID"]: row for row in rows}
    assert set(by_id) == {running[:12], exited[:12]}
    assert by_id[exited[:12]]["Status"] == "exited" and by_id[exited[:12]]["ExitCode"] == 5
    assert mc("rm", "-f", "mctest-psj-up", "mctest-psj-done").returncode == 0


@pytest.mark.parametrize("form", ["name", "short", "full"])
def test_names_and_ids_work_everywhere(mc, form):
    container_id = detached(mc, "mctest-ref", "sh", "-c", "echo hi; exec sleep 60")
    ref = {"name": "mctest-ref", "short": container_id[:12], "full": container_id}[form]
    assert state(mc, ref)["Id"] == container_id
    wait_for(lambda: mc("logs", ref).stdout == "hi\n")
    assert mc("exec", ref, "true").returncode == 0
    assert "sleep 60" in mc("top", ref).stdout
    assert json.loads(mc("stats", "--no-stream", "--format", "json", ref).stdout)["id"] == container_id
    for command in (("pause", ref), ("unpause", ref), ("kill", "-s", "CONT", ref),
                    ("stop", "-t", "1", ref), ("start", ref), ("restart", "-t", "1", ref)):
        result = mc(*command)
        assert result.returncode == 0, (command, result.stderr)
    assert mc("kill", ref).returncode == 0
    assert mc("wait", ref).stdout.strip() == "137"
    assert mc("rm", ref).returncode == 0
    gone = mc("inspect", ref)
    assert gone.returncode != 0 and "no such container" in gone.stderr


def test_an_ambiguous_or_unknown_ref_is_refused(mc):
    detached(mc, "mctest-amb", "sleep", "60")
    unknown = mc("stop", "mctest-nosuch")
    assert unknown.returncode != 0 and "no such container" in unknown.stderr
    assert mc("inspect", "").returncode != 0
    assert mc("rm", "-f", "mctest-amb").returncode == 0


# -- rm -f and prune: repeatable, and racing run -d --------------------------------------

def test_rm_force_and_prune_are_safe_to_repeat(mc):
    detached(mc, "mctest-twice", "sleep", "60")
    detached(mc, "mctest-dead", "true")
    assert mc("wait", "mctest-dead").stdout.strip() == "0"
    assert mc("rm", "-f", "mctest-twice").returncode == 0
    again = mc("rm", "-f", "mctest-twice")
    assert again.returncode != 0 and "no such container" in again.stderr
    assert "Traceback" not in again.stderr
    first = mc("container", "prune", "-f")
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.split()) == 3  # "Deleted Containers:" and one id
    second = mc("container", "prune", "-f")
    assert second.returncode == 0 and second.stdout.strip() == "Deleted Containers:"
    assert mc("ps", "-aq").stdout.strip() == ""
    # A name freed by rm can be taken again.
    detached(mc, "mctest-twice", "true")
    assert mc("rm", "-f", "mctest-twice").returncode == 0


def _leftovers(mc, container_id, supervisor):
    found = []
    if os.path.exists(os.path.join(mc.state_root, "containers", container_id)):
        found.append("state directory")
    with open("/proc/self/mountinfo") as f:
        found += [f"mount {line.split()[4]}" for line in f if container_id in line]
    for base in _own_cgroup_dirs():
        for root, dirs, _files in os.walk(base):
            found += [f"cgroup {os.path.join(root, d)}" for d in dirs if container_id in d]
    if supervisor is not None:
        fd_dir = f"/proc/{supervisor}/fd"
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if container_id in target:
                found.append(f"supervisor fd {fd} -> {target}")
    return found


def _payload_processes(marker):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() == b"sleep\0" + marker.encode() + b"\0":
                    found.append(int(pid))
        except OSError:
            continue
    return found


class runtime_env:
    """The runtime's environment in this process (state and data roots), for a while."""

    def __init__(self, mc):
        self.values = {k: v for k, v in mc.env.items() if k.startswith("MINICONTAINER_")}

    def __enter__(self):
        self.saved = dict(os.environ)
        os.environ.update(self.values)

    def __exit__(self, *exc):
        os.environ.clear()
        os.environ.update(self.saved)


# rm -f at several moments after run -d has recorded the container "created":
# while the supervisor writes its files, makes its cgroup, starts PID 1, just after.
@pytest.mark.parametrize("delay_ms", [0, 5, 10, 20, 30, 40, 50, 60])
def test_rm_force_during_run_detached_leaves_nothing(mc, delay_ms):
    from minicontainer import lifecycle
    from minicontainer.errors import NotFound
    marker = str(3000 + os.getpid() % 1000)  # the payload is "sleep <marker>": findable in /proc
    supervisor = supervisor_pid(mc)  # up before the race, so the race is with the start itself
    containers = os.path.join(mc.state_root, "containers")
    seen, removed, errors = set(), [], []
    runner = subprocess.Popen([*mc.argv, "run", "-d", "--name", "mctest-race", *BASE, "busybox",
                               "sleep", marker], env=mc.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    # rm -f's own work, in a tight loop here (a CLI start is slower than the
    # whole run -d), for as long as run -d is on its way.
    recorded_at = None
    with runtime_env(mc):
        while runner.poll() is None:
            try:
                seen.update(os.listdir(containers))
            except FileNotFoundError:
                pass
            if recorded_at is None:
                if any(os.path.exists(os.path.join(containers, c, "state.json")) for c in seen):
                    recorded_at = time.monotonic()
                continue
            if time.monotonic() < recorded_at + delay_ms / 1000:
                continue
            try:
                removed.append(lifecycle.remove("mctest-race", force=True,
                                                state_root=mc.state_root))
            except NotFound:
                pass
            except Exception:  # noqa: BLE001 - every other failure is the finding
                errors.append(traceback.format_exc())
    out, err = runner.communicate(timeout=60)
    final = mc("rm", "-f", "mctest-race")  # whatever run -d finished making
    assert final.returncode == 0 or "no such container" in final.stderr, final.stderr
    assert "Traceback" not in final.stderr and "Traceback" not in err, (final.stderr, err)
    assert runner.returncode in (0, 125), err  # started, or refused because it was removed
    if runner.returncode == 0:
        seen.add(out.strip())
    assert seen, f"the race never saw the container: run -d said {err!r}"
    assert mc("ps", "-aq").stdout.strip() == ""
    assert not os.path.lexists(os.path.join(mc.state_root, "names", "mctest-race"))
    assert os.listdir(containers) == []
    assert supervisor_pid(mc) == supervisor  # the supervisor survived the race
    wait_for(lambda: not _payload_processes(marker))
    for container_id in seen:
        try:  # the supervisor closes its ends of the log pipes when it sees the exit
            wait_for(lambda: _leftovers(mc, container_id, supervisor) == [], timeout=10)
        except AssertionError:
            assert _leftovers(mc, container_id, supervisor) == []
    # rm -f never fails for a reason of its own while run -d is on its way.
    assert errors == [], "\n".join(errors)


def test_state_removal_wins_against_a_writer_in_the_directory(tmp_path):
    """rm -f empties a container's directory while the supervisor, starting the
    container, still creates files in it (/etc files, log pipes, state.json).
    The writer fails once the directory is gone (as the supervisor's start
    does, and then cleans up); removal itself must not fail."""
    from minicontainer.state import StateStore
    store = StateStore(str(tmp_path))
    failures = 0
    for round_number in range(200):
        container_id = f"{round_number:064x}"
        directory = store.create(container_id, None)
        for n in range(200):  # enough entries that emptying them takes a while
            open(os.path.join(directory, f"old-{n}"), "w").close()
        stop = threading.Event()

        def writer():
            n = 0
            while not stop.is_set():
                try:
                    open(os.path.join(directory, f"new-{n}"), "w").close()
                except FileNotFoundError:
                    return  # the directory is gone: the start fails and cleans up
                n += 1
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            store.remove(container_id)
        except OSError as exc:
            assert exc.errno == errno.ENOTEMPTY
            failures += 1
        finally:
            stop.set()
            thread.join()
        from minicontainer.linux.fs import remove_tree
        remove_tree(directory)
    assert failures == 0, f"{failures} of 200 removals failed with ENOTEMPTY"
