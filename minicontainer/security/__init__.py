"""What a container may do: capabilities, seccomp, no_new_privs, rlimits, masks.

The launcher's child calls, in this order::

    plan = security.prepare(spec.security)   # before pivot_root: reads the
                                             # seccomp filter (cached BPF, or
                                             # compiled by libseccomp)
    ... mounts, pivot_root ...
    security.apply_masks(plan)               # after /proc and /sys are mounted
    ... hostname etc. ...
    security.apply_before_user(plan)         # rlimits, bounding set, and the
                                             # seccomp filter unless no_new_privs
    syscalls.set_user(uid, gid, groups)      # setgroups/setresgid/setresuid
    security.apply_after_user(plan, uid)     # process caps, then no_new_privs
                                             # and the seccomp filter if asked
    syscalls.execve(...)

Why the seccomp filter is loaded in one of two places: the kernel accepts a
filter only from a process with CAP_SYS_ADMIN or with no_new_privs set.
Without no-new-privileges we load it while we are still fully root (as runc
does), so everything after it must be allowed by the profile: Docker's default
allows setgroups, setres[ug]id, capset, prctl, close_range and execve.  With
no-new-privileges we set it and load the filter as the very last step.
"""

from .capabilities import drop_bounding, effective_set, set_process_caps  # noqa: F401
from .limits import apply_ulimits, parse_ulimit, parse_ulimits  # noqa: F401

PR_SET_NO_NEW_PRIVS = 38


class Plan:
    """Everything resolved ahead of time for one container's child."""

    __slots__ = ("caps", "seccomp", "ulimits", "no_new_privileges", "masked", "readonly",
                 "oci_caps", "last_cap")

    def __init__(self, caps, seccomp, ulimits, no_new_privileges, masked, readonly,
                 oci_caps=None, last_cap=None):
        self.caps = caps                  # set of capability names
        self.seccomp = seccomp            # bpf.Program (.load(), .rule_count), or None
        self.ulimits = ulimits            # ((name, soft, hard), ...)
        self.no_new_privileges = no_new_privileges
        self.masked = masked              # paths to hide
        self.readonly = readonly          # paths to make read-only
        self.oci_caps = oci_caps          # OCI: the five sets (names this kernel has)
        self.last_cap = last_cap          # read before pivot_root (the root may lack /proc)


def prepare(security, data_root=None):
    """Resolve a spec.Security into a Plan (host files are read here).

    The seccomp filter comes from the compiled-filter cache under the data
    root (``filtercache``), compiled with libseccomp only on a miss; the
    Plan holds its BPF bytes, loaded later with one seccomp(2) call.

    Everything the later steps import lazily is imported now: they run after
    pivot_root, when the package's files are out of reach.
    """
    import resource  # noqa: F401

    from ..linux import constants, security as seam, syscalls  # noqa: F401
    from . import bpf, filtercache, limits, paths  # noqa: F401

    caps = effective_set(security)
    program = filtercache.program_for(security, caps, data_root)
    oci_caps = last = None
    if security.capabilities is not None:
        from ..linux import oci  # noqa: F401 - needed after pivot_root
        from .capabilities import all_capabilities, last_cap
        last = last_cap()  # now: an OCI root may have no /proc
        every = all_capabilities(last)
        oci_caps = {kind: frozenset(security.capabilities.get(kind) or ()) & every
                    for kind in ("bounding", "effective", "inheritable", "permitted",
                                 "ambient")}
    return Plan(caps, program, tuple(security.ulimits), bool(security.no_new_privileges),
                paths.masked_paths(security), paths.readonly_paths(security), oci_caps, last)


def apply_masks(plan, root="/", devnull="/dev/null"):
    """Docker's read-only and masked /proc and /sys paths under ``root``."""
    from . import paths
    paths.apply_masks(plan.masked, plan.readonly, root, devnull)


def no_new_privs():
    """prctl(PR_SET_NO_NEW_PRIVS): exec can never grant more (setuid bits, file caps)."""
    from ..linux import syscalls
    syscalls.prctl(PR_SET_NO_NEW_PRIVS, 1,
                   why="no-new-privileges: setuid binaries and file capabilities "
                       "give nothing after exec")


def apply_before_user(plan):
    """rlimits, the bounding set, and seccomp now unless no_new_privs is asked."""
    apply_ulimits(plan.ulimits)
    if plan.last_cap is None:
        drop_bounding(plan.caps)
    else:
        drop_bounding(plan.caps, plan.last_cap)
    if plan.oci_caps is not None:
        from .capabilities import keep_caps_across_setuid
        keep_caps_across_setuid()
    if plan.seccomp is not None and not plan.no_new_privileges:
        plan.seccomp.load()


def apply_after_user(plan, uid, before_filter=None):
    """Process capabilities, then no_new_privs and the filter (last) if asked.

    ``before_filter`` (if given) is called after everything but a
    no_new_privs filter, which stays the very last step: the OCI create's wait
    on its exec fifo happens there, as runc's does.
    """
    if plan.oci_caps is not None:
        from .capabilities import set_oci_caps
        set_oci_caps(plan.oci_caps)
    else:
        set_process_caps(plan.caps, uid)
    if plan.no_new_privileges:
        no_new_privs()
    if before_filter is not None:
        before_filter()
    if plan.no_new_privileges and plan.seccomp is not None:
        plan.seccomp.load()
