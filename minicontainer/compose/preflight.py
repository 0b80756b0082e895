"""Checks ``up`` makes before creating anything: names and host ports free.

A clash found while starting would leave half a project behind (networks,
some containers); found here it names the service's line and nothing exists yet.
"""

from ..state import data_root
from .loader import ComposeError, error


def check_free(project, ours_states, actions, specs, states):
    """Names and host ports the containers to create need; ComposeError if taken.

    ``actions`` is {service: (current state or None, plan.decide's answer)};
    a container about to be recreated does not count as holding anything.
    """
    from ..network import manage
    from ..network.ports import parse, port_is_free
    leaving = {current["id"] for current, action in actions.values()
               if current is not None and action == "recreate"}
    ours = {s.get("name") for s in ours_states}
    by_name = {s.get("name"): s for s in states}
    published = []
    for mapping, owner in manage.published(data_root()):
        other = by_name.get(owner)
        if other is None or other["id"] not in leaving:
            published.append((mapping, owner))
    ours_published = {(m.host_port, m.proto) for m, owner in published if owner in ours}
    for name, (current, action) in actions.items():
        if action not in ("create", "recreate"):
            continue
        spec = specs[name][0]
        holder = by_name.get(spec.name)
        if holder is not None and holder["id"] not in leaving:
            raise located(project, name, "container_name",
                          f"the container name {spec.name!r} is already in use by container "
                          f"{holder['id'][:12]}")
        for index, text in enumerate(project.services[name]["ports"]):
            for mapping in parse(text):
                if not mapping.host_port:
                    continue
                for other, owner in published:
                    if other.host_port == mapping.host_port and \
                            other.proto == mapping.proto and (
                                not other.host_ip or not mapping.host_ip or
                                other.host_ip == mapping.host_ip):
                        raise located(project, name, ("ports", index),
                                      f"host port {mapping.host_port}/{mapping.proto} is "
                                      f"already published by container {owner}")
                if (mapping.host_port, mapping.proto) not in ours_published and \
                        not port_is_free(mapping.host_port, mapping.proto):
                    raise located(project, name, ("ports", index),
                                  f"host port {mapping.host_port}/{mapping.proto} is "
                                  "in use by another program on this machine")


def located(project, service, key, message):
    """A ComposeError at the line of a service's key (or item of a list key)."""
    node = project.nodes.get(service) if project.nodes else None
    path = f"services.{service}"
    if node is None:
        return ComposeError(f"{path}: {message}")
    if isinstance(key, tuple):
        key, index = key
        value = node.get(key)
        where = value.where(index) if hasattr(value, "where") else node.where(key)
        return error(where, f"{path}.{key}[{index}]", message)
    return error(node.where(key) if key in node else project.nodes.where(service),
                 f"{path}.{key}" if key in node else path, message)

