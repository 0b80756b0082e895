"""seccomp: Docker's profile format → a list of rules → a filter in the kernel.

Three steps, so each can be tested on its own:

* ``read_profile(setting)`` reads "default" (our copy of Docker's default
  profile, ``default_seccomp.json``), a profile path, or "unconfined" (None).
  It reads host files, so it runs before pivot_root.
* ``build_filter(profile, caps)`` is pure: it keeps the rules whose
  includes/excludes match the container's capabilities, architecture and
  kernel, exactly as Docker does, and returns a ``Filter``.
* ``compile_filter(filter)`` builds the libseccomp context (before pivot_root,
  the container's root may lack the library); ``Compiled.program()`` exports
  its BPF (``bpf.Program``, which ``filtercache`` keeps on disk) and
  ``Program.load()`` puts it into the kernel as the last step before exec.
"""

import os

from ..errors import SetupError, SpecError
from ..spec import Record

EPERM, ENOSYS = 1, 38
MAX_ARGS = 6

# os.uname().machine → Go's GOARCH (the "arches" names in Docker profiles)
# and libseccomp's native architecture name (used by "archMap").
_MACHINES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "i686": ("386", "SCMP_ARCH_X86"), "i386": ("386", "SCMP_ARCH_X86"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"), "armv6l": ("arm", "SCMP_ARCH_ARM"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"), "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
    "loongarch64": ("loong64", "SCMP_ARCH_LOONGARCH64"),
    "mips64": ("mips64", "SCMP_ARCH_MIPS64"),
}


class Rule(tuple):
    """One syscall's action; ``args`` holds (index, op, value, value_two) ANDed.

    A tuple underneath: a filter has ~400 of these and a Record costs
    several microseconds each to build.
    """

    __slots__ = ()

    def __new__(cls, syscall, action="SCMP_ACT_ALLOW", errno=None, args=()):
        return tuple.__new__(cls, (syscall, action, errno, tuple(args)))

    syscall = property(lambda self: self[0])
    action = property(lambda self: self[1])
    errno = property(lambda self: self[2])
    args = property(lambda self: self[3])

    def __repr__(self):
        return f"Rule({self[0]!r}, {self[1]!r}, errno={self[2]!r}, args={self[3]!r})"


class Filter(Record):
    """A whole filter: the default action, the architectures, the rules."""

    FIELDS = (("default_action", "SCMP_ACT_ERRNO"), ("default_errno", EPERM),
              ("arches", ()), ("rules", ()))
    __slots__ = tuple(name for name, _ in FIELDS)

    def actions_for(self, syscall):
        """The rules for one syscall name (for tests and --explain)."""
        return [rule for rule in self.rules if rule.syscall == syscall]


def default_profile_path():
    return os.path.join(os.path.dirname(__file__), "default_seccomp.json")


def profile_path(setting):
    """The file a Security.seccomp value names (our copy of Docker's for "default")."""
    return default_profile_path() if setting == "default" else setting


def read_profile_bytes(setting):
    """The raw bytes of the profile file (what the filter cache keys on).

    A dict is the profile itself (OCI's linux.seccomp): its canonical JSON."""
    if isinstance(setting, dict):
        from ..linux.fs import dumps_json  # sorted keys, without importing json
        return dumps_json(setting).encode()
    try:
        with open(profile_path(setting), "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise SpecError(f"seccomp profile {setting!r} not found", op="seccomp") from None
    except OSError as exc:
        raise SpecError(f"cannot read seccomp profile {setting!r}: {exc.strerror}",
                        op="seccomp") from None


def parse_profile(raw, setting):
    """Profile bytes → the profile dict (SpecError when it is not a profile)."""
    import json
    if isinstance(setting, dict):
        setting = "linux.seccomp"
    try:
        profile = json.loads(raw)
    except ValueError as exc:
        raise SpecError(f"seccomp profile {setting!r} is not valid JSON: {exc}",
                        op="seccomp") from None
    if not isinstance(profile, dict) or "defaultAction" not in profile:
        raise SpecError(f"seccomp profile {setting!r} has no defaultAction", op="seccomp")
    return profile


def read_profile(setting):
    """The profile dict for a Security.seccomp value, or None for "unconfined"."""
    if setting in (None, "unconfined"):
        return None
    return parse_profile(read_profile_bytes(setting), setting)


def machine_names(machine=None):
    """(GOARCH, SCMP_ARCH_*) for this machine."""
    machine = machine or os.uname().machine
    return _MACHINES.get(machine, (machine, "SCMP_ARCH_" + machine.upper()))


def kernel_version(release=None):
    """'6.18.44-fc' → (6, 18)."""
    release = release or os.uname().release
    parts = []
    for piece in release.split("-")[0].split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    while len(parts) < 2:
        parts.append(0)
    return tuple(parts)


def _cap_name(name):
    upper = str(name).upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def _action(name, where):
    from .libseccomp import ACTIONS
    if name not in ACTIONS:
        raise SpecError(f"seccomp profile: unsupported action {name!r} in {where}", op="seccomp")
    return name


def _applies(entry, caps, goarch, kernel):
    """Docker's includes/excludes test for one profile entry."""
    includes = entry.get("includes") or {}
    excludes = entry.get("excludes") or {}
    if any(_cap_name(c) not in caps for c in includes.get("caps") or ()):
        return False
    if includes.get("arches") and goarch not in includes["arches"]:
        return False
    if includes.get("minKernel") and kernel < kernel_version(includes["minKernel"]):
        return False
    if any(_cap_name(c) in caps for c in excludes.get("caps") or ()):
        return False
    if goarch in (excludes.get("arches") or ()):
        return False
    return True


def _conditions(entry, where):
    from .libseccomp import OPS
    conditions = []
    for arg in entry.get("args") or ():
        index, op = arg.get("index"), arg.get("op")
        if not isinstance(index, int) or not 0 <= index < MAX_ARGS:
            raise SpecError(f"seccomp profile: argument index {index!r} in {where}",
                            op="seccomp")
        if op not in OPS:
            raise SpecError(f"seccomp profile: unknown comparison {op!r} in {where}",
                            op="seccomp")
        try:
            value, value_two = int(arg.get("value", 0)), int(arg.get("valueTwo", 0))
        except (TypeError, ValueError):
            raise SpecError(f"seccomp profile: argument values must be integers in {where}",
                            op="seccomp") from None
        conditions.append((index, op, value, value_two))
    return tuple(conditions)


def _arches(profile, native):
    if profile.get("architectures") and profile.get("archMap"):
        raise SpecError("seccomp profile: use either 'architectures' or 'archMap', not both",
                        op="seccomp")
    arches = list(profile.get("architectures") or ())
    for entry in profile.get("archMap") or ():
        if entry.get("architecture") == native:
            arches.append(native)
            arches.extend(entry.get("subArchitectures") or ())
    return tuple(arches)


def build_filter(profile, caps, machine=None, release=None):
    """Pure: a Docker-format profile and the container's capability names → Filter.

    Rules whose action equals the default are left out (they change nothing);
    a rule with two conditions on the same argument becomes one rule per
    condition (alternatives, as runc reads it, since libseccomp cannot AND
    two tests of one argument).
    """
    goarch, native = machine_names(machine)
    kernel = kernel_version(release)
    caps = {_cap_name(c) for c in caps}
    default_action = _action(profile.get("defaultAction"), "defaultAction")
    default_errno = profile.get("defaultErrnoRet")
    if default_errno is None:
        default_errno = EPERM
    rules = []
    for position, entry in enumerate(profile.get("syscalls") or ()):
        names = list(entry.get("names") or ())
        if entry.get("name"):
            if names:
                raise SpecError("seccomp profile: use either 'name' or 'names', not both",
                                op="seccomp")
            names = [entry["name"]]
        where = f"syscalls[{position}] ({', '.join(names[:3])})"
        action = _action(entry.get("action"), where)
        if not _applies(entry, caps, goarch, kernel):
            continue
        errno = entry.get("errnoRet")
        if errno is None and action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
            errno = EPERM
        if action == default_action and (action != "SCMP_ACT_ERRNO" or errno == default_errno):
            continue
        conditions = _conditions(entry, where)
        indices = [c[0] for c in conditions]
        groups = ([(c,) for c in conditions] if len(set(indices)) < len(indices)
                  else [conditions])
        for name in names:
            for group in groups:
                rules.append(Rule(name, action, errno, group))
    return Filter(default_action=default_action, default_errno=default_errno,
                  arches=_arches(profile, native), rules=tuple(rules))


def filter_for(security, caps, machine=None, release=None):
    """The Filter for a Security record (None: no seccomp at all).

    --privileged and seccomp=unconfined both mean no filter, as in Docker.
    """
    if security.privileged:
        return None
    profile = read_profile(security.seccomp)
    if profile is None:
        return None
    return build_filter(profile, caps, machine, release)


# -- effects -----------------------------------------------------------------------

class Compiled:
    """A libseccomp context holding the filter, ready to export or load."""

    def __init__(self, ctx, rule_count, skipped, default_action="SCMP_ACT_ERRNO",
                 default_errno=EPERM):
        self.ctx = ctx
        self.rule_count = rule_count
        self.skipped = skipped  # syscall names libseccomp does not know
        self.default_action = default_action
        self.default_errno = default_errno
        self.allowed = set()    # syscall names with an ALLOW rule (some with conditions)

    def program(self):
        """The filter as BPF (``bpf.Program``), generated by libseccomp.

        seccomp_export_bpf writes exactly the program seccomp_load would
        hand to the kernel; it goes through a memfd because libseccomp 2.5
        can only export to a file descriptor.
        """
        from . import bpf, libseccomp
        if self.ctx is None:
            raise SetupError("seccomp filter was already loaded or released", op="seccomp_export")
        fd = os.memfd_create("minicontainer-seccomp", os.MFD_CLOEXEC)
        try:
            _check(libseccomp.lib().seccomp_export_bpf(self.ctx, fd), "seccomp_export_bpf",
                   "the filter")
            size = os.lseek(fd, 0, os.SEEK_END)
            code = os.pread(fd, size, 0)
        finally:
            os.close(fd)
        return bpf.Program(code, self.rule_count, len(self.allowed), tuple(self.skipped),
                           self.default_action, self.default_errno)

    def load(self):
        """Install the filter in this process (irreversible), then free the context.

        The same path as a cached filter: export the BPF, then seccomp(2).
        """
        try:
            program = self.program()
        finally:
            self.release()
        program.load()

    def release(self):
        if self.ctx is not None:
            from . import libseccomp
            libseccomp.lib().seccomp_release(self.ctx)
            self.ctx = None


# Syscalls newer than the libseccomp on this machine (2.5.4 knows none of
# these), by their native number: the same on x86_64 and aarch64 from 424 on.
# Without them Docker's allow list would answer EPERM for calls it allows.
_NEWER = {"statmount": 457, "listmount": 458, "lsm_get_self_attr": 459,
          "lsm_set_self_attr": 460, "lsm_list_modules": 461, "mseal": 462,
          "setxattrat": 463, "getxattrat": 464, "listxattrat": 465, "removexattrat": 466}
_NEWER_MACHINES = ("x86_64", "aarch64")
_NEWER_X86_64 = {"uretprobe": 335}  # the return trampoline of uprobes (6.11)


def _newer_number(name, machine):
    if machine == "x86_64" and name in _NEWER_X86_64:
        return _NEWER_X86_64[name]
    return _NEWER.get(name) if machine in _NEWER_MACHINES else None


def compile_filter(filt, machine=None):
    """Build the libseccomp context for ``filt`` (does not load it)."""
    from . import libseccomp as ls

    handle = ls.lib()
    ctx = handle.seccomp_init(ls.action_value(filt.default_action, filt.default_errno))
    if not ctx:
        raise SetupError("seccomp_init failed", op="seccomp")
    compiled = Compiled(ctx, 0, [], filt.default_action, filt.default_errno)
    known, newer = [], []
    for rule in filt.rules:
        number = ls.syscall_number(rule.syscall)
        if number == ls.NR_SCMP_ERROR:
            fallback = _newer_number(rule.syscall, machine or os.uname().machine)
            if fallback is not None:
                newer.append((rule, fallback))
            else:
                compiled.skipped.append(rule.syscall)  # as Docker: unknown names are skipped
            continue
        known.append((rule, number))
    try:
        # We set no_new_privs ourselves when asked (--security-opt
        # no-new-privileges); otherwise the load relies on CAP_SYS_ADMIN, as runc does.
        _check(handle.seccomp_attr_set(ctx, ls.ATTR_CTL_NNP, 0), "seccomp_attr_set", "NNP")
        handle.seccomp_attr_set(ctx, ls.ATTR_API_SYSRAWRC, 1)  # older libseccomp: ignored
        # Numbers libseccomp cannot name only hold for the native architecture,
        # so they go in while it is the only one in the filter.
        for rule, number in newer:
            _add_rule(handle, ctx, rule, number)
            compiled.rule_count += 1
            if rule.action == "SCMP_ACT_ALLOW":
                compiled.allowed.add(rule.syscall)
        for arch in filt.arches:
            token = ls.arch_token(arch)
            if not token:
                raise SpecError(f"seccomp profile: unknown architecture {arch!r}", op="seccomp")
            result = handle.seccomp_arch_add(ctx, token)
            if result != -17:  # EEXIST: the native architecture is always there
                _check(result, "seccomp_arch_add", arch)
        for rule, number in known:
            _add_rule(handle, ctx, rule, number)
            compiled.rule_count += 1
            if rule.action == "SCMP_ACT_ALLOW":
                compiled.allowed.add(rule.syscall)
    except BaseException:
        compiled.release()
        raise
    return compiled


def _add_rule(handle, ctx, rule, number):
    from . import libseccomp as ls

    array = None
    if rule.args:
        array = (ls.ArgCmp * len(rule.args))(*(
            ls.ArgCmp(index, ls.OPS[op], value & 0xFFFFFFFFFFFFFFFF, value_two & 0xFFFFFFFFFFFFFFFF)
            for index, op, value, value_two in rule.args))
    result = handle.seccomp_rule_add_array(
        ctx, ls.action_value(rule.action, rule.errno), number, len(rule.args), array)
    _check(result, "seccomp_rule_add", rule.syscall)


def _check(result, op, what):
    if result < 0:
        raise SetupError(f"libseccomp refused {what}", op=op, errno=-result)
    return result
