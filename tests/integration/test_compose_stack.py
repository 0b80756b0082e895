"""Issue 10's acceptance project: three services built on busybox, a subnet, a volume, a port.

tests/compose/stack: ``web`` (busybox httpd, published on 127.0.0.1 only),
``data`` (appends a line to a named volume at each start) and ``app`` (one
wget of web by service name, no retry, gated by both healthchecks).
"""

import os

from compose_helpers import (PROJECTS, compose, free_port, free_subnet, http_get,  # noqa: F401
                             needs_tini, resources)
from conftest import needs_busybox, needs_root
from run_helpers import wait_for

pytestmark = [needs_root, needs_busybox, needs_tini]
STACK = os.path.join(PROJECTS, "stack")


def stack(mc, compose, project="mctest-stack"):  # noqa: F811
    env = {"WEB_PORT": str(free_port()), "SUBNET": free_subnet(compose.data_root)}
    return compose(STACK, project, env), env


def test_up_in_order_port_names_volume_and_down(mc, compose):  # noqa: F811
    project, env = stack(mc, compose)
    before = resources(project)
    up = project.ok("up", "-d")
    progress = up.stderr
    # Dependents wait for the healthchecks: app is created only after both are healthy.
    assert progress.index("mctest-stack-web-1  Healthy") < progress.index(
        "mctest-stack-app-1  Created")
    assert progress.index("mctest-stack-data-1  Healthy") < progress.index(
        "mctest-stack-app-1  Created")
    assert "Network mctest-stack_appnet  Created" in progress
    rows = {row["Service"]: row for row in project.ps()}
    assert set(rows) == {"web", "data", "app"}
    assert rows["web"]["Health"] == "healthy" and rows["data"]["Health"] == "healthy"
    assert rows["web"]["Publishers"] == [{"URL": "127.0.0.1", "TargetPort": 80,
                                          "PublishedPort": int(env["WEB_PORT"]),
                                          "Protocol": "tcp"}]
    # app's single try, made at its start, found web serving and data's file written.
    logs = wait_for(lambda: "data" in (r := project.ok("logs", "app").stdout) and r)
    assert "app: web said: hello from the web service" in logs
    assert "app: data ready" in logs
    # The published port answers from the host, on 127.0.0.1.
    assert wait_for(lambda: http_get(f"http://127.0.0.1:{env['WEB_PORT']}/"), timeout=10,
                    what="the published port") == "hello from the web service\n"
    # Services reach each other by service name and alias, inside the chosen subnet.
    reach = project.ok("exec", "-T", "app", "sh", "-c",
                       "wget -q -O - http://web/ && wget -q -O - http://www/ && "
                       "ping -c 1 -W 5 data >/dev/null && echo data-answers && "
                       "ip -o -4 addr show eth0")
    assert reach.stdout.count("hello from the web service") == 2
    assert "data-answers" in reach.stdout
    subnet_prefix = env["SUBNET"].rsplit(".", 1)[0] + "."
    assert f"inet {subnet_prefix}" in reach.stdout
    assert project.ok("exec", "-T", "data", "cat", "/data/boots").stdout.count("\n") == 1

    # down removes containers and the network; the named volume stays.
    down = project.ok("down")
    assert "Network mctest-stack_appnet  Removed" in down.stderr
    networks, volumes, images, containers = resources(project)
    assert containers == before[3] and networks == before[0]
    assert "mctest-stack_appdata" in volumes
    # up again: the same volume, a second line in it.
    project.ok("up", "-d")
    assert project.ok("exec", "-T", "data", "cat", "/data/boots").stdout.count("\n") == 2
    # down -v removes the volume; --rmi local the images built for the project.
    project.ok("down", "-v", "--rmi", "local")
    networks, volumes, images, containers = resources(project)
    assert (networks, volumes, containers) == (before[0], before[1], before[3])
    assert not {name for name in images if name.startswith("mctest-stack")}


def test_up_again_changes_only_what_changed(mc, compose, tmp_path):  # noqa: F811
    override = tmp_path / "override.yaml"
    override.write_text("services:\n  app:\n    environment:\n      - MODE=${MODE:-one}\n")
    env = {"WEB_PORT": str(free_port()), "SUBNET": free_subnet(compose.data_root)}
    project = compose(STACK, "mctest-stack2", env,
                      files=(os.path.join(STACK, "compose.yaml"), str(override)))
    project.ok("up", "-d")
    first = project.ids()
    again = project.ok("up", "-d")
    assert project.ids() == first
    assert again.stderr.count("Running") == 3 and "Recreated" not in again.stderr
    # The merged override changes app's environment only: only app is recreated.
    changed = project.ok("up", "-d", env={"MODE": "two"})
    assert "Container mctest-stack2-app-1  Recreated" in changed.stderr
    ids = project.ids()
    assert ids["web"] == first["web"] and ids["data"] == first["data"]
    assert ids["app"] != first["app"]
    assert "MODE=two" in project.ok("exec", "-T", "app", "env").stdout
    # --force-recreate recreates everything.
    project.ok("up", "-d", "--force-recreate", env={"MODE": "two"})
    assert not set(project.ids().values()) & set(ids.values())


def test_stop_start_restart_run_top_and_config(mc, compose):  # noqa: F811
    project, env = stack(mc, compose, "mctest-stack3")
    project.ok("up", "-d")
    top = project.ok("top", "web").stdout
    assert "mctest-stack3-web-1" in top and "httpd" in top
    config = project.ok("config").stdout
    assert f"published: '{env['WEB_PORT']}'" in config and env["SUBNET"] in config
    assert project.ok("config", "--services").stdout.split() == ["web", "data", "app"]
    # A one-off container: no published port, the project's network and names.
    run = project.ok("run", "--rm", "-T", "--no-deps", "app", "wget", "-q", "-O", "-",
                     "http://web/")
    assert run.stdout == "hello from the web service\n"
    assert project("run", "--rm", "-T", "--no-deps", "app", "sh", "-c",
                   "exit 3").returncode == 3
    assert project("exec", "-T", "app", "sh", "-c", "exit 4").returncode == 4
    project.ok("stop")
    assert project.ps() == []
    assert {row["State"] for row in project.ps("-a")} == {"exited"}
    project.ok("start")
    assert {row["State"] for row in project.ps()} == {"running"}
    assert http_get(f"http://127.0.0.1:{env['WEB_PORT']}/") == "hello from the web service\n"
    project.ok("restart", "app")
    assert len(project.ps()) == 3
