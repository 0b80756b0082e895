"""An OCI bundle's config.json -> the runtime's own ContainerSpec (and the rest).

    bundle = load_bundle("/path/to/bundle")
    bundle.spec          # ContainerSpec, ready for Container(bundle.spec)
    bundle.hooks         # {"prestart": [{"path", "args", "env", "timeout"}], ...}
    bundle.annotations, bundle.oci_version, bundle.cgroups_path, bundle.warnings

Every field the runtime-spec defines for Linux is either honoured or refused
with one line naming it ("config.json: process.args must be a non-empty
list of strings"); nothing is silently half-done.  The ``linux`` object is
converted by ``config_linux``.  ``default_config`` is what ``spec`` writes.
"""

import os

from ..errors import SpecError
from ..spec import ContainerSpec, Mount, Record, Security

HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop")
CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
SUPPORTED_VERSION_MAJOR = "1."


class OciBundle(Record):
    """What ``load_bundle`` read: the spec and what only the OCI layer uses."""

    FIELDS = (("spec", None), ("hooks", None), ("annotations", None), ("oci_version", ""),
              ("cgroups_path", None), ("bundle", ""), ("warnings", ()))
    __slots__ = tuple(name for name, _ in FIELDS)


def fail(field, problem):
    raise SpecError(f"config.json: {field} {problem}", op="config.json")


def load_bundle(bundle_dir):
    """Read ``bundle_dir``/config.json; an OciBundle, or SpecError naming the field."""
    from ..errors import SetupError
    from .state import parse_json  # the json module's C scanner alone: no `import json`
    bundle_dir = os.path.abspath(bundle_dir)
    path = os.path.join(bundle_dir, "config.json")
    try:
        with open(path, "rb") as f:
            config = parse_json(f.read().decode("utf-8"), path)
    except FileNotFoundError:
        raise SpecError(f"no config.json in the bundle {bundle_dir}", op="config.json",
                        path=path) from None
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}", op="config.json",
                        path=path) from None
    except (SetupError, ValueError):  # ValueError: not UTF-8
        raise SpecError("config.json: not valid JSON", op="config.json", path=path) from None
    return convert(config, bundle_dir)


def convert(config, bundle_dir):
    """A config.json document (dict) -> OciBundle; relative paths from ``bundle_dir``."""
    from . import config_linux
    if not isinstance(config, dict):
        fail("the document", "must be a JSON object")
    version = config.get("ociVersion")
    if not isinstance(version, str) or not version.startswith(SUPPORTED_VERSION_MAJOR):
        fail("ociVersion", f"must be a 1.x version string (got {version!r})")
    warnings = []
    rootfs, readonly = _root(config.get("root"), bundle_dir)
    process = config.get("process")
    if not isinstance(process, dict):
        fail("process", "must be an object (the container's process)")
    fields = process_fields(process, None, warnings)
    linux = config.get("linux")
    if linux is None:
        linux = {}
    if not isinstance(linux, dict):
        fail("linux", "must be an object")
    linux_fields = config_linux.convert_linux(linux, warnings)
    namespaces = linux_fields["namespaces"]
    for key in ("hostname", "domainname"):
        value = config.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            fail(key, "must be a string")
        if "uts" not in namespaces:
            fail(key, "needs a new uts namespace (linux.namespaces has none)")
    mounts = _mounts(config.get("mounts"), bundle_dir)
    security = fields.pop("security").replace(**linux_fields.pop("security"))
    spec = ContainerSpec(
        rootfs=rootfs, readonly_rootfs=readonly, mounts=mounts, mount_plan="oci",
        hostname=config.get("hostname") or None, domainname=config.get("domainname") or None,
        network="none" if "net" in namespaces else "host", interactive=True,
        security=security, **fields, **linux_fields)
    if spec.has("user") and not spec.uid_map:
        fail("linux.uidMappings", "must be given with a new user namespace")
    return OciBundle(spec=spec, hooks=_hooks(config.get("hooks")),
                     annotations=_annotations(config.get("annotations")), oci_version=version,
                     cgroups_path=spec.cgroup_path, bundle=bundle_dir,
                     warnings=tuple(warnings))


# -- root and process -----------------------------------------------------------------------

def _root(root, bundle_dir):
    if not isinstance(root, dict):
        fail("root", "must be an object with a path")
    path = root.get("path")
    if not isinstance(path, str) or not path:
        fail("root.path", "must be a non-empty string")
    full = os.path.normpath(os.path.join(bundle_dir, path))
    if not os.path.isdir(full):
        fail("root.path", f"{path!r} is not a directory ({full})")
    readonly = root.get("readonly", False)
    if not isinstance(readonly, bool):
        fail("root.readonly", "must be true or false")
    return full, readonly


def _strings(value, field, allow_empty=True):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) \
            or (not allow_empty and not value):
        fail(field, "must be a " + ("" if allow_empty else "non-empty ") + "list of strings")
    return tuple(value)


def _uint(value, field, top=2 ** 32 - 1):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        fail(field, f"must be an integer from 0 to {top}")
    return value


def process_fields(process, base=None, warnings=None):
    """ContainerSpec changes for an OCI process object (the config's, or exec's
    --process).  With ``base`` (exec), the security record is ``base``'s,
    changed; without, a fresh one with seccomp "unconfined" (the linux object
    adds the filter)."""
    field = "process"
    args = process.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        fail("process.args", "must be a non-empty list of strings")
    if process.get("commandLine"):
        fail("process.commandLine", "is Windows-only")
    env = _strings(process.get("env") or [], "process.env")
    for item in env:
        if "=" not in item or item.startswith("="):
            fail("process.env", f"entry {item!r} is not KEY=value")
    cwd = process.get("cwd")
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        fail("process.cwd", f"must be an absolute path (got {cwd!r})")
    terminal = process.get("terminal", False)
    if not isinstance(terminal, bool):
        fail("process.terminal", "must be true or false")
    user = process.get("user")
    if not isinstance(user, dict):
        fail("process.user", "must be an object with uid and gid")
    uid = _uint(user.get("uid"), "process.user.uid")
    gid = _uint(user.get("gid"), "process.user.gid")
    groups = user.get("additionalGids") or []
    if not isinstance(groups, list):
        fail("process.user.additionalGids", "must be a list of integers")
    groups = tuple(str(_uint(g, "process.user.additionalGids")) for g in groups)
    umask = user.get("umask")
    if umask is not None:
        umask = _uint(umask, "process.user.umask", 0o777)
    nnp = process.get("noNewPrivileges", False)
    if not isinstance(nnp, bool):
        fail("process.noNewPrivileges", "must be true or false")
    oom = process.get("oomScoreAdj")
    if oom is not None and (isinstance(oom, bool) or not isinstance(oom, int)
                            or not -1000 <= oom <= 1000):
        fail("process.oomScoreAdj", "must be an integer from -1000 to 1000")
    for key in ("apparmorProfile", "selinuxLabel"):
        if process.get(key) and warnings is not None:
            warnings.append(f"process.{key} {process[key]!r} ignored: minicontainer applies "
                            "no LSM profile")
    for key in ("ioPriority", "scheduler", "execCPUAffinity"):
        if process.get(key) is not None:
            fail(f"{field}.{key}", "is not supported by minicontainer")
    security = (base.security if base is not None else Security(seccomp="unconfined"))
    security = security.replace(
        capabilities=_capabilities(process.get("capabilities"), warnings),
        ulimits=_rlimits(process.get("rlimits")), no_new_privileges=nnp, group_add=groups,
        oom_score_adj=oom, cap_add=(), cap_drop=(), privileged=False)
    return {"args": tuple(args), "env": env, "cwd": cwd, "tty": terminal,
            "user": f"{uid}:{gid}", "umask": umask, "exact_process": True,
            "security": security}


def _capabilities(caps, warnings=None):
    from ..security.capabilities import NUMBERS
    if caps is None:
        return {kind: () for kind in CAP_SETS}
    if not isinstance(caps, dict):
        fail("process.capabilities", "must be an object of capability lists")
    unknown = set(caps) - set(CAP_SETS)
    if unknown:
        fail("process.capabilities", f"has unknown set(s) {', '.join(sorted(unknown))}")
    result = {}
    for kind in CAP_SETS:
        names = _strings(caps.get(kind) or [], f"process.capabilities.{kind}")
        for name in names:
            if name not in NUMBERS:
                fail(f"process.capabilities.{kind}", f"names an unknown capability {name!r}")
        result[kind] = tuple(dict.fromkeys(names))
    lost = [n for n in result["ambient"]
            if n not in result["inheritable"] or n not in result["permitted"]]
    if lost and warnings is not None:
        warnings.append("process.capabilities.ambient: " + ", ".join(lost) + " not raised "
                        "(an ambient capability must also be inheritable and permitted)")
    return result


def _rlimits(rlimits):
    from ..security.limits import RESOURCES
    if rlimits is None:
        return ()
    if not isinstance(rlimits, list):
        fail("process.rlimits", "must be a list")
    seen = {}
    for entry in rlimits:
        if not isinstance(entry, dict):
            fail("process.rlimits", "entries must be objects with type, soft and hard")
        kind = entry.get("type")
        name = kind[len("RLIMIT_"):].lower() if isinstance(kind, str) and \
            kind.startswith("RLIMIT_") else None
        if name not in RESOURCES:
            fail("process.rlimits", f"has an unknown type {kind!r}")
        if name in seen:
            fail("process.rlimits", f"lists {kind} twice")
        soft = _uint(entry.get("soft"), f"process.rlimits {kind} soft", 2 ** 64 - 1)
        hard = _uint(entry.get("hard"), f"process.rlimits {kind} hard", 2 ** 64 - 1)
        if soft > hard:
            fail("process.rlimits", f"{kind}: soft limit {soft} is above hard limit {hard}")
        seen[name] = (name, soft, hard)
    return tuple(seen.values())


# -- mounts, hooks, annotations ---------------------------------------------------------------

def _mounts(mounts, bundle_dir):
    from ..rootfs.ociplan import parse_options
    if mounts is None:
        return ()
    if not isinstance(mounts, list):
        fail("mounts", "must be a list")
    result = []
    for index, entry in enumerate(mounts):
        where = f"mounts[{index}]"
        if not isinstance(entry, dict):
            fail(where, "must be an object")
        target = entry.get("destination")
        if not isinstance(target, str) or not target.startswith("/"):
            fail(f"{where}.destination", f"must be an absolute path (got {target!r})")
        if os.path.normpath(target) == "/":
            fail(f"{where}.destination", "cannot be / (that is root.path)")
        fstype = entry.get("type") or None
        if fstype is not None and not isinstance(fstype, str):
            fail(f"{where}.type", "must be a string")
        words = _strings(entry.get("options") or [], f"{where}.options")
        try:
            options = parse_options(words, fstype)
        except ValueError as exc:
            fail(f"{where}.options", str(exc))
        if entry.get("uidMappings") or entry.get("gidMappings"):
            fail(f"{where}.uidMappings", "(id-mapped mounts) are not supported")
        source = entry.get("source")
        if source is not None and not isinstance(source, str):
            fail(f"{where}.source", "must be a string")
        if options.bind:
            if not source:
                fail(f"{where}.source", "is needed for a bind mount")
            source = os.path.normpath(os.path.join(bundle_dir, source))
            if not os.path.exists(source):
                fail(f"{where}.source", f"{source} does not exist")
            fstype = "bind"
        elif fstype is None:
            fail(f"{where}.type", "is needed (or a bind/rbind option)")
        result.append(Mount(target=target, source=source, type=fstype,
                            readonly="ro" in words, options=",".join(words)))
    return tuple(result)


def _hooks(hooks):
    if hooks is None:
        return {}
    if not isinstance(hooks, dict):
        fail("hooks", "must be an object")
    result = {}
    for kind, entries in hooks.items():
        if kind not in HOOK_KINDS:
            fail("hooks", f"has an unknown kind {kind!r}")
        if not isinstance(entries, list):
            fail(f"hooks.{kind}", "must be a list")
        converted = []
        for index, hook in enumerate(entries):
            where = f"hooks.{kind}[{index}]"
            if not isinstance(hook, dict):
                fail(where, "must be an object")
            path = hook.get("path")
            if not isinstance(path, str) or not path.startswith("/"):
                fail(f"{where}.path", "must be an absolute path")
            timeout = hook.get("timeout")
            if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)
                                        or timeout <= 0):
                fail(f"{where}.timeout", "must be a positive integer (seconds)")
            converted.append({"path": path,
                              "args": list(_strings(hook.get("args") or [], f"{where}.args")),
                              "env": list(_strings(hook.get("env") or [], f"{where}.env")),
                              "timeout": timeout})
        result[kind] = converted
    return result


def _annotations(annotations):
    if annotations is None:
        return {}
    if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()):
        fail("annotations", "must be an object of strings")
    return dict(annotations)


# -- spec: the default config ------------------------------------------------------------------

def default_config(rootless=False):
    """A config.json like runc's ``spec``: sh on a terminal, the usual mounts,
    masked and read-only paths, new namespaces (and a user namespace mapping
    the caller's ids, with ``rootless``)."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    config = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": True, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            # runc's spec also lists them as ambient, which without inheritable
            # (left out since CVE-2022-29162) the kernel cannot raise: omitted
            # here, the same process with no warning on every create.
            "capabilities": {"bounding": list(caps), "effective": list(caps),
                             "permitted": list(caps)},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "minicontainer",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
             + ([] if rootless else ["gid=5"])},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": kind} for kind in
                           ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }
    if rootless:
        uid, gid = os.geteuid(), os.getegid()
        linux = config["linux"]
        linux["namespaces"].append({"type": "user"})
        linux["uidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": gid, "size": 1}]
        del linux["resources"]
    return config
