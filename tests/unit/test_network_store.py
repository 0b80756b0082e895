import pytest

from minicontainer.errors import Conflict, NotFound, SpecError
from minicontainer.network import resolv, store


def _define(root, name, subnet, **kw):
    definition = store.new_definition(root, name, subnet, prefix="mctest", **kw)
    store.save(root, definition)
    return definition


def test_names_fit_ifnamsiz(tmp_path):
    d = _define(str(tmp_path), "web", "10.50.0.0/24")
    assert d["bridge"].startswith("mctestbr-") and len(d["bridge"]) == 15
    assert store.bridge_name("mc", "x", default=True) == "mcbr0"
    veth = store.veth_name("mctest", "c" * 64, d["id"])
    assert veth.startswith("mctestv") and len(veth) == 15
    assert store.table_name("mc") == "minicontainer" and store.table_name("mctest") == "mctest"


def test_definition_checks(tmp_path):
    root = str(tmp_path)
    d = _define(root, "web", "10.50.0.0/24", gateway="10.50.0.254", internal=True)
    assert (d["gateway"], d["internal"], d["driver"]) == ("10.50.0.254", True, "bridge")
    assert store.find(root, "web") == d and store.find(root, d["id"][:12]) == d
    with pytest.raises(Conflict):
        _define(root, "web", "10.51.0.0/24")
    with pytest.raises(Conflict) as info:
        _define(root, "other", "10.50.0.128/25")
    assert "overlaps" in str(info.value)
    for args in ((("bad name", "10.52.0.0/24"), {}), (("host", "10.52.0.0/24"), {}),
                 (("x", "10.52.0.0/24"), {"gateway": "10.53.0.1"}),
                 (("x", "10.52.0.1/24"), {}), (("x", "10.52.0.0/24"), {"driver": "macvlan"})):
        with pytest.raises(SpecError):
            _define(root, *args[0], **args[1])
    with pytest.raises(NotFound):
        store.find(root, "nope")
    assert [n["name"] for n in store.networks(root)] == ["web"]


def test_default_subnet_avoids_existing_networks(tmp_path):
    root = str(tmp_path)
    first = _define(root, "a", None)
    second = _define(root, "b", None)
    assert first["subnet"] != second["subnet"]
    assert first["gateway"].endswith(".1")


def test_hosts_entries_by_name_and_alias(tmp_path):
    root = str(tmp_path)
    net = _define(root, "web", "10.50.0.0/24")
    files = {}
    for cid, name, ip, aliases in (("a" * 64, "one", "10.50.0.2", ["db"]),
                                   ("b" * 64, "two", "10.50.0.3", [])):
        files[name] = tmp_path / f"{name}.hosts"
        store.save_endpoint(root, net["id"], {
            "container_id": cid, "name": name, "hostname": cid[:12], "aliases": aliases,
            "ip": ip, "hosts_file": str(files[name]), "add_hosts": ["extra:10.0.0.9"]})
    resolv.rewrite(root, [net["id"]])
    two = files["two"].read_text().splitlines()
    assert two[0].startswith("127.0.0.1\tlocalhost")
    assert f"10.50.0.3\t{'b' * 12} two" in two
    assert "10.50.0.2\tone db" in two and "10.0.0.9\textra" in two
    # the file is rewritten in place: a bind mount of it keeps seeing the news
    inode = files["two"].stat().st_ino
    store.remove_endpoint(root, net["id"], "a" * 64)
    resolv.rewrite(root, [net["id"]])
    assert files["two"].stat().st_ino == inode
    assert "one" not in files["two"].read_text()


def test_default_network_has_no_peer_names(tmp_path):
    net = {"default": True}
    me = {"container_id": "a", "name": "a", "hostname": "h", "ip": "1.1.1.2"}
    peer = {"container_id": "b", "name": "b", "ip": "1.1.1.3"}
    assert resolv.hosts_entries(net, me, [me, peer]) == ["1.1.1.2\th a"]
