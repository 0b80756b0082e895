import pytest

from minicontainer.errors import Conflict, SpecError
from minicontainer.network import ports
from minicontainer.network.ports import Mapping


def test_single_forms():
    assert ports.parse("8080:80") == [Mapping("", 8080, 80, "tcp")]
    assert ports.parse("127.0.0.1:8080:80/udp") == [Mapping("127.0.0.1", 8080, 80, "udp")]
    assert ports.parse("80") == [Mapping("", None, 80, "tcp")]
    assert ports.parse("127.0.0.1::53/UDP") == [Mapping("127.0.0.1", None, 53, "udp")]


def test_ranges_expand_pairwise():
    assert ports.parse("8080-8082:80-82") == [Mapping("", 8080 + i, 80 + i) for i in range(3)]
    assert ports.parse("80-81") == [Mapping("", None, 80), Mapping("", None, 81)]


def test_host_range_for_one_port_chooses_within_it():
    (mapping,) = ports.parse("9000-9010:80")
    assert mapping.host_range == (9000, 9010) and mapping.host_port is None
    taken = [(Mapping("", 9000, 1), "other")]
    (chosen,) = ports.assign_host_ports([mapping], taken, is_free=lambda p, proto: p != 9001)
    assert chosen.host_port == 9002


@pytest.mark.parametrize("bad", ["", "abc", "0:80", "80:70000", "1:2:3:4", "8080-8081:80-82",
                                 "90-80:80", "80/sctp", "[::1]:80:80", "999.1.1.1:80:80",
                                 ":80:80", "80:"])
def test_malformed_specs_are_refused_in_one_line(bad):
    with pytest.raises(SpecError) as info:
        ports.parse(bad)
    assert "\n" not in str(info.value) and "port spec" in str(info.value)


def test_conflicts_name_the_owner():
    published = [(Mapping("", 8080, 80), "web")]
    with pytest.raises(Conflict) as info:
        ports.check_conflicts(ports.parse("8080:81"), published)
    assert str(info.value) == "port 8080/tcp is already published by container web"
    # other protocol, or disjoint specific addresses: no clash
    ports.check_conflicts(ports.parse("8080:80/udp"), published)
    only_lo = [(Mapping("127.0.0.1", 8080, 80), "lo")]
    ports.check_conflicts(ports.parse("127.0.0.2:8080:80"), only_lo)
    with pytest.raises(Conflict):
        ports.check_conflicts(ports.parse("8080:80"), only_lo)


def test_exposed_ports_for_publish_all():
    assert ports.exposed(["80/tcp", 53, "53/udp"]) == [
        Mapping("", None, 80), Mapping("", None, 53), Mapping("", None, 53, "udp")]


def test_assign_skips_published_and_busy_ports():
    wanted = [Mapping("", None, 80, "tcp", (40000, 40009)), Mapping("", None, 81, "tcp", (40000, 40009)),
              Mapping("", 40005, 82)]
    taken = [(Mapping("", 40000, 1), "x")]
    got = ports.assign_host_ports(wanted, taken, is_free=lambda p, proto: p != 40001)
    assert [m.host_port for m in got] == [40002, 40003, 40005]
    (chosen,) = ports.assign_host_ports(ports.parse("80"), [], is_free=lambda p, proto: True)
    assert chosen.host_port == ports.ephemeral_range()[0]


def test_dict_round_trip():
    mapping = Mapping("127.0.0.1", 1, 2, "udp")
    assert ports.parse_all([mapping.as_dict(), "3:4"]) == [mapping, Mapping("", 3, 4)]
