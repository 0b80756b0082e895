"""config.json's ``linux`` object -> ContainerSpec fields (see oci/config.py).

namespaces (new, or joined by path), id mappings, resources (cgroup limits
and the device rules), cgroupsPath, sysctl, seccomp, masked and read-only
paths, devices, rootfsPropagation.  Unsupported fields are refused with one
line naming them.
"""

from ..spec import IdMap, Resources
from .config import fail

# OCI namespace type -> our kind
NAMESPACE_KINDS = {"pid": "pid", "network": "net", "mount": "mount", "ipc": "ipc",
                   "uts": "uts", "user": "user", "cgroup": "cgroup", "time": "time"}
# Kinds that may be joined by path: the init enters them with setns(2) before
# any mount; a pid namespace is entered by the launcher for the clone (it only
# takes effect for children).  A mount namespace would be the one pivot_root
# changes, a user namespace must be entered before all the others, and a time
# namespace (like pid) only for children: refused.
JOINABLE = ("net", "ipc", "uts", "cgroup", "pid")
# sysctl keys a container may set (runc's list): each is per-namespace.
SYSCTL_IPC = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
              "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")
SYSCTL_UTS = ("kernel.hostname", "kernel.domainname")
DEVICE_TYPES = ("c", "b", "u", "p")
PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable",
                "runbindable")
UNSUPPORTED = ("intelRdt", "personality", "memoryPolicy", "timeOffsets")


def convert_linux(linux, warnings):
    for key in UNSUPPORTED:
        if linux.get(key):
            fail(f"linux.{key}", "is not supported by minicontainer")
    if linux.get("mountLabel"):
        warnings.append(f"linux.mountLabel {linux['mountLabel']!r} ignored: no SELinux here")
    namespaces, paths = _namespaces(linux.get("namespaces"))
    fields = {"namespaces": namespaces, "namespace_paths": paths}
    fields["uid_map"] = _id_maps(linux.get("uidMappings"), "linux.uidMappings")
    fields["gid_map"] = _id_maps(linux.get("gidMappings"), "linux.gidMappings")
    if bool(fields["uid_map"]) != bool(fields["gid_map"]):
        fail("linux.uidMappings", "and linux.gidMappings must be given together")
    if fields["uid_map"] and "user" not in namespaces:
        fail("linux.uidMappings", "needs a new user namespace in linux.namespaces")
    fields["resources"] = resources(linux.get("resources"))
    fields["cgroup_path"] = _cgroups_path(linux.get("cgroupsPath"))
    fields["sysctl"] = _sysctl(linux.get("sysctl"), namespaces)
    fields["devices"] = _devices(linux.get("devices"))
    fields["resources"] = _with_default_device_rules(fields["resources"], fields["devices"])
    propagation = linux.get("rootfsPropagation") or None
    if propagation is not None and propagation not in PROPAGATIONS:
        fail("linux.rootfsPropagation", f"must be one of {', '.join(PROPAGATIONS)}")
    fields["rootfs_propagation"] = propagation
    security = {"seccomp": _seccomp(linux.get("seccomp"))}
    for key, field in (("maskedPaths", "masked_paths"), ("readonlyPaths", "readonly_paths")):
        value = linux.get(key) or []
        if not isinstance(value, list) or not all(isinstance(p, str) and p.startswith("/")
                                                  for p in value):
            fail(f"linux.{key}", "must be a list of absolute paths")
        security[field] = tuple(value)
    fields["security"] = security
    return fields


def _namespaces(entries):
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        fail("linux.namespaces", "must be a list")
    new, joined = set(), []
    seen = set()
    for entry in entries:
        if not isinstance(entry, dict):
            fail("linux.namespaces", "entries must be objects with a type")
        kind = NAMESPACE_KINDS.get(entry.get("type"))
        if kind is None:
            fail("linux.namespaces", f"has an unknown type {entry.get('type')!r}")
        if kind in seen:
            fail("linux.namespaces", f"lists {entry['type']} twice")
        seen.add(kind)
        path = entry.get("path")
        if path:
            if not isinstance(path, str) or not path.startswith("/"):
                fail("linux.namespaces", f"{entry['type']} path must be an absolute path")
            if kind not in JOINABLE:
                fail("linux.namespaces", f"joining a {entry['type']} namespace by path is not "
                     "supported (only network, ipc, uts, cgroup, pid)")
            joined.append((kind, path))
        else:
            new.add(kind)
    if "mount" not in new:
        fail("linux.namespaces", "must include a new mount namespace")
    if "user" in new and joined:
        fail("linux.namespaces", "joining a namespace by path together with a new user "
             "namespace is not supported")
    return frozenset(new), tuple(joined)


def _id_maps(entries, field):
    if not entries:
        return ()
    if not isinstance(entries, list):
        fail(field, "must be a list")
    result = []
    for entry in entries:
        if not isinstance(entry, dict):
            fail(field, "entries must be objects with containerID, hostID and size")
        values = []
        for key in ("containerID", "hostID", "size"):
            value = entry.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0 or \
                    value > 2 ** 32 - 1:
                fail(field, f"{key} must be an integer from 0 to 4294967295")
            values.append(value)
        if values[2] == 0:
            fail(field, "size must be at least 1")
        result.append(IdMap(container_id=values[0], host_id=values[1], size=values[2]))
    return tuple(result)


def _cgroups_path(path):
    if path is None or path == "":
        return None
    if not isinstance(path, str):
        fail("linux.cgroupsPath", "must be a string")
    if ":" in path:
        fail("linux.cgroupsPath", f"{path!r} is systemd's slice:prefix:name form; "
             "minicontainer manages cgroupfs paths only")
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        fail("linux.cgroupsPath", f"{path!r} must name a cgroup beneath ours (no '..')")
    # runc takes an absolute path from the hierarchy's root; this machine's rule
    # is that containers live beneath the invoking process's own cgroup, so an
    # absolute path is read as relative to it (containerd's /default/ID lands
    # in <our cgroup>/default/ID).
    return "/".join(parts)


def _sysctl(sysctl, namespaces):
    if not sysctl:
        return ()
    if not isinstance(sysctl, dict):
        fail("linux.sysctl", "must be an object of strings")
    result = []
    for key, value in sysctl.items():
        if not isinstance(value, str):
            fail("linux.sysctl", f"{key}: the value must be a string")
        if not key or "/" in key or ".." in key or key.startswith("."):
            fail("linux.sysctl", f"{key!r} is not a sysctl key")
        if key in SYSCTL_IPC or key.startswith("fs.mqueue."):
            need = "ipc"
        elif key in SYSCTL_UTS:
            need = "uts"
        elif key.startswith("net."):
            need = "net"
        else:
            fail("linux.sysctl", f"{key} is not namespaced: it would change the host")
        if need not in namespaces:
            fail("linux.sysctl", f"{key} needs a new {need} namespace (it would change the "
                 "host's)")
        result.append((key, value))
    return tuple(result)


def _devices(devices):
    if not devices:
        return ()
    if not isinstance(devices, list):
        fail("linux.devices", "must be a list")
    result = []
    for index, entry in enumerate(devices):
        where = f"linux.devices[{index}]"
        if not isinstance(entry, dict):
            fail(where, "must be an object")
        path = entry.get("path")
        if not isinstance(path, str) or not path.startswith("/") or ".." in path.split("/"):
            fail(f"{where}.path", "must be an absolute path")
        kind = entry.get("type")
        if kind not in DEVICE_TYPES:
            fail(f"{where}.type", "must be c, b, u or p")
        if kind == "p":
            fail(f"{where}.type", "p (FIFO) devices are not supported")
        major = _int(entry.get("major"), f"{where}.major")
        minor = _int(entry.get("minor"), f"{where}.minor")
        mode = entry.get("fileMode", 0o666)
        mode = _int(mode, f"{where}.fileMode") & 0o7777
        uid = _int(entry.get("uid", 0), f"{where}.uid")
        gid = _int(entry.get("gid", 0), f"{where}.gid")
        result.append((path, kind, major, minor, mode, uid, gid))
    return tuple(result)


# Appended after the config's own rules, as runc appends its allowed devices:
# mknod of anything, the standard nodes, the container's pseudo-terminals,
# /dev/console and tun (the same list Docker gives, cgroups/devices.py).
CONSOLE_RULE = (True, "c", 5, 1, "rwm")


def _with_default_device_rules(res, devices):
    """The config's device rules, then the default ones, then an allow rule for
    each linux.devices node (which "MUST be available in the container").
    Without rules in the config: deny all first (Docker's default), not
    runc's allow-all."""
    from ..cgroups.devices import DEFAULT_RULES
    if res.devices is None and not devices:
        return res  # the cgroup manager's default list
    rules = list(res.devices) if res.devices is not None else [(False, "a", None, None, "rwm")]
    rules += [(True,) + tuple(rule[:4]) for rule in DEFAULT_RULES] + [CONSOLE_RULE]
    rules += [(True, "b" if kind == "b" else "c", major, minor, "rwm")
              for _path, kind, major, minor, _mode, _uid, _gid in devices]
    return res.replace(devices=tuple(rules))


def _int(value, field):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        fail(field, "must be a non-negative integer")
    return value


def _seccomp(seccomp):
    from ..security.libseccomp import ACTIONS, OPS
    if seccomp is None:
        return "unconfined"
    if not isinstance(seccomp, dict):
        fail("linux.seccomp", "must be an object")
    action = seccomp.get("defaultAction")
    if action not in ACTIONS:
        fail("linux.seccomp.defaultAction", f"{action!r} is not a supported action")
    if seccomp.get("listenerPath"):
        fail("linux.seccomp.listenerPath", "(seccomp user notification) is not supported")
    for flag in seccomp.get("flags") or ():
        if flag not in ("SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                        "SECCOMP_FILTER_FLAG_TSYNC"):
            fail("linux.seccomp.flags", f"{flag!r} is not supported")
    arches = seccomp.get("architectures") or []
    if not isinstance(arches, list) or not all(isinstance(a, str) for a in arches):
        fail("linux.seccomp.architectures", "must be a list of SCMP_ARCH_* names")
    syscalls = seccomp.get("syscalls") or []
    if not isinstance(syscalls, list):
        fail("linux.seccomp.syscalls", "must be a list")
    for index, entry in enumerate(syscalls):
        where = f"linux.seccomp.syscalls[{index}]"
        if not isinstance(entry, dict):
            fail(where, "must be an object")
        names = entry.get("names")
        if not isinstance(names, list) or not names or \
                not all(isinstance(n, str) and n for n in names):
            fail(f"{where}.names", "must be a non-empty list of syscall names")
        if entry.get("action") not in ACTIONS:
            fail(f"{where}.action", f"{entry.get('action')!r} is not a supported action")
        errno = entry.get("errnoRet")
        if errno is not None and (isinstance(errno, bool) or not isinstance(errno, int)
                                  or errno < 0):
            fail(f"{where}.errnoRet", "must be a non-negative integer")
        for arg in entry.get("args") or ():
            if not isinstance(arg, dict) or arg.get("op") not in OPS or \
                    not isinstance(arg.get("index"), int) or not 0 <= arg["index"] < 6:
                fail(f"{where}.args", "entries need an index 0-5, a value and a SCMP_CMP_* op")
    # The OCI form is Docker's without includes/excludes: the same compiler reads it.
    profile = {key: seccomp[key] for key in ("defaultAction", "defaultErrnoRet",
                                             "architectures", "syscalls") if key in seccomp}
    return profile


# -- resources ------------------------------------------------------------------------------

def resources(res, field="linux.resources"):
    """OCI linux.resources -> Resources (also for ``update --resources``)."""
    if res is None:
        return Resources()
    if not isinstance(res, dict):
        fail(field, "must be an object")
    values = {}
    for key in ("hugepageLimits", "network", "rdma", "unified"):
        if res.get(key):
            fail(f"{field}.{key}", "is not supported by minicontainer")
    memory = _object(res.get("memory"), f"{field}.memory")
    for key, name in (("limit", "memory"), ("swap", "memory_swap"),
                      ("reservation", "memory_reservation")):
        value = memory.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value == 0 or \
                    value < -1:
                fail(f"{field}.memory.{key}", "must be a positive number of bytes or -1")
            values[name] = value
    if memory.get("swappiness") is not None or memory.get("disableOOMKiller"):
        fail(f"{field}.memory", "swappiness/disableOOMKiller are not supported")
    cpu = _object(res.get("cpu"), f"{field}.cpu")
    for key, name in (("shares", "cpu_shares"), ("quota", "cpu_quota"), ("period", "cpu_period")):
        value = cpu.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or \
                    (value <= 0 and not (key == "quota" and value == -1)):
                fail(f"{field}.cpu.{key}", "must be a positive integer")
            values[name] = value
    for key, name in (("cpus", "cpuset_cpus"), ("mems", "cpuset_mems")):
        if cpu.get(key):
            if not isinstance(cpu[key], str):
                fail(f"{field}.cpu.{key}", "must be a string such as '0-1'")
            values[name] = cpu[key]
    for key in ("realtimeRuntime", "realtimePeriod", "idle", "burst"):
        if cpu.get(key):
            fail(f"{field}.cpu.{key}", "is not supported by minicontainer")
    pids = _object(res.get("pids"), f"{field}.pids")
    if pids.get("limit") is not None:
        limit = pids["limit"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit == 0 or limit < -1:
            fail(f"{field}.pids.limit", "must be a positive integer or -1")
        values["pids_limit"] = limit
    values.update(_block_io(_object(res.get("blockIO"), f"{field}.blockIO"), field))
    if res.get("devices") is not None:
        values["devices"] = _device_rules(res["devices"], f"{field}.devices")
    return Resources(**values)


def _object(value, field):
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(field, "must be an object")
    return value


def _block_io(block, field):
    values = {}
    weight = block.get("weight")
    if weight is not None:
        if isinstance(weight, bool) or not isinstance(weight, int) or not 10 <= weight <= 1000:
            fail(f"{field}.blockIO.weight", "must be from 10 to 1000")
        values["blkio_weight"] = weight
    for key in ("leafWeight", "weightDevice", "throttleReadIOPSDevice",
                "throttleWriteIOPSDevice"):
        if block.get(key):
            fail(f"{field}.blockIO.{key}", "is not supported by minicontainer")
    for key, name in (("throttleReadBpsDevice", "device_read_bps"),
                      ("throttleWriteBpsDevice", "device_write_bps")):
        entries = block.get(key) or []
        if not isinstance(entries, list):
            fail(f"{field}.blockIO.{key}", "must be a list")
        pairs = []
        for entry in entries:
            if not isinstance(entry, dict):
                fail(f"{field}.blockIO.{key}", "entries must be objects")
            major = _int(entry.get("major"), f"{field}.blockIO.{key}.major")
            minor = _int(entry.get("minor"), f"{field}.blockIO.{key}.minor")
            rate = _int(entry.get("rate"), f"{field}.blockIO.{key}.rate")
            pairs.append((f"{major}:{minor}", rate))
        if pairs:
            values[name] = tuple(pairs)
    return values


def _device_rules(rules, field):
    if not isinstance(rules, list):
        fail(field, "must be a list")
    result = []
    for index, rule in enumerate(rules):
        where = f"{field}[{index}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("allow"), bool):
            fail(where, "must be an object with allow true or false")
        kind = rule.get("type") or "a"
        if kind not in ("a", "c", "b"):
            fail(f"{where}.type", "must be a, c or b")
        numbers = []
        for key in ("major", "minor"):
            value = rule.get(key)
            if value is None or value == -1:
                numbers.append(None)
            else:
                numbers.append(_int(value, f"{where}.{key}"))
        access = rule.get("access") or "rwm"
        if not isinstance(access, str) or not access or set(access) - set("rwm"):
            fail(f"{where}.access", "must be letters from r, w, m")
        result.append((rule["allow"], kind, numbers[0], numbers[1], access))
    return tuple(result)
