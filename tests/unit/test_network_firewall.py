"""The nft JSON document: checked as data (no root, no nft needed)."""

from minicontainer.network import firewall

NETS = [{"name": "web", "bridge": "mcbr-aaa", "subnet": "10.1.0.0/24", "internal": False},
        {"name": "db", "bridge": "mcbr-bbb", "subnet": "10.2.0.0/24", "internal": True}]
PORTS = [("10.1.0.2", {"host_ip": "", "host_port": 8080, "container_port": 80, "proto": "tcp"}),
         ("10.1.0.3", {"host_ip": "127.0.0.1", "host_port": 5353, "container_port": 53,
                       "proto": "udp"})]


def _commands(doc):
    assert doc["nftables"][0] == {"metainfo": {"json_schema_version": 1}}
    return doc["nftables"][1:]


def _rules(doc, chain):
    return [c["add"]["rule"]["expr"] for c in _commands(doc)
            if "rule" in c.get("add", {}) and c["add"]["rule"]["chain"] == chain]


def _has(expr, key, right=None, op="=="):
    for item in expr:
        match = item.get("match")
        if match and match["left"].get("meta", {}).get("key") == key and match["op"] == op:
            if right is None or match["right"] == right:
                return True
    return False


def test_table_replaced_in_one_transaction_and_only_ours():
    cmds = _commands(firewall.ruleset("minicontainer", NETS, PORTS))
    ident = {"family": "inet", "name": "minicontainer"}
    assert cmds[:3] == [{"add": {"table": ident}}, {"delete": {"table": ident}},
                        {"add": {"table": ident}}]
    for cmd in cmds:
        (verb, body), = cmd.items()
        (kind, obj), = body.items()
        assert obj["family"] == "inet"
        assert obj.get("table", obj.get("name")) == "minicontainer"


def test_base_chains_hooks_and_priorities():
    chains = {c["add"]["chain"]["name"]: c["add"]["chain"]
              for c in _commands(firewall.ruleset("t", NETS, PORTS)) if "chain" in c.get("add", {})}
    assert (chains["forward"]["type"], chains["forward"]["hook"], chains["forward"]["prio"]) == \
        ("filter", "forward", 0)
    assert chains["postrouting"]["prio"] == 100 and chains["prerouting"]["prio"] == -100
    assert chains["output"]["hook"] == "output" and "hook" not in chains["published"]


def test_masquerade_only_for_non_internal_subnets():
    post = _rules(firewall.ruleset("t", NETS, PORTS), "postrouting")
    outbound = [r for r in post if _has(r, "oifname", op="!=")]
    assert len(outbound) == 1
    assert outbound[0][0]["match"]["right"] == {"prefix": {"addr": "10.1.0.0", "len": 24}}
    assert outbound[0][-1] == {"masquerade": None}
    loopback = [r for r in post if any(m.get("match", {}).get("right") ==
                                       {"prefix": {"addr": "127.0.0.0", "len": 8}} for m in r)]
    assert len(loopback) == 2  # one per bridge, for 127.0.0.1-published ports


def test_isolation_and_internal():
    fwd = _rules(firewall.ruleset("t", NETS, PORTS), "forward")
    isolate = [r for r in fwd if _has(r, "iifname", "mcbr-aaa") and _has(r, "oifname", "mcbr-bbb")]
    assert isolate and isolate[0][-1] == {"drop": None}
    internal_out = [r for r in fwd if _has(r, "iifname", "mcbr-bbb") and len(r) == 2]
    assert internal_out == [[{"match": {"op": "==", "left": {"meta": {"key": "iifname"}},
                                        "right": "mcbr-bbb"}}, {"drop": None}]]
    # within one bridge comes first, so same-network traffic always passes
    assert _has(fwd[0], "iifname", "mcbr-aaa") and _has(fwd[0], "oifname", "mcbr-aaa")
    assert fwd[0][-1] == {"accept": None}


def test_dnat_per_published_port():
    pub = _rules(firewall.ruleset("t", NETS, PORTS), "published")
    assert pub[0][-1] == {"dnat": {"family": "ip", "addr": "10.1.0.2", "port": 80}}
    assert {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                      "right": 8080}} in pub[0]
    assert {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                      "right": "127.0.0.1"}} in pub[1]
    assert pub[1][-2]["match"]["left"]["payload"]["protocol"] == "udp"
    for chain in ("prerouting", "output"):
        (rule,) = _rules(firewall.ruleset("t", NETS, PORTS), chain)
        assert rule[0]["match"]["left"] == {"fib": {"result": "type", "flags": ["daddr"]}}
        assert rule[-1] == {"jump": {"target": "published"}}


def test_removal_is_idempotent_document():
    ident = {"family": "inet", "name": "x"}
    assert firewall.removal("x") == {"nftables": [{"add": {"table": ident}},
                                                  {"delete": {"table": ident}}]}
