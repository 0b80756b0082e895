"""Docker's profile format → rules, without loading anything into the kernel."""

import json

import pytest

from minicontainer.errors import SpecError
from minicontainer.security import capabilities as caps
from minicontainer.security import seccomp
from minicontainer.spec import Security

DEFAULT = caps.DOCKER_DEFAULTS


@pytest.fixture(scope="module")
def profile():
    return seccomp.read_profile("default")


def build(profile, capset=DEFAULT, machine="x86_64", release="6.18.0"):
    return seccomp.build_filter(profile, capset, machine=machine, release=release)


def allowed(filt, name):
    """True if an unconditional ALLOW rule exists for ``name``."""
    return any(r.action == "SCMP_ACT_ALLOW" and not r.args for r in filt.actions_for(name))


def test_default_is_deny_with_eperm_and_native_arches(profile):
    filt = build(profile)
    assert filt.default_action == "SCMP_ACT_ERRNO" and filt.default_errno == 1
    assert filt.arches == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
    assert build(profile, machine="aarch64").arches == ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")


@pytest.mark.parametrize("name", ["read", "write", "openat", "execve", "futex", "capset",
                                  "setresuid", "prctl", "close_range", "arch_prctl", "ptrace"])
def test_everyday_syscalls_are_allowed(profile, name):
    assert allowed(build(profile), name)


@pytest.mark.parametrize("name", [
    "mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf",
    "perf_event_open", "reboot", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "open_by_handle_at", "ptrace_nothing", "swapon",
    "pivot_root", "acct", "settimeofday", "clock_settime", "iopl", "ioperm", "syslog",
    "userfaultfd", "io_uring_setup", "kcmp", "process_madvise", "vhangup", "mbind",
    "sethostname", "fsopen", "move_mount", "open_tree", "lookup_dcookie", "quotactl",
    "uselib", "nfsservctl", "_sysctl", "name_to_handle_at_not"])
def test_docker_blocked_syscalls_have_no_rule_by_default(profile, name):
    assert build(profile).actions_for(name) == []


def test_clone3_answers_enosys_without_sys_admin(profile):
    (rule,) = build(profile).actions_for("clone3")
    assert (rule.action, rule.errno) == ("SCMP_ACT_ERRNO", 38)


def test_clone_may_not_create_namespaces_without_sys_admin(profile):
    (rule,) = build(profile).actions_for("clone")
    assert rule.action == "SCMP_ACT_ALLOW"
    assert rule.args == ((0, "SCMP_CMP_MASKED_EQ", 0x7E020000, 0),)
    # s390 has the flags in the second argument
    (rule,) = build(profile, machine="s390x").actions_for("clone")
    assert rule.args[0][0] == 1


def test_socket_refuses_af_alg_and_af_vsock(profile):
    rules = build(profile).actions_for("socket")
    assert {r.args for r in rules} == {((0, "SCMP_CMP_LT", 38, 0),), ((0, "SCMP_CMP_EQ", 39, 0),),
                                       ((0, "SCMP_CMP_GT", 40, 0),)}


def test_personality_allows_only_docker_personas(profile):
    values = {r.args[0][2] for r in build(profile).actions_for("personality")}
    assert values == {0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF}


def test_sys_admin_unlocks_mount_unshare_and_plain_clone(profile):
    filt = build(profile, DEFAULT | {"CAP_SYS_ADMIN"})
    for name in ("mount", "umount2", "unshare", "setns", "sethostname", "clone3", "bpf"):
        assert allowed(filt, name), name
    assert all(not r.args for r in filt.actions_for("clone"))
    assert all(r.action == "SCMP_ACT_ALLOW" for r in filt.actions_for("clone3"))


@pytest.mark.parametrize("cap,names", [
    ("CAP_SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise"]),
    ("CAP_SYS_MODULE", ["init_module", "finit_module", "delete_module"]),
    ("CAP_SYS_TIME", ["settimeofday", "clock_settime"]),
    ("CAP_SYS_BOOT", ["reboot"]), ("CAP_SYS_RAWIO", ["iopl", "ioperm"]),
    ("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]), ("CAP_SYSLOG", ["syslog"]),
    ("CAP_BPF", ["bpf"]), ("CAP_PERFMON", ["perf_event_open"]),
    ("CAP_SYS_NICE", ["mbind", "set_mempolicy"]), ("CAP_SYS_PACCT", ["acct"]),
])
def test_capability_dependent_rules(profile, cap, names):
    filt = build(profile, DEFAULT | {cap})
    for name in names:
        assert allowed(filt, name), name
        assert not allowed(build(profile), name), name


def test_ptrace_needs_kernel_4_8(profile):
    assert allowed(build(profile, release="4.8.0"), "ptrace")
    assert not allowed(build(profile, release="4.4.0-generic"), "ptrace")


def test_arch_specific_rules(profile):
    assert allowed(build(profile), "arch_prctl")
    assert not allowed(build(profile, machine="aarch64"), "arch_prctl")
    assert allowed(build(profile, machine="aarch64"), "set_tls")


def test_user_profile_with_every_field(tmp_path):
    path = tmp_path / "mctest-profile.json"
    path.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"name": "chmod", "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["write"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_NE"},
                      {"index": 0, "value": 2, "op": "SCMP_CMP_NE"}]},
            {"names": ["kill"], "action": "SCMP_ACT_KILL",
             "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
        ]}))
    filt = build(seccomp.read_profile(str(path)))
    assert filt.arches == ("SCMP_ARCH_X86_64",)
    assert filt.actions_for("mkdir")[0].errno == 13
    assert filt.actions_for("chmod")[0].errno == 1          # ERRNO without errnoRet: EPERM
    assert filt.actions_for("getpid") == []                 # same as default: left out
    assert len(filt.actions_for("write")) == 2              # same index twice: alternatives
    (kill,) = filt.actions_for("kill")                      # different indices: ANDed
    assert len(kill.args) == 2


@pytest.mark.parametrize("body,words", [
    ({"syscalls": []}, "no defaultAction"),
    ({"defaultAction": "SCMP_ACT_MAYBE"}, "unsupported action"),
    ({"defaultAction": "SCMP_ACT_ERRNO",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}, "argument index"),
    ({"defaultAction": "SCMP_ACT_ERRNO",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}, "comparison"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
      "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}, "either"),
])
def test_bad_profiles_are_one_line_spec_errors(tmp_path, body, words):
    path = tmp_path / "mctest-bad.json"
    path.write_text(json.dumps(body))
    with pytest.raises(SpecError) as info:
        build(seccomp.read_profile(str(path)))
    assert words in str(info.value) and "\n" not in str(info.value)


def test_unreadable_profiles(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        seccomp.read_profile(str(tmp_path / "missing.json"))
    broken = tmp_path / "mctest-broken.json"
    broken.write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        seccomp.read_profile(str(broken))


def test_unconfined_and_privileged_mean_no_filter():
    assert seccomp.filter_for(Security(seccomp="unconfined"), DEFAULT) is None
    assert seccomp.filter_for(Security(privileged=True), DEFAULT) is None
    assert seccomp.filter_for(Security(), DEFAULT) is not None


def test_kernel_version_parsing():
    assert seccomp.kernel_version("6.18.44-fc-v669") == (6, 18)
    assert seccomp.kernel_version("4.8") == (4, 8)
    assert seccomp.kernel_version("5") == (5, 0)
