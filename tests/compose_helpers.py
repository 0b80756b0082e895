"""Running ``minicontainer compose`` on the test projects under tests/compose/."""

import ipaddress
import json
import os
import shutil
import socket
import urllib.request

import pytest

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compose")
needs_tini = pytest.mark.skipif(not os.path.exists("/usr/bin/tini-static"),
                                reason="machine lacks tini-static (init: true)")


def free_port():
    """A TCP port nothing listens on now (the kernel's choice, on 127.0.0.1)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_subnet(data_root, avoid=()):
    """A /24 in 10.231-239.x.0 that no host route and no network of ours uses."""
    from minicontainer.network import ipam, store
    taken = [ipaddress.IPv4Network(n["subnet"]) for n in store.networks(data_root)]
    taken += [ipaddress.IPv4Network(route) for route in ipam.host_routes()]
    taken += [ipaddress.IPv4Network(a) for a in avoid]
    for second in range(231, 240):
        for third in range(1, 255):
            candidate = ipaddress.IPv4Network(f"10.{second}.{third}.0/24")
            if not any(candidate.overlaps(other) for other in taken):
                return str(candidate)
    raise AssertionError("no free 10.231-239.x.0/24 subnet on this machine")


def http_get(url, timeout=5):
    """The body of ``url`` (only ever 127.0.0.1 here), or None if nothing answers."""
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
        with opener.open(url, timeout=timeout) as response:
            return response.read().decode()
    except OSError:
        return None


class Compose:
    """``minicontainer compose -f FILE -p PROJECT ...`` with a fixed environment."""

    def __init__(self, mc, directory, project, env=None, files=()):
        self.mc_plain, self.directory, self.project = mc, directory, project
        self.env = dict(env or {})
        self.files = list(files)

    def mc(self, *args, env=None, **kwargs):
        """Any other minicontainer command, on the same roots."""
        return self.mc_plain(*args, env={**self.env, **(env or {})}, **kwargs)

    def __call__(self, *args, timeout=180, env=None, **kwargs):
        flags = [part for f in self.files for part in ("-f", f)]
        return self.mc_plain("compose", *flags, "-p", self.project, *args, timeout=timeout,
                             cwd=self.directory, env={**self.env, **(env or {})}, **kwargs)

    def ok(self, *args, **kwargs):
        result = self(*args, **kwargs)
        assert result.returncode == 0, result.stderr
        return result

    def ps(self, *args):
        return json.loads(self.ok("ps", "--format", "json", *args).stdout)

    def ids(self):
        return {row["Service"]: row["ID"] for row in self.ps("-a")}


def copy_project(name, destination):
    """A copy of tests/compose/NAME (to edit, e.g. to put a mistake in it)."""
    target = os.path.join(str(destination), name)
    shutil.copytree(os.path.join(PROJECTS, name), target)
    return target


# Our own data root and network prefix: the suite's shared prefix names one
# nftables table, which another test session running at the same time would
# rewrite with its own ports.
NET_PREFIX = "mctestc"


@pytest.fixture
def compose(mc):
    """compose(directory, project, env) -> Compose; everything is taken down afterwards."""
    import subprocess
    import sys
    import tempfile
    root = tempfile.mkdtemp(prefix="mctest-compose-data-")
    os.chmod(root, 0o711)
    roots = {"MINICONTAINER_DATA_ROOT": root, "MINICONTAINER_NET_PREFIX": NET_PREFIX}
    made = []

    def make(directory, project, env=None, files=()):
        runner = Compose(mc, directory, project, {**roots, **(env or {})}, files)
        made.append(runner)
        return runner
    make.data_root = root
    make.env = roots
    try:
        yield make
    finally:
        for runner in made:
            runner("down", "-v", "--rmi", "local", "-t", "0", "--remove-orphans")
        # Containers a failed test left: removed on these roots before the state
        # root's own check (which would look in the suite's data root).
        for line in mc("ps", "-a", "-q", env=roots).stdout.split():
            mc("rm", "-f", line, env=roots)
        if os.path.exists(os.path.join(root, "networks")):
            subprocess.run([sys.executable, "-c", "import sys; from minicontainer.network "
                            "import manage; manage.reset(sys.argv[1])", root], check=False,
                           env={**os.environ, **roots})
        shutil.rmtree(root, ignore_errors=True)


def resources(runner):
    """(network names, volume names, image names, container names) on a runner's roots."""
    from minicontainer.network import store
    from minicontainer.volumes import list_volumes
    root = runner.env["MINICONTAINER_DATA_ROOT"]
    networks = {n["name"] for n in store.networks(root)}
    volumes = {v["Name"] for v in list_volumes(root)}
    images = set(runner.mc("images", "--format", "{{.Repository}}").stdout.split())
    containers = set(runner.mc("ps", "-a", "--format", "json").stdout.split("\n")) - {""}
    return networks, volumes, images, containers
