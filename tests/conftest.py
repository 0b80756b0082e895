"""Shared fixtures: what this machine can do, how to run the CLI, and a leak check.

* Capability probes decide skips, and every skip reason starts with
  "machine lacks" — in CI (CI=true) any other skip is turned into a failure,
  so a feature this machine has is never silently left untested.
* ``mc`` runs ``python -m minicontainer`` with a private state root.
* At the end of the run the suite asserts that nothing leaked: no mounts, no
  cgroups, no links, no state directories that the tests made.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUSYBOX = os.path.join(REPO, "rootfs", "build", "busybox")
LEAK_MARKERS = ("mctest", "minicontainer")
# Networks, images and caches the runtime makes during the run live here, and
# every device it names starts with this prefix (the leak check's "mctest").
DATA_ROOT = tempfile.mkdtemp(prefix="mctest-data-")
NET_PREFIX = "mctestr"
os.chmod(DATA_ROOT, 0o711)


# -- capability probes ----------------------------------------------------------

def is_root():
    return os.geteuid() == 0


def has_userns():
    return os.path.exists("/proc/self/ns/user") and _read("/proc/sys/user/max_user_namespaces") != "0"


def has_cgroup2_controllers():
    text = _read("/sys/fs/cgroup/cgroup.controllers")
    return bool(text and "memory" in text.split())


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


needs_root = pytest.mark.skipif(not is_root(), reason="machine lacks root (run as root)")
needs_busybox = pytest.mark.skipif(not os.path.exists(os.path.join(BUSYBOX, "bin", "busybox")),
                                   reason="machine lacks the busybox rootfs (run scripts/setup)")


# -- running the CLI -------------------------------------------------------------

@pytest.fixture
def state_root():
    # Not under tmp_path (mode 0700): a user-namespaced container's remapped
    # root must be able to walk to its /etc files, as under /run/minicontainer.
    root = tempfile.mkdtemp(prefix="mctest-state-")
    os.chmod(root, 0o711)
    yield root
    _stop_supervisor(root)
    containers = os.path.join(root, "containers")
    leftovers = os.listdir(containers) if os.path.exists(containers) else []
    for container_id in leftovers:  # clean up, then fail the test that left them
        subprocess.run([sys.executable, "-m", "minicontainer", "rm", "-f", container_id],
                       env=dict(os.environ, **_runtime_env(root)), capture_output=True)
    shutil.rmtree(root)
    assert not leftovers, f"containers left in the state root: {leftovers}"


@pytest.fixture
def shared_dir():
    """A host directory any container user can reach (for bind-mount probes)."""
    path = tempfile.mkdtemp(prefix="mctest-shared-")
    os.chmod(path, 0o777)
    yield pathlib.Path(path)
    shutil.rmtree(path)


@pytest.fixture
def mc(state_root):
    """Run the CLI: mc("run", "--rm", "busybox", "true") -> CompletedProcess (text)."""
    def run(*args, input=None, timeout=60, env=None, **kwargs):
        full_env = dict(os.environ, **_runtime_env(state_root))
        full_env.update(env or {})
        return subprocess.run([sys.executable, "-m", "minicontainer", *args], input=input,
                              capture_output=True, text=True, timeout=timeout, env=full_env,
                              **kwargs)
    run.state_root = state_root
    run.argv = [sys.executable, "-m", "minicontainer"]
    run.env = dict(os.environ, **_runtime_env(state_root))
    return run


def _stop_supervisor(state_root):
    """End the supervisor a test's ``run -d`` started (by its pid, from its own answer)."""
    if not os.path.exists(os.path.join(state_root, "supervisor.sock")):
        return
    from minicontainer.errors import MiniContainerError
    from minicontainer.supervisor_client import SupervisorUnavailable, _connect, request
    probe = _connect(os.path.join(state_root, "supervisor.sock"))
    if probe is None:
        return  # not running (a stale socket); never start one just to stop it
    probe.close()
    try:
        pid = request({"op": "ping"}, state_root, timeout=10)["pid"]
    except (SupervisorUnavailable, MiniContainerError, OSError):
        return
    os.kill(pid, 15)
    for _ in range(500):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def _runtime_env(state_root):
    # MINICONTAINER_PULL=never: an unknown image must never send the suite to
    # a registry on the internet (this machine may only talk to itself).
    return {"MINICONTAINER_STATE_ROOT": state_root, "MINICONTAINER_DATA_ROOT": DATA_ROOT,
            "MINICONTAINER_NET_PREFIX": NET_PREFIX, "MINICONTAINER_PULL": "never"}


# -- CI: a skip must be the machine's lack, never the suite's ---------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
        if "machine lacks" not in reason:
            report.outcome = "failed"
            report.longrepr = f"skipped in CI without the machine lacking anything: {reason}"


# -- the leak check ---------------------------------------------------------------

def _mounts():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f if any(m in line for m in LEAK_MARKERS)}


def _links():
    try:
        return {name for name in os.listdir("/sys/class/net") if name.startswith(("mctest", "mcv"))}
    except OSError:
        return set()


def _processes():
    """Supervisors (and anything else) the suite started for its own state roots."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "minicontainer.supervisor" in cmdline and "mctest" in cmdline:
            found.add(f"{pid}: {cmdline.strip()}")
    return found


def _own_cgroup_dirs():
    """Our own cgroup directory in each mounted hierarchy (from /proc/self/cgroup)."""
    unified = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
    for line in (_read("/proc/self/cgroup") or "").splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers:
            mount = "/sys/fs/cgroup/" + controllers.split(",")[0].replace("name=", "")
        else:
            mount = unified
        yield os.path.join(mount, path.lstrip("/"))


def _cgroups():
    found = set()
    for base in _own_cgroup_dirs():
        for root, dirs, _files in os.walk(base):
            marked = [d for d in dirs if any(m in d for m in LEAK_MARKERS)]
            found |= {os.path.join(root, d) for d in marked}
            dirs[:] = [d for d in dirs if d not in marked]
    return found


def _remove_networks():
    """The default bridge outlives containers (as docker0 does); the suite's goes now."""
    if os.path.exists(os.path.join(DATA_ROOT, "networks")):
        subprocess.run([sys.executable, "-c", "import sys; from minicontainer.network import manage; "
                        "manage.reset(sys.argv[1])", DATA_ROOT], check=False)
    shutil.rmtree(DATA_ROOT, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def leak_check():
    """Nothing the suite made may outlive it."""
    before = (_mounts(), _links(), _cgroups(), _processes())
    yield
    _remove_networks()
    after = (_mounts(), _links(), _cgroups(), _processes())
    leaks = []
    for kind, old, new in zip(("mounts", "links", "cgroups", "processes"), before, after):
        extra = new - old
        if extra:
            leaks.append(f"{kind}: {sorted(extra)}")
    assert not leaks, "the test run leaked " + "; ".join(leaks)
