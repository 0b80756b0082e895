"""minicontainer-oci driven as containerd's shim drives runc: every command and transition.

The test process is made a child subreaper (as the shim is), so a container's
init, orphaned when ``create`` exits, becomes our child: its exit status is
collected here with waitpid, exactly as the shim collects it.
"""

import json
import os
import signal
import socket
import subprocess
import tempfile

import pytest

from conftest import needs_busybox, needs_root
from oci_cli_helpers import (Runtime, make_bundle, read_pid_file, subreaper, wait_exit,
                             wait_for, write_config)

pytestmark = [needs_root, needs_busybox]


@pytest.fixture
def oci(tmp_path):
    root = tempfile.mkdtemp(prefix="mctest-oci-root-")
    runtime = Runtime(root, log=str(tmp_path / "log.json"))
    with subreaper():
        yield runtime
        left = runtime.cleanup()
    import shutil
    shutil.rmtree(root, ignore_errors=True)
    assert not left, f"containers left behind: {left}"


def _id(name):
    return f"mctest-{name}-{os.getpid()}"


def _create(oci, tmp_path, name, args, **bundle_options):
    bundle = make_bundle(str(tmp_path), args, **bundle_options)
    container_id = _id(name)
    pid_file = str(tmp_path / f"{name}.pid")
    # The init keeps create's stdout and stderr (as the shim's fifos): files,
    # not pipes, or reading create's output would wait for the container.
    with open(tmp_path / f"{name}.out", "w") as out, open(tmp_path / f"{name}.err", "w") as err:
        result = oci("create", "--bundle", bundle, "--pid-file", pid_file, container_id,
                     stdout=out, stderr=err)
    assert result.returncode == 0, (tmp_path / f"{name}.err").read_text()
    return container_id, read_pid_file(pid_file), bundle


def _output(tmp_path, name):
    return (tmp_path / f"{name}.out").read_text()


# -- the lifecycle ----------------------------------------------------------------------------

def test_create_start_exit_delete(oci, tmp_path):
    container_id, pid, bundle = _create(oci, tmp_path, "life", ["sh", "-c", "echo hello; exit 3"],
                                        annotations={"org.example": "yes"})
    state = oci.state(container_id)
    assert state["status"] == "created" and state["pid"] == pid
    assert state["bundle"] == bundle and state["annotations"] == {"org.example": "yes"}
    assert state["ociVersion"] and state["id"] == container_id
    assert _output(tmp_path, "life") == ""  # nothing of the program ran yet
    oci.ok("start", container_id)
    assert wait_exit(pid) == 3
    assert _output(tmp_path, "life") == "hello\n"
    assert oci.status(container_id) == "stopped"
    oci.ok("delete", container_id)
    assert oci.fails("state", container_id).stderr.strip().endswith(
        f"container does not exist: {container_id}")
    assert json.loads(oci.ok("list", "--format", "json").stdout) == []


def test_wrong_state_operations_fail_with_one_line(oci, tmp_path):
    container_id, pid, bundle = _create(oci, tmp_path, "wrong", ["sleep", "100"])
    assert "container with id exists" in oci.fails(
        "create", "--bundle", bundle, container_id).stderr
    assert "not stopped" not in oci.fails("resume", container_id).stderr
    oci.ok("start", container_id)
    assert oci.status(container_id) == "running"
    assert "it is running, not created" in oci.fails("start", container_id).stderr
    assert "is not stopped: it is running (use --force)" in oci.fails(
        "delete", container_id).stderr
    assert "needs paused" in oci.fails("resume", container_id).stderr
    oci.ok("kill", container_id, "KILL")
    assert wait_exit(pid) == 137
    assert oci.status(container_id) == "stopped"
    assert "container not running (it is stopped)" in oci.fails(
        "kill", container_id, "TERM").stderr
    assert "it is stopped" in oci.fails("start", container_id).stderr
    assert "it is stopped" in oci.fails("pause", container_id).stderr
    oci.ok("delete", container_id)
    oci.fails("delete", container_id)
    oci.ok("delete", "--force", container_id)  # idempotent with --force


def test_delete_of_a_created_container_kills_its_waiting_init(oci, tmp_path):
    container_id, pid, _ = _create(oci, tmp_path, "created", ["echo", "never"])
    oci.ok("delete", container_id)
    assert wait_exit(pid) == 137
    assert _output(tmp_path, "created") == ""


def test_delete_force_of_a_running_container(oci, tmp_path):
    container_id, pid, _ = _create(oci, tmp_path, "force", ["sleep", "100"])
    oci.ok("start", container_id)
    oci.ok("delete", "--force", container_id)
    assert wait_exit(pid) == 137
    oci.fails("state", container_id)


def test_kill_signals_by_name_and_number(oci, tmp_path):
    script = "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done"
    container_id, pid, _ = _create(oci, tmp_path, "sig", ["sh", "-c", script])
    oci.ok("start", container_id)
    wait_for(lambda: "ready" in _output(tmp_path, "sig"), what="the trap to be set")
    oci.ok("kill", container_id)  # SIGTERM by default
    assert wait_exit(pid) == 7
    assert "got TERM" in _output(tmp_path, "sig")
    assert "unknown signal" in oci.fails("kill", container_id, "SIGNOPE").stderr
    oci.ok("delete", container_id)


def test_kill_all_reaches_every_process(oci, tmp_path):
    container_id, pid, _ = _create(oci, tmp_path, "all",
                                   ["sh", "-c", "sleep 100 & sleep 100 & wait"])
    oci.ok("start", container_id)
    wait_for(lambda: len(json.loads(oci.ok("ps", "--format", "json", container_id).stdout)) >= 3,
             what="three processes")
    pids = json.loads(oci.ok("ps", "--format", "json", container_id).stdout)
    assert pid in pids
    oci.ok("kill", "--all", container_id, "9")
    assert wait_exit(pid) == 137
    for other in pids:
        wait_for(lambda: not os.path.exists(f"/proc/{other}/cmdline") or
                 open(f"/proc/{other}/stat").read().split()[2] == "Z", what=f"{other} to die")
    oci.ok("delete", container_id)


def test_pause_and_resume_use_the_freezer(oci, tmp_path):
    container_id, pid, _ = _create(oci, tmp_path, "pause", ["sleep", "100"])
    oci.ok("start", container_id)
    oci.ok("pause", container_id)
    assert oci.status(container_id) == "paused"
    assert open(f"/proc/{pid}/stat").read().split()[2] in ("D", "S")  # frozen, not running
    assert "it is paused" in oci.fails("pause", container_id).stderr
    assert "it is paused" in oci.fails("delete", container_id).stderr
    oci.ok("resume", container_id)
    assert oci.status(container_id) == "running"
    oci.ok("pause", container_id)
    oci.ok("delete", "--force", container_id)  # a frozen container still goes
    assert wait_exit(pid) == 137


def test_ps_table_and_json(oci, tmp_path):
    container_id, pid, _ = _create(oci, tmp_path, "ps", ["sleep", "100"])
    oci.ok("start", container_id)
    assert json.loads(oci.ok("ps", "--format", "json", container_id).stdout) == [pid]
    table = oci.ok("ps", container_id).stdout.splitlines()
    assert table[0].split()[:2] == ["UID", "PID"]
    assert [line.split()[1] for line in table[1:]] == [str(pid)]
    oci.ok("delete", "--force", container_id)
    wait_exit(pid)


def test_list_formats(oci, tmp_path):
    container_id, pid, bundle = _create(oci, tmp_path, "list", ["sleep", "100"])
    listed = json.loads(oci.ok("list", "--format", "json").stdout)
    assert [(c["id"], c["status"], c["pid"], c["bundle"]) for c in listed] == [
        (container_id, "created", pid, bundle)]
    lines = oci.ok("list").stdout.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert lines[1].split()[:3] == [container_id, str(pid), "created"]
    assert oci.ok("list", "-q").stdout == container_id + "\n"
    oci.ok("delete", container_id)
    wait_exit(pid)


def test_update_changes_live_limits(oci, tmp_path):
    container_id, pid, _ = _create(oci, tmp_path, "update", ["sleep", "100"])
    oci.ok("start", container_id)
    oci.ok("update", "--resources", "-", container_id,
           input=json.dumps({"memory": {"limit": 64 << 20}, "pids": {"limit": 30}}))
    oci.ok("update", "--cpu-shares", "512", container_id)
    cgroup = json.load(open(os.path.join(oci.root, "containers", container_id,
                                         "state.json")))["cgroup"]["paths"]
    assert int(open(os.path.join(cgroup["memory"], "memory.limit_in_bytes")).read()) == 64 << 20
    assert open(os.path.join(cgroup["pids"], "pids.max")).read().strip() == "30"
    assert open(os.path.join(cgroup["cpu"], "cpu.shares")).read().strip() == "512"
    assert "not valid JSON" in oci.fails("update", "--resources", "-", container_id,
                                         input="{").stderr
    oci.ok("delete", "--force", container_id)
    wait_exit(pid)


def test_the_init_killed_behind_our_back_is_stopped_and_deletable(oci, tmp_path):
    container_id, pid, _ = _create(oci, tmp_path, "crash", ["sleep", "100"])
    oci.ok("start", container_id)
    record = json.load(open(os.path.join(oci.root, "containers", container_id, "state.json")))
    os.kill(pid, signal.SIGKILL)
    assert wait_exit(pid) == 137
    assert oci.status(container_id) == "stopped"
    oci.ok("delete", container_id)
    for path in record["cgroup"]["paths"].values():
        assert not os.path.exists(path)
    assert not os.path.exists(os.path.join(oci.root, "containers", container_id))


# -- run --------------------------------------------------------------------------------------

def test_run_waits_and_returns_the_exit_code(oci, tmp_path):
    bundle = make_bundle(str(tmp_path), ["sh", "-c", "echo ran; exit 5"])
    result = oci("run", "--bundle", bundle, _id("run"))
    assert result.returncode == 5 and result.stdout == "ran\n"
    oci.fails("state", _id("run"))  # run deletes what it created


def test_run_detach(oci, tmp_path):
    bundle = make_bundle(str(tmp_path), ["sleep", "100"])
    pid_file = str(tmp_path / "run.pid")
    result = oci("run", "--detach", "--bundle", bundle, "--pid-file", pid_file, _id("rund"),
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert result.returncode == 0
    pid = read_pid_file(pid_file)
    assert oci.status(_id("rund")) == "running"
    oci.ok("delete", "--force", _id("rund"))
    assert wait_exit(pid) == 137


# -- exec -------------------------------------------------------------------------------------

def test_exec_with_arguments_and_flags(oci, tmp_path):
    container_id, pid, _ = _create(oci, tmp_path, "exec", ["sleep", "100"])
    oci.ok("start", container_id)
    result = oci("exec", "--env", "FOO=bar", "--cwd", "/tmp", container_id,
                 "sh", "-c", "echo $FOO $(pwd) $(hostname); exit 4")
    assert result.returncode == 4 and result.stdout == "bar /tmp mctest-oci\n"
    result = oci("exec", "--user", "1000:1000", container_id, "id")
    assert result.stdout.startswith("uid=1000(") and " gid=1000(" in result.stdout
    assert "no command given" in oci.fails("exec", container_id).stderr
    oci.ok("delete", "--force", container_id)
    wait_exit(pid)


def test_exec_process_json_detached_with_pid_file(oci, tmp_path):
    container_id, pid, bundle = _create(oci, tmp_path, "execp", ["sleep", "100"])
    oci.ok("start", container_id)
    process = {"terminal": False, "user": {"uid": 0, "gid": 0}, "cwd": "/",
               "args": ["sh", "-c", "echo $X > /tmp/from-exec; sleep 100"],
               "env": ["PATH=/bin:/usr/bin", "X=detached"]}
    (tmp_path / "process.json").write_text(json.dumps(process))
    exec_pid_file = str(tmp_path / "exec.pid")
    result = oci("exec", "--process", str(tmp_path / "process.json"), "--detach",
                 "--pid-file", exec_pid_file, container_id,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert result.returncode == 0
    exec_pid = read_pid_file(exec_pid_file)
    marker = os.path.join(bundle, "rootfs", "tmp", "from-exec")
    wait_for(lambda: os.path.exists(marker) and open(marker).read(), what="the exec's output")
    assert open(marker).read() == "detached\n"
    assert exec_pid in json.loads(oci.ok("ps", "--format", "json", container_id).stdout)
    os.kill(exec_pid, signal.SIGKILL)
    assert wait_exit(exec_pid) == 137  # handed to us, the subreaper, like to the shim
    oci.ok("delete", "--force", container_id)
    wait_exit(pid)


def test_exec_refused_when_not_running(oci, tmp_path):
    container_id, pid, _ = _create(oci, tmp_path, "execx", ["true"])
    oci.ok("start", container_id)
    wait_exit(pid)
    assert "it is stopped" in oci.fails("exec", container_id, "true").stderr
    assert "does not exist" in oci.fails("exec", _id("nothere"), "true").stderr
    oci.ok("delete", container_id)


# -- hooks ------------------------------------------------------------------------------------

def _hook(tmp_path, name, body):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_every_hook_runs_at_its_point_with_the_state(oci, tmp_path):
    log = tmp_path / "hooks.log"
    runtime_hook = _hook(tmp_path, "runtime-hook",
                         f'read -r state; echo "$1 $state" >> {log}\n')
    # In the container's namespaces the host's files are out of reach: these
    # hooks write into the container's root, which the test reads from the bundle.
    container_hook = _hook(tmp_path, "container-hook",
                           'read -r state; echo "$1 $(hostname) $state" >> /hooks.log\n')
    hooks = {kind: [{"path": runtime_hook, "args": ["runtime-hook", kind]}]
             for kind in ("prestart", "createRuntime", "poststart", "poststop")}
    hooks["createContainer"] = [{"path": container_hook,
                                 "args": ["container-hook", "createContainer"]}]
    hooks["startContainer"] = [{"path": "/bin/sh", "args": [
        "sh", "-c", 'read -r state; echo "startContainer $(hostname) $state" >> /hooks.log']}]
    container_id, pid, bundle = _create(oci, tmp_path, "hooks", ["true"], hooks=hooks)
    seen = [line.split(" ", 1)[0] for line in log.read_text().splitlines()]
    assert seen == ["prestart", "createRuntime"]
    inside = os.path.join(bundle, "rootfs", "hooks.log")
    assert open(inside).read().split(" ")[:2] == ["createContainer", "mctest-oci"]
    oci.ok("start", container_id)
    assert wait_exit(pid) == 0
    oci.ok("delete", container_id)
    lines = log.read_text().splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == [
        "prestart", "createRuntime", "poststart", "poststop"]
    states = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in lines}
    assert states["prestart"]["id"] == container_id and states["prestart"]["pid"] == pid
    assert states["poststop"]["status"] == "stopped"
    inside_lines = open(inside).read().splitlines()
    assert [line.split(" ")[:2] for line in inside_lines] == [
        ["createContainer", "mctest-oci"], ["startContainer", "mctest-oci"]]
    assert json.loads(inside_lines[1].split(" ", 2)[2])["status"] == "created"


def test_a_failing_prestart_hook_fails_create_and_leaves_nothing(oci, tmp_path):
    failing = _hook(tmp_path, "fail", "exit 2\n")
    bundle = make_bundle(str(tmp_path), ["true"], hooks={"prestart": [{"path": failing}]})
    result = oci.fails("create", "--bundle", bundle, _id("hookfail"))
    assert "prestart hook #0" in result.stderr and "exited with status 2" in result.stderr
    assert json.loads(oci.ok("list", "--format", "json").stdout) == []
    records = [json.loads(line) for line in open(oci.log)]
    assert records[-1]["level"] == "error" and "prestart hook" in records[-1]["msg"]


def test_a_failing_poststop_hook_is_only_a_warning(oci, tmp_path):
    failing = _hook(tmp_path, "fail", "exit 1\n")
    container_id, pid, _ = _create(oci, tmp_path, "poststop", ["true"],
                                   hooks={"poststop": [{"path": failing}]})
    oci.ok("start", container_id)
    wait_exit(pid)
    result = oci.ok("delete", container_id)
    assert "warning: poststop hook #0" in result.stderr
    oci.fails("state", container_id)


def test_delete_after_create_itself_crashed_releases_everything(oci, tmp_path):
    started = tmp_path / "hook-started"
    slow = _hook(tmp_path, "slow", f"touch {started}; exec sleep 2\n")
    bundle = make_bundle(str(tmp_path), ["true"], hooks={"prestart": [{"path": slow}]})
    container_id = _id("crash-create")
    with open(tmp_path / "create.err", "w") as err:
        create = subprocess.Popen(oci.argv("create", "--bundle", bundle, container_id),
                                  stdout=subprocess.DEVNULL, stderr=err)
        wait_for(started.exists, what="the prestart hook to start")
        create.kill()  # create dies in the middle: init made, in its cgroup, not set up
        create.wait()
    record = json.load(open(os.path.join(oci.root, "containers", container_id, "state.json")))
    assert record["cgroup"]["paths"] and record["pid"]
    assert oci.status(container_id) in ("creating", "stopped")
    oci.ok("delete", container_id)
    for path in record["cgroup"]["paths"].values():
        assert not os.path.exists(path)
    wait_for(lambda: oci_state_gone(record["pid"]), what="the orphaned init to be gone")
    assert json.loads(oci.ok("list", "--format", "json").stdout) == []


def oci_state_gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


# -- terminal ---------------------------------------------------------------------------------

def test_console_socket_receives_the_pty_master(oci, tmp_path):
    from minicontainer.oci.console import receive_master
    bundle = make_bundle(str(tmp_path), ["sh", "-c", "tty; echo in-a-terminal"], terminal=True)
    sock_path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(1)
    pid_file = str(tmp_path / "tty.pid")
    try:
        create = subprocess.Popen(oci.argv("create", "--bundle", bundle, "--console-socket",
                                           sock_path, "--pid-file", pid_file, _id("tty")))
        _name, master = receive_master(listener)
        assert create.wait(timeout=60) == 0
    finally:
        listener.close()
    pid = read_pid_file(pid_file)
    oci.ok("start", _id("tty"))
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the container closed its side
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert wait_exit(pid) == 0
    assert output.replace(b"\r\n", b"\n") == b"/dev/pts/0\nin-a-terminal\n"
    oci.ok("delete", _id("tty"))


def test_exec_with_a_terminal_through_the_console_socket(oci, tmp_path):
    from minicontainer.oci.console import receive_master
    container_id, pid, _ = _create(oci, tmp_path, "ttyexec", ["sleep", "100"])
    oci.ok("start", container_id)
    sock_path = str(tmp_path / "exec-console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(1)
    exec_pid_file = str(tmp_path / "ttyexec.pid")
    try:
        result = oci("exec", "--tty", "--console-socket", sock_path, "--detach",
                     "--pid-file", exec_pid_file, container_id, "sh", "-c", "tty; exit 3",
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert result.returncode == 0
        _name, master = receive_master(listener)
    finally:
        listener.close()
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert wait_exit(read_pid_file(exec_pid_file)) == 3
    assert output.strip() == b"/dev/pts/0"
    oci.ok("delete", "--force", container_id)
    wait_exit(pid)


def test_kill_of_a_created_container_ends_its_waiting_init(oci, tmp_path):
    container_id, pid, _ = _create(oci, tmp_path, "killcreated", ["echo", "never"])
    oci.ok("kill", container_id, "KILL")
    assert wait_exit(pid) == 137
    assert oci.status(container_id) == "stopped"
    assert "it is stopped" in oci.fails("start", container_id).stderr
    oci.ok("delete", container_id)
    assert _output(tmp_path, "killcreated") == ""


def test_terminal_without_console_socket_is_refused(oci, tmp_path):
    bundle = make_bundle(str(tmp_path), ["true"], terminal=True)
    assert "--console-socket" in oci.fails("create", "--bundle", bundle, _id("notty")).stderr
    bundle = make_bundle(str(tmp_path), ["true"])
    assert "process.terminal is false" in oci.fails(
        "create", "--bundle", bundle, "--console-socket", "/nonexistent.sock",
        _id("notty")).stderr


# -- bundles and spec -------------------------------------------------------------------------

def test_bad_bundles_fail_with_one_line(oci, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "config.json" in oci.fails("create", "--bundle", str(empty), _id("bad")).stderr
    bundle = make_bundle(str(tmp_path), ["true"])
    write_config(bundle, {"ociVersion": "1.0.2", "process": {"args": []},
                          "root": {"path": "rootfs"}})
    assert "process.args" in oci.fails("create", "--bundle", bundle, _id("bad")).stderr
    assert json.loads(oci.ok("list", "--format", "json").stdout) == []


def test_spec_writes_a_runnable_default_config(oci, tmp_path):
    bundle = make_bundle(str(tmp_path), ["true"])
    os.unlink(os.path.join(bundle, "config.json"))
    oci.ok("spec", "--bundle", bundle)
    config = json.load(open(os.path.join(bundle, "config.json")))
    assert config["process"]["terminal"] is True and config["root"]["path"] == "rootfs"
    assert "exists" in oci.fails("spec", "--bundle", bundle).stderr
    config["process"]["terminal"] = False
    config["process"]["args"] = ["sh", "-c", "exit 6"]
    write_config(bundle, config)
    assert oci("run", "--bundle", bundle, _id("spec")).returncode == 6
