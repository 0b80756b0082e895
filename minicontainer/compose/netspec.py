"""A service's ``ports:`` and ``networks:``, checked and in the runtime's terms."""

from ..errors import SpecError
from .loader import Map, Seq, error


def service_ports(check):
    """``ports:`` as ``-p`` strings (short syntax kept, long syntax rewritten)."""
    from ..network.ports import parse
    value = check.node.get("ports")
    if value is None:
        return []
    if not isinstance(value, Seq):
        check.fail("ports", "must be a list")
    result = []
    for index, item in enumerate(value):
        where, path = value.where(index), f"{check.path}.ports[{index}]"
        if isinstance(item, Map):
            text = _long_port(item, where, path)
        elif isinstance(item, (str, int)) and not isinstance(item, bool):
            text = str(item)
        else:
            raise error(where, path, "must be a port spec string or a mapping")
        try:
            parse(text)
        except SpecError as exc:
            raise error(where, path, _without_prefix(str(exc), text)) from None
        result.append(text)
    return result


def _without_prefix(message, text):
    """ports.parse says "invalid port spec 'x': reason"; keep that wording."""
    return message.replace(f"invalid port spec {text!r}", f"invalid port {text!r}")


def _long_port(node, where, path):
    target = node.get("target")
    if target is None:
        raise error(where, path, "a port mapping needs a target (the container port)")
    published = node.get("published")
    host_ip = node.get("host_ip") or ""
    protocol = node.get("protocol") or "tcp"
    mode = node.get("mode") or "ingress"
    if mode not in ("ingress", "host"):
        raise error(node.where("mode"), f"{path}.mode", f"invalid mode {mode!r}")
    if published is None:
        text = f"{host_ip}::{target}" if host_ip else f"{target}"
    else:
        text = f"{host_ip + ':' if host_ip else ''}{published}:{target}"
    return f"{text}/{protocol}"


def service_networks(check, network_mode):
    """{network key: {"aliases": [...], "ipv4_address": str|None}}; {} with network_mode."""
    value = check.node.get("networks")
    if network_mode is not None:
        if value is not None:
            check.fail("networks", "cannot be used together with network_mode")
        mode = network_mode
        if mode not in ("none", "host", "bridge") and not mode.startswith(
                ("service:", "container:")):
            check.fail("network_mode", f"invalid network_mode {mode!r}: use none, host, bridge, "
                                       "service:NAME or container:NAME")
        return {}
    if value is None:
        return {"default": {"aliases": [], "ipv4_address": None}}
    if isinstance(value, Seq):
        return {name: {"aliases": [], "ipv4_address": None} for name in check.strings("networks")}
    if not isinstance(value, Map):
        check.fail("networks", "must be a list or a mapping")
    import ipaddress
    result = {}
    for name, options in value.items():
        options = options if options is not None else Map()
        path, where = f"{check.path}.networks.{name}", value.where(name)
        if not isinstance(options, Map):
            raise error(where, path, "must be a mapping")
        aliases = options.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise error(options.where("aliases"), f"{path}.aliases", "must be a list of names")
        address = options.get("ipv4_address")
        if address is not None:
            try:
                address = str(ipaddress.IPv4Address(str(address)))
            except ValueError:
                raise error(options.where("ipv4_address"), f"{path}.ipv4_address",
                            f"invalid IPv4 address {address!r}") from None
        result[name] = {"aliases": list(aliases), "ipv4_address": address}
    return result
