"""``docker run``'s flags, parsed without click and turned into a ContainerSpec.

``run`` is the hot path: click alone costs 30-40 ms to import, longer than
runc takes to start a container, so this small table-driven parser handles
the run flags (the same syntax Docker's own parser accepts: ``-it``,
``--name=x``, ``-eK=V``, options stop at the image).  Everything after the
image is the command, untouched.
"""

import os

from .errors import SpecError
from .spec import DEFAULT_NAMESPACES, ContainerSpec, Security

# long name -> (short, takes a value, repeatable, help)
FLAGS = {
    "rm": (None, False, False, "Remove the container when it exits"),
    "detach": ("d", False, False, "Run container in background and print container ID"),
    "restart": (None, True, False, "Restart policy: no, on-failure[:N], always, unless-stopped"),
    "stop-signal": (None, True, False, "Signal to stop the container"),
    "stop-timeout": (None, True, False, "Timeout (in seconds) to stop a container"),
    "label": ("l", True, True, "Set meta data on a container (KEY=VALUE)"),
    "health-cmd": (None, True, False, "Command to run to check health"),
    "health-interval": (None, True, False, "Time between running the check (ms|s|m|h)"),
    "health-timeout": (None, True, False, "Maximum time to allow one check to run (ms|s|m|h)"),
    "health-retries": (None, True, False, "Consecutive failures needed to report unhealthy"),
    "health-start-period": (None, True, False, "Start period before failures count (ms|s|m|h)"),
    "no-healthcheck": (None, False, False, "Disable any container-specified HEALTHCHECK"),
    "name": (None, True, False, "Assign a name to the container"),
    "hostname": ("h", True, False, "Container host name"),
    "domainname": (None, True, False, "Container NIS domain name"),
    "env": ("e", True, True, "Set environment variables (KEY=VALUE, or KEY to copy ours)"),
    "env-file": (None, True, True, "Read in a file of environment variables"),
    "workdir": ("w", True, False, "Working directory inside the container"),
    "user": ("u", True, False, "Username or UID (format: <name|uid>[:<group|gid>])"),
    "group-add": (None, True, True, "Add additional groups to join"),
    "entrypoint": (None, True, False, "Overwrite the default ENTRYPOINT of the image"),
    "pull": (None, True, False, 'Pull image before running ("always", "missing", "never")'),
    "interactive": ("i", False, False, "Keep STDIN open"),
    "tty": ("t", False, False, "Allocate a pseudo-TTY"),
    "read-only": (None, False, False, "Mount the container's root filesystem as read only"),
    "volume": ("v", True, True, "Bind mount a volume (HOST:CONTAINER[:ro])"),
    "tmpfs": (None, True, True, "Mount a tmpfs directory (PATH[:OPTIONS])"),
    "mount": (None, True, True, "Attach a filesystem mount (type=bind|volume|tmpfs,...)"),
    "volumes-from": (None, True, True, "Mount volumes from the specified container(s) (NAME[:ro|rw])"),
    "network": (None, True, False, "Connect a container to a network (bridge, NAME, none, host, container:NAME)"),
    "publish": ("p", True, True, "Publish a container's port(s) to the host ([IP:]HOST:CONTAINER[/PROTO])"),
    "publish-all": ("P", False, False, "Publish all exposed ports to random ports"),
    "network-alias": (None, True, True, "Add network-scoped alias for the container"),
    "ip": (None, True, False, "IPv4 address (e.g., 172.30.100.104)"),
    "mac-address": (None, True, False, "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    "dns": (None, True, True, "Set custom DNS servers"),
    "add-host": (None, True, True, "Add a custom host-to-IP mapping (host:ip)"),
    "net": (None, True, False, "Alias of --network"),
    "init": (None, False, False, "Run an init inside the container that forwards signals and reaps processes"),
    "pid": (None, True, False, "PID namespace to use (host, or private)"),
    "uts": (None, True, False, "UTS namespace to use (host, or private)"),
    "ipc": (None, True, False, "IPC mode to use (host, or private)"),
    "cgroupns": (None, True, False, "Cgroup namespace to use (host|private)"),
    "userns": (None, True, False, "User namespace: host, remap or remap:HOST_UID[:SIZE]"),
    "cap-add": (None, True, True, "Add Linux capabilities"),
    "cap-drop": (None, True, True, "Drop Linux capabilities"),
    "privileged": (None, False, False, "Give extended privileges to this container"),
    "security-opt": (None, True, True, "Security options (seccomp=unconfined|PROFILE, no-new-privileges, systempaths=unconfined)"),
    "ulimit": (None, True, True, "Ulimit options (e.g. nofile=1024:2048)"),
    "memory": ("m", True, False, "Memory limit"),
    "memory-swap": (None, True, False, "Swap limit equal to memory plus swap: -1 for unlimited"),
    "memory-reservation": (None, True, False, "Memory soft limit"),
    "cpus": (None, True, False, "Number of CPUs"),
    "cpu-shares": ("c", True, False, "CPU shares (relative weight)"),
    "cpu-quota": (None, True, False, "Limit CPU CFS (Completely Fair Scheduler) quota"),
    "cpu-period": (None, True, False, "Limit CPU CFS (Completely Fair Scheduler) period"),
    "cpuset-cpus": (None, True, False, "CPUs in which to allow execution (0-3, 0,1)"),
    "cpuset-mems": (None, True, False, "MEMs in which to allow execution (0-3, 0,1)"),
    "pids-limit": (None, True, False, "Tune container pids limit (-1 for unlimited)"),
    "blkio-weight": (None, True, False, "Block IO (relative weight), between 10 and 1000, or 0 to disable"),
    "device-read-bps": (None, True, True, "Limit read rate (bytes per second) from a device"),
    "device-write-bps": (None, True, True, "Limit write rate (bytes per second) to a device"),
    "cgroup-parent": (None, True, False, "Optional parent cgroup for the container"),
    "explain": (None, False, False, "Print every kernel step as it happens, with timings"),
    "help": (None, False, False, "Print usage"),
}
SHORT = {short: name for name, (short, *_rest) in FLAGS.items() if short}
USAGE = "Usage:  minicontainer run [OPTIONS] IMAGE|ROOTFS_DIR [COMMAND] [ARG...]"


class UsageError(SpecError):
    """A malformed command line (Docker prints the usage hint after it)."""


def parse(argv):
    """(options dict, image, command list) from the arguments after ``run``."""
    options = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg.startswith("--"):
            name, has_value, value = arg[2:].partition("=")
            if name not in FLAGS:
                raise UsageError(f"unknown flag: --{name}")
            if FLAGS[name][1] and not has_value:
                i += 1
                if i >= len(argv):
                    raise UsageError(f"flag needs an argument: --{name}")
                value = argv[i]
            _store(options, name, value if FLAGS[name][1] else _bool(name, has_value, value))
        else:
            i = _parse_shorts(argv, i, options)
        i += 1
    if options.get("help"):
        return options, None, []
    if i >= len(argv):
        raise UsageError('"run" requires at least 1 argument.')
    return options, argv[i], argv[i + 1:]


def _parse_shorts(argv, i, options):
    arg = argv[i]
    j = 1
    while j < len(arg):
        name = SHORT.get(arg[j])
        if name is None:
            raise UsageError(f"unknown shorthand flag: {arg[j]!r} in {arg}")
        if FLAGS[name][1]:
            value = arg[j + 1:].removeprefix("=")
            if not value:
                i += 1
                if i >= len(argv):
                    raise UsageError(f"flag needs an argument: {arg[j]!r} in -{arg[j]}")
                value = argv[i]
            _store(options, name, value)
            return i
        _store(options, name, True)
        j += 1
    return i


def _bool(name, has_value, value):
    if not has_value or value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise UsageError(f'invalid argument "{value}" for "--{name}" flag: use true or false')


def _store(options, name, value):
    name = "network" if name == "net" else name
    if FLAGS[name][2]:
        options.setdefault(name, []).append(value)
    else:
        options[name] = value


def usage_text():
    lines = [USAGE, "", "Run a command in a new container", "", "Options:"]
    for name, (short, takes, _multi, text) in FLAGS.items():
        if name == "net":
            continue
        flag = (f"-{short}, " if short else "    ") + f"--{name}" + (" value" if takes else "")
        lines.append(f"  {flag:<28}{text}")
    return "\n".join(lines)


def build_spec(options, image, command):
    """The ContainerSpec for these parsed options."""
    namespaces = set(DEFAULT_NAMESPACES)
    network = options.get("network", "bridge")
    for flag, kind in (("pid", "pid"), ("uts", "uts"), ("ipc", "ipc"), ("cgroupns", "cgroup")):
        mode = options.get(flag, "private")
        if mode == "host":
            namespaces.discard(kind)
        elif mode not in ("private", "", "shareable"):
            raise SpecError(f"invalid --{flag} {mode!r}: use host or private")
    if network == "host" or network.startswith("container:"):
        namespaces.discard("net")
    if "hostname" in options and "uts" not in namespaces:
        raise SpecError("conflicting options: --hostname and --uts host")
    from .userns import parse_userns
    maps = parse_userns(options.get("userns"))
    uid_map = gid_map = ()
    if maps:
        namespaces.add("user")
        uid_map, gid_map = maps
    return ContainerSpec(
        rootfs=image, args=tuple(command), name=options.get("name"),
        hostname=options.get("hostname"), domainname=options.get("domainname"),
        env=tuple(_environment(options)), cwd=options.get("workdir"),
        entrypoint=options.get("entrypoint"),
        # MINICONTAINER_PULL lets a test suite forbid any registry traffic.
        pull=options.get("pull") or os.environ.get("MINICONTAINER_PULL") or "missing",
        user=options.get("user"), tty=bool(options.get("tty")),
        interactive=bool(options.get("interactive")),
        readonly_rootfs=bool(options.get("read-only")),
        mounts=tuple(_mounts(options)), namespaces=frozenset(namespaces),
        uid_map=uid_map, gid_map=gid_map, network=network, init=bool(options.get("init")),
        auto_remove=bool(options.get("rm")), restart=_restart_policy(options),
        stop_signal=options.get("stop-signal"), stop_timeout=_stop_timeout(options),
        labels=tuple(tuple(label.partition("=")[::2]) for label in options.get("label", ())),
        healthcheck=_healthcheck(options),
        security=_security(options), resources=_resources(options),
        network_options=_network_options(options),
        cgroup_parent=options.get("cgroup-parent"),
    )


def _restart_policy(options):
    policy = options.get("restart", "no")
    name, _, count = policy.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure") or (
            count and (name != "on-failure" or not count.isdigit())):
        raise SpecError(f"invalid restart policy {policy!r}: use no, always, unless-stopped "
                        "or on-failure[:max-retries]")
    if name != "no" and options.get("rm"):
        raise SpecError("conflicting options: cannot specify both --restart and --rm")
    return policy


def _healthcheck(options):
    """--health-* as Docker's Healthcheck keys (nanoseconds), merged with the image's later."""
    if options.get("no-healthcheck"):
        return {"Test": ["NONE"]}
    check = {}
    if "health-cmd" in options:
        check["Test"] = ["CMD-SHELL", options["health-cmd"]]
    for flag, key in (("health-interval", "Interval"), ("health-timeout", "Timeout"),
                      ("health-start-period", "StartPeriod")):
        if flag in options:
            check[key] = duration_ns(options[flag], flag)
    if "health-retries" in options:
        if not options["health-retries"].isdigit():
            raise SpecError(f"invalid --health-retries {options['health-retries']!r}: a number")
        check["Retries"] = int(options["health-retries"])
    return check or None


def duration_ns(text, flag):
    """Go's duration syntax as Docker takes it: 30s, 1m30s, 500ms, 2h."""
    units = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    total, number, unit, i = 0, "", "", 0
    while i < len(text):
        char = text[i]
        if char.isdigit() or char == ".":
            if unit:
                total, unit = total + _part(number, unit, units, flag, text), ""
                number = ""
            number += char
        else:
            unit += char
        i += 1
    if not number or not unit:
        raise SpecError(f"invalid --{flag} {text!r}: use a duration such as 30s or 1m30s")
    return total + _part(number, unit, units, flag, text)


def _part(number, unit, units, flag, text):
    if unit not in units or not number:
        raise SpecError(f"invalid --{flag} {text!r}: use a duration such as 30s or 1m30s")
    return int(float(number) * units[unit])


def _stop_timeout(options):
    value = options.get("stop-timeout")
    if value is None:
        return None
    if not value.lstrip("-").isdigit():
        raise SpecError(f"invalid --stop-timeout {value!r}: a number of seconds")
    return int(value)


def _network_options(options):
    from .spec import NetworkOptions
    ports = tuple(options.get("publish", ()))
    if ports:
        from .network.ports import parse_all
        parse_all(ports)  # a malformed -p fails now, before anything is created
    return NetworkOptions(
        aliases=tuple(options.get("network-alias", ())), ip=options.get("ip"),
        mac=options.get("mac-address"), dns=tuple(options.get("dns", ())),
        add_hosts=tuple(options.get("add-host", ())), ports=ports,
        publish_all=bool(options.get("publish-all")))


RESOURCE_FLAGS = ("memory", "memory-swap", "memory-reservation", "cpus", "cpu-shares", "cpu-quota",
                  "cpu-period", "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight",
                  "device-read-bps", "device-write-bps")


def _resources(options):
    given = {flag.replace("-", "_"): options[flag] for flag in RESOURCE_FLAGS if flag in options}
    if not given:
        from .spec import Resources
        return Resources()
    from .units import parse_resources
    return parse_resources(given)


def _security(options):
    from .security import parse_ulimits
    from .security.options import parse_security_opts
    fields = {
        "cap_add": tuple(options.get("cap-add", ())), "cap_drop": tuple(options.get("cap-drop", ())),
        "privileged": bool(options.get("privileged")),
        "ulimits": tuple(parse_ulimits(options.get("ulimit", ()))),
        "group_add": tuple(options.get("group-add", ())),
    }
    fields.update(parse_security_opts(options.get("security-opt", ())))
    security = Security(**fields)
    from .security.capabilities import effective_set
    effective_set(security)  # unknown capability names fail here, before anything starts
    return security


def _environment(options):
    entries = []
    for path in options.get("env-file", ()):
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise SpecError(f"--env-file {path}: {exc.strerror}") from None
        entries += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    entries += options.get("env", [])
    result = []
    for entry in entries:
        key, has_value, _ = entry.partition("=")
        if not key or " " in key:
            raise SpecError(f"invalid environment variable: {entry!r}")
        if has_value:
            result.append(entry)
        elif key in os.environ:  # Docker: -e KEY copies our value, if we have one
            result.append(f"{key}={os.environ[key]}")
    return result


def _mounts(options):
    if not any(options.get(flag) for flag in ("volume", "mount", "tmpfs", "volumes-from")):
        return []
    from .volumes import parse_mount, parse_tmpfs, parse_volume
    mounts = []
    for value in options.get("volume", ()):
        mount = parse_volume(value)
        if mount.type == "bind" and not os.path.exists(mount.source):
            os.makedirs(mount.source, 0o755)  # Docker's -v creates a missing host directory
        mounts.append(mount)
    mounts += [parse_mount(value) for value in options.get("mount", ())]
    mounts += [parse_tmpfs(value) for value in options.get("tmpfs", ())]
    for value in options.get("volumes-from", ()):
        from .lifecycle import load
        from .volumes import volumes_from
        ref, _, mode = value.partition(":")
        other = ContainerSpec.from_json_dict(load(ref)[2]["spec"])
        mounts += volumes_from(other.mounts, mode)
    return mounts
