"""Every system call number, checked against Docker's default policy in the kernel.

No syscall is actually executed: on top of the container's filter the child
stacks a second filter that answers SECCOMP_RET_TRACE for the numbers under
test.  The kernel applies the strictest answer of all filters, so a call the
container's filter refuses comes back EPERM, and a call it allows meets TRACE,
which with no tracer attached returns ENOSYS *without running the call*.
That way even kexec_load or reboot can be probed with no risk to the host.
"""

import ctypes
import errno
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from security_helpers import run_in_child  # noqa: E402

from minicontainer.security import capabilities, seccomp  # noqa: E402
from minicontainer.spec import Security  # noqa: E402

HIGHEST = 480

# Calls this Python process needs between loading the probe filter and the
# end of the loop; they stay untraced (and are allowed by Docker: checked below).
NEEDED = ("read", "write", "close", "mmap", "munmap", "mremap", "brk", "mprotect", "madvise",
          "futex", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "exit",
          "exit_group", "getpid", "gettid", "tgkill", "fstat", "newfstatat", "lseek", "ioctl",
          "getrandom", "clock_gettime", "sched_yield", "set_robust_list", "rseq", "wait4")

# x86_64 uretprobe (335) and uprobe (336) are let through by the kernel without
# consulting seccomp (they belong to the uprobes trampoline) and send SIGILL to
# any other caller, so they cannot be probed this way.
UNFILTERABLE_X86_64 = (335, 336)


def _lib():
    try:
        from minicontainer.security import libseccomp
        return libseccomp, libseccomp.lib()
    except Exception:
        return None, None


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="machine lacks root (run as root)"),
    pytest.mark.skipif(_lib()[1] is None, reason="machine lacks libseccomp.so.2"),
]

_COMPARE = {
    "SCMP_CMP_NE": lambda v, a, b: v != a, "SCMP_CMP_LT": lambda v, a, b: v < a,
    "SCMP_CMP_LE": lambda v, a, b: v <= a, "SCMP_CMP_EQ": lambda v, a, b: v == a,
    "SCMP_CMP_GE": lambda v, a, b: v >= a, "SCMP_CMP_GT": lambda v, a, b: v > a,
    "SCMP_CMP_MASKED_EQ": lambda v, a, b: (v & a) == b,
}


def expected_answer(filt, name):
    """What the kernel should answer for ``name`` called with all-zero arguments."""
    for rule in filt.actions_for(name) if name else ():
        if all(_COMPARE[op](0, a, b) for _, op, a, b in rule.args):
            if rule.action == "SCMP_ACT_ALLOW":
                return "ENOSYS"  # allowed: reached the TRACE filter, not executed
            return errno.errorcode[rule.errno]
    return errno.errorcode[filt.default_errno]


def _names():
    libseccomp, _ = _lib()
    machine = os.uname().machine
    names = {}
    for number in range(HIGHEST):
        name = libseccomp.syscall_name(number)
        if name is None:
            for newer, newer_number in seccomp._NEWER.items():
                if newer_number == number and seccomp._newer_number(newer, machine) == number:
                    name = newer
            if machine == "x86_64" and number in seccomp._NEWER_X86_64.values():
                name = "uretprobe"
        names[number] = name
    return names


def _probe_all(capset, numbers):
    libseccomp, handle = _lib()

    def setup():
        with open("/proc/self/status") as f:
            if "TracerPid:\t0\n" not in f.read():
                raise RuntimeError("a tracer is attached: TRACE would run the calls; refusing")
        docker = seccomp.compile_filter(seccomp.filter_for(Security(), capset))
        probe = handle.seccomp_init(libseccomp.ACT_ALLOW)
        for number in numbers:
            result = handle.seccomp_rule_add_array(probe, libseccomp.ACT_TRACE, number, 0, None)
            if result < 0:
                raise OSError(-result, f"probe rule for {number}")
        docker.load()
        load = handle.seccomp_load(probe)
        if load < 0:
            raise OSError(-load, "probe filter")
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        answers = [0] * len(numbers)
        zero = ctypes.c_long(0)
        for i, number in enumerate(numbers):
            ctypes.set_errno(0)
            result = libc.syscall(ctypes.c_long(number), zero, zero, zero, zero, zero, zero)
            answers[i] = ctypes.get_errno() if result == -1 else -1
        return dict(zip(numbers, answers))
    return run_in_child(setup, exec_probe=False)


@pytest.mark.parametrize("extra", [(), ("CAP_SYS_ADMIN",), ("CAP_SYS_PTRACE", "CAP_SYS_TIME")])
def test_every_syscall_number_gets_dockers_answer(extra):
    capset = capabilities.DOCKER_DEFAULTS | set(extra)
    filt = seccomp.filter_for(Security(), capset)
    names = _names()
    needed = {number for number, name in names.items() if name in NEEDED}
    for number in needed:
        assert expected_answer(filt, names[number]) == "ENOSYS", names[number]
    skip = set(UNFILTERABLE_X86_64) if os.uname().machine == "x86_64" else set()
    numbers = [number for number in range(HIGHEST) if number not in needed | skip]
    state, answers = _probe_all(capset, numbers)
    assert state == "ok", answers
    wrong = {}
    for number in numbers:
        got = answers[str(number)]
        got = "executed!" if got == -1 else errno.errorcode.get(got, str(got))
        want = expected_answer(filt, names[number])
        if got != want:
            wrong[f"{number} {names[number]}"] = (got, want)
    assert wrong == {}
    blocked = sum(1 for n in numbers if answers[str(n)] == errno.EPERM)
    assert blocked > 100  # the bulk of the table is outside Docker's allow list
