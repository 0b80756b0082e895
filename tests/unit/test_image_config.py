import pytest

from minicontainer.errors import SpecError
from minicontainer.image.config import ImageConfig, merge_env, merge_run_config
from minicontainer.spec import DEFAULT_PATH

NGINXISH = ImageConfig.from_json({
    "architecture": "amd64", "os": "linux",
    "config": {
        "Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"],
        "Env": ["PATH=/usr/sbin:/usr/bin", "NGINX_VERSION=1.25"],
        "WorkingDir": "/srv", "User": "101:101",
        "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/var/cache/nginx": {}},
        "StopSignal": "SIGQUIT", "Labels": {"maintainer": "x", "tier": "web"},
        "Healthcheck": {"Test": ["CMD", "curl", "-f", "http://localhost"], "Interval": 0},
    },
}, image_id="sha256:" + "c" * 64)


def test_image_defaults_drive_the_run():
    run = merge_run_config(NGINXISH, {})
    assert run.args == ("/docker-entrypoint.sh", "nginx", "-g", "daemon off;")
    assert run.env == ("PATH=/usr/sbin:/usr/bin", "NGINX_VERSION=1.25")
    assert (run.cwd, run.user, run.stop_signal) == ("/srv", "101:101", "SIGQUIT")
    assert run.exposed_ports == ("80/tcp",) and run.volumes == ("/var/cache/nginx",)
    assert run.labels == {"maintainer": "x", "tier": "web"}
    assert run.healthcheck["Interval"] == 30_000_000_000 and run.healthcheck["Retries"] == 3


def test_args_replace_cmd_but_keep_entrypoint():
    run = merge_run_config(NGINXISH, {"args": ["nginx", "-T"]})
    assert run.args == ("/docker-entrypoint.sh", "nginx", "-T")


def test_entrypoint_flag_drops_image_cmd():
    assert merge_run_config(NGINXISH, {"entrypoint": "/bin/sh"}).args == ("/bin/sh",)
    assert merge_run_config(NGINXISH, {"entrypoint": "/bin/sh", "args": ["-c", "id"]}).args == \
        ("/bin/sh", "-c", "id")


def test_empty_entrypoint_clears_it():
    run = merge_run_config(NGINXISH, {"entrypoint": "", "args": ["echo", "hi"]})
    assert run.args == ("echo", "hi")
    with pytest.raises(SpecError, match="no command specified"):
        merge_run_config(NGINXISH, {"entrypoint": ""})


def test_no_command_at_all_is_an_error():
    with pytest.raises(SpecError, match="no command"):
        merge_run_config(ImageConfig(), {})
    with pytest.raises(SpecError, match="no command"):
        merge_run_config(None, {})


def test_env_overrides_by_key_and_default_path():
    run = merge_run_config(ImageConfig(cmd=("sh",), env=("A=1", "B=2")),
                           {"env": ["B=3", "C=4", "HOSTVAR", "MISSING"], "hostname": "box",
                            "tty": True},
                           host_env={"HOSTVAR": "from-host"})
    assert run.env == (f"PATH={DEFAULT_PATH}", "A=1", "B=3", "C=4", "HOSTVAR=from-host",
                       "HOSTNAME=box", "TERM=xterm")


def test_user_path_wins_over_default():
    run = merge_run_config(ImageConfig(cmd=("sh",)), {"env": ["PATH=/x"]})
    assert run.env == ("PATH=/x",)


def test_overrides_of_workdir_user_signal_labels_ports():
    run = merge_run_config(NGINXISH, {"workdir": "/tmp/../data", "user": "0",
                                      "stop_signal": "SIGTERM", "labels": {"tier": "db"},
                                      "expose": ["53/udp", 8080]})
    assert (run.cwd, run.user, run.stop_signal) == ("/data", "0", "SIGTERM")
    assert run.labels == {"maintainer": "x", "tier": "db"}
    assert run.exposed_ports == ("53/udp", "80/tcp", "8080/tcp")


def test_relative_workdir_flag_is_refused_image_one_is_rooted():
    with pytest.raises(SpecError, match="absolute path"):
        merge_run_config(NGINXISH, {"workdir": "rel"})
    assert merge_run_config(ImageConfig(cmd=("sh",), working_dir="app"), {}).cwd == "/app"
    assert merge_run_config(ImageConfig(cmd=("sh",)), {}).cwd == "/"


def test_healthcheck_disable_and_override():
    assert merge_run_config(NGINXISH, {"no_healthcheck": True}).healthcheck is None
    none = ImageConfig(cmd=("sh",), healthcheck={"Test": ["NONE"]})
    assert merge_run_config(none, {}).healthcheck is None
    run = merge_run_config(NGINXISH, {"healthcheck": {"Retries": 7}})
    assert run.healthcheck["Retries"] == 7 and run.healthcheck["Test"][0] == "CMD"


def test_shell_string_cmd_of_old_images():
    config = ImageConfig.from_json({"config": {"Cmd": "echo hi"}})
    assert merge_run_config(config, {}).args == ("/bin/sh", "-c", "echo hi")


def test_config_round_trip():
    again = ImageConfig.from_json({"config": NGINXISH.to_json_section(),
                                   "architecture": "amd64", "os": "linux"},
                                  image_id=NGINXISH.image_id)
    assert again == NGINXISH


def test_merge_env_rejects_empty_key():
    with pytest.raises(SpecError):
        merge_env([], ["=x"])
