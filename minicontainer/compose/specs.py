"""A compose service as the runtime's ContainerSpec (through ``run``'s own flags).

Mapping a service onto ``docker run`` flags and letting ``runflags.build_spec``
check and convert them keeps one meaning for every option: ``mem_limit: 512m``
is exactly ``--memory 512m``.  What the flags cannot say (a list entrypoint,
a full healthcheck, long-syntax mounts) is set on the spec afterwards.
"""

from ..errors import SpecError
from .loader import error
from .plan import (LABEL_FILES, LABEL_HASH, LABEL_NUMBER, LABEL_ONEOFF, LABEL_PROJECT,
                   LABEL_SERVICE, LABEL_WORKDIR, config_hash)


def container_name(project, service, number=1):
    return service["container_name"] or f"{project.name}-{service['name']}-{number}"


def oneoff_name(project, service):
    import os
    return f"{project.name}-{service['name']}-run-{os.urandom(6).hex()}"


def network_plan(project, service):
    """(primary network mode for --network, its NetworkOptions, [(name, options)] for the rest)."""
    from ..spec import NetworkOptions
    mode = service["network_mode"]
    if mode is not None:
        if mode.startswith("service:"):
            other = project.services[mode[len("service:"):]]
            return f"container:{container_name(project, other)}", NetworkOptions(), []
        return mode, NetworkOptions(), []
    attached = []
    for key, options in service["networks"].items():
        real = project.networks[key]["name"]
        aliases = tuple(dict.fromkeys([service["name"]] + options["aliases"]))
        attached.append((real, NetworkOptions(aliases=aliases, ip=options["ipv4_address"])))
    (primary, primary_options), rest = attached[0], attached[1:]
    return primary, primary_options, rest


def mounts_of(project, service):
    from ..spec import Mount
    result = []
    for mount in service["volumes"]:
        if mount["type"] == "volume":
            source = project.volumes[mount["source"]]["name"] if mount["source"] else None
            result.append(Mount(target=mount["target"], source=source, type="volume",
                                readonly=mount["read_only"],
                                options="nocopy" if mount["nocopy"] else ""))
        elif mount["type"] == "bind":
            result.append(Mount(target=mount["target"], source=mount["source"], type="bind",
                                readonly=mount["read_only"]))
        else:
            size = f"size={mount['size']}" if mount["size"] else ""
            result.append(Mount(target=mount["target"], source="tmpfs", type="tmpfs",
                                readonly=mount["read_only"], options=size))
    return result


def service_spec(project, service, number=1, command=None, oneoff=False, name=None,
                 image_id=None, overrides=None):
    """(ContainerSpec, extra networks) for container ``number`` of ``service``.

    ``overrides`` are run flags that win (``compose run -e``, ``--entrypoint``);
    the config-hash label is computed over everything else, plus ``image_id``.
    """
    from ..runflags import build_spec
    network, network_options, extra = network_plan(project, service)
    options = {"name": name or container_name(project, service, number),
               "env": [f"{k}={v}" for k, v in service["environment"].items()],
               "network": network, "publish": list(service["ports"]) if not oneoff else [],
               "network-alias": list(network_options.aliases),
               "restart": service["restart"] if not oneoff else "no",
               "label": [f"{k}={v}" for k, v in service["labels"].items()],
               "cap-add": service["cap_add"], "cap-drop": service["cap_drop"],
               "security-opt": service["security_opt"], "ulimit": service["ulimits"],
               "dns": service["dns"], "add-host": service["extra_hosts"],
               "group-add": service["group_add"], "tmpfs": service["tmpfs"]}
    if network_options.ip and not oneoff:
        options["ip"] = network_options.ip
    for key, flag in (("hostname", "hostname"), ("domainname", "domainname"),
                      ("working_dir", "workdir"), ("user", "user"),
                      ("stop_signal", "stop-signal"), ("mac_address", "mac-address")):
        if service[key] is not None:
            options[flag] = service[key]
    for key, flag in (("read_only", "read-only"), ("init", "init"), ("privileged", "privileged"),
                      ("tty", "tty"), ("stdin_open", "interactive")):
        if service[key]:
            options[flag] = True
    if service["stop_grace_period"] is not None:
        options["stop-timeout"] = str(service["stop_grace_period"])
    if service["pull_policy"] in ("always", "never"):
        options["pull"] = service["pull_policy"]
    for flag, (value, _where_of, _path) in service["resources"].items():
        options[flag] = value
    options.update(overrides or {})
    try:
        spec = build_spec(options, service["image"], command if command is not None
                          else (service["command"] or []))
    except SpecError as exc:
        raise _located(project, service, exc) from None
    changes = {"mounts": tuple(spec.mounts) + tuple(mounts_of(project, service))}
    if service["entrypoint"] is not None and "entrypoint" not in (overrides or {}):
        changes["entrypoint"] = list(service["entrypoint"])
    if service["healthcheck"] is not None:
        changes["healthcheck"] = service["healthcheck"]
    spec = spec.replace(**changes)
    labels = dict(spec.labels)
    labels.update({LABEL_PROJECT: project.name, LABEL_SERVICE: service["name"],
                   LABEL_NUMBER: str(number), LABEL_ONEOFF: "True" if oneoff else "False",
                   LABEL_WORKDIR: project.directory, LABEL_FILES: ",".join(project.files)})
    extra_json = [(real, opts.as_dict()) for real, opts in extra]
    hashed = spec.replace(labels=tuple(sorted(labels.items()))).to_json_dict()
    hashed.pop("pull", None)  # how to fetch the image is not what the container is
    labels[LABEL_HASH] = config_hash(hashed, {"networks": extra_json, "image": image_id})
    # The further networks travel in the spec: the container's start attaches
    # them (eth1, ...), a restart by the supervisor's policy included.
    return spec.replace(labels=tuple(labels.items()), extra_networks=tuple(extra)), extra


def _located(project, service, exc):
    """A runtime flag error put back where the service wrote the value it names."""
    import re
    message = exc.message
    for flag, (_value, where, path) in service["resources"].items():
        if f"--{flag}" in message:
            return error(where, path, message)
    node = project.nodes.get(service["name"]) if project.nodes else None
    if node is not None:
        for quoted in re.findall(r"'([^']+)'", message):
            for key, value in node.items():
                if quoted in str(value):
                    return error(node.where(key), f"services.{service['name']}.{key}", message)
    where = project.nodes.where(service["name"]) if node is not None else None
    return error(where, f"services.{service['name']}", message)


def check_specs(project):
    """Build every service's spec once (nothing created): bad values fail before up."""
    for service in project.services.values():
        service_spec(project, service)
