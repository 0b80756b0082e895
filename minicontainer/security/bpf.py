"""A compiled seccomp filter as plain BPF, stored as bytes and loaded with seccomp(2).

libseccomp generates the program once (``seccomp.Compiled.program()``); after
that a filter is only bytes: an array of 8-byte ``struct sock_filter`` that
``filtercache`` can keep on disk and the child hands to the kernel with no
library involved.  Loading is one seccomp(SECCOMP_SET_MODE_FILTER) call.

The stored form is one header line, then the program::

    MCBPF1 <sha256 of program> <bytes> <rules> <allowed> <default action> <errno> <skipped>\\n

``skipped`` is the comma-separated names libseccomp did not know ("-" for
none).  ``decode`` returns None for anything that is not exactly that, so a
torn or damaged file is rebuilt rather than trusted.
"""

import errno as _errno

from ..errors import SetupError

MAGIC = b"MCBPF1"
SOCK_FILTER_SIZE = 8      # struct sock_filter {u16 code; u8 jt, jf; u32 k}
BPF_MAXINSNS = 4096       # the kernel refuses longer programs

# What libseccomp 2.5.4's seccomp_load passes for our attributes: no TSYNC
# (only this thread: the child is single-threaded), no LOG, no SPEC_ALLOW
# (the kernel may apply its speculative store bypass mitigation, as with
# runc and Docker's default profile), no listener.  NNP is off in our
# context, and seccomp(2) never sets no_new_privs itself: the load relies on
# CAP_SYS_ADMIN unless --security-opt no-new-privileges set it first.
LOAD_FLAGS = 0


def sha256(data=b""):
    """A sha256 object from the small _sha256 module (hashlib costs ~3 ms to import)."""
    try:
        from _sha256 import sha256 as make
    except ImportError:  # an interpreter built without it
        from hashlib import sha256 as make
    return make(data)


class Program:
    """A seccomp filter ready for the kernel, and what it says in plain words."""

    __slots__ = ("code", "rule_count", "allowed", "skipped", "default_action", "default_errno",
                 "origin")

    def __init__(self, code, rule_count, allowed, skipped=(), default_action="SCMP_ACT_ERRNO",
                 default_errno=1, origin="compiled"):
        self.code = bytes(code)          # the sock_filter array
        self.rule_count = rule_count     # libseccomp rules that went in
        self.allowed = allowed           # syscalls with an ALLOW rule (some conditional)
        self.skipped = list(skipped)     # names libseccomp did not know (as Docker: skipped)
        self.default_action = default_action
        self.default_errno = default_errno
        self.origin = origin             # "compiled" or "cache"

    @property
    def instructions(self):
        return len(self.code) // SOCK_FILTER_SIZE

    def why(self):
        if self.default_action == "SCMP_ACT_ERRNO":
            rest = "the rest answer " + _errno.errorcode.get(self.default_errno,
                                                             str(self.default_errno))
        elif self.default_action == "SCMP_ACT_ALLOW":
            rest = "the rest are allowed"
        else:
            rest = f"the rest: {self.default_action}"
        return (f"load the seccomp filter: {self.allowed} syscalls allowed, {rest} "
                f"({self.rule_count} rules, {self.instructions} BPF instructions) "
                "for the container and all its children")

    def load(self):
        """Install the filter in this process with seccomp(2) (irreversible).

        Without no_new_privs the kernel requires CAP_SYS_ADMIN (in the
        container's user namespace) at this moment; see security/__init__.py
        for where the launcher calls it.
        """
        from ..linux import security as seam
        try:
            seam.seccomp_set_filter(self.code, LOAD_FLAGS, why=self.why())
        except OSError as exc:
            hint = (" (needs CAP_SYS_ADMIN or no_new_privs when loaded)"
                    if exc.errno == _errno.EACCES else "")
            raise SetupError(f"loading the seccomp filter failed{hint}", op="seccomp",
                             errno=exc.errno) from None


def encode(program):
    """Program → the bytes ``decode`` reads back."""
    skipped = ",".join(program.skipped) or "-"
    header = " ".join((MAGIC.decode(), sha256(program.code).hexdigest(), str(len(program.code)),
                       str(program.rule_count), str(program.allowed), program.default_action,
                       str(program.default_errno), skipped))
    return header.encode() + b"\n" + program.code


def decode(blob, origin="cache"):
    """The Program stored in ``blob``, or None if it is not intact."""
    head, newline, code = blob.partition(b"\n")
    fields = head.split(b" ")
    if not newline or len(fields) != 8 or fields[0] != MAGIC:
        return None
    digest, size, rules, allowed, action, errno_, skipped = fields[1:]
    try:
        size, rules, allowed, errno_ = int(size), int(rules), int(allowed), int(errno_)
    except ValueError:
        return None
    if (size != len(code) or size % SOCK_FILTER_SIZE
            or not 0 < size // SOCK_FILTER_SIZE <= BPF_MAXINSNS
            or not action.startswith(b"SCMP_ACT_")
            or sha256(code).hexdigest().encode() != digest):
        return None
    names = () if skipped == b"-" else skipped.decode("ascii", "replace").split(",")
    return Program(code, rules, allowed, names, action.decode("ascii"), errno_, origin)
