"""The compose project is checked whole: errors name file, line and path; services map to specs."""

import textwrap

import pytest

from minicontainer.compose import plan
from minicontainer.compose.loader import ComposeError
from minicontainer.compose.model import load_project, normalise_name
from minicontainer.compose.specs import service_spec


def project(tmp_path, text, name="mctestproj", environ=None, **kwargs):
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(text))
    warnings = []
    result = load_project(cwd=str(tmp_path), project=name, environ=environ or {},
                          warn=warnings.append, **kwargs)
    result.warnings = warnings
    return result


def error_of(tmp_path, text, **kwargs):
    with pytest.raises(ComposeError) as info:
        project(tmp_path, text, **kwargs)
    return str(info.value)


def test_learners_subnet_mistake_names_file_line_and_reason(tmp_path):
    message = error_of(tmp_path, """\
        services:
          web:
            image: busybox
            networks: [mynet]
        networks:
          mynet:
            ipam:
              config:
                - subnet: 192.268.100.1/24
        """)
    assert message.startswith("compose.yaml:9: networks.mynet.ipam.config[0].subnet: "
                              "invalid subnet '192.268.100.1/24'")
    assert "268" in message


@pytest.mark.parametrize("text, expected", [
    ("services:\n  web:\n    image: busybox\n    ports:\n      - '80:80:80:80'\n",
     "compose.yaml:5: services.web.ports[0]: invalid port '80:80:80:80': too many ':'"),
    ("services:\n  web:\n    image: busybox\n    ports: ['70000:80']\n",
     "compose.yaml:4: services.web.ports[0]: invalid port '70000:80': host port 70000 is out"),
    ("services:\n  web:\n    image: busybox\n    depends_on: [db]\n",
     "compose.yaml:4: services.web.depends_on: depends on undefined service 'db'"),
    ("services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n"
     "    depends_on:\n      a:\n        condition: service_started\n",
     "services.b.depends_on: dependency cycle: a -> b -> a"),
    ("services:\n  web:\n    image: busybox\n    volumes: ['data:/data']\n",
     "compose.yaml:4: services.web.volumes[0]: refers to undefined volume 'data'"),
    ("services:\n  web:\n    image: busybox\n    networks: [back]\n",
     "compose.yaml:4: services.web.networks: refers to undefined network 'back'"),
    ("services:\n  web:\n    build: ./nowhere\n",
     "compose.yaml:3: services.web.build.context: build context"),
    ("services:\n  web: {}\n", "compose.yaml:2: services.web: has neither an image nor a build"),
    ("services:\n  web:\n    image: busybox\n    restart: sometimes\n",
     "compose.yaml:4: services.web.restart: invalid restart policy 'sometimes'"),
    ("services:\n  web:\n    image: busybox\n    healthcheck:\n      interval: soon\n",
     "compose.yaml:5: services.web.healthcheck.interval: invalid duration 'soon'"),
    ("services:\n  web:\n    image: busybox\n    mem_limit: lots\n",
     "compose.yaml:4: services.web.mem_limit: invalid value 'lots' for --memory"),
    ("services:\n  web:\n    image: busybox\n    cap_add: [NOT_A_CAP]\n",
     "compose.yaml:4: services.web.cap_add: "),
    ("services:\n  web:\n    image: busybox\n    depends_on:\n      db:\n"
     "        condition: service_ready\n  db:\n    image: busybox\n",
     "compose.yaml:6: services.web.depends_on.db.condition: invalid condition 'service_ready'"),
    ("services:\n  web:\n    image: busybox\n    networks:\n      n:\n"
     "        ipv4_address: 10.5.0.300\nnetworks:\n  n: {}\n",
     "compose.yaml:6: services.web.networks.n.ipv4_address: invalid IPv4 address"),
    ("services:\n  web:\n    image: busybox\n    networks:\n      n:\n"
     "        ipv4_address: 10.6.0.3\nnetworks:\n  n:\n    ipam:\n      config:\n"
     "        - subnet: 10.5.0.0/24\n",
     "compose.yaml:5: services.web.networks.n.ipv4_address: 10.6.0.3 is not in the network"),
    ("services:\n  web:\n    image: busybox\nnetworks:\n  n:\n    driver: overlay\n",
     "compose.yaml:6: networks.n.driver: driver 'overlay' is not supported"),
    ("services:\n  web:\n    image: ${IMAGE:?choose an image}\n",
     "compose.yaml:3: services.web.image: required variable IMAGE is missing a value: "
     "choose an image"),
    ("services:\n  web:\n    image: busybox\n    volumes: ['data:relative']\n",
     "compose.yaml:4: services.web.volumes[0]: invalid volume specification"),
    ("services: []\n", "compose.yaml:1: services: no services defined"),
])
def test_mistakes_name_file_line_and_path(tmp_path, text, expected):
    assert expected in error_of(tmp_path, text)


def test_unknown_keys_and_version_are_warnings(tmp_path):
    result = project(tmp_path, """\
        version: "3.9"
        services:
          web:
            image: busybox
            colour: blue
        networks:
          front:
            flavour: x
        """)
    assert any("`version` is obsolete" in w for w in result.warnings)
    assert "compose.yaml:5: services.web.colour: unknown key, ignored" in result.warnings


def test_names_follow_docker_compose(tmp_path):
    result = project(tmp_path, """\
        services:
          web:
            image: busybox
            networks: [front, default]
          db:
            image: busybox
            container_name: mctest-the-db
            volumes: [data:/var/lib/db, ext:/ext]
        networks:
          front:
            ipam: {config: [{subnet: 10.77.0.0/24, gateway: 10.77.0.254}]}
        volumes:
          data:
          ext:
            external: true
        """, name="My_App")
    assert result.name == "my_app"
    assert result.networks["front"]["name"] == "my_app_front"
    assert result.networks["front"]["gateway"] == "10.77.0.254"
    assert result.networks["default"]["name"] == "my_app_default"
    assert result.volumes["data"]["name"] == "my_app_data"
    assert result.volumes["ext"] == {"name": "ext", "external": True}
    spec, extra = service_spec(result, result.services["web"])
    assert spec.name == "my_app-web-1" and spec.network == "my_app_front"
    assert spec.network_options.aliases == ("web",)
    assert [name for name, _options in extra] == ["my_app_default"]
    db, _ = service_spec(result, result.services["db"])
    assert db.name == "mctest-the-db"
    assert [(m.type, m.source, m.target) for m in db.mounts] == [
        ("volume", "my_app_data", "/var/lib/db"), ("volume", "ext", "/ext")]


def test_project_name_rules():
    assert normalise_name("My Project.2") == "myproject2"
    with pytest.raises(ComposeError, match="invalid project name"):
        normalise_name("...")


def test_project_name_from_environment_and_file(tmp_path):
    (tmp_path / "compose.yaml").write_text("name: fromfile\nservices:\n  a:\n    image: x\n")
    assert load_project(cwd=str(tmp_path), environ={}).name == "fromfile"
    assert load_project(cwd=str(tmp_path),
                        environ={"COMPOSE_PROJECT_NAME": "fromenv"}).name == "fromenv"
    assert load_project(cwd=str(tmp_path), project="flag", environ={}).name == "flag"


def test_dotenv_and_environment_feed_interpolation(tmp_path):
    (tmp_path / ".env").write_text("PORT=18123\nTAG=1.0\n")
    result = project(tmp_path, """\
        services:
          web:
            image: "busybox:${TAG}"
            ports: ["127.0.0.1:${PORT}:80"]
            environment:
              - FROM_SHELL
              - PLAIN=$${NOT_SUBSTITUTED}
        """, environ={"TAG": "latest", "FROM_SHELL": "yes"})
    web = result.services["web"]
    assert web["image"] == "busybox:latest"  # the shell wins over .env
    assert web["ports"] == ["127.0.0.1:18123:80"]
    assert web["environment"] == {"FROM_SHELL": "yes", "PLAIN": "${NOT_SUBSTITUTED}"}


def test_service_options_become_run_flags(tmp_path):
    result = project(tmp_path, """\
        services:
          db:
            image: busybox
            command: sh -c 'echo "hi there"'
            entrypoint: ["/bin/env", "-u", "X"]
            environment: {A: 1, B: true}
            restart: on-failure:3
            mem_limit: 64m
            pids_limit: 50
            cap_drop: [NET_RAW]
            read_only: true
            init: true
            user: "1000:1000"
            working_dir: /tmp
            stop_signal: SIGINT
            stop_grace_period: 1m30s
            ulimits:
              nofile: {soft: 100, hard: 200}
            labels: [tier=db]
            tmpfs: /run
            deploy:
              resources:
                limits: {cpus: "0.5"}
            healthcheck:
              test: ["CMD-SHELL", "true"]
              interval: 2s
              retries: 5
        """)
    spec, _ = service_spec(result, result.services["db"])
    assert spec.args == ("sh", "-c", 'echo "hi there"')
    assert spec.entrypoint == ["/bin/env", "-u", "X"]
    assert spec.env == ("A=1", "B=true")
    assert spec.restart == "on-failure:3"
    assert spec.resources.memory == 64 << 20 and spec.resources.pids_limit == 50
    assert spec.resources.cpus == 0.5
    assert spec.security.cap_drop == ("NET_RAW",)
    assert spec.security.ulimits == (("nofile", 100, 200),)
    assert spec.readonly_rootfs and spec.init and spec.user == "1000:1000"
    assert spec.cwd == "/tmp" and spec.stop_signal == "SIGINT" and spec.stop_timeout == 90
    assert spec.healthcheck == {"Test": ["CMD-SHELL", "true"], "Interval": 2 * 10**9,
                                "Retries": 5}
    labels = dict(spec.labels)
    assert labels["tier"] == "db"
    assert labels[plan.LABEL_PROJECT] == "mctestproj" and labels[plan.LABEL_SERVICE] == "db"
    assert labels[plan.LABEL_NUMBER] == "1" and len(labels[plan.LABEL_HASH]) == 64
    assert [m.target for m in spec.mounts if m.type == "tmpfs"] == ["/run"]


def test_config_hash_changes_with_the_service_only(tmp_path):
    text = "services:\n  a:\n    image: busybox\n    environment: [X=1]\n  b:\n    image: busybox\n"
    first = project(tmp_path, text)
    second = project(tmp_path, text.replace("X=1", "X=2"))

    def hashes(p, image="sha256:1"):
        return {name: dict(service_spec(p, s, image_id=image)[0].labels)[plan.LABEL_HASH]
                for name, s in p.services.items()}
    assert hashes(first)["a"] != hashes(second)["a"]
    assert hashes(first)["b"] == hashes(second)["b"]
    assert hashes(first)["b"] != hashes(first, "sha256:2")["b"]  # a rebuilt image recreates


def test_start_order_and_dependencies(tmp_path):
    result = project(tmp_path, """\
        services:
          web:
            image: busybox
            depends_on:
              app: {condition: service_healthy}
          app:
            image: busybox
            depends_on: [db]
          db:
            image: busybox
          side:
            image: busybox
            network_mode: "service:db"
        """)
    order = plan.start_order(result.services)
    assert order.index("db") < order.index("app") < order.index("web")
    assert order.index("db") < order.index("side")
    assert plan.with_dependencies(result.services, ["web"]) == {"web", "app", "db"}
    spec, _ = service_spec(result, result.services["side"])
    assert spec.network == "container:mctestproj-db-1"


def test_profiles_leave_services_out(tmp_path):
    text = "services:\n  a:\n    image: x\n  debug:\n    image: x\n    profiles: [dev]\n"
    assert list(project(tmp_path, text).services) == ["a"]
    assert list(project(tmp_path, text, profiles=("dev",)).services) == ["a", "debug"]


def test_decide():
    running = {"status": "running", "spec": {"labels": [[plan.LABEL_HASH, "h"]]}}
    stopped = {"status": "exited", "spec": {"labels": [[plan.LABEL_HASH, "h"]]}}
    assert plan.decide(None, "h") == "create"
    assert plan.decide(running, "h") == "keep"
    assert plan.decide(stopped, "h") == "start"
    assert plan.decide(running, "other") == "recreate"
    assert plan.decide(running, "h", force=True) == "recreate"
    assert plan.decide(running, "other", no_recreate=True) == "keep"


def test_config_renders_the_resolved_project(tmp_path):
    import yaml
    from minicontainer.compose.render import document, render
    result = project(tmp_path, """\
        services:
          web:
            image: busybox
            ports: ["127.0.0.1:8080:80"]
            environment: [A=1]
            volumes: [data:/d:ro]
        volumes:
          data: {}
        """)
    doc = document(result)
    assert doc["services"]["web"]["ports"] == [{"mode": "ingress", "target": 80,
                                               "protocol": "tcp", "host_ip": "127.0.0.1",
                                               "published": "8080"}]
    assert doc["services"]["web"]["volumes"][0]["read_only"] is True
    assert doc["volumes"]["data"] == {"name": "mctestproj_data"}
    assert yaml.safe_load(render(result)) == doc


def test_two_services_cannot_publish_the_same_host_port_or_name(tmp_path):
    message = error_of(tmp_path, """\
        services:
          a:
            image: busybox
            ports: ["8080:80"]
          b:
            image: busybox
            ports: ["81", "8080:81"]
        """)
    assert message == ("compose.yaml:7: services.b.ports[1]: host port 8080/tcp is already "
                       "published by service 'a'")
    # different host addresses may share a port number
    project(tmp_path, "services:\n  a:\n    image: x\n    ports: ['127.0.0.1:80:80']\n"
                      "  b:\n    image: x\n    ports: ['127.0.0.2:80:80']\n")
    message = error_of(tmp_path, "services:\n  a:\n    image: x\n    container_name: same\n"
                                 "  b:\n    image: x\n    container_name: same\n")
    assert message.startswith("compose.yaml:7: services.b.container_name: 'same' is already")


def test_unknown_keys_in_sections_warn(tmp_path):
    result = project(tmp_path, """\
        services:
          a:
            image: x
            healthcheck:
              test: "true"
              intervall: 3s
        secrets:
          s: {file: ./x}
        """)
    assert "compose.yaml:6: services.a.healthcheck.intervall: unknown key, ignored" in \
        result.warnings
    assert "compose.yaml:7: secrets: not supported, ignored" in result.warnings


def test_project_name_from_dotenv(tmp_path):
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=Dotenv_Name\n")
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: x\n")
    assert load_project(cwd=str(tmp_path), environ={}).name == "dotenv_name"


def test_env_file_flag_and_service_env_files(tmp_path):
    (tmp_path / "other.env").write_text("TAG=from-env-file\n")
    (tmp_path / "app.env").write_text("A=from-app-env\nB=from-app-env\n")
    result = project(tmp_path, """\
        services:
          a:
            image: "busybox:${TAG:-none}"
            env_file: [app.env, {path: missing.env, required: false}]
            environment: {B: overridden}
        """, env_file=str(tmp_path / "other.env"))
    assert result.services["a"]["image"] == "busybox:from-env-file"
    assert result.services["a"]["environment"] == {"A": "from-app-env", "B": "overridden"}
    message = error_of(tmp_path, "services:\n  a:\n    image: x\n    env_file: nothere.env\n")
    assert message.startswith("compose.yaml:4: services.a.env_file: ") and "not found" in message


def test_unknown_service_names_on_the_command_line(tmp_path):
    from minicontainer.compose.views import Views
    ops = Views(project(tmp_path, "services:\n  a:\n    image: x\n"))
    for call in (lambda: ops.up(["nope"]), lambda: ops.stop(["nope"]),
                 lambda: ops.logs(["nope"]), lambda: ops.ps_rows(["nope"])):
        with pytest.raises(ComposeError, match="no such service: nope"):
            call()
