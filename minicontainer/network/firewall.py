"""nftables rules for minicontainer networks, one table, one transaction.

The whole table ``inet <name>`` is computed from the stored networks and
published ports and loaded with ``nft -j -f -`` as a single transaction
(add table, delete table, add table and everything in it), as netavark does:
the kernel swaps old rules for new ones atomically, so there is never a
moment with half a ruleset, and nothing outside our table is ever touched.

Chains (priorities as Docker/netavark use them):

* ``forward`` (filter): traffic within one bridge passes; an ``--internal``
  network's traffic never leaves its bridge; different minicontainer bridges
  are isolated; into a bridge only replies and DNATed (published) traffic
  may go; out of a bridge everything else may go.
* ``postrouting`` (srcnat): masquerade each non-internal subnet leaving by
  another interface; masquerade 127.0.0.0/8 going into a bridge (published
  ports reached through 127.0.0.1) and hairpin traffic (a container reaching
  its own network through a published port).
* ``prerouting`` / ``output`` (dstnat): packets to a local address jump to
  ``published``, which DNATs each published port to its container.

``ruleset`` is pure (unit-tested); ``apply``/``remove`` run ``nft``.
"""

import json
import subprocess

from ..errors import SetupError
from ..linux import netlog

FAMILY = "inet"


def _meta(key, value, op="=="):
    return {"match": {"op": op, "left": {"meta": {"key": key}}, "right": value}}


def _names(names):
    names = sorted(names)
    return names[0] if len(names) == 1 else {"set": names}


def _addr(field, cidr):
    addr, _, length = cidr.partition("/")
    right = {"prefix": {"addr": addr, "len": int(length)}} if length else addr
    return {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": field}},
                      "right": right}}


def _ct(key, values):
    return {"match": {"op": "in", "left": {"ct": {"key": key}}, "right": values}}


def _rule(table, chain, *expr, comment=None):
    rule = {"family": FAMILY, "table": table, "chain": chain, "expr": list(expr)}
    if comment:
        rule["comment"] = comment
    return {"add": {"rule": rule}}


def _chain(table, name, kind=None, hook=None, prio=None):
    chain = {"family": FAMILY, "table": table, "name": name}
    if kind:
        chain.update(type=kind, hook=hook, prio=prio, policy="accept")
    return {"add": {"chain": chain}}


ACCEPT, DROP, MASQUERADE = {"accept": None}, {"drop": None}, {"masquerade": None}


def ruleset(table, networks, published):
    """The nft JSON document that replaces our table.

    ``networks``: definitions (dicts with bridge, subnet, internal).
    ``published``: (container_ip, mapping dict) pairs, each mapping with
    host_ip ("" = any), host_port, container_port, proto.
    """
    ident = {"family": FAMILY, "name": table}
    cmds = [{"add": {"table": ident}}, {"delete": {"table": ident}}, {"add": {"table": ident}},
            _chain(table, "forward", "filter", "forward", 0),
            _chain(table, "postrouting", "nat", "postrouting", 100),
            _chain(table, "prerouting", "nat", "prerouting", -100),
            _chain(table, "output", "nat", "output", -100),
            _chain(table, "published")]
    bridges = [n["bridge"] for n in networks]
    for net in networks:
        cmds += _forward_rules(table, net, [b for b in bridges if b != net["bridge"]])
        cmds += _postrouting_rules(table, net)
    local = {"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}},
                       "right": "local"}}
    for chain in ("prerouting", "output"):
        cmds.append(_rule(table, chain, local, {"jump": {"target": "published"}}))
    for container_ip, mapping in published:
        cmds.append(_dnat_rule(table, container_ip, mapping))
    return {"nftables": [{"metainfo": {"json_schema_version": 1}}] + cmds}


def _forward_rules(table, net, other_bridges):
    bridge = net["bridge"]
    rules = [_rule(table, "forward", _meta("iifname", bridge), _meta("oifname", bridge), ACCEPT,
                   comment=f"within network {net['name']}")]
    if net.get("internal"):
        rules += [_rule(table, "forward", _meta("iifname", bridge), DROP,
                        comment=f"internal network {net['name']} has no outside route"),
                  _rule(table, "forward", _meta("oifname", bridge), DROP)]
        return rules
    if other_bridges:
        rules.append(_rule(table, "forward", _meta("iifname", bridge),
                           _meta("oifname", _names(other_bridges)), DROP,
                           comment="isolate minicontainer networks from each other"))
    rules += [
        _rule(table, "forward", _meta("oifname", bridge), _ct("state", ["established", "related"]),
              ACCEPT),
        _rule(table, "forward", _meta("oifname", bridge), _ct("status", "dnat"), ACCEPT,
              comment="published ports"),
        _rule(table, "forward", _meta("oifname", bridge), DROP,
              comment="nothing else enters containers unasked"),
        _rule(table, "forward", _meta("iifname", bridge), ACCEPT),
    ]
    return rules


def _postrouting_rules(table, net):
    bridge = net["bridge"]
    rules = [_rule(table, "postrouting", _meta("oifname", bridge), _addr("saddr", "127.0.0.0/8"),
                   MASQUERADE, comment="published ports reached through 127.0.0.1"),
             _rule(table, "postrouting", _meta("iifname", bridge), _meta("oifname", bridge),
                   _ct("status", "dnat"), MASQUERADE, comment="hairpin")]
    if not net.get("internal"):
        rules.append(_rule(table, "postrouting", _addr("saddr", net["subnet"]),
                           _meta("oifname", bridge, "!="), MASQUERADE,
                           comment=f"outbound NAT for {net['name']}"))
    return rules


def _dnat_rule(table, container_ip, mapping):
    expr = [_meta("nfproto", "ipv4")]
    if mapping.get("host_ip"):
        expr.append(_addr("daddr", mapping["host_ip"]))
    expr.append({"match": {"op": "==",
                           "left": {"payload": {"protocol": mapping["proto"], "field": "dport"}},
                           "right": int(mapping["host_port"])}})
    expr.append({"dnat": {"family": "ip", "addr": container_ip,
                          "port": int(mapping["container_port"])}})
    return _rule(table, "published", *expr)


def removal(table):
    """The nft JSON that deletes our table whether or not it exists."""
    ident = {"family": FAMILY, "name": table}
    return {"nftables": [{"add": {"table": ident}}, {"delete": {"table": ident}}]}


def apply(document, why):
    """Load a JSON document with ``nft -j -f -`` (one transaction)."""
    text = json.dumps(document)
    summary = f"{len(document['nftables'])} commands"
    netlog.step("nft", ("-j", "-f", "-", summary), why, _run_nft, text)


def _run_nft(text):
    """Run the document through libnftables in-process, else the nft command.

    libnftables is what ``nft`` itself is built on; calling it through
    ctypes saves starting a process (~15-25 ms here on every published port).
    """
    library = _libnftables()
    if library is not None:
        return _run_library(library, text)
    try:
        done = subprocess.run(["nft", "-j", "-f", "-"], input=text, capture_output=True,
                              text=True)
    except FileNotFoundError:
        raise SetupError("nftables is missing (install the nftables package)", op="nft") from None
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise SetupError(f"nft refused the ruleset: {message}", op="nft")


_NFT_CTX_OUTPUT_JSON = 1 << 4  # JSON output also makes the parser accept JSON input
_library = False


def _libnftables():
    global _library
    if _library is False:
        import ctypes
        try:
            lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
        except OSError:
            lib = None
        else:
            lib.nft_ctx_new.restype = ctypes.c_void_p
            lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
            lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
            lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
            lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
            lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        _library = lib
    return _library


def _run_library(lib, text):
    ctx = lib.nft_ctx_new(0)
    if not ctx:
        raise SetupError("libnftables could not create a context", op="nft")
    try:
        lib.nft_ctx_output_set_flags(ctx, _NFT_CTX_OUTPUT_JSON)
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        if lib.nft_run_cmd_from_buffer(ctx, text.encode()) != 0:
            error = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
            message = (error.strip().splitlines() or ["failed"])[-1]
            raise SetupError(f"nft refused the ruleset: {message}", op="nft")
    finally:
        lib.nft_ctx_free(ctx)
