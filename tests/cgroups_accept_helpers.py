"""Issue 3's acceptance, one scenario per function, for either cgroup lane.

Each scenario runs real containers through the CLI (the ``mc`` fixture) and
checks what the kernel shows: the cgroup files from outside (the paths
recorded in state.json) and from inside (the container's own
/sys/fs/cgroup), the stats command, the exit code and the recorded state.
The two test files (v1/hybrid on this host, v2 in scripts/vm-test) call the
same scenarios with a ``Lane`` that names the files of their hierarchy.
"""

import contextlib
import json
import os
import time
import uuid

from conftest import DATA_ROOT

# Upper bound for one CLI call or one wait: only reached when something hangs;
# scripts/vm-test emulates the CPU in software (15-30x slower than here).
PATIENCE = 600

# The limits the read-back scenarios ask for, as `run` flags.
ASKED = ("-m", "32m", "--memory-reservation", "16m", "--cpus", "0.5", "--pids-limit", "20")


class Lane:
    """Where one cgroup version keeps each limit.

    ``files`` maps a limit to (hierarchy key in state.json's cgroup paths,
    file name); ``expected`` is what ASKED must have written there, and
    ``updated`` what `update -m 64m --pids-limit 30` must change; limits in
    ``optional`` are checked only where the kernel has their file (swap
    accounting).  ``inside_dir`` turns a hierarchy key into its directory
    inside the container (the container's own cgroup is the root of each).
    """

    def __init__(self, version, files, expected, updated, inside_dir, optional=()):
        self.version = version
        self.files = files
        self._expected = expected
        self._updated = updated
        self.optional = set(optional)
        self.inside_dir = inside_dir

    def _present(self, state):
        return {limit for limit in self.files
                if limit not in self.optional or os.path.exists(self._outside_path(state, limit))}

    def expected(self, state):
        present = self._present(state)
        return {k: v for k, v in self._expected.items() if k in present}

    def updated(self, state):
        present = self._present(state)
        return {k: v for k, v in self._updated.items() if k in present}

    def _outside_path(self, state, limit):
        hierarchy, name = self.files[limit]
        return os.path.join(state["cgroup"]["paths"][hierarchy], name)

    def outside(self, state, limits):
        """{limit: the file's content} read from the host's cgroupfs."""
        seen = {}
        for limit in limits:
            with open(self._outside_path(state, limit)) as f:
                seen[limit] = f.read().strip()
        return seen

    def inside_path(self, limit):
        hierarchy, name = self.files[limit]
        return os.path.join(self.inside_dir(hierarchy), name)


# -- small helpers ---------------------------------------------------------------

def state_of(mc, name):
    cid = os.path.basename(os.readlink(os.path.join(mc.state_root, "names", name)))
    with open(os.path.join(mc.state_root, "containers", cid, "state.json")) as f:
        return json.load(f)


def inspect_state(mc, name):
    result = mc("inspect", name, timeout=PATIENCE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]["State"]


def stats_of(mc, name):
    result = mc("stats", "--no-stream", "--format", "json", name, timeout=PATIENCE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[0])


def cgroup_dirs_named(fragment):
    """Every cgroup directory, in every mounted hierarchy, whose name has ``fragment``."""
    found = set()
    for root, dirs, _files in os.walk("/sys/fs/cgroup"):
        found |= {os.path.join(root, d) for d in dirs if fragment in d}
    return found


def stored_containers(mc):
    """Container directories and names in the test's private state root."""
    found = []
    for sub in ("containers", "names"):
        path = os.path.join(mc.state_root, sub)
        found += [f"{sub}/{entry}" for entry in (os.listdir(path) if os.path.isdir(path) else [])]
    return found


def overlay_dirs():
    path = os.path.join(DATA_ROOT, "overlay")
    return set(os.listdir(path)) if os.path.isdir(path) else set()


@contextlib.contextmanager
def detached(mc, name, *flags, command=("sleep", "600")):
    """A running detached container, removed with `rm -f` afterwards."""
    result = mc("run", "-d", "--name", name, "--network", "none", *flags, "busybox", *command,
                timeout=PATIENCE)
    assert result.returncode == 0, result.stderr
    try:
        state = state_of(mc, name)
        assert state["status"] == "running", state["status"]
        yield state
    finally:
        mc("rm", "-f", name, timeout=PATIENCE)


def assert_removed(mc, state):
    """Nothing of the container is left: no cgroup in any hierarchy, no state."""
    cid = state["id"]
    left = [p for p in state["cgroup"]["paths"].values() if os.path.exists(p)]
    assert not left, f"cgroups left after rm: {left}"
    assert not cgroup_dirs_named(cid), cgroup_dirs_named(cid)
    assert not os.path.exists(os.path.join(mc.state_root, "containers", cid))


# -- the scenarios ---------------------------------------------------------------

def oom_kill_is_reported(mc, lane):
    name = "mctest-acc-oom"
    # sh (the container's PID 1) grows a 96 MB string: far beyond 32m
    result = mc("run", "--name", name, "--network", "none", "--memory", "32m", "busybox",
                "sh", "-c", 'x=$(head -c 96000000 /dev/zero | tr "\\0" a); echo survived',
                timeout=PATIENCE)
    try:
        assert result.returncode == 137, (result.returncode, result.stderr)
        assert "survived" not in result.stdout
        assert "OOM" in result.stderr, result.stderr
        state = state_of(mc, name)
        assert state["oom_killed"] is True and state["exit_code"] == 137, state
        seen = inspect_state(mc, name)
        assert seen["OOMKilled"] is True and seen["ExitCode"] == 137, seen
    finally:
        removed = mc("rm", "-f", name, timeout=PATIENCE)
    assert removed.returncode == 0, removed.stderr
    assert not cgroup_dirs_named(state["id"])


def fork_loop_stops_at_the_pids_limit(mc, lane, limit=10):
    # A subshell forks sleepers until the kernel refuses (the shell then
    # exits); the container's first shell counts them with builtins alone,
    # since nothing more can fork until the subshell is gone.
    script = ("(for i in $(seq 40); do sleep 600 </dev/null >/dev/null 2>&1 & echo forked; done)"
              " >/tmp/forks 2>&1; n=0; while read -r line; do case $line in"
              ' forked) n=$((n+1));; *) echo "$line";; esac; done </tmp/forks; echo "forks=$n"')
    result = mc("run", "--rm", "--network", "none", "--pids-limit", str(limit), "busybox",
                "sh", "-c", script, timeout=PATIENCE)
    assert result.returncode == 0, result.stderr
    assert "can't fork" in result.stdout, result.stdout
    forks = int(result.stdout.rsplit("forks=", 1)[1])
    # the first shell + the forking subshell + the sleepers = exactly the limit
    assert forks + 2 == limit, result.stdout
    return forks


def half_a_cpu_is_throttled(mc, lane):
    with detached(mc, "mctest-acc-cpu", "--cpus", "0.5",
                  command=("sh", "-c", "while :; do :; done")):
        time.sleep(1.5)
        deadline = time.monotonic() + PATIENCE
        while True:
            stats = stats_of(mc, "mctest-acc-cpu")
            if stats["cpu_throttled_periods"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert stats["cpu_throttled_periods"] > 0, stats
    assert stats["cpu_periods"] >= stats["cpu_throttled_periods"], stats
    assert stats["cpu_throttled_ns"] > 0, stats
    return stats


def limits_read_back_from_outside(mc, lane):
    with detached(mc, "mctest-acc-out", *ASKED) as state:
        own = _own_cgroups()
        for hierarchy, path in state["cgroup"]["paths"].items():
            key = "" if lane.version == 2 else hierarchy
            if key in own:   # beneath the invoking process's own cgroup
                assert path.startswith(own[key] + "/"), (path, own[key])
        expected = lane.expected(state)
        seen = lane.outside(state, expected)
        assert seen == expected
        procs = os.path.join(next(iter(state["cgroup"]["paths"].values())), "cgroup.procs")
        with open(procs) as f:
            assert str(state["pid"]) in f.read().split()
        stats = stats_of(mc, "mctest-acc-out")
        assert stats["memory_limit"] == 32 << 20 and stats["pids_limit"] == 20, stats
    assert_removed(mc, state)
    return seen


def limits_read_back_from_inside(mc, lane):
    with detached(mc, "mctest-acc-in", *ASKED) as state:
        expected = lane.expected(state)
        paths = [lane.inside_path(limit) for limit in expected]
        result = mc("exec", "mctest-acc-in", "cat", *paths, timeout=PATIENCE)
    assert result.returncode == 0, result.stderr
    seen = dict(zip(expected, result.stdout.splitlines()))
    assert seen == expected
    # and from a fresh foreground run: the limits are in place before its first instruction
    result = mc("run", "--rm", "--network", "none", *ASKED, "busybox", "cat", *paths,
                timeout=PATIENCE)
    assert result.returncode == 0, result.stderr
    assert dict(zip(expected, result.stdout.splitlines())) == expected
    return seen


def update_changes_limits_live(mc, lane):
    name = "mctest-acc-upd"
    with detached(mc, name, *ASKED) as state:
        expected, updated = lane.expected(state), lane.updated(state)
        result = mc("update", "-m", "64m", "--pids-limit", "30", name, timeout=PATIENCE)
        assert result.returncode == 0, result.stderr
        outside = lane.outside(state, expected)
        assert outside == dict(expected, **updated)
        changed = list(updated)
        inside = mc("exec", name, "cat", *[lane.inside_path(k) for k in changed],
                    timeout=PATIENCE)
        assert inside.returncode == 0, inside.stderr
        assert dict(zip(changed, inside.stdout.splitlines())) == updated
        stats = stats_of(mc, name)
        assert stats["memory_limit"] == 64 << 20 and stats["pids_limit"] == 30, stats
        now = state_of(mc, name)
        assert now["status"] == "running" and now["pid"] == state["pid"]   # live, same process
        assert now["spec"]["resources"]["memory"] == 64 << 20
        assert inspect_state(mc, name)["Running"] is True
    assert_removed(mc, state)
    return outside


def nothing_left_after_rm(mc, lane):
    with detached(mc, "mctest-acc-rm", *ASKED) as state:
        assert all(os.path.isdir(p) for p in state["cgroup"]["paths"].values())
        result = mc("rm", "-f", "mctest-acc-rm", timeout=PATIENCE)
        assert result.returncode == 0, result.stderr
        assert_removed(mc, state)
        assert not stored_containers(mc)


# Values Docker refuses, with a word the one-line error must contain.
BAD_LIMITS = (
    (["-m", "1k"], "Minimum memory limit allowed is 6MB"),
    (["--memory", "lots"], "--memory"),
    (["--memory", "-5m"], "--memory"),
    (["--memory-swap", "10m", "-m", "32m"], "--memory-swap"),
    (["--memory-reservation", "64m", "-m", "32m"], "--memory-reservation"),
    (["--cpus", "1000"], "range of CPUs"),
    (["--cpus", "abc"], "--cpus"),
    (["--cpu-period", "500"], "--cpu-period"),
    (["--cpu-quota", "100"], "--cpu-quota"),
    (["--cpu-shares", "-2"], "--cpu-shares"),
    (["--cpuset-cpus", "999"], "--cpuset-cpus"),
    (["--pids-limit", "abc"], "--pids-limit"),
    (["--blkio-weight", "5"], "blkio"),
    (["--device-read-bps", "/dev/sda:xx"], "--device-read-bps"),
    (["--device-write-bps", "/dev/mctest-no-such-device:1mb"], "/dev/mctest-no-such-device"),
)


def bad_limits_create_nothing(mc, lane):
    overlays = overlay_dirs()
    for flags, word in BAD_LIMITS:
        parent = f"mctest-acc-{uuid.uuid4().hex[:8]}"   # any cgroup made would be under it
        result = mc("run", "--rm", "--network", "none", "--cgroup-parent", parent, *flags,
                    "busybox", "true", timeout=PATIENCE)
        assert result.returncode == 125, (flags, result.returncode, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (flags, result.stderr)
        assert word in lines[0], (flags, lines[0])
        assert not stored_containers(mc), (flags, stored_containers(mc))
        assert not cgroup_dirs_named(parent), flags
        assert overlay_dirs() == overlays, flags
    # update refuses them too (exit 1, as `docker update` does: 125 is run's
    # own code) and leaves the running limits as they were
    with detached(mc, "mctest-acc-bad", *ASKED) as state:
        for flags in (["-m", "1k"], ["--pids-limit", "abc"], ["--cpus", "1000"]):
            result = mc("update", *flags, "mctest-acc-bad", timeout=PATIENCE)
            assert result.returncode != 0, (flags, result.stderr)
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        expected = lane.expected(state)
        assert lane.outside(state, expected) == expected


def missing_device_refused_before_any_kernel_step(mc, lane):
    """--explain narrates every kernel step: a refused limit must show none."""
    result = mc("run", "--rm", "--explain", "--network", "none", "--device-read-bps",
                "/dev/mctest-no-such-device:1mb", "busybox", "true", timeout=PATIENCE)
    assert result.returncode == 125, result.stderr
    steps = [line for line in result.stderr.splitlines() if "ms  [" in line]
    assert not steps, steps


def _own_cgroups():
    """hierarchy ('' for cgroup2, else the v1 controller) → our own cgroup's directory."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f.read().splitlines():
            _, controllers, path = line.split(":", 2)
            if not controllers:
                top = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") \
                    else "/sys/fs/cgroup"
                own[""] = os.path.join(top, path.lstrip("/")).rstrip("/")
                continue
            for controller in controllers.split(","):
                own[controller] = os.path.join("/sys/fs/cgroup", controller,
                                               path.lstrip("/")).rstrip("/")
    return own
