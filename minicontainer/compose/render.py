"""``compose config``: the project as Docker Compose prints it, resolved.

Variables substituted, files merged, short syntax expanded (environment as a
mapping, volumes and ports in long form), names as they will be on the host.
"""


def _duration(ns):
    seconds, rest = divmod(int(ns), 10**9)
    if rest:
        return f"{ns / 10**6:g}ms"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{seconds}s" if seconds or not text else "")


def _port(text):
    from ..network.ports import parse
    result = []
    for mapping in parse(text):
        entry = {"mode": "ingress", "target": mapping.container_port, "protocol": mapping.proto}
        if mapping.host_ip:
            entry["host_ip"] = mapping.host_ip
        if mapping.host_port:
            entry["published"] = str(mapping.host_port)
        elif mapping.host_range:
            entry["published"] = f"{mapping.host_range[0]}-{mapping.host_range[1]}"
        result.append(entry)
    return result


def service_document(project, service):
    doc = {}
    if service["build"]:
        build = {"context": service["build"]["context"],
                 "dockerfile": service["build"]["dockerfile"] or "Dockerfile"}
        for key in ("args", "target"):
            if service["build"][key]:
                build[key] = service["build"][key]
        doc["build"] = build
    for key in ("command", "entrypoint", "container_name", "hostname", "domainname",
                "working_dir", "user", "stop_signal", "mac_address", "network_mode"):
        if service[key] is not None:
            doc[key] = service[key]
    if service["depends_on"]:
        doc["depends_on"] = {name: dict(rule) for name, rule in service["depends_on"].items()}
    if service["environment"]:
        doc["environment"] = dict(service["environment"])
    if service["healthcheck"]:
        check = service["healthcheck"]
        doc["healthcheck"] = ({"disable": True} if check.get("Test") == ["NONE"] else {
            key: (_duration(check[field]) if key != "retries" and key != "test"
                  else check[field])
            for key, field in (("test", "Test"), ("interval", "Interval"),
                               ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                               ("retries", "Retries")) if field in check})
    doc["image"] = service["image"]
    if service["labels"]:
        doc["labels"] = dict(service["labels"])
    if service["networks"]:
        doc["networks"] = {key: ({k: v for k, v in options.items() if v} or None)
                           for key, options in service["networks"].items()}
    if service["ports"]:
        doc["ports"] = [entry for text in service["ports"] for entry in _port(text)]
    for key in ("read_only", "init", "privileged", "tty", "stdin_open"):
        if service[key]:
            doc[key] = True
    if service["restart"] != "no":
        doc["restart"] = service["restart"]
    for key in ("cap_add", "cap_drop", "security_opt", "dns", "extra_hosts", "expose", "tmpfs",
                "ulimits", "group_add"):
        if service[key]:
            doc[key] = list(service[key])
    if service["stop_grace_period"] is not None:
        doc["stop_grace_period"] = f"{service['stop_grace_period']}s"
    for _flag, (value, _where, path) in service["resources"].items():
        parts = path.split(".")[2:]  # services.NAME.<key> or .deploy.resources.limits.<key>
        target = doc
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    if service["volumes"]:
        doc["volumes"] = []
        for mount in service["volumes"]:
            entry = {"type": mount["type"], "target": mount["target"]}
            if mount["source"]:
                entry["source"] = mount["source"]
            if mount["read_only"]:
                entry["read_only"] = True
            if mount["type"] == "volume":
                entry["volume"] = {"nocopy": True} if mount["nocopy"] else {}
            elif mount["type"] == "bind":
                entry["bind"] = {"create_host_path": mount["create_host_path"]}
            doc["volumes"].append(entry)
    return doc


def document(project):
    doc = {"name": project.name, "services": {
        name: service_document(project, service) for name, service in project.services.items()}}
    if project.networks:
        doc["networks"] = {}
        for key, network in project.networks.items():
            entry = {"name": network["name"]}
            if network["external"]:
                entry["external"] = True
            if network["subnet"]:
                config = {"subnet": network["subnet"]}
                if network["gateway"]:
                    config["gateway"] = network["gateway"]
                entry["ipam"] = {"config": [config]}
            if network["internal"]:
                entry["internal"] = True
            doc["networks"][key] = entry
    if project.volumes:
        doc["volumes"] = {key: ({"name": v["name"], "external": True} if v["external"]
                                else {"name": v["name"]})
                          for key, v in project.volumes.items()}
    return doc


def render(project):
    import yaml
    return yaml.safe_dump(document(project), sort_keys=False, default_flow_style=False)
