import ipaddress
import multiprocessing
import os

import pytest

from minicontainer.errors import Conflict, SpecError
from minicontainer.network import ipam


def test_gateway_is_first_host_and_checked():
    assert ipam.default_gateway("10.1.0.0/24") == "10.1.0.1"
    assert ipam.check_gateway("10.1.0.0/24", "10.1.0.254") == "10.1.0.254"
    for bad in ("10.2.0.1", "10.1.0.0", "10.1.0.255", "nope"):
        with pytest.raises(SpecError):
            ipam.check_gateway("10.1.0.0/24", bad)


def test_bad_subnets_are_refused():
    for bad in ("10.1.0.1/24", "10.1.0.0/31", "300.0.0.0/8", "fd00::/64", "x"):
        with pytest.raises(SpecError):
            ipam.network(bad)


def test_subnet_choice_skips_taken_and_routes():
    assert ipam.choose_subnet([], routes=[]) == "172.17.0.0/16"
    routes = [ipaddress.IPv4Network("172.17.5.0/24")]
    assert ipam.choose_subnet(["172.18.0.0/16"], routes=routes) == "172.19.0.0/16"
    everything = [ipaddress.IPv4Network("172.16.0.0/12"), ipaddress.IPv4Network("192.168.0.0/16")]
    with pytest.raises(Conflict):
        ipam.choose_subnet([], routes=everything)


def test_host_routes_parses_proc_format(tmp_path):
    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "br1\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n")
    assert ipam.host_routes(path=str(table)) == [ipaddress.IPv4Network("192.0.2.0/24"),
                                                 ipaddress.IPv4Network("172.17.0.0/16")]
    assert ipam.host_routes(exclude=("br1",), path=str(table)) == [
        ipaddress.IPv4Network("192.0.2.0/24")]


def test_allocate_release_lookup(tmp_path):
    d = str(tmp_path)
    a = ipam.allocate(d, "a", "10.9.0.0/29", "10.9.0.1")
    b = ipam.allocate(d, "b", "10.9.0.0/29", "10.9.0.1")
    assert (a, b) == ("10.9.0.2", "10.9.0.3")
    assert ipam.allocate(d, "a", "10.9.0.0/29", "10.9.0.1") == a  # same container, same lease
    assert ipam.lookup(d, "b") == b
    assert ipam.release(d, "a") == a and ipam.release(d, "a") is None
    # round robin: the address just released is not handed out next
    assert ipam.allocate(d, "c", "10.9.0.0/29", "10.9.0.1") == "10.9.0.4"
    assert ipam.leases(d) == {b: "b", "10.9.0.4": "c"}


def test_pool_exhaustion_and_wraparound(tmp_path):
    d = str(tmp_path)
    got = [ipam.allocate(d, f"c{i}", "10.9.0.0/29", "10.9.0.1") for i in range(5)]
    assert got == [f"10.9.0.{n}" for n in range(2, 7)]
    with pytest.raises(Conflict):
        ipam.allocate(d, "c9", "10.9.0.0/29", "10.9.0.1")
    ipam.release(d, "c1")
    assert ipam.allocate(d, "c9", "10.9.0.0/29", "10.9.0.1") == "10.9.0.3"


def test_static_requests_checked(tmp_path):
    d = str(tmp_path)
    assert ipam.allocate(d, "a", "10.9.0.0/24", "10.9.0.1", "10.9.0.50") == "10.9.0.50"
    with pytest.raises(Conflict) as info:
        ipam.allocate(d, "b", "10.9.0.0/24", "10.9.0.1", "10.9.0.50")
    assert "container a" in str(info.value)
    for bad in ("10.8.0.5", "10.9.0.1", "10.9.0.255", "10.9.0.0", "junk"):
        with pytest.raises(SpecError):
            ipam.allocate(d, "b", "10.9.0.0/24", "10.9.0.1", bad)
    assert ipam.leases(d) == {"10.9.0.50": "a"}


def _allocate_one(net_dir, index, barrier, results):
    barrier.wait()  # all 50 ask at the same moment
    results.put((index, ipam.allocate(net_dir, f"container{index}", "10.77.0.0/24", "10.77.0.1")))


def test_fifty_concurrent_processes_get_distinct_addresses(tmp_path):
    # 50 separate processes (not threads) released together: flock must serialise them.
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(50), ctx.Queue()
    workers = [ctx.Process(target=_allocate_one, args=(str(tmp_path), i, barrier, results))
               for i in range(50)]
    for worker in workers:
        worker.start()
    got = dict(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert len(set(got.values())) == 50
    assert ipam.leases(str(tmp_path)) == {ip: f"container{i}" for i, ip in got.items()}
    assert "10.77.0.1" not in got.values()
    assert not any(name.startswith("leases.json.tmp") for name in os.listdir(tmp_path))
