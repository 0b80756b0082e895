"""Bridge networking as containers see it: addresses, names, published ports, isolation.

Every container here gets ``--dns 127.0.0.1``: if a name were ever looked up
in DNS, the query would go to the container's own loopback and nowhere else.
"""

import os
import random
import subprocess
import urllib.request

import pytest

from run_helpers import wait_for
from conftest import needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox]
NO_DNS = ("--dns", "127.0.0.1")


@pytest.fixture
def network(mc):
    """A user-defined network with its own subnet, removed afterwards."""
    name = f"mctest-net{random.randrange(10**6)}"
    subnet = f"10.{random.randrange(200, 250)}.{random.randrange(0, 250)}.0/24"
    created = mc("network", "create", "--subnet", subnet, name)
    assert created.returncode == 0, created.stderr
    yield name, subnet
    removed = mc("network", "rm", name)
    assert removed.returncode == 0, removed.stderr


@pytest.fixture
def server(mc):
    """Start a web server container in the background: server(name, *flags)."""
    started = []

    def start(name, *flags):
        script = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
        proc = subprocess.Popen(mc.argv + ["run", "--rm", "--init", "--name", name, *NO_DNS,
                                           *flags, "busybox", "sh", "-c", script], env=mc.env)
        started.append(proc)
        wait_for(lambda: proc.poll() is None and _ip_of(mc, name))
        return _ip_of(mc, name)
    yield start
    for proc in started:
        proc.terminate()  # forwarded to tini, which ends httpd
        proc.wait(timeout=30)


def test_default_bridge_gives_eth0_an_address_and_a_route(mc):
    result = mc("run", "--rm", *NO_DNS, "busybox", "sh", "-c",
                "ip -o -4 addr show eth0; ip route; cat /sys/class/net/eth0/address")
    assert result.returncode == 0, result.stderr
    addr_line, default_route = result.stdout.splitlines()[:2]
    address = addr_line.split()[3]
    assert address.endswith("/16")
    gateway = default_route.split()[2]
    assert default_route.startswith("default via") and gateway.endswith(".1")
    mac = result.stdout.splitlines()[-1]
    assert mac.startswith("02:42:")  # derived from the address, as Docker does


def test_containers_on_one_network_reach_each_other_by_name(mc, network, server):
    name, subnet = network
    ip = server("mctest-web", "--network", name)
    assert ip.startswith(subnet.rsplit(".", 1)[0])
    client = mc("run", "--rm", *NO_DNS, "--network", name, "busybox", "sh", "-c",
                "grep mctest-web /etc/hosts; wget -q -O - http://mctest-web/")
    assert client.returncode == 0, client.stderr
    assert ip in client.stdout
    assert len(client.stdout.splitlines()[-1]) == 12  # the server's hostname, served to us


def test_containers_on_different_networks_are_isolated(mc, network, server):
    name, _ = network
    ip = server("mctest-island", "--network", name)
    other = mc("run", "--rm", *NO_DNS, "busybox", "sh", "-c",
               f"wget -q -T 2 -O - http://{ip}/ || echo unreachable")
    assert "unreachable" in other.stdout


def test_published_port_is_reachable_through_localhost(mc, server):
    port = random.randrange(20000, 30000)
    server("mctest-pub", "-p", f"127.0.0.1:{port}:80")
    body = wait_for(lambda: _http_get(f"http://127.0.0.1:{port}/"))
    assert len(body.strip()) == 12


def test_a_port_is_published_only_once(mc, server):
    port = random.randrange(30000, 40000)
    server("mctest-first", "-p", f"{port}:80")
    second = mc("run", "--rm", *NO_DNS, "-p", f"{port}:80", "busybox", "true")
    assert second.returncode == 125
    assert f"port {port}/tcp is already published" in second.stderr


def test_network_container_shares_another_containers_stack(mc, server):
    ip = server("mctest-shared")
    joined = mc("run", "--rm", "--network", "container:mctest-shared", "busybox", "sh", "-c",
                "ip -o -4 addr show eth0; wget -q -O - http://127.0.0.1/")
    assert joined.returncode == 0, joined.stderr
    assert ip in joined.stdout


def test_veth_is_removed_with_the_container(mc):
    before = set(os.listdir("/sys/class/net"))
    assert mc("run", "--rm", *NO_DNS, "busybox", "true").returncode == 0
    # The supervisor detaches just after the run returns: give it a moment.
    wait_for(lambda: not {n for n in set(os.listdir("/sys/class/net")) - before
                           if not n.endswith("br0")}, timeout=10)


def test_bad_network_flags_are_refused(mc):
    cases = [(["--network", "mctest-nosuch"], "not found"),
             (["-p", "notaport"], "notaport"),
             (["--network", "none", "-p", "8080:80"], "published ports are discarded")]
    for flags, message in cases:
        result = mc("run", "--rm", *flags, "busybox", "true")
        assert result.returncode == 125, flags
        assert message in result.stderr, result.stderr


def _ip_of(mc, name):
    import json
    link = os.path.join(mc.state_root, "names", name)
    try:
        cid = os.readlink(link)
        with open(os.path.join(mc.state_root, "containers", cid, "state.json")) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    network = state.get("network")
    return network["ip"] if network else (state.get("status") == "running" and "shared")


def _http_get(url):
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
        with opener.open(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def test_connect_and_disconnect_a_running_container(mc, network):
    name, subnet = network
    started = mc("run", "-d", "--name", "mctest-conn", *NO_DNS, "busybox", "sleep", "60")
    assert started.returncode == 0, started.stderr
    connected = mc("network", "connect", name, "mctest-conn")
    assert connected.returncode == 0, connected.stderr
    shown = mc("exec", "mctest-conn", "ip", "-o", "-4", "addr", "show", "eth1")
    assert subnet.rsplit(".", 1)[0] in shown.stdout, shown.stdout + shown.stderr
    assert mc("network", "disconnect", name, "mctest-conn").returncode == 0
    gone = mc("exec", "mctest-conn", "ip", "-o", "link", "show", "eth1")
    assert gone.returncode != 0
    assert mc("rm", "-f", "mctest-conn").returncode == 0


def test_a_connected_network_comes_back_after_a_restart(mc, network):
    # As in Docker, `network connect` changes the container's configuration:
    # a restart attaches eth1 again; after `disconnect` a restart does not.
    name, subnet = network
    started = mc("run", "-d", "--name", "mctest-reconn", *NO_DNS, "busybox", "sleep", "60")
    assert started.returncode == 0, started.stderr
    assert mc("network", "connect", name, "mctest-reconn").returncode == 0
    assert mc("restart", "-t", "1", "mctest-reconn").returncode == 0
    shown = mc("exec", "mctest-reconn", "ip", "-o", "-4", "addr", "show", "eth1")
    assert subnet.rsplit(".", 1)[0] in shown.stdout, shown.stdout + shown.stderr
    assert mc("network", "disconnect", name, "mctest-reconn").returncode == 0
    assert mc("restart", "-t", "1", "mctest-reconn").returncode == 0
    assert mc("exec", "mctest-reconn", "ip", "-o", "link", "show", "eth1").returncode != 0
    assert mc("exec", "mctest-reconn", "ip", "-o", "link", "show", "eth0").returncode == 0
    assert mc("rm", "-f", "mctest-reconn").returncode == 0
