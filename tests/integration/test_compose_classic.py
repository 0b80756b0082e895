"""The two classic compose files, run end to end with locally built images,
and the same files with a learner's mistake: file, line, reason, nothing created."""

import os
import re

from compose_helpers import (PROJECTS, compose, copy_project, free_port,  # noqa: F401
                             free_subnet, http_get, needs_tini, resources)
from conftest import needs_busybox, needs_root
from run_helpers import wait_for

pytestmark = [needs_root, needs_busybox, needs_tini]
CLASSIC_WEB = os.path.join(PROJECTS, "classic-web")
CLASSIC_WEBDB = os.path.join(PROJECTS, "classic-webdb")


def web_ports():
    """8080 and 8082 as in the file when both are free here, else two free ones."""
    from compose_helpers import socket
    chosen = []
    for wanted in (8080, 8082):
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", wanted))
                chosen.append(wanted)
            except OSError:
                chosen.append(free_port())
    return chosen


def test_two_web_servers_on_a_chosen_subnet_restart_always(mc, compose):  # noqa: F811
    port1, port2 = web_ports()
    subnet = free_subnet(compose.data_root)
    project = compose(CLASSIC_WEB, "mctest-classic",
                      {"WEB1_PORT": str(port1), "WEB2_PORT": str(port2),
                       "WEB_SUBNET": subnet, "PREFIX": "mctest-classic"})
    up = project.ok("up", "-d")
    assert "`version` is obsolete" in up.stderr
    assert http_get(f"http://127.0.0.1:{port1}/") == "served by web1\n"
    assert http_get(f"http://127.0.0.1:{port2}/") == "served by web2\n"
    # Both on the one network, in the chosen subnet, reaching each other by name.
    seen = project.ok("exec", "-T", "web1", "sh", "-c",
                      "wget -q -O - http://web2/; ip -o -4 addr show eth0").stdout
    assert "served by web2" in seen
    assert re.search(r"inet " + re.escape(subnet.rsplit(".", 1)[0]) + r"\.\d+/24", seen)
    # restart: always: the server dies (killed from outside), it comes back.
    info = project.mc("inspect", "mctest-classic-web1")
    import json
    state = json.loads(info.stdout)[0]
    assert state["HostConfig"]["RestartPolicy"]["Name"] == "always"
    os.kill(state["State"]["Pid"], 9)
    wait_for(lambda: json.loads(project.mc("inspect", "mctest-classic-web1").stdout)[0]
             ["RestartCount"] >= 1, what="web1 restarted")
    assert wait_for(lambda: http_get(f"http://127.0.0.1:{port1}/"),
                    what="web1 serving again") == "served by web1\n"
    project.ok("down", "-v", "--rmi", "local")
    networks, volumes, images, containers = resources(project)
    assert not networks and not volumes and not containers


def test_web_application_and_database(mc, compose):  # noqa: F811
    port = free_port()
    project = compose(CLASSIC_WEBDB, "mctest-webdb", {"WEB_PORT": str(port),
                                                      "DB_USER": "mctest-user"})
    up = project.ok("up", "-d")
    # depends_on: the database is started before the application.
    assert up.stderr.index("mctest-webdb-db-1  Started") < up.stderr.index(
        "mctest-webdb-web-1  Created")
    assert "Network mctest-webdb_default  Created" in up.stderr
    page = wait_for(lambda: http_get(f"http://127.0.0.1:{port}/cgi-bin/app.cgi"))
    assert "database appdb on db: created for user=mctest-user" in page
    assert "starts: 1" in page
    env = project.ok("exec", "-T", "db", "env").stdout.split("\n")
    assert "DB_PASSWORD=secret" in env and "DB_NAME=appdb" in env
    # The database's files live in the named volume: they survive down and up.
    project.ok("down")
    assert "mctest-webdb_db_data" in resources(project)[1]
    project.ok("up", "-d")
    page = wait_for(lambda: http_get(f"http://127.0.0.1:{port}/cgi-bin/app.cgi"))
    assert "created for user=mctest-user" in page and "starts: 2" in page
    assert "db: initialised" not in project.ok("logs", "db").stdout
    project.ok("down", "-v")
    assert "mctest-webdb_db_data" not in resources(project)[1]


def _line_of(path, text):
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            if text in line:
                return number
    raise AssertionError(f"{text!r} not in {path}")


def test_learners_subnet_mistake_fails_with_file_line_reason_creating_nothing(
        mc, compose, tmp_path):  # noqa: F811
    directory = copy_project("classic-web", tmp_path)
    path = os.path.join(directory, "compose.yaml")
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:  # the typo of a learner: 268 for 168, and a host address
        handle.write(text.replace("${WEB_SUBNET:-192.168.100.0/24}", "192.268.100.1/24"))
    project = compose(directory, "mctest-mistake", {"WEB1_PORT": str(free_port()),
                                                    "WEB2_PORT": str(free_port())})
    before = resources(project)
    result = project("up", "-d")
    line = _line_of(path, "192.268.100.1/24")
    assert result.returncode != 0
    assert (f"compose.yaml:{line}: networks.webnet.ipam.config[0].subnet: invalid subnet "
            "'192.268.100.1/24'") in result.stderr
    assert "268" in result.stderr.split("invalid subnet")[1]
    assert len(result.stderr.strip().splitlines()) == 2  # the version warning, the error
    assert "Built" not in result.stderr and "Created" not in result.stderr
    assert resources(project) == before


def test_learners_mistakes_in_the_web_and_database_file(mc, compose, tmp_path):  # noqa: F811
    directory = copy_project("classic-webdb", tmp_path)
    path = os.path.join(directory, "compose.yaml")
    with open(path) as handle:
        original = handle.read()
    mistakes = [
        (original.replace("      - db\n", "      - database\n"), "      - database",
         "services.web.depends_on: depends on undefined service 'database'"),
        (original.replace("db_data:/var/lib/db", "dbdata:/var/lib/db"), "dbdata:/var/lib/db",
         "services.db.volumes[0]: refers to undefined volume 'dbdata'"),
        (original.replace('"127.0.0.1:${WEB_PORT:-8000}:80"', '"127.0.0.1:8000:80:80"'),
         "8000:80:80", "services.web.ports[0]: invalid port '127.0.0.1:8000:80:80'"),
        (original.replace("    environment:\n      DB_HOST", "    environment:\n     DB_HOST"),
         "     DB_HOST", "YAML syntax error"),
    ]
    project = compose(directory, "mctest-mistake2", {"WEB_PORT": str(free_port())})
    before = resources(project)
    for text, marker, reason in mistakes:
        with open(path, "w") as handle:
            handle.write(text)
        result = project("up", "-d")
        assert result.returncode != 0
        message = result.stderr.strip().splitlines()[-1]
        assert re.match(r"minicontainer compose: compose\.yaml:(\d+): ", message), message
        line = int(re.match(r"minicontainer compose: compose\.yaml:(\d+): ", message).group(1))
        assert marker in text.splitlines()[line - 1] or reason == "YAML syntax error", message
        assert reason in message
        assert resources(project) == before


def test_a_host_port_in_use_fails_before_anything_is_created(mc, compose):  # noqa: F811
    import socket
    with socket.socket() as listener:  # another program on this machine holds the port
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        project = compose(CLASSIC_WEB, "mctest-busy",
                          {"WEB1_PORT": str(free_port()), "WEB2_PORT": str(busy),
                           "WEB_SUBNET": free_subnet(compose.data_root),
                           "PREFIX": "mctest-busy"})
        project.ok("build")  # images may exist; nothing else may be made
        before = resources(project)
        result = project("up", "-d")
    line = _line_of(os.path.join(CLASSIC_WEB, "compose.yaml"), "${WEB2_PORT:-8082}:80")
    assert result.returncode == 1
    assert (f"compose.yaml:{line}: services.web2.ports[0]: host port {busy}/tcp is in use by "
            "another program on this machine") in result.stderr
    assert resources(project) == before
