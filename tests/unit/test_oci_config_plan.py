"""The OCI mount plan (rootfs/ociplan.py) and the ordered device rules, without root."""

import os

import pytest

from minicontainer.cgroups import devices
from minicontainer.cgroups.base import device_numbers
from minicontainer.linux import constants as C
from minicontainer.rootfs.ociplan import parse_options, plan_oci_rootfs
from minicontainer.rootfs.plan import plan_rootfs
from minicontainer.spec import ContainerSpec, Mount


def test_parse_options():
    o = parse_options(["nosuid", "noexec", "nodev", "mode=755", "size=65536k", "strictatime"])
    assert o.flags == C.MS_NOSUID | C.MS_NOEXEC | C.MS_NODEV | C.MS_STRICTATIME
    assert o.data == "mode=755,size=65536k" and not o.bind and o.propagation == 0
    o = parse_options(["rbind", "ro", "rprivate"])
    assert o.bind and o.recursive and o.flags == C.MS_RDONLY
    assert o.propagation == C.MS_PRIVATE | C.MS_REC
    assert parse_options(["ro", "rw"]).flags == 0  # the later word wins
    assert parse_options([], "bind").bind
    assert parse_options(["idmap"]).data is None
    for words, match in ((["rro"], "recursive"), ([""], "non-empty"),
                         (["bind", "size=1"], "no filesystem options"), (["a,b"], "comma")):
        with pytest.raises(ValueError, match=match):
            parse_options(words)


def _spec(tmp_path, mounts, **fields):
    root = tmp_path / "rootfs"
    root.mkdir(exist_ok=True)
    return ContainerSpec(rootfs=str(root), args=("true",), mount_plan="oci",
                         mounts=tuple(mounts), **fields)


def test_plan_follows_the_list(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    spec = _spec(tmp_path, [
        Mount(target="/proc", source="proc", type="proc", options="nosuid"),
        Mount(target="/dev", source="tmpfs", type="tmpfs", options="mode=755"),
        Mount(target="/dev/pts", source="devpts", type="devpts", options="newinstance"),
        Mount(target="/data", source=str(data), type="bind", options="rbind,ro", readonly=True),
    ], readonly_rootfs=True, sysctl=(("kernel.shmmni", "5"),),
        devices=(("/dev/fuse", "c", 10, 229, 0o666, 0, 0),))
    plan = plan_rootfs(spec, "/unused")
    kinds = [step[0] for step in plan.steps]
    mounts = [step for step in plan.steps if step[0] == "oci_mount"]
    assert [m[4] for m in mounts] == ["/proc", "/dev", "/dev/pts", "/data"]
    assert mounts[0][5] == "proc" and mounts[0][6] == C.MS_NOSUID
    assert mounts[3][5] is None and mounts[3][6] == C.MS_BIND | C.MS_REC
    assert mounts[3][9] == C.MS_RDONLY and mounts[3][11] is True  # remount ro, recursively
    # /dev/pts lies beneath /dev: made by the init inside the tmpfs, not on the host
    targets = [path for _, path in plan.targets]
    assert str(tmp_path / "rootfs/dev/pts") not in targets
    assert str(tmp_path / "rootfs/proc") in targets
    devices_made = [s[2] for s in plan.steps if s[0] == "device"]
    assert [os.path.basename(p) for p in devices_made] == \
        ["null", "zero", "full", "random", "urandom", "tty", "fuse"]
    assert kinds.index("pivot") < kinds.index("readonly") < kinds.index("sysctl")
    assert "symlink" in kinds and kinds[-1] == "sysctl"


def test_plan_without_dev_tmpfs_has_no_default_nodes(tmp_path):
    plan = plan_rootfs(_spec(tmp_path, [Mount(target="/proc", source="proc", type="proc")]),
                       "/unused")
    assert not [s for s in plan.steps if s[0] in ("device", "symlink")]
    assert [s[0] for s in plan.steps] == ["mount", "mount", "oci_mount", "pivot"]


def test_cgroup_mount_and_propagation(tmp_path):
    spec = _spec(tmp_path, [Mount(target="/sys/fs/cgroup", source="cgroup", type="cgroup",
                                  options="ro")], rootfs_propagation="rshared")
    v1 = plan_oci_rootfs(spec, [("memory", "cgroup", "memory"), ("pids", "cgroup", "pids")])
    fstypes = [s[4] for s in v1.steps if s[0] == "mount"]
    assert fstypes.count("cgroup") == 2 and "tmpfs" in fstypes
    assert v1.steps[-1][0] == "mount" and v1.steps[-1][5] == C.MS_SHARED | C.MS_REC
    v2 = plan_oci_rootfs(spec, [("", "cgroup2", None)])
    assert [s[4] for s in v2.steps if s[0] == "mount"].count("cgroup2") == 1
    userns = spec.replace(namespaces=spec.namespaces | {"user"})
    bound = plan_oci_rootfs(userns, [("memory", "cgroup", "memory")])
    binds = [s for s in bound.steps if s[0] == "cgroup_bind"]
    assert [(b[2], b[3]) for b in binds] == [("memory", "memory")]
    assert binds[0][5] & C.MS_RDONLY
    no_cgroupns = spec.replace(namespaces=spec.namespaces - {"cgroup"})
    assert [s[0] for s in plan_oci_rootfs(no_cgroupns, [("", "cgroup2", None)]).steps
            if s[0].startswith("cgroup")] == ["cgroup_bind"]
    unknown = plan_oci_rootfs(spec, [])
    assert [s for s in unknown.steps if s[0] == "oci_mount"][0][2] == "/sys/fs/cgroup"


def test_docker_plan_unchanged_by_default(tmp_path):
    spec = ContainerSpec(rootfs=str(tmp_path), args=("true",))
    assert not [s for s in plan_rootfs(spec, str(tmp_path)).steps if s[0] == "oci_mount"]


def test_device_numbers_accept_major_minor():
    assert device_numbers("8:16") == "8:16"


def test_ordered_rules_v1_lines():
    rules = ((False, "a", None, None, "rwm"), (True, "c", 1, 3, "rw"))
    assert [devices.rule_line(r[1:]) for r in rules] == ["a *:* rwm", "c 1:3 rw"]


def _run(program, kind, major, minor, access):
    """Interpret the assembled device program for one request (as the kernel would)."""
    regs = [0] * 11
    ctx = ((devices.access_bits(access) << 16) | devices.DEV_TYPE[kind], major, minor)
    pc = 0
    while True:
        op, dst, src, off, imm = program[pc]
        pc += 1
        if op == "ldxw":
            regs[dst] = ctx[off // 4]
        elif op == "and32":
            regs[dst] &= imm
        elif op == "rsh32":
            regs[dst] >>= imm
        elif op == "mov32":
            regs[dst] = imm
        elif op == "mov32reg":
            regs[dst] = regs[src]
        elif op == "jne":
            pc += off if regs[dst] != imm else 0
        elif op == "jnereg":
            pc += off if regs[dst] != regs[src] else 0
        elif op == "ja":
            pc += off
        elif op == "exit":
            return regs[0]


def test_ordered_program_last_match_wins():
    rules = ((False, "a", None, None, "rwm"), (True, "c", 1, 3, "rwm"),
             (True, "c", 136, None, "rw"), (False, "c", 1, 3, "w"))
    program = devices.ordered_program(rules)
    assert _run(program, "c", 1, 3, "r") == 1        # allowed by rule 2
    assert _run(program, "c", 1, 3, "w") == 0        # denied again by rule 4
    assert _run(program, "c", 1, 3, "rw") == 0
    assert _run(program, "c", 136, 7, "rw") == 1
    assert _run(program, "c", 136, 7, "m") == 0      # rule 3 allows rw only
    assert _run(program, "c", 1, 5, "r") == 0        # only the deny-all matches
    assert _run(program, "b", 8, 0, "r") == 0
    allow_all = devices.ordered_program(((True, "a", None, None, "rwm"),
                                         (False, "b", None, None, "rwm")))
    assert _run(allow_all, "c", 4, 4, "rw") == 1 and _run(allow_all, "b", 8, 0, "r") == 0
    assert len(devices.encode(program)) == 8 * len(program)


def test_ordered_program_has_no_unreachable_instructions():
    """The verifier refuses code after an unconditional block ("a *:* rwm")."""
    deny_all_first = devices.ordered_program(((False, "a", None, None, "rwm"),
                                              (True, "c", 1, 3, "rwm")))
    assert deny_all_first[-2:] == list(devices.DENY)
    # one exit for the allow block, one for the deny-all: no default after it
    assert [insn[0] for insn in deny_all_first].count("exit") == 2
    only_allow_all = devices.ordered_program(((True, "a", None, None, "rwm"),))
    assert only_allow_all == list(devices.PROLOGUE) + list(devices.ALLOW)
