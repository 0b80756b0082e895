"""What a container is: immutable records that every layer passes around.

These are small frozen classes rather than dataclasses on purpose: importing
``dataclasses`` costs about 20 ms (it pulls in ``inspect``), which is as long
as runc takes to start a whole container, and ``run`` imports this module.
"""

NAMESPACES = ("user", "pid", "mount", "uts", "ipc", "net", "cgroup", "time")
DEFAULT_NAMESPACES = frozenset(("pid", "mount", "uts", "ipc", "net", "cgroup", "time"))
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Record:
    """A frozen record: ``FIELDS`` names each field and its default."""

    FIELDS = ()
    __slots__ = ()

    def __init__(self, **values):
        for name, default in self.FIELDS:
            object.__setattr__(self, name, values.pop(name, default))
        if values:
            raise TypeError(f"{type(self).__name__}: unknown field(s) {', '.join(values)}")

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable; use replace()")

    def replace(self, **changes):
        values = self.as_dict()
        values.update(changes)
        return type(self)(**values)

    def as_dict(self):
        return {name: getattr(self, name) for name, _ in self.FIELDS}

    def __eq__(self, other):
        return type(self) is type(other) and self.as_dict() == other.as_dict()

    def __hash__(self):
        try:
            return hash(tuple(self.as_dict().items()))
        except TypeError:  # a field holds a dict (e.g. an OCI seccomp profile)
            return hash(repr(self))

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"{type(self).__name__}({inner})"


class Mount(Record):
    """A bind mount (type "bind") or a tmpfs at ``target`` in the container."""

    FIELDS = (("target", ""), ("source", None), ("type", "bind"),
              ("readonly", False), ("options", ""))
    __slots__ = tuple(name for name, _ in FIELDS)


class IdMap(Record):
    """One line of /proc/PID/uid_map: ``size`` ids from ``container_id`` on."""

    FIELDS = (("container_id", 0), ("host_id", 0), ("size", 1))
    __slots__ = tuple(name for name, _ in FIELDS)

    def line(self):
        return f"{self.container_id} {self.host_id} {self.size}\n"


class Resources(Record):
    """cgroup limits, in Docker's units once parsed (bytes, microseconds).

    None means "not set" (the kernel default / unlimited). ``cpus`` is kept as
    given (e.g. 1.5) and turned into quota/period by the cgroup backend.
    ``device_read_bps``/``device_write_bps`` are tuples of (path, bytes/s); the
    path may also be "MAJOR:MINOR" (OCI's blockIO gives numbers).
    ``devices`` is None (Docker's default device list) or the device cgroup
    rules in order, each (allow, type "a"|"c"|"b", major or None, minor or
    None, access "rwm"), a later rule winning over an earlier one (OCI's
    linux.resources.devices).
    """

    FIELDS = (
        ("memory", None), ("memory_swap", None), ("memory_reservation", None),
        ("cpus", None), ("cpu_shares", None), ("cpu_quota", None), ("cpu_period", None),
        ("cpuset_cpus", None), ("cpuset_mems", None), ("pids_limit", None),
        ("blkio_weight", None), ("device_read_bps", ()), ("device_write_bps", ()),
        ("devices", None),
    )
    __slots__ = tuple(name for name, _ in FIELDS)


class Security(Record):
    """What the container may do: capabilities, seccomp, privileges, limits.

    ``seccomp`` is "default" (Docker's profile), "unconfined", a path to a
    profile in Docker's JSON format, or the profile itself as a dict (OCI's
    linux.seccomp). ``ulimits`` holds (name, soft, hard).

    OCI fields (their defaults keep Docker's behaviour): ``capabilities`` None
    (Docker's set, changed by cap_add/cap_drop) or a dict of the five sets
    {"bounding", "effective", "inheritable", "permitted", "ambient"} -> tuple
    of names; ``masked_paths``/``readonly_paths`` None (Docker's lists) or a
    tuple of paths; ``oom_score_adj`` None or -1000..1000.
    """

    FIELDS = (
        ("cap_add", ()), ("cap_drop", ()), ("privileged", False),
        ("seccomp", "default"), ("no_new_privileges", False),
        ("ulimits", ()), ("group_add", ()), ("systempaths_unconfined", False),
        ("capabilities", None), ("masked_paths", None), ("readonly_paths", None),
        ("oom_score_adj", None),
    )
    __slots__ = tuple(name for name, _ in FIELDS)


class NetworkOptions(Record):
    """Docker's per-container network flags; ``ports`` holds parsed -p specs."""

    FIELDS = (
        ("aliases", ()), ("ip", None), ("mac", None), ("dns", ()),
        ("add_hosts", ()), ("ports", ()), ("publish_all", False),
    )
    __slots__ = tuple(name for name, _ in FIELDS)


class ContainerSpec(Record):
    """Everything needed to start one container.

    ``rootfs`` is a directory on the host; ``args`` the command; ``namespaces``
    the set of namespace kinds to create (those left out stay the host's);
    ``user`` is Docker's ``uid[:gid]`` or ``name[:group]`` string, resolved
    inside the container's root.

    OCI fields (minicontainer.oci.config fills them; the defaults keep
    Docker's behaviour): ``mount_plan`` "docker" (Docker's fixed /proc, /sys,
    /dev... plus ``mounts`` as -v/--tmpfs) or "oci" (``mounts`` is the whole
    list, in order, any type, ``options`` the OCI option words joined by ",");
    ``exact_process``: the environment is exactly ``env`` and the
    supplementary groups exactly ``security.group_add`` (no passwd lookup);
    ``namespace_paths``: ((kind, path), ...) namespaces joined rather than
    made; ``sysctl``: ((key, value), ...) written inside the container;
    ``devices``: ((path, type, major, minor, mode, uid, gid), ...) nodes made
    in its /dev; ``cgroup_path``: None (``minicontainer-<id>``) or a path
    beneath the invoking process's own cgroup; ``rootfs_propagation``: None
    (private) or OCI's linux.rootfsPropagation; ``umask`` None (inherited) or
    the process's umask.
    """

    FIELDS = (
        ("rootfs", ""), ("args", ()), ("image", None), ("name", None),
        ("hostname", None), ("domainname", None),
        ("env", ()), ("cwd", "/"), ("user", None), ("entrypoint", None), ("pull", "missing"),
        ("tty", False), ("interactive", False),
        ("readonly_rootfs", False), ("mounts", ()),
        ("namespaces", DEFAULT_NAMESPACES),
        ("uid_map", ()), ("gid_map", ()),
        ("network", "none"), ("init", False), ("auto_remove", False),
        ("resources", Resources()), ("cgroup_parent", None),
        ("security", Security()), ("network_options", NetworkOptions()),
        ("restart", "no"), ("stop_signal", None), ("stop_timeout", None),
        ("healthcheck", None), ("labels", ()),
        ("mount_plan", "docker"), ("exact_process", False), ("namespace_paths", ()),
        ("sysctl", ()), ("devices", ()), ("cgroup_path", None), ("rootfs_propagation", None),
        ("umask", None), ("extra_networks", ()),
    )
    __slots__ = tuple(name for name, _ in FIELDS)

    def has(self, namespace):
        return namespace in self.namespaces

    def to_json_dict(self):
        """A plain dict (lists, not records) for state.json."""
        data = self.as_dict()
        data["args"] = list(self.args)
        data["env"] = list(self.env)
        data["mounts"] = [m.as_dict() for m in self.mounts]
        data["labels"] = [list(pair) for pair in self.labels]
        data["namespaces"] = sorted(self.namespaces)
        data["uid_map"] = [m.as_dict() for m in self.uid_map]
        data["gid_map"] = [m.as_dict() for m in self.gid_map]
        for key in ("resources", "security", "network_options"):
            data[key] = getattr(self, key).as_dict()
        for key in ("namespace_paths", "sysctl", "devices"):
            data[key] = [list(item) for item in data[key]]
        data["extra_networks"] = [[name, options.as_dict()]
                                  for name, options in self.extra_networks]
        return data

    @classmethod
    def from_json_dict(cls, data):
        data = dict(data)
        data["args"] = tuple(data.get("args", ()))
        data["env"] = tuple(data.get("env", ()))
        data["mounts"] = tuple(Mount(**m) for m in data.get("mounts", ()))
        data["labels"] = tuple(tuple(pair) for pair in data.get("labels", ()))
        data["namespaces"] = frozenset(data.get("namespaces", DEFAULT_NAMESPACES))
        data["uid_map"] = tuple(IdMap(**m) for m in data.get("uid_map", ()))
        data["gid_map"] = tuple(IdMap(**m) for m in data.get("gid_map", ()))
        resources = dict(data.get("resources", {}))
        if resources.get("devices") is not None:
            resources["devices"] = tuple(tuple(rule) for rule in resources["devices"])
        for key in ("device_read_bps", "device_write_bps"):
            resources[key] = tuple(tuple(pair) for pair in resources.get(key, ()))
        data["resources"] = Resources(**resources)
        security = dict(data.get("security", {}))
        if security.get("capabilities") is not None:
            security["capabilities"] = {kind: tuple(names) for kind, names
                                        in security["capabilities"].items()}
        for key in ("masked_paths", "readonly_paths"):
            if security.get(key) is not None:
                security[key] = tuple(security[key])
        for key in ("cap_add", "cap_drop", "group_add"):
            security[key] = tuple(security.get(key, ()))
        security["ulimits"] = tuple(tuple(u) for u in security.get("ulimits", ()))
        data["security"] = Security(**security)
        for key in ("namespace_paths", "sysctl", "devices"):
            data[key] = tuple(tuple(item) for item in data.get(key, ()))
        data["network_options"] = NetworkOptions(**data.get("network_options", {}))
        data["extra_networks"] = tuple((name, NetworkOptions(**options))
                                       for name, options in data.get("extra_networks", ()))
        return cls(**data)
