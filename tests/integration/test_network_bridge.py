"""Networking against the real kernel: namespaces, veth, bridges, nftables.

Every "container" is a process in fresh namespaces (tests/network_helpers.py);
all traffic stays between namespaces on this machine.
"""

import os
import shutil
import subprocess

import pytest

from minicontainer.errors import Conflict, NotFound, SpecError
from minicontainer.spec import NetworkOptions

from network_helpers import OUTSIDE_HOST_IP, FakeContainer, Outside, connect_from_host

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="machine lacks root (run as root)"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("nft", "unshare", "nsenter", "ping")),
                       reason="machine lacks nft/unshare/nsenter/ping (apt nftables iputils-ping)"),
]
pyroute2 = pytest.importorskip("pyroute2", reason="machine lacks pyroute2 (pip install pyroute2)")


def links():
    """This file's devices (prefix mctest), not those of other suites' prefixes
    (mctestr..., mctesti..., which share the "mctest" start for the leak check)."""
    return {n for n in os.listdir("/sys/class/net")
            if n.startswith(("mctestbr", "mctestv", "mctestoh"))}


def nft_tables():
    """The names of the nftables tables, one per line."""
    listing = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {line.split()[-1] for line in listing.splitlines() if line.strip()}


@pytest.fixture
def net(tmp_path):
    """A private data root (prefix mctest) that is fully torn down afterwards."""
    from minicontainer import network
    from minicontainer.network import manage

    class Net:
        root = str(tmp_path / "data")
        made = []

        def container(self, name):
            fake = FakeContainer(str(tmp_path), name)
            self.made.append(fake)
            return fake

        def attach(self, fake, network_name="bridge", **options):
            return network.attach(self.root, fake.name * 4, fake.pid, network_name,
                                  NetworkOptions(**options), name=fake.name,
                                  hostname=fake.name, hosts_file=fake.hosts_file,
                                  prefix="mctest")

        def detach(self, fake, record=None):
            network.detach(self.root, fake.name * 4, record)

        def create(self, name, **kwargs):
            return manage.create(self.root, name, prefix="mctest", **kwargs)

    before_forward = open("/proc/sys/net/ipv4/ip_forward").read()
    n = Net()
    yield n
    from minicontainer.network import store
    for fake in n.made:
        fake.stop()
    for definition in store.networks(n.root):  # whatever a failed test left attached
        for endpoint in store.endpoints(n.root, definition["id"]):
            network.detach(n.root, endpoint["container_id"], None)
    manage.reset(n.root)
    assert not links(), f"links left behind: {links()}"
    assert "mctest" not in nft_tables()
    assert open("/proc/sys/net/ipv4/ip_forward").read() == before_forward


def test_default_network_eth0_gateway_and_clean_detach(net):
    from minicontainer.network import ipam, manage, store

    box = net.container("alpha")
    record = net.attach(box)
    assert record["network"] == "bridge" and record["bridge"] == "mctestbr0"
    assert record["interface"] == "eth0"
    ip = record["ip"]
    octets = [int(x) for x in ip.split(".")]
    assert record["mac"] == "02:42:" + ":".join(f"{x:02x}" for x in octets)
    shown = box.run("ip", "-o", "-4", "addr", "show", "eth0").stdout
    assert f"{ip}/{record['prefixlen']}" in shown
    link = box.run("ip", "-o", "link", "show", "eth0").stdout
    assert record["mac"] in link and "mtu 1500" in link
    assert f"default via {record['gateway']} dev eth0" in box.run("ip", "route").stdout
    assert "UP" in box.run("ip", "-o", "link", "show", "lo").stdout
    assert box.ping(record["gateway"])
    assert os.path.exists(f"/sys/class/net/{record['veth']}/master")
    # the subnet does not collide with any other route of the host
    others = ipam.host_routes(exclude=("mctestbr0",))
    assert ipam.overlapping(store.find(net.root, "bridge")["subnet"], others) is None
    assert "mctest" in nft_tables()

    net.detach(box, record)
    net.detach(box, record)  # idempotent
    assert not os.path.exists(f"/sys/class/net/{record['veth']}")
    assert "eth0" not in box.run("ip", "-o", "link").stdout
    assert ipam.leases(store.network_dir(net.root, record["network_id"])) == {}
    # the default network stays (like docker0) until reset
    assert links() == {"mctestbr0"}
    manage.reset(net.root)
    assert not links() and "mctest" not in nft_tables()


def test_same_network_by_name_and_alias_other_network_isolated(net):
    net.create("front")
    net.create("back")
    one, two, three = net.container("one"), net.container("two"), net.container("three")
    r1 = net.attach(one, "front")
    two.serve(7000, word="two-tcp")
    two.serve(7001, proto="udp", word="two-udp")
    r2 = net.attach(two, "front", aliases=("db",))  # joins after one: one still learns it
    r3 = net.attach(three, "back")
    assert r1["bridge"] != r3["bridge"]

    assert one.resolve("two") == r2["ip"] and one.resolve("db") == r2["ip"]
    assert two.resolve("one") == r1["ip"]
    assert one.ping("two")
    assert one.connect("two", 7000) == f"two-tcp {r1['ip']}"
    assert one.connect("db", 7001, "udp") == f"two-udp {r1['ip']}"
    # another network: no name, no route through the host
    assert three.resolve("two") == "unresolved"
    assert not three.ping(r2["ip"])
    assert three.connect(r2["ip"], 7000) is None

    net.detach(two, r2)
    assert one.resolve("two") == "unresolved" and one.resolve("db") == "unresolved"
    assert "two" not in open(one.hosts_file).read()


def test_published_ports_from_outside_host_and_loopback(net):
    box = net.container("web")
    box.serve(7000, word="tcp-hello")
    box.serve(7001, proto="udp", word="udp-hello")
    record = net.attach(box, ports=("18080:7000", "18081:7001/udp", "127.0.0.1:18082:7000"))
    assert [(p["host_port"], p["proto"]) for p in record["ports"]] == [
        (18080, "tcp"), (18081, "udp"), (18082, "tcp")]
    subnet = f"{record['gateway'].rsplit('.', 1)[0]}.0/{record['prefixlen']}"
    outside = Outside(routes=[subnet])
    try:
        # another host, through the host's address on its link: DNAT in prerouting
        assert outside.connect(OUTSIDE_HOST_IP, 18080) == "tcp-hello 198.18.77.2"
        assert outside.connect(OUTSIDE_HOST_IP, 18081, "udp") == "udp-hello 198.18.77.2"
        # only published ports: the container itself is not reachable directly
        assert outside.connect(record["ip"], 7000) is None
        # bound to 127.0.0.1 only: not offered on other addresses
        assert outside.connect(OUTSIDE_HOST_IP, 18082) is None
    finally:
        outside.stop()
    # the host itself: through its own address and through 127.0.0.1 (output chain)
    assert connect_from_host(record["gateway"], 18080) is not None
    assert connect_from_host("127.0.0.1", 18080) == f"tcp-hello {record['gateway']}"
    assert connect_from_host("127.0.0.1", 18082).startswith("tcp-hello")
    assert connect_from_host("127.0.0.1", 18081, "udp").startswith("udp-hello")

    net.detach(box, record)
    assert "dport 18080" not in subprocess.run(["nft", "list", "table", "inet", "mctest"],
                                               capture_output=True, text=True).stdout
    assert connect_from_host("127.0.0.1", 18080) is None


def test_port_conflict_refused_creating_nothing(net):
    first, second = net.container("first"), net.container("second")
    net.attach(first, ports=("18090:80",))
    with pytest.raises(Conflict) as info:
        net.attach(second, ports=("18090:81",))
    assert str(info.value) == "port 18090/tcp is already published by container first"
    assert "eth0" not in second.run("ip", "-o", "link").stdout
    from minicontainer.network import ipam, store
    default = store.find(net.root, "bridge")
    assert list(ipam.leases(store.network_dir(net.root, default["id"])).values()) == ["first" * 4]


def test_internal_network_has_no_way_out(net):
    net.create("vault", subnet="10.213.5.0/24", internal=True)
    a, b = net.container("a"), net.container("b")
    net.attach(a, "vault")
    rb = net.attach(b, "vault", ip="10.213.5.77")
    assert rb["ip"] == "10.213.5.77"
    assert "default" not in a.run("ip", "route").stdout
    assert a.ping("b")
    outside = Outside(routes=["10.213.5.0/24"])
    try:
        assert not a.ping("198.18.77.2")
        b.serve(7000)
        assert outside.connect("10.213.5.77", 7000) is None
    finally:
        outside.stop()


def test_bad_input_is_refused_creating_nothing(net):
    net.create("taken", subnet="10.213.9.0/24")
    before = links()
    with pytest.raises(Conflict):
        net.create("clash", subnet="10.213.9.128/25")
    with pytest.raises(SpecError):
        net.create("badgw", subnet="10.213.10.0/24", gateway="10.213.11.1")
    box = net.container("lonely")
    with pytest.raises(NotFound):
        net.attach(box, "nosuchnet")
    with pytest.raises(SpecError):
        net.attach(box, "taken", ports=("80:70000",))
    with pytest.raises(SpecError):
        net.attach(box, "taken", ip="10.99.0.5")
    with pytest.raises(SpecError):
        net.attach(box, ip="172.17.0.9")  # --ip only on user-defined networks
    assert links() == before
    assert "eth0" not in box.run("ip", "-o", "link").stdout
    for exc in (Conflict, SpecError, NotFound):
        assert exc("x").exit_code == 125


def test_detach_after_crash_from_store_alone(net):
    from minicontainer.network import ipam, store
    net.create("crashy")
    box = net.container("gone")
    record = net.attach(box, "crashy", ports=("18095:80",))
    box.stop()  # the container died; its netns (and the veth's peer) went with it
    net.detach(box, None)  # no state.json: the store knows
    assert not os.path.exists(f"/sys/class/net/{record['veth']}")
    assert ipam.leases(store.network_dir(net.root, record["network_id"])) == {}
    assert store.endpoints(net.root, record["network_id"]) == []
    assert "18095" not in subprocess.run(["nft", "list", "table", "inet", "mctest"],
                                         capture_output=True, text=True).stdout


def test_steps_are_recorded_for_explain(net):
    from minicontainer.linux import syscalls
    seen = []
    syscalls.set_recorder(lambda op, args, result, seconds, why: seen.append((op, why)))
    try:
        net.attach(net.container("told"))
    finally:
        syscalls.set_recorder(None)
    ops = [op for op, _ in seen]
    for op in ("link add", "addr add", "setns", "link set up", "route add", "nft"):
        assert op in ops
    assert all(why for _, why in seen)


def test_two_networks_give_eth0_and_eth1(net):
    net.create("left")
    net.create("right")
    box, peer = net.container("multi"), net.container("peer")
    r1 = net.attach(box, "left")
    r2 = net.attach(box, "right")
    assert (r1["interface"], r2["interface"]) == ("eth0", "eth1")
    rp = net.attach(peer, "right")
    assert peer.ping("multi") and peer.resolve("multi") == r2["ip"]
    assert box.resolve("peer") == rp["ip"]
    net.detach(box, [r1, r2])
    assert "eth" not in box.run("ip", "-o", "link").stdout


def _attach_in_child(root, index, pid, barrier, results):
    from minicontainer import network
    barrier.wait()
    try:
        record = network.attach(root, f"conc{index}", pid, "crowd", prefix="mctest")
        results.put((index, record["ip"]))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put((index, f"error: {exc}"))


def test_concurrent_attaches_get_distinct_working_addresses(net):
    import multiprocessing
    net.create("crowd", subnet="10.213.40.0/24")
    boxes = [net.container(f"k{i}") for i in range(12)]
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(len(boxes)), ctx.Queue()
    workers = [ctx.Process(target=_attach_in_child,
                           args=(net.root, i, box.pid, barrier, results))
               for i, box in enumerate(boxes)]
    for worker in workers:
        worker.start()
    got = dict(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
    assert not [v for v in got.values() if v.startswith("error")], got
    assert len(set(got.values())) == len(boxes)
    for i, box in enumerate(boxes):
        assert got[i] in box.run("ip", "-o", "-4", "addr", "show", "eth0").stdout
    assert boxes[0].ping(got[len(boxes) - 1])
    for i, box in enumerate(boxes):
        from minicontainer import network
        network.detach(net.root, f"conc{i}", None)


def test_publish_all_picks_free_host_ports(net):
    box = net.container("exposer")
    box.serve(7000, word="exposed")
    from minicontainer import network
    record = network.attach(net.root, "exposer" * 4, box.pid, "bridge",
                            NetworkOptions(publish_all=True), name="exposer",
                            exposed=["7000/tcp"], prefix="mctest")
    (mapping,) = record["ports"]
    assert mapping["container_port"] == 7000 and mapping["host_port"] >= 1024
    assert connect_from_host("127.0.0.1", mapping["host_port"]).startswith("exposed")


def test_network_ls_inspect_rm_prune(net):
    from minicontainer.network import manage
    created = net.create("keep", subnet="10.213.60.0/24", gateway="10.213.60.254")
    net.create("spare")
    assert os.path.exists(f"/sys/class/net/{created['bridge']}")
    box = net.container("user")
    record = net.attach(box, "keep")
    assert box.ping("10.213.60.254")
    info = manage.inspect(net.root, "keep")
    assert info["gateway"] == "10.213.60.254"
    assert info["containers"]["user" * 4]["ip"] == record["ip"]
    assert [n["name"] for n in manage.ls(net.root)] == ["keep", "spare"]
    with pytest.raises(Conflict):
        manage.remove(net.root, "keep")  # still in use
    assert manage.prune(net.root) == ["spare"]
    net.detach(box, record)
    manage.remove(net.root, created["id"][:12])
    assert not links()
    assert "mctest" not in nft_tables()  # the last network took the table with it
