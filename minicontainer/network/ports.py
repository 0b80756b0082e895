"""Published ports: Docker's ``-p`` syntax parsed into one mapping per port.

Accepted forms (``/tcp`` is the default protocol, ``/udp`` the other one)::

    80                  container port 80 on a host port chosen at start
    8080:80             host port 8080 on every host address
    127.0.0.1:8080:80   only on that host address
    127.0.0.1::80       that address, host port chosen at start
    8080-8082:80-82     three mappings, pairwise
    8000-8010:80        one mapping, the first free host port of the range

Everything here is pure except ``port_is_free``, which asks the kernel
whether a host port is free by binding it for a moment.
"""

from ..errors import Conflict, SpecError

PROTOCOLS = ("tcp", "udp")


class Mapping:
    """One published port: ``host_ip:host_port -> container_port/proto``.

    ``host_ip`` "" means every host address.  ``host_port`` None means "choose
    at start"; ``host_range`` is then the (first, last) ports to choose from.
    """

    __slots__ = ("host_ip", "host_port", "container_port", "proto", "host_range")

    def __init__(self, host_ip, host_port, container_port, proto="tcp", host_range=None):
        self.host_ip = host_ip
        self.host_port = host_port
        self.container_port = container_port
        self.proto = proto
        self.host_range = host_range

    def as_dict(self):
        return {"host_ip": self.host_ip, "host_port": self.host_port,
                "container_port": self.container_port, "proto": self.proto}

    @classmethod
    def from_dict(cls, data):
        return cls(data.get("host_ip", ""), data.get("host_port"),
                   data["container_port"], data.get("proto", "tcp"))

    def __eq__(self, other):
        return isinstance(other, Mapping) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def key(self):
        return (self.host_ip, self.host_port, self.container_port, self.proto, self.host_range)

    def __repr__(self):
        return f"Mapping({self})"

    def __str__(self):
        host = f"{self.host_ip}:" if self.host_ip else ""
        return f"{host}{self.host_port if self.host_port else ''}:{self.container_port}/{self.proto}"


def parse(text):
    """Parse one ``-p`` value into a list of Mapping; SpecError if malformed."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"invalid port spec {text!r}: empty")
    spec = text.strip()
    proto = "tcp"
    if "/" in spec:
        spec, proto = spec.rsplit("/", 1)
        proto = proto.lower()
        if proto not in PROTOCOLS:
            raise SpecError(f"invalid port spec {text!r}: protocol must be tcp or udp")
    if spec.startswith("["):
        raise SpecError(f"invalid port spec {text!r}: IPv6 host addresses are not supported")
    parts = spec.split(":")
    if len(parts) == 1:
        host_ip, host, container = "", "", parts[0]
    elif len(parts) == 2:
        host_ip, (host, container) = "", parts
    elif len(parts) == 3:
        host_ip, host, container = parts
        if not host_ip:
            raise SpecError(f"invalid port spec {text!r}: empty host address")
        _check_ipv4(host_ip, text)
    else:
        raise SpecError(f"invalid port spec {text!r}: too many ':'")
    first, last = _port_range(container, text, "container port")
    if not host:
        return [Mapping(host_ip, None, port, proto) for port in range(first, last + 1)]
    host_first, host_last = _port_range(host, text, "host port")
    if first == last and host_first != host_last:
        return [Mapping(host_ip, None, first, proto, (host_first, host_last))]
    if host_last - host_first != last - first:
        raise SpecError(f"invalid port spec {text!r}: host and container ranges differ in size")
    return [Mapping(host_ip, host_first + i, first + i, proto) for i in range(last - first + 1)]


def parse_all(specs):
    """Parse many ``-p`` values (strings or Mapping/dict items) into Mappings."""
    out = []
    for spec in specs:
        if isinstance(spec, Mapping):
            out.append(spec)
        elif isinstance(spec, dict):
            out.append(Mapping.from_dict(spec))
        else:
            out.extend(parse(spec))
    return out


def exposed(ports):
    """Mappings for ``-P``: each exposed "80/tcp" (or 80) on a chosen host port."""
    out = []
    for port in ports:
        text = str(port)
        number, _, proto = text.partition("/")
        out.extend(parse(f"{number}/{proto or 'tcp'}"))
    return out


def conflicts(wanted, published):
    """The first (mapping, owner) clash of ``wanted`` with ``published``.

    ``published`` is an iterable of (Mapping, owner).  Two mappings clash
    when protocol and host port are the same and the host addresses overlap
    ("" overlaps everything).
    """
    for mapping in wanted:
        for other, owner in published:
            if (mapping.proto == other.proto and mapping.host_port == other.host_port
                    and (not mapping.host_ip or not other.host_ip
                         or mapping.host_ip == other.host_ip)):
                return mapping, owner
    return None


def check_conflicts(wanted, published):
    """Raise Conflict naming the container that already publishes a port."""
    clash = conflicts(wanted, published)
    if clash:
        mapping, owner = clash
        raise Conflict(f"port {mapping.host_port}/{mapping.proto} is already published "
                       f"by container {owner}")


def assign_host_ports(wanted, published, is_free=None):
    """Fill in host ports left to choose; returns new Mapping objects.

    ``is_free(port, proto)`` says whether the host can use the port (default
    ``port_is_free``, a bind test); ports already published never qualify.
    """
    is_free = is_free or port_is_free
    taken = {(m.proto, m.host_port) for m, _ in published}
    taken.update((m.proto, m.host_port) for m in wanted if m.host_port)
    out = []
    for mapping in wanted:
        if mapping.host_port:
            out.append(mapping)
            continue
        first, last = mapping.host_range or ephemeral_range()
        for port in range(first, last + 1):
            if (mapping.proto, port) not in taken and is_free(port, mapping.proto):
                taken.add((mapping.proto, port))
                out.append(Mapping(mapping.host_ip, port, mapping.container_port, mapping.proto))
                break
        else:
            raise Conflict(f"no free host port in {first}-{last} for "
                           f"{mapping.container_port}/{mapping.proto}")
    return out


def ephemeral_range():
    """The kernel's local port range, where Docker also picks host ports."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            first, last = f.read().split()
        return int(first), int(last)
    except (OSError, ValueError):
        return 32768, 60999


def port_is_free(port, proto):
    """True if nothing on the host holds ``port`` (bound for an instant to check)."""
    import socket
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _port_range(text, whole, what):
    first, sep, last = text.partition("-")
    low = _port(first, whole, what)
    high = _port(last, whole, what) if sep else low
    if high < low:
        raise SpecError(f"invalid port spec {whole!r}: {what} range {text} is reversed")
    return low, high


def _port(text, whole, what):
    if not text.isdigit():
        raise SpecError(f"invalid port spec {whole!r}: {what} {text!r} is not a number")
    number = int(text)
    if not 1 <= number <= 65535:
        raise SpecError(f"invalid port spec {whole!r}: {what} {number} is out of 1-65535")
    return number


def _check_ipv4(text, whole):
    pieces = text.split(".")
    if len(pieces) != 4 or not all(p.isdigit() and int(p) < 256 for p in pieces):
        raise SpecError(f"invalid port spec {whole!r}: host address {text!r} is not IPv4")
