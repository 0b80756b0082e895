"""minicontainer-oci's pieces without a container: argv, signals, state, log, hooks, console."""

import json
import os
import socket

import pytest

from minicontainer.errors import Conflict, SpecError
from minicontainer.oci import cli, commands, hooks, resources
from minicontainer.oci import state as oci_state
from minicontainer.oci.console import receive_master, send_master
from minicontainer.oci.log import Log


# -- argv --------------------------------------------------------------------------------

def test_global_options_as_containerd_and_podman_pass_them():
    options, command, rest = cli.split_global(
        ["--root", "/r/default", "--log", "/b/log.json", "--log-format", "json", "create",
         "--bundle", "/b", "--pid-file", "/b/init.pid", "id1"])
    assert options == {"root": "/r/default", "log": "/b/log.json", "log-format": "json"}
    assert command == "create"
    flags, shorts, interleave, _ = cli.COMMANDS["create"]
    opts, args = cli.parse_flags(rest, flags, shorts, interleave)
    assert opts == {"bundle": "/b", "pid-file": "/b/init.pid"} and args == ["id1"]
    options, command, _ = cli.split_global(["--root=/x", "--systemd-cgroup", "state", "a"])
    assert options == {"root": "/x", "systemd-cgroup": True} and command == "state"


def test_go_flag_syntax_single_dash_equals_and_booleans():
    flags, shorts, interleave, _ = cli.COMMANDS["delete"]
    assert cli.parse_flags(["-force", "x"], flags, shorts, interleave) == ({"force": True}, ["x"])
    assert cli.parse_flags(["--force=false", "x"], flags, shorts, interleave) == (
        {"force": False}, ["x"])
    assert cli.parse_flags(["x", "-f"], flags, shorts, interleave) == ({"force": True}, ["x"])
    with pytest.raises(cli.UsageError, match="not defined: --nope"):
        cli.parse_flags(["--nope", "x"], flags, shorts, interleave)
    with pytest.raises(cli.UsageError, match="invalid boolean"):
        cli.parse_flags(["--force=maybe", "x"], flags, shorts, interleave)


def test_exec_options_end_at_the_container_id():
    flags, shorts, interleave, _ = cli.COMMANDS["exec"]
    opts, args = cli.parse_flags(["-e", "A=1", "--env=B=2", "-t", "--cwd", "/tmp", "c1",
                                  "sh", "-c", "echo -e x"], flags, shorts, interleave)
    assert opts == {"env": ["A=1", "B=2"], "tty": True, "cwd": "/tmp"}
    assert args == ["c1", "sh", "-c", "echo -e x"]
    opts, args = cli.parse_flags(["--process", "/p.json", "--detach", "--pid-file", "/x.pid",
                                  "c1"], flags, shorts, interleave)
    assert opts == {"process": "/p.json", "detach": True, "pid-file": "/x.pid"}


def test_missing_flag_value():
    flags, shorts, interleave, _ = cli.COMMANDS["create"]
    with pytest.raises(cli.UsageError, match="needs an argument"):
        cli.parse_flags(["--bundle"], flags, shorts, interleave)


def test_usage_errors_exit_1_with_one_line(tmp_path, capsys):
    assert cli.main(["--root", str(tmp_path), "bogus"]) == 1
    assert cli.main(["--root", str(tmp_path), "kill"]) == 1
    assert cli.main(["--root", str(tmp_path), "--systemd-cgroup", "state", "x"]) == 1
    assert cli.main(["--root", str(tmp_path), "--log-format", "xml", "list"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["minicontainer-oci: no such command: bogus",
                   'minicontainer-oci: "kill" requires 1 to 2 arguments; usage: '
                   "minicontainer-oci kill [--all] <container-id> [signal]",
                   "minicontainer-oci: --systemd-cgroup is not supported: minicontainer-oci "
                   "manages cgroups through cgroupfs only (use the cgroupfs manager)",
                   "minicontainer-oci: invalid --log-format 'xml': use text or json"]


def test_missing_container_and_bad_id(tmp_path, capsys):
    assert cli.main(["--root", str(tmp_path), "state", "nothere"]) == 1
    assert cli.main(["--root", str(tmp_path), "start", "../etc"]) == 1
    assert cli.main(["--root", str(tmp_path), "delete", "nothere"]) == 1
    assert cli.main(["--root", str(tmp_path), "delete", "--force", "nothere"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "minicontainer-oci: container does not exist: nothere"
    assert "invalid container id '../etc'" in err[1]
    assert err[2] == "minicontainer-oci: container does not exist: nothere"
    assert len(err) == 3


def test_list_of_an_empty_root(tmp_path, capsys):
    assert cli.main(["--root", str(tmp_path), "list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli.main(["--root", str(tmp_path), "list", "-q"]) == 0
    assert capsys.readouterr().out == ""


def test_features_is_json(tmp_path, capsys):
    assert cli.main(["--root", str(tmp_path), "features"]) == 0
    features = json.loads(capsys.readouterr().out)
    assert features["linux"]["cgroup"]["systemd"] is False
    assert "CAP_SYS_ADMIN" in features["linux"]["capabilities"]
    assert "startContainer" in features["hooks"]


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert "spec: 1.0.2" in capsys.readouterr().out


# -- the log file ---------------------------------------------------------------------------

def test_json_log_lines_as_containerd_reads_them(tmp_path, capsys):
    log = tmp_path / "log.json"
    assert cli.main(["--root", str(tmp_path), "--log", str(log), "--log-format", "json",
                     "state", "nothere"]) == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records[-1]["level"] == "error"
    assert records[-1]["msg"] == "container does not exist: nothere"
    assert records[-1]["time"].endswith("Z")


def test_text_log_and_debug(tmp_path):
    path = tmp_path / "log.txt"
    log = Log(str(path), "text", debug=True)
    log.debug('say "hi"')
    log.warning("careful")
    lines = path.read_text().splitlines()
    assert lines[0].endswith('level=debug msg="say \\"hi\\""')
    assert "level=warning" in lines[1]


# -- signals, ids, resources ------------------------------------------------------------

@pytest.mark.parametrize("text,number", [("9", 9), ("KILL", 9), ("SIGKILL", 9), ("term", 15),
                                         ("SIGUSR1", 10), ("hup", 1), ("SIGRTMIN", 34)])
def test_signals(text, number):
    assert commands.parse_signal(text) == number


@pytest.mark.parametrize("text", ["0", "99", "SIGNOPE", "-9", ""])
def test_bad_signals(text):
    with pytest.raises(SpecError, match="unknown signal"):
        commands.parse_signal(text)


@pytest.mark.parametrize("good", ["a", "mctest-1", "abc_DEF.1+2", "0" * 64])
def test_good_ids(good):
    assert oci_state.check_id(good) == good


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a b", "é", "x\0"])
def test_bad_ids(bad):
    with pytest.raises(SpecError, match="invalid container id"):
        oci_state.check_id(bad)


def test_update_resources_from_oci_and_flags():
    assert resources.from_oci({"memory": {"limit": 67108864, "swap": -1},
                               "cpu": {"shares": 512, "quota": 50000, "period": 100000,
                                       "cpus": "0"},
                               "pids": {"limit": 30}, "blockIO": {"weight": 300}}) == {
        "memory": 67108864, "memory_swap": -1, "cpu_shares": 512, "cpu_quota": 50000,
        "cpu_period": 100000, "cpuset_cpus": "0", "pids_limit": 30, "blkio_weight": 300}
    assert resources.from_flags({"memory": "64m", "pids-limit": "20", "cpuset-cpus": "0"}) == {
        "memory": 64 << 20, "pids_limit": 20, "cpuset_cpus": "0"}
    with pytest.raises(SpecError, match="not an integer"):
        resources.from_oci({"pids": {"limit": "many"}})
    with pytest.raises(SpecError, match="not supported"):
        resources.from_flags({"kernel-memory": "1m"})
    with pytest.raises(SpecError, match="JSON object"):
        resources.from_oci([1])


# -- status from a record ---------------------------------------------------------------------

def _me():
    return {"pid": os.getpid(), "started": oci_state.process_state(os.getpid())[1]}


def test_status_is_computed_from_the_process(tmp_path):
    fifo = tmp_path / "exec.fifo"
    os.mkfifo(fifo)
    record = dict(_me(), oci={"fifo": str(fifo)}, status="created")
    assert oci_state.status(record) == "created"
    fifo.unlink()
    assert oci_state.status(record) == "running"
    assert oci_state.status(dict(record, status="paused")) == "paused"
    assert oci_state.status(dict(record, started=record["started"] + 1)) == "stopped"
    assert oci_state.status({"pid": None, "oci": {"creating": True}}) == "creating"
    assert oci_state.status({"pid": None}) == "stopped"


def test_a_zombie_init_is_stopped():
    child = os.fork()
    if child == 0:
        os._exit(3)
    try:
        record = {"pid": child, "started": None}
        for _ in range(500):
            letter, started = oci_state.process_state(child)
            if letter == "Z":
                break
            os.sched_yield()
        record["started"] = started
        assert letter == "Z" and oci_state.status(record) == "stopped"
    finally:
        os.waitpid(child, 0)


def test_state_document():
    record = dict(_me(), status="running", spec={"rootfs": "/b/rootfs"},
                  oci={"bundle": "/b", "annotations": {"a": "1"}, "oci_version": "1.0.2-dev",
                       "created": "2026-01-01T00:00:00.000000000Z"})
    document = oci_state.oci_state("c1", record)
    assert document == {"ociVersion": "1.0.2-dev", "id": "c1", "pid": os.getpid(),
                        "status": "running", "bundle": "/b", "rootfs": "/b/rootfs",
                        "created": "2026-01-01T00:00:00.000000000Z", "owner": "",
                        "annotations": {"a": "1"}}
    assert oci_state.oci_state("c1", dict(record, pid=None))["pid"] == 0


def test_wrong_state_is_one_line():
    with pytest.raises(Conflict) as info:
        oci_state.require({"pid": None}, "c1", ("created",), "start")
    assert str(info.value) == "cannot start container c1: it is stopped (needs created)"


# -- hooks in the runtime's namespaces ---------------------------------------------------------

def _script(tmp_path, body, name="hook"):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_hook_gets_the_state_args_and_env(tmp_path):
    out = tmp_path / "out"
    path = _script(tmp_path, f'cat > {out}; echo >> {out}; echo "$0 $1 $FOO" >> {out}\n')
    hooks.run_all("prestart", {"prestart": [{"path": path, "args": ["myhook", "arg1"],
                                             "env": ["FOO=bar"]}]}, {"id": "c1"})
    state_line, args_line = out.read_text().splitlines()
    assert json.loads(state_line) == {"id": "c1"}
    assert args_line.endswith(" arg1 bar")


def test_failing_hooks(tmp_path):
    failing = _script(tmp_path, "exit 3\n")
    with pytest.raises(hooks.HookError, match=r"poststart hook #0 .* exited with status 3"):
        hooks.run_all("poststart", {"poststart": [{"path": failing}]}, {})
    with pytest.raises(hooks.HookError, match="could not be started"):
        hooks.run_all("prestart", {"prestart": [{"path": str(tmp_path / "missing")}]}, {})
    slow = _script(tmp_path, "exec sleep 30\n", "slow")
    with pytest.raises(hooks.HookError, match="timeout of 1s"):
        hooks.run_all("createRuntime", {"createRuntime": [{"path": slow, "timeout": 1}]}, {})


def test_hooks_run_in_order_and_stop_at_the_first_failure(tmp_path):
    out = tmp_path / "order"
    first = _script(tmp_path, f"echo one >> {out}\n", "one")
    failing = _script(tmp_path, "exit 1\n", "bad")
    third = _script(tmp_path, f"echo three >> {out}\n", "three")
    with pytest.raises(hooks.HookError, match="#1"):
        hooks.run_all("prestart", {"prestart": [{"path": first}, {"path": failing},
                                                {"path": third}]}, {})
    assert out.read_text() == "one\n"


# -- the console socket -------------------------------------------------------------------------

def test_console_socket_carries_a_descriptor(tmp_path):
    path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    read_end, write_end = os.pipe()
    try:
        send_master(path, write_end)
        name, fd = receive_master(listener)
        os.write(fd, b"through the socket")
        os.close(fd)
        assert os.read(read_end, 100) == b"through the socket"
        assert name == "/dev/ptmx"
    finally:
        listener.close()
        os.close(read_end)
        os.close(write_end)


def test_console_socket_missing(tmp_path):
    with pytest.raises(Exception, match="console socket"):
        send_master(str(tmp_path / "nothere.sock"), 0)


# -- the record reader without the json module ------------------------------------------------

@pytest.mark.parametrize("text", ['{"a": [1, 2.5, "x\\u00e9", true, null, {"b": -3e2}]}',
                                  ' \n [] \n', '"s"', '{"nested": {"deep": [[[]]]}}'])
def test_parse_json_matches_the_json_module(text):
    assert oci_state.parse_json(text) == json.loads(text)


@pytest.mark.parametrize("text", ["", "{", '{"a": 1} x', "[1,]", "nope"])
def test_parse_json_refuses_broken_records(text):
    with pytest.raises(Exception, match="not valid JSON"):
        oci_state.parse_json(text)


# -- exec's process ----------------------------------------------------------------------------

def _record():
    from minicontainer.spec import ContainerSpec, Security
    spec = ContainerSpec(rootfs="/r", args=("sleep", "100"), env=("PATH=/bin", "A=1"),
                         cwd="/", user="0:0", security=Security(group_add=("10",)))
    return {"spec": spec.to_json_dict(), "pid": 1}


def test_exec_flags_change_the_containers_process():
    from minicontainer.oci.process import exec_spec
    spec = exec_spec(_record(), {"env": ["B=2"], "cwd": "/tmp", "user": "1000:1000",
                                 "tty": True, "additional-gids": ["20"],
                                 "no-new-privs": True}, ["sh", "-c", "true"])
    assert spec.args == ("sh", "-c", "true")
    assert spec.env == ("PATH=/bin", "A=1", "B=2")
    assert (spec.cwd, spec.user, spec.tty, spec.interactive) == ("/tmp", "1000:1000", True, True)
    assert spec.security.group_add == ("10", "20") and spec.security.no_new_privileges


def test_exec_process_json(tmp_path):
    from minicontainer.oci.process import exec_spec
    path = tmp_path / "process.json"
    path.write_text(json.dumps({"args": ["id"], "env": ["X=1"], "cwd": "/work",
                                "user": {"uid": 5, "gid": 6}, "terminal": False}))
    spec = exec_spec(_record(), {"process": str(path)}, [])
    assert spec.args == ("id",) and spec.env == ("X=1",) and spec.cwd == "/work"
    assert spec.user == "5:6" and spec.interactive
    with pytest.raises(SpecError, match="either in --process or as arguments"):
        exec_spec(_record(), {"process": str(path)}, ["ls"])
    path.write_text("{")
    with pytest.raises(SpecError, match="not valid JSON"):
        exec_spec(_record(), {"process": str(path)}, [])
    with pytest.raises(SpecError, match="no command"):
        exec_spec(_record(), {}, [])
