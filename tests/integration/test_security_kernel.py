"""Capabilities, seccomp, no_new_privs and rlimits, proven on the real kernel.

Each test forks a child of the test process, applies the security steps in
it (the container runtime is not involved) and execs a Python probe that
reports /proc/self/status and what a set of harmless syscalls answered.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from security_helpers import mask, private_data_root, run_in_child  # noqa: E402,F401

from minicontainer import security  # noqa: E402
from minicontainer.linux import syscalls  # noqa: E402
from minicontainer.security import capabilities, seccomp  # noqa: E402
from minicontainer.spec import Security  # noqa: E402

DOCKER_CAPS = 0x00000000A80425FB

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="machine lacks root (run as root)"),
    pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="machine lacks /proc"),
]


def _libseccomp():
    try:
        from minicontainer.security import libseccomp
        libseccomp.lib()
        return True
    except Exception:
        return False


needs_libseccomp = pytest.mark.skipif(not _libseccomp(),
                                      reason="machine lacks libseccomp.so.2")


def _host_bounding():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)


def seccomp_only(capset):
    """A child that keeps all of root's capabilities but loads the filter Docker
    would build for ``capset``: what it is refused, seccomp refused."""
    def setup():
        filt = seccomp.filter_for(Security(), capset)
        seccomp.compile_filter(filt).load()
    return setup


@needs_libseccomp
def test_default_filter_blocks_what_docker_blocks():
    state, out = run_in_child(seccomp_only(capabilities.DOCKER_DEFAULTS))
    assert state == "ok", out
    assert out["status"]["Seccomp"] == "2"
    calls = out["calls"]
    for name in ("unshare_uts", "keyctl", "add_key", "reboot_bad_magic", "mount_nowhere",
                 "bpf", "perf_event_open", "personality_bad", "socket_vsock", "socket_alg",
                 "init_module_null"):
        assert calls[name] == "EPERM", (name, calls[name])
    assert calls["clone3"] == "ENOSYS"           # so glibc falls back to clone ...
    assert calls["thread"] is True               # ... and threads still start
    assert calls["fork"] is True
    assert calls["personality_query"] == "ok"
    assert calls["socket_unix"] == "ok"


@needs_libseccomp
def test_sys_admin_unlocks_namespaces_in_the_filter():
    # Positive control: with CAP_SYS_ADMIN in the set, the same calls reach the
    # kernel (unshare makes a UTS namespace for the probe alone, which exits).
    state, out = run_in_child(seccomp_only(capabilities.DOCKER_DEFAULTS | {"CAP_SYS_ADMIN"}))
    assert state == "ok", out
    calls = out["calls"]
    assert calls["unshare_uts"] == "ok"
    assert calls["clone3"] == "EINVAL"           # reached the kernel, which disliked NULL
    assert calls["mount_nowhere"] in ("ENOENT", "ENODEV")


def test_unconfined_loads_no_filter():
    def setup():
        plan = security.prepare(Security(seccomp="unconfined"))
        security.apply_before_user(plan)
        security.apply_after_user(plan, 0)
    state, out = run_in_child(setup)
    assert state == "ok", out
    assert out["status"]["Seccomp"] == "0"
    assert mask(out["status"]["CapEff"]) == DOCKER_CAPS


@needs_libseccomp
def test_default_container_sees_docker_sets_as_root():
    records = []

    def setup():
        syscalls.set_recorder(lambda op, args, result, seconds, why: records.append(op))
        plan = security.prepare(Security())
        security.apply_before_user(plan)
        syscalls.set_user(0, 0, [])
        security.apply_after_user(plan, 0)
        order = [op for op in records if op in ("setrlimit", "seccomp", "capset", "setuser")]
        if order != ["seccomp", "setuser", "capset"] or records[:2] != ["seccomp_cache", "prctl"]:
            raise AssertionError(f"unexpected order {records}")
    state, out = run_in_child(setup)
    assert state == "ok", out
    status = out["status"]
    assert mask(status["CapBnd"]) == DOCKER_CAPS
    assert mask(status["CapEff"]) == DOCKER_CAPS
    assert mask(status["CapPrm"]) == DOCKER_CAPS
    assert mask(status["CapInh"]) == 0
    assert mask(status["CapAmb"]) == 0
    assert status["Seccomp"] == "2"
    assert status["NoNewPrivs"] == "0"
    assert out["calls"]["unshare_uts"] == "EPERM"
    assert out["calls"]["clone3"] == "ENOSYS"


@needs_libseccomp
def test_non_root_user_keeps_only_the_bounding_set():
    def setup():
        plan = security.prepare(Security())
        security.apply_before_user(plan)
        syscalls.set_user(65534, 65534, [])
        security.apply_after_user(plan, 65534)
    state, out = run_in_child(setup)
    assert state == "ok", out
    status = out["status"]
    assert status["Uid"].split()[0] == "65534"
    assert mask(status["CapBnd"]) == DOCKER_CAPS
    assert mask(status["CapEff"]) == 0 and mask(status["CapPrm"]) == 0
    assert mask(status["CapInh"]) == 0 and mask(status["CapAmb"]) == 0
    assert status["Seccomp"] == "2"


@needs_libseccomp
@pytest.mark.parametrize("uid", [0, 65534])
def test_no_new_privileges_loads_the_filter_last(uid):
    def setup():
        plan = security.prepare(Security(no_new_privileges=True))
        security.apply_before_user(plan)
        if _status("Seccomp") != "0":
            raise AssertionError("filter loaded before the user switch despite no_new_privs")
        syscalls.set_user(uid, uid, [])
        security.apply_after_user(plan, uid)
    state, out = run_in_child(setup)
    assert state == "ok", out
    assert out["status"]["NoNewPrivs"] == "1"
    assert out["status"]["Seccomp"] == "2"
    assert mask(out["status"]["CapBnd"]) == DOCKER_CAPS


def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()


def test_privileged_gets_every_capability_we_have_and_no_filter():
    host = _host_bounding()

    def setup():
        plan = security.prepare(Security(privileged=True))
        security.apply_before_user(plan)
        security.apply_after_user(plan, 0)
    state, out = run_in_child(setup)
    assert state == "ok", out
    assert mask(out["status"]["CapBnd"]) == host
    assert mask(out["status"]["CapEff"]) == host
    assert out["status"]["Seccomp"] == "0"


@needs_libseccomp
def test_cap_drop_all_add_one():
    def setup():
        plan = security.prepare(Security(cap_drop=("ALL",), cap_add=("chown",)))
        security.apply_before_user(plan)
        security.apply_after_user(plan, 0)
    state, out = run_in_child(setup)
    assert state == "ok", out
    assert mask(out["status"]["CapEff"]) == 1
    assert mask(out["status"]["CapBnd"]) == 1


def test_ulimit_lowered_is_seen_by_the_program():
    def setup():
        security.apply_ulimits((("nofile", 512, 1024),))
    state, out = run_in_child(setup, probe_args=())
    assert state == "ok", out
    assert out["rlimit_nofile"] == [512, 1024]


def test_raising_a_hard_limit_without_cap_sys_resource_is_a_clear_error():
    import resource

    def setup():
        # Make the situation certain whatever the host allows: no
        # CAP_SYS_RESOURCE, and a hard limit of 1000.
        capabilities.drop_bounding(capabilities.all_capabilities() - {"CAP_SYS_RESOURCE"})
        capabilities.set_process_caps(capabilities.all_capabilities() - {"CAP_SYS_RESOURCE"}, 0)
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 1000))
        security.apply_ulimits((("nofile", 100, 2000),))
    state, message = run_in_child(setup)
    assert state == "error"
    assert "SetupError" in message and "CAP_SYS_RESOURCE" in message
    assert "2000" in message and "1000" in message


@needs_libseccomp
def test_custom_profile_file_is_loaded(tmp_path):
    import json
    profile = tmp_path / "mctest-profile.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["no_such_syscall_mctest"], "action": "SCMP_ACT_ERRNO"},
        ]}))

    def setup():
        plan = security.prepare(Security(seccomp=str(profile)))
        if plan.seccomp.skipped != ["no_such_syscall_mctest"]:
            raise AssertionError(f"skipped {plan.seccomp.skipped}")
        security.apply_before_user(plan)
        security.apply_after_user(plan, 0)
    state, out = run_in_child(setup)
    assert state == "ok", out
    calls = out["calls"]
    assert out["status"]["Seccomp"] == "2"
    assert calls["keyctl"] == "EACCES"            # the profile's own errno
    assert calls["socket_unix"] == "EAFNOSUPPORT"  # AF_UNIX (1) refused by an argument rule
    assert calls["unshare_uts"] == "EPERM"         # default allow, but no CAP_SYS_ADMIN left
    assert calls["clone3"] == "EINVAL"             # allowed by this profile


@needs_libseccomp
def test_loading_without_sys_admin_or_no_new_privs_says_why():
    from minicontainer.errors import SetupError

    def setup():
        plan = security.prepare(Security())
        security.apply_ulimits(plan.ulimits)
        security.drop_bounding(plan.caps)
        security.set_process_caps(plan.caps, 0)   # CAP_SYS_ADMIN gone: too late
        try:
            plan.seccomp.load()
        except SetupError as exc:
            return {"errno": exc.errno, "text": str(exc)}
        return {"errno": None}
    state, seen = run_in_child(setup, exec_probe=False)
    assert state == "ok", seen
    assert seen["errno"] == 13 and "CAP_SYS_ADMIN or no_new_privs" in seen["text"]


# x86_64 machine code: int 0x80 (the 32-bit system call ABI) with eax=nr,
# ebx=arg; returns eax.  A classic way around a filter that only knows the
# 64-bit table: Docker's filter covers the x86 and x32 tables too.
_INT80 = bytes([0x53, 0x89, 0xF8, 0x89, 0xF3, 0xCD, 0x80, 0x5B, 0xC3])
_X86_GETPID, _X86_UNSHARE, _X86_KEYCTL = 20, 310, 288


def _int80():
    import ctypes
    import mmap
    region = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    region.write(_INT80)
    address = ctypes.addressof(ctypes.c_char.from_buffer(region))
    call = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int)(address)
    call.region = region  # keep the mapping alive
    return call


def _has_ia32_emulation():
    if os.uname().machine != "x86_64":
        return False
    state, seen = run_in_child(lambda: _int80()(_X86_GETPID, 0) == os.getpid(),
                               exec_probe=False)
    return state == "ok" and seen is True


@needs_libseccomp
def test_32bit_syscall_table_is_filtered_too():
    if not _has_ia32_emulation():
        pytest.skip("machine lacks x86 32-bit syscall emulation (int 0x80)")

    def setup():
        call = _int80()
        seccomp.compile_filter(seccomp.filter_for(Security(), capabilities.DOCKER_DEFAULTS)).load()
        return {"getpid": call(_X86_GETPID, 0) == os.getpid(),
                "unshare": call(_X86_UNSHARE, 0x04000000),
                "keyctl": call(_X86_KEYCTL, 0)}
    state, seen = run_in_child(setup, exec_probe=False)
    assert state == "ok", seen
    assert seen["getpid"] is True            # allowed in the 32-bit table as well
    assert seen["unshare"] == -1             # -EPERM: denied, not killed
    assert seen["keyctl"] == -1
