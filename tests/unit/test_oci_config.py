"""config.json -> ContainerSpec: every field, valid and each kind of invalid (no root needed)."""

import copy
import json
import os

import pytest

from minicontainer.errors import SpecError
from minicontainer.oci.config import convert, default_config, load_bundle, process_fields
from minicontainer.spec import ContainerSpec, IdMap

CAPS = ["CAP_CHOWN", "CAP_KILL"]
BASE = {
    "ociVersion": "1.0.2",
    "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "env": ["PATH=/bin"],
                "cwd": "/"},
    "root": {"path": "rootfs"},
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]},
}


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return str(tmp_path)


def conv(bundle, **changes):
    """Convert BASE with dotted-path changes ("process.cwd": "/x"); None deletes."""
    config = copy.deepcopy(BASE)
    for path, value in changes.items():
        keys = path.split("__")
        target = config
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        if value is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = value
    return convert(config, bundle)


def refused(bundle, match, **changes):
    with pytest.raises(SpecError, match=match) as info:
        conv(bundle, **changes)
    message = str(info.value)
    assert message.startswith("config.json") and "\n" not in message
    return message


# -- the document, root, version --------------------------------------------------------------

def test_minimal_config(bundle):
    result = conv(bundle)
    spec = result.spec
    assert isinstance(spec, ContainerSpec)
    assert spec.rootfs == os.path.join(bundle, "rootfs")
    assert spec.args == ("sh",) and spec.env == ("PATH=/bin",) and spec.cwd == "/"
    assert spec.user == "0:0" and spec.exact_process and spec.mount_plan == "oci"
    assert spec.namespaces == frozenset({"mount", "pid"}) and spec.network == "host"
    assert spec.interactive and not spec.tty
    assert spec.security.seccomp == "unconfined"
    assert spec.security.capabilities == {k: () for k in
                                          ("bounding", "effective", "inheritable", "permitted",
                                           "ambient")}
    assert spec.security.masked_paths == () and spec.security.readonly_paths == ()
    assert result.hooks == {} and result.annotations == {} and result.oci_version == "1.0.2"
    assert result.cgroups_path is None and spec.hostname is None


def test_load_bundle_reads_the_file(bundle):
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(BASE, f)
    assert load_bundle(bundle).spec.args == ("sh",)


def test_load_bundle_errors(bundle, tmp_path):
    with pytest.raises(SpecError, match="no config.json"):
        load_bundle(bundle)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_bundle(bundle)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write("[]")
    with pytest.raises(SpecError, match="must be a JSON object"):
        load_bundle(bundle)


def test_version(bundle):
    refused(bundle, "ociVersion", ociVersion="2.0.0")
    refused(bundle, "ociVersion", ociVersion=None)


def test_root(bundle):
    os.mkdir(os.path.join(bundle, "other"))
    assert conv(bundle, root={"path": "other", "readonly": True}).spec.readonly_rootfs
    assert conv(bundle, root={"path": os.path.join(bundle, "other")}).spec.rootfs.endswith(
        "/other")
    refused(bundle, "root.path", root={"path": "missing"})
    refused(bundle, "root.path", root={"path": ""})
    refused(bundle, "root ", root=None)
    refused(bundle, "root.readonly", root={"path": "rootfs", "readonly": "yes"})


# -- process ---------------------------------------------------------------------------------

def test_process_fields(bundle):
    spec = conv(bundle, process={
        "args": ["a", "b"], "env": ["A=1", "B="], "cwd": "/work", "terminal": True,
        "user": {"uid": 1000, "gid": 100, "additionalGids": [5, 6], "umask": 0o27},
        "noNewPrivileges": True, "oomScoreAdj": -500}).spec
    assert spec.args == ("a", "b") and spec.env == ("A=1", "B=") and spec.cwd == "/work"
    assert spec.tty and spec.user == "1000:100" and spec.umask == 0o27
    assert spec.security.group_add == ("5", "6")
    assert spec.security.no_new_privileges and spec.security.oom_score_adj == -500


@pytest.mark.parametrize("field, value, match", [
    ("args", [], "process.args must be a non-empty list"),
    ("args", "sh", "process.args must be a non-empty list"),
    ("args", ["sh", 1], "process.args"),
    ("env", ["NOEQUALS"], "process.env entry"),
    ("env", "A=1", "process.env must be a list"),
    ("cwd", "relative", "process.cwd must be an absolute path"),
    ("cwd", None, "process.cwd"),
    ("terminal", "yes", "process.terminal"),
    ("user", None, "process.user must be an object"),
    ("user", {"uid": -1, "gid": 0}, "process.user.uid"),
    ("user", {"uid": 0}, "process.user.gid"),
    ("user", {"uid": 0, "gid": 0, "additionalGids": ["x"]}, "additionalGids"),
    ("user", {"uid": 0, "gid": 0, "umask": 0o1000}, "umask"),
    ("noNewPrivileges", 1, "noNewPrivileges"),
    ("oomScoreAdj", 1001, "oomScoreAdj"),
    ("oomScoreAdj", "1", "oomScoreAdj"),
    ("capabilities", {"bounding": ["CAP_NOPE"]}, "unknown capability 'CAP_NOPE'"),
    ("capabilities", {"bogus": []}, "unknown set"),
    ("capabilities", ["CAP_KILL"], "process.capabilities"),
    ("rlimits", [{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}], "unknown type"),
    ("rlimits", [{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}], "soft limit 2 is above"),
    ("rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1}], "hard"),
    ("rlimits", [{"type": "RLIMIT_CORE", "soft": 1, "hard": 1}] * 2, "twice"),
    ("scheduler", {"policy": "SCHED_FIFO"}, "process.scheduler is not supported"),
    ("commandLine", "x", "Windows-only"),
])
def test_process_refusals(bundle, field, value, match):
    process = copy.deepcopy(BASE["process"])
    if value is None:
        process.pop(field)
    else:
        process[field] = value
    refused(bundle, match, process=process)


def test_capabilities_and_rlimits(bundle):
    process = dict(BASE["process"], capabilities={
        "bounding": CAPS, "effective": ["CAP_KILL"], "inheritable": [], "permitted": CAPS,
        "ambient": ["CAP_KILL"]},
        rlimits=[{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                 {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}])
    spec = conv(bundle, process=process).spec
    assert spec.security.capabilities["bounding"] == tuple(CAPS)
    assert spec.security.capabilities["ambient"] == ("CAP_KILL",)
    assert spec.security.capabilities["inheritable"] == ()
    assert spec.security.ulimits == (("nofile", 100, 200), ("core", 0, 0))


def test_lsm_fields_are_warned_about(bundle):
    process = dict(BASE["process"], apparmorProfile="x", selinuxLabel="y")
    warnings = conv(bundle, process=process).warnings
    assert len(warnings) == 2 and "apparmorProfile" in warnings[0]


def test_process_fields_for_exec_keep_the_base_security():
    base = ContainerSpec(args=("x",)).replace(
        security=ContainerSpec().security.replace(seccomp={"defaultAction": "SCMP_ACT_ALLOW"}))
    changes = process_fields({"args": ["ls"], "cwd": "/", "user": {"uid": 1, "gid": 2}}, base)
    assert changes["security"].seccomp == {"defaultAction": "SCMP_ACT_ALLOW"}
    assert changes["args"] == ("ls",) and changes["user"] == "1:2"


# -- hostname, mounts, hooks, annotations ------------------------------------------------------

def test_hostname_needs_uts(bundle):
    refused(bundle, "hostname needs a new uts namespace", hostname="x")
    spec = conv(bundle, hostname="box", domainname="example",
                linux={"namespaces": [{"type": "mount"}, {"type": "uts"}]}).spec
    assert spec.hostname == "box" and spec.domainname == "example"
    refused(bundle, "domainname must be a string", domainname=5,
            linux={"namespaces": [{"type": "mount"}, {"type": "uts"}]})


def test_mounts(bundle):
    os.mkdir(os.path.join(bundle, "data"))
    spec = conv(bundle, mounts=[
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "source": "data", "options": ["rbind", "ro", "nosuid"]},
        {"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
    ]).spec
    proc, data, tmp = spec.mounts
    assert proc.type == "proc" and proc.options == ""
    assert data.type == "bind" and data.source == os.path.join(bundle, "data")
    assert data.readonly and data.options == "rbind,ro,nosuid"
    assert tmp.type == "tmpfs" and tmp.options == "size=1m" and not tmp.readonly
    assert conv(bundle, mounts=None).spec.mounts == ()


@pytest.mark.parametrize("mount, match", [
    ({"destination": "rel", "type": "tmpfs"}, r"mounts\[0\].destination"),
    ({"destination": "/", "type": "tmpfs"}, "cannot be /"),
    ({"destination": "/x"}, r"mounts\[0\].type is needed"),
    ({"destination": "/x", "options": ["bind"]}, "source is needed"),
    ({"destination": "/x", "source": "/no/such/dir", "options": ["bind"]}, "does not exist"),
    ({"destination": "/x", "source": "/", "options": ["bind", "size=1"]}, "takes no filesystem"),
    ({"destination": "/x", "type": "tmpfs", "options": ["rro"]}, "recursive mount attribute"),
    ({"destination": "/x", "type": "tmpfs", "options": "ro"}, "options must be a list"),
    ({"destination": "/x", "type": "tmpfs", "uidMappings": [{}]}, "id-mapped"),
])
def test_mount_refusals(bundle, mount, match):
    refused(bundle, match, mounts=[mount])


def test_hooks_and_annotations(bundle):
    result = conv(bundle, hooks={"prestart": [{"path": "/bin/true", "args": ["true", "x"],
                                               "env": ["A=1"], "timeout": 5}],
                                 "poststop": [{"path": "/bin/false"}]},
                  annotations={"a": "b"})
    assert result.hooks["prestart"] == [{"path": "/bin/true", "args": ["true", "x"],
                                         "env": ["A=1"], "timeout": 5}]
    assert result.hooks["poststop"] == [{"path": "/bin/false", "args": [], "env": [],
                                         "timeout": None}]
    assert result.annotations == {"a": "b"}
    refused(bundle, "unknown kind 'prestop'", hooks={"prestop": []})
    refused(bundle, r"hooks.prestart\[0\].path", hooks={"prestart": [{"path": "true"}]})
    refused(bundle, "timeout", hooks={"prestart": [{"path": "/x", "timeout": 0}]})
    refused(bundle, "annotations", annotations={"a": 1})


# -- linux ---------------------------------------------------------------------------------------

def linux(**fields):
    value = {"namespaces": [{"type": "mount"}, {"type": "pid"}]}
    value.update(fields)
    return value


def test_namespaces(bundle, tmp_path):
    spec = conv(bundle, linux=linux(namespaces=[
        {"type": t} for t in ("pid", "network", "mount", "ipc", "uts", "cgroup")])).spec
    assert spec.namespaces == frozenset({"pid", "net", "mount", "ipc", "uts", "cgroup"})
    assert spec.network == "none"
    spec = conv(bundle, linux=linux(namespaces=[
        {"type": "mount"}, {"type": "network", "path": "/proc/1/ns/net"}])).spec
    assert spec.namespace_paths == (("net", "/proc/1/ns/net"),)
    assert "net" not in spec.namespaces and spec.network == "host"
    refused(bundle, "must include a new mount namespace",
            linux=linux(namespaces=[{"type": "pid"}]))
    refused(bundle, "unknown type 'bogus'", linux=linux(namespaces=[{"type": "bogus"}]))
    refused(bundle, "twice", linux=linux(namespaces=[{"type": "mount"}, {"type": "mount"}]))
    refused(bundle, "joining a mnt namespace by path is not supported|joining a mount "
            "namespace by path is not supported", linux=linux(
                namespaces=[{"type": "mount", "path": "/proc/1/ns/mnt"}]))
    refused(bundle, "joining a user namespace by path is not supported", linux=linux(
        namespaces=[{"type": "mount"}, {"type": "user", "path": "/proc/1/ns/user"}]))
    spec = conv(bundle, linux=linux(namespaces=[{"type": "mount"},
                                                {"type": "pid", "path": "/proc/1/ns/pid"}])).spec
    assert spec.namespace_paths == (("pid", "/proc/1/ns/pid"),) and not spec.has("pid")
    refused(bundle, "path must be an absolute", linux=linux(
        namespaces=[{"type": "mount"}, {"type": "ipc", "path": "x"}]))


def test_id_mappings(bundle):
    maps = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    spec = conv(bundle, linux=linux(namespaces=[{"type": "mount"}, {"type": "user"}],
                                    uidMappings=maps, gidMappings=maps)).spec
    assert spec.uid_map == (IdMap(container_id=0, host_id=100000, size=65536),)
    assert spec.has("user") and spec.gid_map == spec.uid_map
    refused(bundle, "needs a new user namespace", linux=linux(uidMappings=maps,
                                                              gidMappings=maps))
    refused(bundle, "must be given together", linux=linux(uidMappings=maps))
    refused(bundle, "must be given with a new user namespace",
            linux=linux(namespaces=[{"type": "mount"}, {"type": "user"}]))
    refused(bundle, "size must be at least 1", linux=linux(
        namespaces=[{"type": "mount"}, {"type": "user"}],
        uidMappings=[{"containerID": 0, "hostID": 1, "size": 0}], gidMappings=maps))


def test_resources(bundle):
    spec = conv(bundle, linux=linux(resources={
        "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 20},
        "blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": 8, "minor": 0,
                                                              "rate": 1048576}]},
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                    {"allow": True, "type": "c", "major": 136, "access": "rwm"}],
    })).spec
    r = spec.resources
    assert (r.memory, r.memory_reservation, r.memory_swap) == (64 << 20, 32 << 20, 128 << 20)
    assert (r.cpu_shares, r.cpu_quota, r.cpu_period) == (512, 50000, 100000)
    assert (r.cpuset_cpus, r.cpuset_mems, r.pids_limit, r.blkio_weight) == ("0", "0", 20, 300)
    assert r.device_read_bps == (("8:0", 1048576),)
    # the config's rules, then the default ones (as runc appends them)
    assert r.devices[:3] == ((False, "a", None, None, "rwm"), (True, "c", 1, 3, "rw"),
                             (True, "c", 136, None, "rwm"))
    assert (True, "c", 5, 2, "rwm") in r.devices[3:] and (True, "c", 5, 1, "rwm") in r.devices
    assert (True, "c", None, None, "m") in r.devices[3:]
    assert conv(bundle).spec.resources.devices is None  # Docker's default list


def test_linux_devices_are_allowed_in_the_device_cgroup(bundle):
    spec = conv(bundle, linux=linux(devices=[{"path": "/dev/fuse", "type": "c", "major": 10,
                                              "minor": 229}])).spec
    rules = spec.resources.devices
    assert rules[0] == (False, "a", None, None, "rwm")   # Docker's deny-all first
    assert rules[-1] == (True, "c", 10, 229, "rwm")


@pytest.mark.parametrize("resources, match", [
    ({"memory": {"limit": 0}}, "memory.limit"),
    ({"memory": {"swappiness": 10}}, "swappiness"),
    ({"cpu": {"shares": -5}}, "cpu.shares"),
    ({"cpu": {"cpus": 1}}, "cpu.cpus"),
    ({"cpu": {"realtimeRuntime": 5}}, "realtimeRuntime is not supported"),
    ({"pids": {"limit": 0}}, "pids.limit"),
    ({"blockIO": {"weight": 5}}, "blockIO.weight"),
    ({"blockIO": {"weightDevice": [{}]}}, "weightDevice is not supported"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8}]}}, "minor"),
    ({"devices": [{"access": "rwm"}]}, r"devices\[0\] must be an object with allow"),
    ({"devices": [{"allow": True, "type": "x"}]}, "type must be a, c or b"),
    ({"devices": [{"allow": True, "access": "rwx"}]}, "access"),
    ({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}, "hugepageLimits is not supported"),
    ({"unified": {"memory.high": "1"}}, "unified is not supported"),
    ("x", "linux.resources must be an object"),
])
def test_resource_refusals(bundle, resources, match):
    refused(bundle, match, linux=linux(resources=resources))


def test_cgroups_path(bundle):
    assert conv(bundle, linux=linux(cgroupsPath="/default/abc")).cgroups_path == "default/abc"
    assert conv(bundle, linux=linux(cgroupsPath="mine")).spec.cgroup_path == "mine"
    refused(bundle, "systemd", linux=linux(cgroupsPath="system.slice:docker:abc"))
    refused(bundle, "no '..'", linux=linux(cgroupsPath="/a/../b"))
    refused(bundle, "cgroupsPath must be a string", linux=linux(cgroupsPath=5))


def test_sysctl(bundle):
    namespaces = [{"type": t} for t in ("mount", "ipc", "network", "uts")]
    spec = conv(bundle, linux=linux(namespaces=namespaces, sysctl={
        "net.ipv4.ping_group_range": "0 0", "kernel.shmmax": "1000",
        "fs.mqueue.msg_max": "20", "kernel.domainname": "x"})).spec
    assert dict(spec.sysctl) == {"net.ipv4.ping_group_range": "0 0", "kernel.shmmax": "1000",
                                 "fs.mqueue.msg_max": "20", "kernel.domainname": "x"}
    refused(bundle, "vm.swappiness is not namespaced", linux=linux(
        namespaces=namespaces, sysctl={"vm.swappiness": "1"}))
    refused(bundle, "needs a new net namespace", linux=linux(sysctl={"net.ipv4.ip_forward": "1"}))
    refused(bundle, "needs a new ipc namespace", linux=linux(sysctl={"kernel.shmmax": "1"}))
    refused(bundle, "value must be a string", linux=linux(
        namespaces=namespaces, sysctl={"net.ipv4.ip_forward": 1}))
    refused(bundle, "is not a sysctl key", linux=linux(
        namespaces=namespaces, sysctl={"net/../x": "1"}))


def test_seccomp(bundle):
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
               "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                             "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}]}
    assert conv(bundle, linux=linux(seccomp=profile)).spec.security.seccomp == profile
    bad = dict(profile, defaultAction="SCMP_ACT_NOTIFY")
    refused(bundle, "defaultAction 'SCMP_ACT_NOTIFY'", linux=linux(seccomp=bad))
    refused(bundle, "listenerPath", linux=linux(seccomp=dict(profile, listenerPath="/x")))
    refused(bundle, "flags", linux=linux(seccomp=dict(profile, flags=["SECCOMP_FILTER_FLAG_X"])))
    refused(bundle, r"syscalls\[0\].names", linux=linux(seccomp=dict(
        profile, syscalls=[{"names": [], "action": "SCMP_ACT_ALLOW"}])))
    refused(bundle, r"syscalls\[0\].action", linux=linux(seccomp=dict(
        profile, syscalls=[{"names": ["read"], "action": "ALLOW"}])))
    refused(bundle, r"syscalls\[0\].errnoRet", linux=linux(seccomp=dict(
        profile, syscalls=[{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": -1}])))
    refused(bundle, r"syscalls\[0\].args", linux=linux(seccomp=dict(
        profile, syscalls=[{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                            "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}])))


def test_paths_devices_propagation(bundle):
    spec = conv(bundle, linux=linux(
        maskedPaths=["/proc/kcore"], readonlyPaths=["/proc/sys"], rootfsPropagation="rslave",
        devices=[{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                  "fileMode": 0o620, "uid": 1, "gid": 2}])).spec
    assert spec.security.masked_paths == ("/proc/kcore",)
    assert spec.security.readonly_paths == ("/proc/sys",)
    assert spec.rootfs_propagation == "rslave"
    assert spec.devices == (("/dev/fuse", "c", 10, 229, 0o620, 1, 2),)
    refused(bundle, "maskedPaths", linux=linux(maskedPaths=["relative"]))
    refused(bundle, "rootfsPropagation", linux=linux(rootfsPropagation="sideways"))
    refused(bundle, r"devices\[0\].type", linux=linux(devices=[
        {"path": "/dev/x", "type": "p", "major": 0, "minor": 0}]))
    refused(bundle, r"devices\[0\].path", linux=linux(devices=[
        {"path": "dev/x", "type": "c", "major": 1, "minor": 3}]))
    refused(bundle, r"devices\[0\].major", linux=linux(devices=[
        {"path": "/dev/x", "type": "c", "minor": 3}]))
    refused(bundle, "intelRdt is not supported", linux=linux(intelRdt={"closID": "x"}))


def test_spec_round_trips_through_state_json(bundle):
    spec = conv(bundle, linux=linux(
        namespaces=[{"type": "mount"}, {"type": "network", "path": "/proc/1/ns/net"}],
        sysctl={}, devices=[{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}],
        resources={"devices": [{"allow": False, "access": "rwm"}],
                   "blockIO": {"throttleWriteBpsDevice": [{"major": 8, "minor": 0,
                                                           "rate": 1}]}},
        seccomp={"defaultAction": "SCMP_ACT_ALLOW"}, maskedPaths=["/proc/kcore"]),
        process=dict(BASE["process"], capabilities={"bounding": CAPS},
                     rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}])).spec
    again = ContainerSpec.from_json_dict(json.loads(json.dumps(spec.to_json_dict())))
    # (network_options come back with lists: not an OCI field, left as they are)
    assert again.replace(network_options=spec.network_options) == spec
    hash(again)


def test_default_config_converts(bundle):
    config = default_config()
    assert config["process"]["terminal"] and config["process"]["args"] == ["sh"]
    spec = convert(config, bundle).spec
    assert spec.readonly_rootfs and spec.tty and spec.has("cgroup")
    assert [m.target for m in spec.mounts][:2] == ["/proc", "/dev"]
    rootless = default_config(rootless=True)
    assert {"type": "user"} in rootless["linux"]["namespaces"]
    assert convert(rootless, bundle).spec.uid_map[0].host_id == os.geteuid()


def test_ambient_without_inheritable_is_warned_about(bundle):
    process = dict(BASE["process"], capabilities={"bounding": CAPS, "permitted": CAPS,
                                                  "ambient": ["CAP_KILL"]})
    result = conv(bundle, process=process)
    assert result.spec.security.capabilities["ambient"] == ("CAP_KILL",)
    assert any("ambient: CAP_KILL not raised" in w for w in result.warnings)
