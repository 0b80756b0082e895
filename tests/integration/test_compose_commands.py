"""compose commands on small projects written by the test: attached up, one-shot
dependencies, up SERVICE, run, network_mode and the default network."""

import textwrap

from compose_helpers import compose, needs_tini, resources  # noqa: F401
from conftest import needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox, needs_tini]

ONE_SHOT = """\
    services:
      migrate:
        image: busybox
        command: sh -c 'echo migrated > /data/m && echo migrate-done && exit ${MIGRATE_EXIT:-0}'
        volumes: [vol:/data]
      app:
        image: busybox
        depends_on:
          migrate:
            condition: service_completed_successfully
        command: ["sh", "-c", "cat /data/m; echo app-done"]
        volumes: [vol:/data]
      side:
        image: busybox
        init: true
        network_mode: "service:app"
        profiles: [extra]
    volumes:
      vol: {}
    """


def write(tmp_path, text):
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(text))
    return str(tmp_path)


def test_attached_up_waits_for_a_completed_dependency_and_prints_logs(compose, tmp_path):  # noqa: F811
    project = compose(write(tmp_path, ONE_SHOT), "mctest-once")
    up = project.ok("up")  # attached: follows the output until every container has exited
    assert "Container mctest-once-migrate-1  Exited" in up.stderr
    assert up.stderr.index("migrate-1  Exited") < up.stderr.index("app-1  Created")
    lines = up.stdout.splitlines()
    assert "mctest-once-migrate-1  | migrate-done" in lines
    assert "mctest-once-app-1      | migrated" in lines
    assert "mctest-once-app-1      | app-done" in lines
    states = {row["Service"]: (row["State"], row["ExitCode"]) for row in project.ps("-a")}
    assert states == {"migrate": ("exited", 0), "app": ("exited", 0)}
    assert project.ok("logs", "--no-log-prefix", "app").stdout == "migrated\napp-done\n"


def test_a_failed_one_shot_dependency_stops_up(compose, tmp_path):  # noqa: F811
    project = compose(write(tmp_path, ONE_SHOT), "mctest-fail", {"MIGRATE_EXIT": "3"})
    result = project("up", "-d")
    assert result.returncode == 1
    assert ("minicontainer compose: service mctest-fail-migrate-1 didn't complete "
            "successfully: exit 3") in result.stderr
    assert {row["Service"] for row in project.ps("-a")} == {"migrate"}


def test_up_one_service_starts_its_dependencies_only(compose, tmp_path):  # noqa: F811
    text = """\
        services:
          db:
            image: busybox
            init: true
            command: sleep 600
          web:
            image: busybox
            init: true
            command: sleep 600
            depends_on: [db]
          other:
            image: busybox
            command: sleep 600
        """
    project = compose(write(tmp_path, text), "mctest-partial")
    project.ok("up", "-d", "web")
    assert {row["Service"] for row in project.ps()} == {"db", "web"}
    # the default network: PROJECT_default, names resolve
    out = project.ok("exec", "-T", "web", "sh", "-c", "ping -c 1 -W 5 db >/dev/null && "
                     "echo ok; hostname").stdout
    assert out.startswith("ok\n")
    assert "mctest-partial_default" in project.mc("network", "ls").stdout
    # run: a one-off container on the project's network, removed afterwards
    run = project.ok("run", "--rm", "-T", "--no-deps", "-e", "X=1", "other", "sh", "-c",
                     "echo $X; ping -c 1 -W 5 web >/dev/null && echo reached")
    assert run.stdout == "1\nreached\n"
    piped = project.ok("run", "--rm", "-T", "--no-deps", "other", "tr", "a-z", "A-Z",
                       input="through stdin\n")
    assert piped.stdout == "THROUGH STDIN\n"
    # exec -T takes stdin too
    piped = project.ok("exec", "-T", "web", "wc", "-l", input="1\n2\n3\n")
    assert piped.stdout.strip() == "3"
    assert {row["Service"] for row in project.ps("-a")} == {"db", "web"}
    down = project.ok("down", "-t", "0")
    assert "Network mctest-partial_default  Removed" in down.stderr


def test_network_mode_service_shares_the_network_namespace(compose, tmp_path):  # noqa: F811
    text = """\
        services:
          app:
            image: busybox
            init: true
            command: httpd -f -p 8000 -h /etc
          side:
            image: busybox
            init: true
            network_mode: "service:app"
            command: sleep 600
        """
    project = compose(write(tmp_path, text), "mctest-netmode")
    project.ok("up", "-d")
    out = project.ok("exec", "-T", "side", "wget", "-q", "-O", "-",
                     "http://127.0.0.1:8000/hostname").stdout
    app_hostname = project.ok("exec", "-T", "app", "hostname").stdout
    assert out == app_hostname


def test_a_missing_image_fails_at_its_line_creating_nothing(compose, tmp_path):  # noqa: F811
    text = """\
        services:
          db:
            image: busybox
          web:
            image: mctest-no-such-image
            depends_on: [db]
        """
    project = compose(write(tmp_path, text), "mctest-noimage")
    before = resources(project)
    result = project("up", "-d")
    assert result.returncode == 1
    assert "compose.yaml:5: services.web.image: " in result.stderr
    assert "mctest-no-such-image" in result.stderr
    networks, volumes, _images, containers = resources(project)
    assert (networks, volumes, containers) == (before[0], before[1], before[3])



TWO_NETWORKS = """\
    services:
      box:
        image: busybox
        command: ["sh", "-c", "ip -o link show eth1 >/dev/null && echo has-eth1 || echo no-eth1; sleep 1; exit 1"]
        networks: [front, back]
        restart: always
    networks:
      front: {}
      back: {}
    """


def test_a_service_on_two_networks_keeps_both_when_restarted_by_its_policy(compose, tmp_path):  # noqa: F811
    # The supervisor restarts the container (restart: always) with no help from
    # compose: the second network must come back from the container's own config.
    import time
    project = compose(write(tmp_path, TWO_NETWORKS), "mctest-twonet")
    project.ok("up", "-d")
    deadline = time.monotonic() + 30
    lines = []
    while time.monotonic() < deadline and len(lines) < 3:
        time.sleep(0.5)
        lines = project.ok("logs", "--no-log-prefix", "box").stdout.split()
    assert lines[:3] == ["has-eth1"] * 3, lines
    project.ok("down", "-t", "1")
