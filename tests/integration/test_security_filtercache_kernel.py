"""A seccomp filter loaded from the cache behaves exactly like a freshly compiled one.

Each container start runs ``security.prepare`` in a fresh child; here each
child is a fork of the test process that prepares, loads the filter and
execs the probe, so the first child compiles (miss) and the second reads
the stored BPF (hit) just as two ``run``s would.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from security_helpers import private_data_root, run_in_child  # noqa: E402,F401

from minicontainer import security  # noqa: E402
from minicontainer.linux import syscalls  # noqa: E402
from minicontainer.security import capabilities, filtercache, seccomp  # noqa: E402
from minicontainer.spec import Security  # noqa: E402


def _libseccomp():
    try:
        from minicontainer.security import libseccomp
        libseccomp.lib()
        return True
    except Exception:
        return False


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="machine lacks root (run as root)"),
    pytest.mark.skipif(not _libseccomp(), reason="machine lacks libseccomp.so.2"),
]


def start(expect_origin, forbid_compile=False):
    """A child that does what the container's init does with the security plan."""
    def setup():
        records = []
        syscalls.set_recorder(lambda op, args, result, seconds, why:
                              records.append((op, args, why)))
        if forbid_compile:
            def refuse(*args, **kwargs):
                raise AssertionError("libseccomp compiled although the filter is cached")
            seccomp.compile_filter = refuse
        plan = security.prepare(Security())
        if plan.seccomp.origin != expect_origin:
            raise AssertionError(f"filter came from {plan.seccomp.origin}, not {expect_origin}")
        security.apply_before_user(plan)
        syscalls.set_user(0, 0, [])
        security.apply_after_user(plan, 0)
        syscalls.set_recorder(None)
        notes = [args[0] for op, args, why in records if op == "seccomp_cache"]
        loads = [why for op, args, why in records if op == "seccomp"]
        if notes != ["miss" if expect_origin == "compiled" else "hit"] or len(loads) != 1:
            raise AssertionError(f"unexpected records {records}")
        if "syscalls allowed, the rest answer EPERM" not in loads[0]:
            raise AssertionError(f"load narrated as {loads[0]!r}")
    return setup


def test_cached_filter_behaves_like_a_fresh_one(private_data_root):
    state, fresh = run_in_child(start("compiled"))
    assert state == "ok", fresh
    assert len(os.listdir(filtercache.cache_dir())) == 1
    state, cached = run_in_child(start("cache", forbid_compile=True))
    assert state == "ok", cached

    for out in (fresh, cached):
        assert out["status"]["Seccomp"] == "2"
        assert out["status"]["Seccomp_filters"] == "1"
        assert out["calls"]["unshare_uts"] == "EPERM"
        assert out["calls"]["keyctl"] == "EPERM"
        assert out["calls"]["clone3"] == "ENOSYS"
        assert out["calls"]["thread"] is True and out["calls"]["socket_unix"] == "ok"
    assert fresh["calls"] == cached["calls"]
    for key in ("Seccomp", "CapEff", "CapBnd", "NoNewPrivs"):
        assert fresh["status"][key] == cached["status"][key]


def test_cached_bytes_are_what_libseccomp_generates_now(private_data_root):
    cached = security.prepare(Security()).seccomp
    cached = security.prepare(Security()).seccomp
    assert cached.origin == "cache"
    fresh = seccomp.compile_filter(seccomp.filter_for(Security(), capabilities.DOCKER_DEFAULTS))
    try:
        assert fresh.program().code == cached.code
    finally:
        fresh.release()


def test_cached_filter_with_no_new_privileges_loads_last(private_data_root):
    def setup():
        plan = security.prepare(Security(no_new_privileges=True))
        security.apply_before_user(plan)
        syscalls.set_user(65534, 65534, [])
        security.apply_after_user(plan, 65534)
    for _ in range(2):  # a miss, then a hit
        state, out = run_in_child(setup)
        assert state == "ok", out
        assert out["status"]["NoNewPrivs"] == "1" and out["status"]["Seccomp"] == "2"
        assert out["calls"]["unshare_uts"] == "EPERM"
