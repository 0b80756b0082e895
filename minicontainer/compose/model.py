"""The compose project, checked whole before anything is created.

``load_project`` reads the files, substitutes variables and returns a
``Project``: its name and directory, its networks and volumes (with the names
they get on this host) and every service normalised to plain values
(``service.py``).  Anything wrong raises ComposeError naming the file, the
line and the path (``compose.yaml:12: services.web.ports[0]: ...``); unknown
keys are reported through ``warn``, as Docker Compose does.
"""

import os
import re

from ..errors import SpecError
from .loader import ComposeError, Map, Seq, error

TOP_LEVEL = {"version", "name", "services", "networks", "volumes", "configs", "secrets",
             "include"}
NETWORK_KEYS = {"driver", "driver_opts", "internal", "external", "name", "ipam", "attachable",
                "labels", "enable_ipv6"}
VOLUME_KEYS = {"driver", "driver_opts", "external", "name", "labels"}
_PROJECT_CHARS = re.compile(r"[^a-z0-9_-]")
_SERVICE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")


class Project:
    """A validated compose project (plain values only; nothing created)."""

    def __init__(self, name, directory, files, services, networks, volumes, environ):
        self.name, self.directory, self.files = name, directory, files
        self.services = services      # {name: service dict}, in file order
        self.networks = networks      # {key: {"name", "external", "subnet", ...}}
        self.volumes = volumes        # {key: {"name", "external"}}
        self.environ = environ        # the variables interpolation used
        self.nodes = {}               # {service: its Map}, for errors found later

    def service(self, name):
        if name not in self.services:
            raise ComposeError(f"no such service: {name}")
        return self.services[name]


def project_name(given, directory, environ):
    """-p, else $COMPOSE_PROJECT_NAME, else the file's ``name:``, else the directory name."""
    raw = given or environ.get("COMPOSE_PROJECT_NAME") or os.path.basename(directory)
    return normalise_name(raw)


def normalise_name(raw):
    name = _PROJECT_CHARS.sub("", str(raw).lower())
    name = name.lstrip("_-")
    if not name:
        raise ComposeError(f"invalid project name {raw!r}: it must contain at least one "
                           "lowercase letter or digit ([a-z0-9_-])")
    return name


def load_project(files=(), project=None, env_file=None, cwd=None, project_directory=None,
                 profiles=(), environ=None, warn=None):
    """Find, read, merge, interpolate and validate; the Project."""
    from .interpolate import interpolate, read_env_file
    from .loader import find_files, load_files
    environ = dict(os.environ if environ is None else environ)
    warn = warn or (lambda message: None)
    paths = find_files(files, cwd, environ)
    directory = os.path.abspath(project_directory or os.path.dirname(paths[0]))
    if env_file:
        dotenv = read_env_file(os.path.join(cwd or os.getcwd(), env_file))
    else:
        dotenv = read_env_file(os.path.join(directory, ".env"), required=False)
    variables = {**dotenv, **environ}  # the shell's value wins over .env's
    document = interpolate(load_files(paths), variables, warn)
    _check_keys(document, TOP_LEVEL, "", warn)
    for key in ("configs", "secrets", "include"):
        if key in document:
            file, line = document.where(key)
            warn(f"{os.path.basename(file)}:{line}: {key}: not supported, ignored")
    if "version" in document:
        warn(f"{os.path.basename(document.where('version')[0])}: `version` is obsolete "
             "(ignored)")
    file_name = document.get("name")
    # COMPOSE_PROJECT_NAME may come from the shell or from .env, as in Docker Compose
    name = project_name(project or (None if variables.get("COMPOSE_PROJECT_NAME") else file_name),
                        directory, variables)
    networks = _networks(document, name)
    volumes = _volumes(document, name)
    services_node = document.get("services")
    if not isinstance(services_node, Map) or not services_node:
        raise error(document.where("services"), "services",
                    "no services defined (a compose file needs a services: mapping)")
    from .service import normalise_service
    services = {}
    for service_name, node in services_node.items():
        where = services_node.where(service_name)
        if not _SERVICE_NAME.match(service_name):
            raise error(where, f"services.{service_name}",
                        "invalid service name: use [a-zA-Z0-9._-], starting with a letter or digit")
        if not isinstance(node, Map):
            raise error(where, f"services.{service_name}", "must be a mapping")
        service = normalise_service(service_name, node, name, directory, variables, warn)
        active = not service["profiles"] or set(service["profiles"]) & set(profiles)
        if active:
            services[service_name] = service
    _check_references(services, services_node, networks, volumes)
    _check_unique(services, services_node)
    used = {n for s in services.values() for n in s["networks"]}
    networks = {key: value for key, value in networks.items() if key in used}
    for service in services.values():
        _check_addresses(service, networks, services_node)
    from .plan import start_order
    start_order(services, services_node)  # a cycle is an error now, not at start
    result = Project(name, directory, paths, services, networks, volumes, variables)
    result.nodes = services_node
    from .specs import check_specs
    check_specs(result)
    return result


def _check_keys(node, known, path, warn):
    for key in node:
        if key not in known and not key.startswith("x-"):
            file, line = node.where(key)
            where = f"{os.path.basename(file)}:{line}" if file else "compose file"
            warn(f"{where}: {path + '.' if path else ''}{key}: unknown key, ignored")


def _flag(value, where, path):
    if value is None:
        return False
    if not isinstance(value, bool):
        raise error(where, path, f"must be true or false, not {value!r}")
    return value


def _external(node, key, where, path):
    value = node.get("external")
    if isinstance(value, Map):  # the old form: external: {name: x}
        return True, value.get("name") or node.get("name") or key
    return _flag(value, where, f"{path}.external"), node.get("name") or key


def _networks(document, project):
    from ..network import ipam
    section = document.get("networks") or Map()
    if not isinstance(section, Map):
        raise error(document.where("networks"), "networks", "must be a mapping")
    result = {"default": {"name": f"{project}_default", "external": False, "subnet": None,
                          "gateway": None, "internal": False, "declared": False}}
    for key, node in section.items():
        path, where = f"networks.{key}", section.where(key)
        node = node if node is not None else Map(file=where[0], line=where[1])
        if not isinstance(node, Map):
            raise error(where, path, "must be a mapping")
        _check_keys(node, NETWORK_KEYS, path, lambda m: None)
        external, real = _external(node, key, where, path)
        driver = node.get("driver") or "bridge"
        if driver != "bridge" and not external:
            raise error(node.where("driver"), f"{path}.driver",
                        f"driver {driver!r} is not supported (only bridge)")
        subnet = gateway = None
        ipam_node = node.get("ipam")
        if ipam_node is not None:
            if not isinstance(ipam_node, Map):
                raise error(node.where("ipam"), f"{path}.ipam", "must be a mapping")
            configs = ipam_node.get("config") or Seq()
            if not isinstance(configs, Seq):
                raise error(ipam_node.where("config"), f"{path}.ipam.config", "must be a list")
            if configs:
                first = configs[0]
                if not isinstance(first, Map):
                    raise error(configs.where(0), f"{path}.ipam.config[0]", "must be a mapping")
                subnet, gateway = first.get("subnet"), first.get("gateway")
                try:
                    if subnet is not None:
                        subnet = str(ipam.network(str(subnet)))
                except SpecError as exc:
                    raise error(first.where("subnet"), f"{path}.ipam.config[0].subnet",
                                str(exc)) from None
                if gateway is not None:
                    if subnet is None:
                        raise error(first.where("gateway"), f"{path}.ipam.config[0].gateway",
                                    "a gateway needs a subnet")
                    try:
                        ipam.check_gateway(subnet, str(gateway))
                    except SpecError as exc:
                        raise error(first.where("gateway"), f"{path}.ipam.config[0].gateway",
                                    str(exc)) from None
                    gateway = str(gateway)
                if len(configs) > 1:
                    raise error(configs.where(1), f"{path}.ipam.config[1]",
                                "only one ipam config per network is supported")
        result[key] = {"name": real if external or node.get("name") else f"{project}_{key}",
                       "external": external, "subnet": subnet, "gateway": gateway,
                       "internal": _flag(node.get("internal"), node.where("internal"),
                                         f"{path}.internal"),
                       "declared": True, "line": where}
    return result


def _volumes(document, project):
    from ..volumes import check_name
    section = document.get("volumes") or Map()
    if not isinstance(section, Map):
        raise error(document.where("volumes"), "volumes", "must be a mapping")
    result = {}
    for key, node in section.items():
        path, where = f"volumes.{key}", section.where(key)
        node = node if node is not None else Map(file=where[0], line=where[1])
        if not isinstance(node, Map):
            raise error(where, path, "must be a mapping")
        _check_keys(node, VOLUME_KEYS, path, lambda m: None)
        driver = node.get("driver") or "local"
        if driver != "local":
            raise error(node.where("driver"), f"{path}.driver",
                        f"driver {driver!r} is not supported (only local)")
        external, real = _external(node, key, where, path)
        real = real if external or node.get("name") else f"{project}_{key}"
        try:
            check_name(real)
        except SpecError as exc:
            raise error(where, path, str(exc)) from None
        result[key] = {"name": real, "external": external}
    return result


def _check_references(services, services_node, networks, volumes):
    for name, service in services.items():
        node = services_node[name]
        for dependency in service["depends_on"]:
            if dependency not in services and dependency not in services_node:
                where = _where_in(node, "depends_on", dependency)
                raise error(where, f"services.{name}.depends_on",
                            f"depends on undefined service {dependency!r}")
        for network in service["networks"]:
            if network not in networks:
                raise error(_where_in(node, "networks", network), f"services.{name}.networks",
                            f"refers to undefined network {network!r}")
        for index, mount in enumerate(service["volumes"]):
            if mount["type"] == "volume" and mount["source"] and mount["source"] not in volumes:
                raise error(_item_where(node, "volumes", index), f"services.{name}.volumes[{index}]",
                            f"refers to undefined volume {mount['source']!r} (declare it under "
                            "the top-level volumes:)")
        mode = service["network_mode"] or ""
        if mode.startswith("service:") and mode[8:] not in services:
            raise error(node.where("network_mode"), f"services.{name}.network_mode",
                        f"refers to undefined service {mode[8:]!r}")


def _check_unique(services, services_node):
    """Two services cannot share a container name or a published host port."""
    from ..network.ports import parse
    names, ports = {}, {}
    for name, service in services.items():
        node = services_node[name]
        own = service["container_name"]
        if own is not None:
            if own in names:
                raise error(node.where("container_name"), f"services.{name}.container_name",
                            f"{own!r} is already the container name of service {names[own]!r}")
            names[own] = name
        for index, text in enumerate(service["ports"]):
            for mapping in parse(text):
                if not mapping.host_port:
                    continue
                key = (mapping.host_port, mapping.proto)
                other = ports.get(key)
                if other is not None and other[0] != name and (
                        not other[1] or not mapping.host_ip or other[1] == mapping.host_ip):
                    raise error(_item_where(node, "ports", index), f"services.{name}.ports[{index}]",
                                f"host port {mapping.host_port}/{mapping.proto} is already "
                                f"published by service {other[0]!r}")
                ports[key] = (name, mapping.host_ip)


def _check_addresses(service, networks, services_node):
    import ipaddress
    for network, options in service["networks"].items():
        address = options.get("ipv4_address")
        subnet = networks[network].get("subnet")
        if address and subnet and ipaddress.IPv4Address(address) not in \
                ipaddress.IPv4Network(subnet):
            node = services_node[service["name"]]
            raise error(_where_in(node, "networks", network),
                        f"services.{service['name']}.networks.{network}.ipv4_address",
                        f"{address} is not in the network's subnet {subnet}")
        if address and not subnet and not networks[network]["external"]:
            node = services_node[service["name"]]
            raise error(_where_in(node, "networks", network),
                        f"services.{service['name']}.networks.{network}.ipv4_address",
                        "a fixed address needs a network with an ipam subnet")


def _where_in(node, key, item):
    """The line of ``item`` inside service key ``key`` (a list or a mapping)."""
    value = node.get(key)
    if isinstance(value, Map) and item in value:
        return value.where(item)
    if isinstance(value, Seq):
        for index, entry in enumerate(value):
            if str(entry) == item:
                return value.where(index)
    return node.where(key)


def _item_where(node, key, index):
    value = node.get(key)
    return value.where(index) if isinstance(value, Seq) else node.where(key)
