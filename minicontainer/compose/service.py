"""One service of a compose file, checked and reduced to plain values.

The result is a dict with every key the rest of compose uses (missing ones
get their defaults), so later steps never look at YAML again.  Each value is
checked where it was written: a bad one raises ComposeError naming the file,
the line and the path.
"""

import os
import shlex

from ..errors import SpecError
from .loader import Map, Seq, error

SUPPORTED = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose",
    "volumes", "tmpfs", "networks", "network_mode", "depends_on", "restart", "healthcheck",
    "hostname", "domainname", "container_name", "working_dir", "user", "read_only", "cap_add",
    "cap_drop", "security_opt", "init", "stop_signal", "stop_grace_period", "labels",
    "mem_limit", "memswap_limit", "mem_reservation", "cpus", "cpu_shares", "cpuset",
    "pids_limit", "ulimits", "deploy", "dns", "extra_hosts", "privileged", "tty", "stdin_open",
    "mac_address", "profiles", "pull_policy", "group_add", "platform", "logging",
}
IGNORED = {"platform", "logging"}  # accepted; nothing here would act on them
BUILD_KEYS = {"context", "dockerfile", "args", "target", "network", "no_cache", "labels",
              "cache_from", "tags", "pull"}
HEALTH_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval",
               "disable"}
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
RESTART = ("no", "always", "unless-stopped", "on-failure")


class _Checker:
    """Typed reads of one service's keys, each failure naming its file and line."""

    def __init__(self, node, path, warn=None):
        self.node, self.path = node, path
        self.warn = warn or (lambda message: None)

    def unknown(self, node, known, path):
        """Keys not in ``known`` reported through ``warn`` (Docker Compose warns too)."""
        for key in node:
            if key not in known and not key.startswith("x-"):
                file, line = node.where(key)
                self.warn(f"{os.path.basename(file)}:{line}: {path}.{key}: unknown key, ignored")

    def fail(self, key, message, where=None):
        raise error(where or self.node.where(key), f"{self.path}.{key}", message)

    def string(self, key, default=None):
        value = self.node.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.fail(key, f"must be a string, not {_kind(value)}")
        return str(value)

    def boolean(self, key, default=False):
        value = self.node.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {value!r}")
        return value

    def strings(self, key, allow_single=False):
        value = self.node.get(key)
        if value is None:
            return []
        if allow_single and isinstance(value, (str, int)) and not isinstance(value, bool):
            return [str(value)]
        if not isinstance(value, Seq):
            self.fail(key, f"must be a list, not {_kind(value)}")
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                self.fail(key, f"item {index} must be a string, not {_kind(item)}",
                          value.where(index))
        return [str(item) for item in value]

    def command(self, key):
        """A command as a list: a string is split as a shell would (no shell runs it)."""
        value = self.node.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                self.fail(key, f"cannot split {value!r}: {exc}")
        return self.strings(key)

    def mapping(self, key, separator="="):
        """KEY=VALUE lists or mappings as {key: str or None}."""
        value = self.node.get(key)
        if value is None:
            return {}
        result = {}
        if isinstance(value, Seq):
            for index, item in enumerate(value):
                if not isinstance(item, str):
                    self.fail(key, f"item {index} must be a string, not {_kind(item)}",
                              value.where(index))
                name, sep, rest = item.partition(separator)
                result[name.strip()] = rest if sep else None
            return result
        if isinstance(value, Map):
            for name, item in value.items():
                if isinstance(item, (Map, Seq)):
                    self.fail(key, f"{name}: must be a string, not {_kind(item)}",
                              value.where(name))
                result[name] = None if item is None else _scalar_text(item)
            return result
        self.fail(key, f"must be a list or a mapping, not {_kind(value)}")


def _kind(value):
    return {Map: "a mapping", Seq: "a list", bool: "a boolean"}.get(type(value),
                                                                   type(value).__name__)


def _scalar_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def duration_seconds(text, where, path):
    """A compose duration (``30s``, ``1m30s``, a number of seconds) in nanoseconds."""
    from ..runflags import duration_ns
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return int(text * 10**9)
    try:
        return duration_ns(str(text), path)
    except SpecError:
        raise error(where, path, f"invalid duration {text!r}: use a duration such as 30s or "
                                 "1m30s") from None


def normalise_service(name, node, project, directory, variables, warn):
    path = f"services.{name}"
    check = _Checker(node, path, warn)
    check.unknown(node, SUPPORTED, path)
    for key in IGNORED & set(node):
        file, line = node.where(key)
        warn(f"{os.path.basename(file)}:{line}: {path}.{key}: not supported, ignored")
    build = _build(check, directory)
    image = check.string("image")
    if image is None and build is None:
        raise error(node.where(), path, "has neither an image nor a build section")
    from .volumes_spec import service_mounts
    from .netspec import service_networks, service_ports
    service = {
        "name": name, "image": image or f"{project}-{name}", "build": build,
        "image_given": image is not None,
        "command": check.command("command"), "entrypoint": check.command("entrypoint"),
        "environment": _environment(check, directory, variables),
        "ports": service_ports(check), "expose": check.strings("expose"),
        "volumes": service_mounts(check, directory),
        "tmpfs": check.strings("tmpfs", allow_single=True),
        "network_mode": check.string("network_mode"),
        "depends_on": _depends_on(check),
        "restart": _restart(check),
        "healthcheck": _healthcheck(check),
        "hostname": check.string("hostname"), "domainname": check.string("domainname"),
        "container_name": check.string("container_name"),
        "working_dir": check.string("working_dir"), "user": check.string("user"),
        "read_only": check.boolean("read_only"), "init": check.boolean("init"),
        "privileged": check.boolean("privileged"), "tty": check.boolean("tty"),
        "stdin_open": check.boolean("stdin_open"),
        "cap_add": check.strings("cap_add"), "cap_drop": check.strings("cap_drop"),
        "security_opt": check.strings("security_opt"), "group_add": check.strings("group_add"),
        "stop_signal": check.string("stop_signal"),
        "stop_grace_period": _grace(check),
        "labels": {k: v or "" for k, v in check.mapping("labels").items()},
        "resources": _resources(check),
        "ulimits": _ulimits(check),
        "dns": check.strings("dns", allow_single=True),
        "extra_hosts": _extra_hosts(check),
        "mac_address": check.string("mac_address"),
        "profiles": check.strings("profiles"),
        "pull_policy": check.string("pull_policy"),
    }
    service["networks"] = service_networks(check, service["network_mode"])
    if service["container_name"] is not None:
        from ..validate import check_name
        try:
            check_name(service["container_name"])
        except SpecError as exc:
            check.fail("container_name", str(exc))
    if service["pull_policy"] not in (None, "always", "missing", "never", "build",
                                      "if_not_present"):
        check.fail("pull_policy", f"invalid pull policy {service['pull_policy']!r}: use always, "
                                  "missing, never or build")
    return service


def _build(check, directory):
    value = check.node.get("build")
    if value is None:
        return None
    if isinstance(value, str):
        value = Map({"context": value}, file=check.node.file, line=check.node.where("build")[1])
    if not isinstance(value, Map):
        check.fail("build", f"must be a path or a mapping, not {_kind(value)}")
    sub = _Checker(value, f"{check.path}.build", check.warn)
    sub.unknown(value, BUILD_KEYS, sub.path)
    context = os.path.join(directory, sub.string("context", "."))
    if not os.path.isdir(context):
        sub.fail("context", f"build context {context} is not a directory")
    dockerfile = sub.string("dockerfile")
    if dockerfile is not None:
        dockerfile = os.path.join(context, dockerfile)
        if not os.path.isfile(dockerfile):
            sub.fail("dockerfile", f"no such Dockerfile: {dockerfile}")
    args = {k: v for k, v in sub.mapping("args").items()}
    return {"context": os.path.abspath(context), "dockerfile": dockerfile, "args": args,
            "target": sub.string("target"), "network": sub.string("network", "none"),
            "no_cache": sub.boolean("no_cache")}


def _environment(check, directory, variables):
    """env_file entries, then environment:, a key without a value taken from ours."""
    result = {}
    files = check.node.get("env_file")
    entries = []
    if isinstance(files, (str, Map)):
        files = Seq([files], file=check.node.file, lines=[check.node.where("env_file")])
    if files is not None:
        if not isinstance(files, Seq):
            check.fail("env_file", f"must be a path or a list, not {_kind(files)}")
        for index, item in enumerate(files):
            required = True
            if isinstance(item, Map):
                required = item.get("required", True) is not False
                item = item.get("path")
            if not isinstance(item, str):
                check.fail("env_file", f"item {index} must be a path", files.where(index))
            entries.append((os.path.join(directory, item), required, files.where(index)))
    from .interpolate import read_env_file
    for path, required, where in entries:
        try:
            result.update(read_env_file(path, required))
        except SpecError as exc:
            raise error(where, f"{check.path}.env_file", str(exc)) from None
    for key, value in check.mapping("environment").items():
        if value is None:
            if key in variables:
                result[key] = variables[key]
            else:
                result.pop(key, None)
        else:
            result[key] = value
    return result


def _depends_on(check):
    value = check.node.get("depends_on")
    if value is None:
        return {}
    if isinstance(value, Seq):
        return {name: {"condition": "service_started", "required": True, "restart": False}
                for name in check.strings("depends_on")}
    if not isinstance(value, Map):
        check.fail("depends_on", f"must be a list or a mapping, not {_kind(value)}")
    result = {}
    for name, options in value.items():
        options = options if options is not None else Map()
        if not isinstance(options, Map):
            check.fail("depends_on", f"{name}: must be a mapping", value.where(name))
        condition = options.get("condition", "service_started")
        if condition not in CONDITIONS:
            raise error(options.where("condition") if options.lines else value.where(name),
                        f"{check.path}.depends_on.{name}.condition",
                        f"invalid condition {condition!r}: use {', '.join(CONDITIONS)}")
        result[name] = {"condition": condition, "required": options.get("required") is not False,
                        "restart": options.get("restart") is True}
    return result


def _restart(check):
    value = check.node.get("restart")
    if value is None or value is False:
        return "no"
    text = str(value)
    name, _, count = text.partition(":")
    if name not in RESTART or (count and (name != "on-failure" or not count.isdigit())):
        check.fail("restart", f"invalid restart policy {text!r}: use no, always, "
                              "unless-stopped or on-failure[:max-retries]")
    return text


def _healthcheck(check):
    value = check.node.get("healthcheck")
    if value is None:
        return None
    if not isinstance(value, Map):
        check.fail("healthcheck", f"must be a mapping, not {_kind(value)}")
    sub = _Checker(value, f"{check.path}.healthcheck", check.warn)
    sub.unknown(value, HEALTH_KEYS, sub.path)
    if sub.boolean("disable"):
        return {"Test": ["NONE"]}
    result = {}
    test = value.get("test")
    if isinstance(test, str):
        result["Test"] = ["CMD-SHELL", test]
    elif isinstance(test, Seq):
        words = sub.strings("test")
        if not words or words[0] not in ("CMD", "CMD-SHELL", "NONE"):
            sub.fail("test", "a list must start with CMD, CMD-SHELL or NONE")
        result["Test"] = words
    elif test is not None:
        sub.fail("test", f"must be a string or a list, not {_kind(test)}")
    for key, field in (("interval", "Interval"), ("timeout", "Timeout"),
                       ("start_period", "StartPeriod"), ("start_interval", "StartInterval")):
        if value.get(key) is not None:
            result[field] = duration_seconds(value[key], value.where(key),
                                             f"{sub.path}.{key}")
    if value.get("retries") is not None:
        retries = value["retries"]
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            sub.fail("retries", f"must be a whole number, not {retries!r}")
        result["Retries"] = retries
    return result


def _grace(check):
    value = check.node.get("stop_grace_period")
    if value is None:
        return None
    ns = duration_seconds(value, check.node.where("stop_grace_period"),
                          f"{check.path}.stop_grace_period")
    return -(-ns // 10**9)  # whole seconds, rounded up


def _resources(check):
    """mem_limit, cpus, ... and deploy.resources.limits/reservations as runflags strings."""
    result = {}
    for key, flag in (("mem_limit", "memory"), ("memswap_limit", "memory-swap"),
                      ("mem_reservation", "memory-reservation"), ("cpus", "cpus"),
                      ("cpu_shares", "cpu-shares"), ("cpuset", "cpuset-cpus"),
                      ("pids_limit", "pids-limit")):
        if check.node.get(key) is not None:
            result[flag] = (check.string(key), check.node.where(key), f"{check.path}.{key}")
    deploy = check.node.get("deploy")
    if deploy is None:
        return result
    if not isinstance(deploy, Map):
        check.fail("deploy", "must be a mapping")
    replicas = deploy.get("replicas")
    if replicas not in (None, 1):
        raise error(deploy.where("replicas"), f"{check.path}.deploy.replicas",
                    "only one replica per service is supported")
    resources = deploy.get("resources") or Map()
    for section, keys in (("limits", (("memory", "memory"), ("cpus", "cpus"),
                                      ("pids", "pids-limit"))),
                          ("reservations", (("memory", "memory-reservation"),))):
        node = resources.get(section) if isinstance(resources, Map) else None
        if not isinstance(node, Map):
            continue
        sub = _Checker(node, f"{check.path}.deploy.resources.{section}")
        for key, flag in keys:
            if node.get(key) is not None:
                result[flag] = (sub.string(key), node.where(key), f"{sub.path}.{key}")
    return result


def _ulimits(check):
    value = check.node.get("ulimits")
    if value is None:
        return []
    if not isinstance(value, Map):
        check.fail("ulimits", "must be a mapping")
    result = []
    for name, limit in value.items():
        if isinstance(limit, Map):
            text = f"{name}={limit.get('soft')}:{limit.get('hard')}"
        else:
            text = f"{name}={limit}"
        from ..security import parse_ulimits
        try:
            parse_ulimits([text])
        except SpecError as exc:
            raise error(value.where(name), f"{check.path}.ulimits.{name}", str(exc)) from None
        result.append(text)
    return result


def _extra_hosts(check):
    value = check.node.get("extra_hosts")
    if isinstance(value, Map):
        return [f"{host}:{ip}" for host, ip in value.items()]
    hosts = []
    for item in check.strings("extra_hosts"):
        host, sep, ip = item.partition("=")
        hosts.append(f"{host}:{ip}" if sep else item)
    return hosts
