"""The informational commands: ps, list, features, spec."""

import os
import sys

from ..errors import Conflict, SpecError
from . import state as oci_state


def _json(value, indent=None):
    import json
    sys.stdout.write(json.dumps(value, indent=indent) + "\n")


def ps(root, options, args, log):
    """The container's processes: their pids (json), or ``ps``'s lines for them (table)."""
    fmt = options.get("format", "table")
    if fmt not in ("table", "json"):
        raise SpecError(f"invalid format {fmt!r}: use table or json")
    container_id, ps_args = args[0], args[1:]
    _store, record = oci_state.load(root, container_id)
    if oci_state.status(record) in ("stopped", "creating"):
        raise Conflict(f"container {container_id} is not running")
    pids = container_pids(record)
    if fmt == "json":
        _json(pids)
        return 0
    import subprocess
    out = subprocess.run(["ps"] + (ps_args or ["-ef"]), stdout=subprocess.PIPE,
                         check=True).stdout.decode(errors="replace").splitlines()
    if not out:
        return 0
    header = out[0].split()
    if "PID" not in header:
        raise SpecError("ps: the options must keep the PID column")
    column = header.index("PID")
    wanted = {str(pid) for pid in pids}
    lines = [out[0]] + [line for line in out[1:]
                        if len(line.split()) > column and line.split()[column] in wanted]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def container_pids(record):
    if record.get("cgroup"):
        from ..cgroups import from_record
        pids = from_record(record["cgroup"]).pids()
        if pids:
            return sorted(pids)
    return [record["pid"]] if oci_state.init_alive(record) else []


def list(root, options, args, log):  # noqa: A001 - the command's name
    fmt = options.get("format", "table")
    if fmt not in ("table", "json"):
        raise SpecError(f"invalid format {fmt!r}: use table or json")
    store = oci_state.store_for(root)
    documents = []
    for container_id in store.list_ids():
        try:
            record = oci_state.load(root, container_id)[1]
            documents.append(oci_state.oci_state(container_id, record))
        except Exception:  # noqa: BLE001 - a record being removed right now
            continue
    if options.get("quiet"):
        for document in documents:
            sys.stdout.write(document["id"] + "\n")
    elif fmt == "json":
        _json(documents)
    else:
        from ..cli_format import table
        rows = [(d["id"], d["pid"], d["status"], d["bundle"], d["created"], d["owner"] or "root")
                for d in documents]
        lines = table(("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"), rows)
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


def features(root, options, args, log):
    """What this runtime supports, in the shape of runc's ``features`` (OCI features.json)."""
    from ..security.capabilities import all_capabilities
    _json({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.0.2",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": sorted(MOUNT_OPTIONS),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "capabilities": sorted(all_capabilities()),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": True,
                        "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                    "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                        "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
                                      "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ",
                                      "SCMP_CMP_NE"],
                        "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runc.checkpoint.enabled": "false",
                        "io.github.minicontainer.version": "0.1.0"},
    }, indent=4)
    return 0


MOUNT_OPTIONS = ("async", "atime", "bind", "defaults", "dev", "diratime", "exec", "iversion",
                 "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime", "noexec",
                 "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime",
                 "nosuid", "private", "rbind", "relatime", "remount", "ro", "rprivate",
                 "rshared", "rslave", "runbindable", "rw", "shared", "silent", "slave",
                 "strictatime", "suid", "sync", "unbindable")


def spec(root, options, args, log):
    """Write a default config.json in the bundle directory (never over an existing one)."""
    from ..linux.fs import atomic_write
    from .config import default_config
    bundle = options.get("bundle") or "."
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise Conflict(f"File {path} exists. Remove it first")
    import json
    atomic_write(path, json.dumps(default_config(rootless=bool(options.get("rootless"))),
                                  indent=4) + "\n", durable=False)
    return 0
