"""Linux capabilities: names and numbers, Docker's defaults, and applying them.

A container's capability set is resolved the way Docker does it (the 14
defaults, then --cap-drop, then --cap-add, with ALL on either side;
--privileged means every capability the kernel knows).  Applying it takes two
steps because a change of uid in between resets the process's sets:

1. ``drop_bounding(caps)`` while still root: removes every other capability
   from the bounding set, the ceiling nothing inside can ever rise above.
2. ``set_process_caps(caps, uid)`` after setuid: effective = permitted = caps
   for root, all empty for another user (Docker's behaviour), inheritable
   and ambient empty.
"""

from ..errors import SpecError

NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
    "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
NUMBERS = {name: number for number, name in enumerate(NAMES)}

# What `docker run` gives a container when no --cap-* flag is used.
DOCKER_DEFAULTS = frozenset((
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
))

PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4


def last_cap(path="/proc/sys/kernel/cap_last_cap"):
    """The highest capability number this kernel knows (40 on 5.9+)."""
    try:
        with open(path) as f:
            return min(int(f.read()), len(NAMES) - 1)
    except (OSError, ValueError):
        return len(NAMES) - 1


def all_capabilities(last=None):
    """Every capability name the kernel supports, as a set."""
    top = last_cap() if last is None else last
    return set(NAMES[:top + 1])


def normalize(name):
    """'net_admin', 'NET_ADMIN' or 'CAP_NET_ADMIN' → 'CAP_NET_ADMIN'; 'all' → 'ALL'.

    Raises SpecError for a name that is not a capability.
    """
    upper = str(name).strip().upper()
    if upper == "ALL":
        return "ALL"
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in NUMBERS:
        raise SpecError(f"unknown capability {name!r}", op="capabilities")
    return upper


def effective_set(security, last=None):
    """The container's capability names (a set), resolved as Docker does.

    --privileged: all. Otherwise: cap-add ALL → all but the dropped ones;
    cap-drop ALL → only the added ones; else defaults − dropped + added.
    """
    every = all_capabilities(last)
    if security.capabilities is not None:  # OCI: the bounding set, as given
        return set(security.capabilities.get("bounding") or ()) & every
    if security.privileged:
        return every
    adds = {normalize(name) for name in security.cap_add}
    drops = {normalize(name) for name in security.cap_drop}
    if "ALL" in adds:
        return every - (drops - {"ALL"})
    if "ALL" in drops:
        return adds & every
    return ((DOCKER_DEFAULTS - drops) | adds) & every


def to_mask(caps):
    """A set of names → the 64-bit mask /proc/self/status shows."""
    mask = 0
    for name in caps:
        mask |= 1 << NUMBERS[name]
    return mask


def from_mask(mask):
    """A 64-bit mask → the set of capability names it holds."""
    return {name for number, name in enumerate(NAMES) if mask >> number & 1}


# -- effects (the child, before exec) ------------------------------------------

def _bounding_mask():
    """The bounding set this process has now (CapBnd of /proc/self/status)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return 0


def drop_bounding(caps, last=None):
    """Drop every capability not in ``caps`` from the bounding set.

    Needs CAP_SETPCAP, so it runs before the switch to the container's user.
    Capabilities this runtime does not have itself are simply absent.
    ``last`` is the kernel's last capability, read before pivot_root (an OCI
    root may have no /proc; then every other capability is dropped blindly).
    """
    from ..linux import syscalls

    keep = to_mask(caps)
    try:
        have = _bounding_mask()
    except OSError:
        have = (1 << 64) - 1
    for number in range((last_cap() if last is None else last) + 1):
        if have >> number & 1 and not keep >> number & 1:
            syscalls.prctl(PR_CAPBSET_DROP, number,
                           why=f"remove {NAMES[number]} from the bounding set so "
                               "nothing in the container can ever gain it")


def set_process_caps(caps, uid):
    """Set effective/permitted/inheritable/ambient after the user switch.

    Root (uid 0) keeps ``caps`` effective and permitted; any other user gets
    empty sets (the kernel already emptied them at setuid) and keeps only the
    bounding set, as Docker does. Inheritable and ambient are always empty so
    an exec'd program gains nothing through file capabilities of its own.
    """
    from ..linux import security as seam
    from ..linux import syscalls

    syscalls.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL,
                   why="empty the ambient set: no capability survives exec implicitly")
    mask = 0
    if uid == 0:
        _, permitted, _ = seam.capget()
        # A set can only shrink: capabilities the runtime lacks (here e.g.
        # CAP_SYS_RESOURCE) cannot be given, so --privileged means "all we have".
        mask = to_mask(caps) & permitted
    who = "root in the container" if uid == 0 else f"uid {uid} (not root: none effective)"
    seam.capset(mask, mask, 0,
                why=f"set effective and permitted capabilities for {who}; inheritable empty")
    return mask


# -- OCI: the five sets as the config gives them -----------------------------------

PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT_RAISE = 2
OCI_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def keep_caps_across_setuid():
    """prctl(PR_SET_KEEPCAPS): a switch to a non-root uid keeps the permitted set
    (the OCI config gives a non-root user capabilities; execve resets the flag)."""
    from ..linux import syscalls
    syscalls.prctl(PR_SET_KEEPCAPS, 1, why="keep the permitted capabilities across the "
                   "switch to the config's user (it may be given some)")


def set_oci_caps(sets):
    """After setuid: effective, permitted, inheritable exactly as the config says,
    then each ambient capability raised (it must be permitted and inheritable).
    ``sets`` holds only names this kernel has (security.prepare filtered them)."""
    from ..linux import security as seam
    from ..linux import syscalls

    _, have, _ = seam.capget()

    def mask(kind):
        return to_mask(sets.get(kind) or ())
    permitted = mask("permitted") & have
    effective = mask("effective") & permitted
    inheritable = mask("inheritable")
    seam.capset(effective, permitted, inheritable,
                why="set the effective, permitted and inheritable capabilities the config "
                    "lists")
    syscalls.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL,
                   why="empty the ambient set before raising the config's ambient ones")
    from ..linux.oci import prctl3
    # The kernel raises an ambient capability only if it is permitted and
    # inheritable; runc skips (and warns about) the others, and so do we
    # (load_bundle's warnings name them).
    raisable = to_mask(sets.get("inheritable") or ()) & permitted
    for name in sorted(sets.get("ambient") or (), key=NUMBERS.get):
        if not raisable >> NUMBERS[name] & 1:
            continue
        prctl3(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, NUMBERS[name],
               why=f"raise {name} in the ambient set: it survives the exec")
    return effective
