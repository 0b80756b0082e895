"""The device cgroup: which device nodes a container may open or create.

Capabilities decide who may call mknod(2); the device cgroup decides which
device numbers a process may then open, read, write or create, whatever node
it reaches them through.  Docker (runc) denies everything and allows back a
short list, the same on both cgroup versions:

* v1: ``a`` written to devices.deny, then one line per rule to devices.allow;
* v2: a BPF_PROG_TYPE_CGROUP_DEVICE program, assembled here from the same
  rules, loaded with bpf(2) and attached to the container's cgroup.

--privileged lifts the restriction (nothing is written or attached).
"""

import os
import struct

from ..errors import SetupError
from ..linux import cgroupfs
from ..linux import devices as bpf_seam
from ..linux import syscalls

# (type, major, minor, access, what): None is the wildcard "*".  Docker's
# list, which is runc's AllowedDevices: mknod of any node is allowed (the
# image may ship nodes, and a node is harmless until opened), opening only of
# these.
DEFAULT_RULES = (
    ("c", None, None, "m", "mknod of any character device (opening one needs its own rule)"),
    ("b", None, None, "m", "mknod of any block device (opening one needs its own rule)"),
    ("c", 1, 3, "rwm", "/dev/null"),
    ("c", 1, 8, "rwm", "/dev/random"),
    ("c", 1, 7, "rwm", "/dev/full"),
    ("c", 5, 0, "rwm", "/dev/tty"),
    ("c", 1, 5, "rwm", "/dev/zero"),
    ("c", 1, 9, "rwm", "/dev/urandom"),
    ("c", 136, None, "rwm", "/dev/pts/* (the container's pseudo-terminals)"),
    ("c", 5, 2, "rwm", "/dev/ptmx (opens a new pseudo-terminal)"),
    ("c", 10, 200, "rwm", "/dev/net/tun (tun/tap)"),
)


def rule_line(rule):
    """One rule as the v1 devices.allow line ('c 136:* rwm')."""
    kind, major, minor, access = rule[:4]
    return (f"{kind} {'*' if major is None else major}:{'*' if minor is None else minor} "
            f"{access}")


# -- v1 ---------------------------------------------------------------------------

def restrict_v1(directory, rules=DEFAULT_RULES):
    """Deny every device in the v1 devices cgroup ``directory``, then allow ``rules``."""
    deny = os.path.join(directory, "devices.deny")
    allow = os.path.join(directory, "devices.allow")
    _write(deny, "a", "deny the container every device (the allow list follows)")
    for rule in rules:
        _write(allow, rule_line(rule), f"allow {rule[4]}")


def apply_rules_v1(directory, rules):
    """OCI's ordered rules: each (allow, type, major, minor, access) written to
    devices.allow or devices.deny in turn; the kernel keeps the order's meaning
    ("a" resets the default, a later line wins over an earlier one)."""
    allow = os.path.join(directory, "devices.allow")
    deny = os.path.join(directory, "devices.deny")
    for allowed, kind, major, minor, access in rules:
        line = rule_line((kind, major, minor, access))
        _write(allow if allowed else deny, line,
               f"{'allow' if allowed else 'deny'} devices {line} (linux.resources.devices)")


def _write(path, value, why):
    try:
        cgroupfs.write(path, value, why)
    except OSError as exc:
        raise SetupError(exc.strerror, op="restrict devices", path=path,
                         errno=exc.errno) from None


# -- v2: a tiny eBPF assembler ----------------------------------------------------

# The program's input (struct bpf_cgroup_dev_ctx): u32 access_type, u32 major,
# u32 minor, where access_type = access << 16 | type.
DEV_TYPE = {"b": 1, "c": 2}                       # BPF_DEVCG_DEV_BLOCK / _CHAR
DEV_ACCESS = {"m": 1, "r": 2, "w": 4}             # BPF_DEVCG_ACC_MKNOD / READ / WRITE
ALL_ACCESS = 7

# Opcodes used (class | operation | source), from linux/bpf.h.
OPCODES = {
    "ldxw": 0x61,         # BPF_LDX | BPF_MEM | BPF_W     dst = *(u32 *)(src + off)
    "and32": 0x54,        # BPF_ALU | BPF_AND | BPF_K     dst &= imm
    "rsh32": 0x74,        # BPF_ALU | BPF_RSH | BPF_K     dst >>= imm
    "mov32": 0xb4,        # BPF_ALU | BPF_MOV | BPF_K     dst = imm
    "mov32reg": 0xbc,     # BPF_ALU | BPF_MOV | BPF_X     dst = src
    "jne": 0x55,          # BPF_JMP | BPF_JNE | BPF_K     if dst != imm: pc += off
    "jnereg": 0x5d,       # BPF_JMP | BPF_JNE | BPF_X     if dst != src: pc += off
    "exit": 0x95,         # BPF_JMP | BPF_EXIT            return r0
    "ja": 0x05,           # BPF_JMP | BPF_JA              pc += off
}
NEXT = "next"   # a jump's offset placeholder: the start of the next rule's block

# r1 holds the context on entry; r2..r5 get type, access, major, minor.
PROLOGUE = (
    ("ldxw", 2, 1, 0, 0), ("and32", 2, 0, 0, 0xFFFF),     # r2 = device type
    ("ldxw", 3, 1, 0, 0), ("rsh32", 3, 0, 0, 16),         # r3 = requested access
    ("ldxw", 4, 1, 4, 0),                                  # r4 = major
    ("ldxw", 5, 1, 8, 0),                                  # r5 = minor
)
DENY = (("mov32", 0, 0, 0, 0), ("exit", 0, 0, 0, 0))
ALLOW = (("mov32", 0, 0, 0, 1), ("exit", 0, 0, 0, 0))


def access_bits(access):
    bits = 0
    for letter in access:
        if letter not in DEV_ACCESS:
            raise ValueError(f"unknown device access {letter!r} in {access!r}")
        bits |= DEV_ACCESS[letter]
    return bits


def rule_block(rule):
    """Instructions for one allow rule: fall through to 'allow' if it matches."""
    kind, major, minor, access = rule[:4]
    block = []
    if kind != "a":
        block.append(("jne", 2, 0, NEXT, DEV_TYPE[kind]))
    bits = access_bits(access)
    if bits != ALL_ACCESS:
        # every requested bit must be allowed: (requested & allowed) == requested
        block += [("mov32reg", 1, 3, 0, 0), ("and32", 1, 0, 0, bits),
                  ("jnereg", 1, 3, NEXT, 0)]
    if major is not None:
        block.append(("jne", 4, 0, NEXT, major))
    if minor is not None:
        block.append(("jne", 5, 0, NEXT, minor))
    return block + list(ALLOW)


def deny_block(rule):
    """Instructions for one deny rule: 'deny' if it matches (any requested access
    bit it names), else fall through to the next block."""
    kind, major, minor, access = rule[:4]
    block = []
    if kind != "a":
        block.append(("jne", 2, 0, NEXT, DEV_TYPE[kind]))
    bits = access_bits(access)
    if bits != ALL_ACCESS:
        block += [("mov32reg", 1, 3, 0, 0), ("and32", 1, 0, 0, bits),
                  ("jne", 1, 0, 1, 0)]  # some requested bit is denied: skip the "ja"
        block += [("ja", 0, 0, NEXT, 0)]
    if major is not None:
        block.append(("jne", 4, 0, NEXT, major))
    if minor is not None:
        block.append(("jne", 5, 0, NEXT, minor))
    return block + list(DENY)


def ordered_program(rules):
    """BPF for OCI's ordered rules (allow, type, major, minor, access): the last
    rule that matches decides, so the blocks go in reverse; nothing matching
    means allowed, as a new cgroup's default is (a config denies "a" first)."""
    out = list(PROLOGUE)
    for allowed, kind, major, minor, access in reversed(rules):
        block = (rule_block if allowed else deny_block)((kind, major, minor, access))
        for index, (op, dst, src, off, imm) in enumerate(block):
            if off == NEXT:
                off = len(block) - index - 1
            out.append((op, dst, src, off, imm))
        if len(block) == 2:
            # matches everything ("a *:* rwm"): what follows could never run,
            # and the kernel's verifier refuses unreachable instructions
            return out
    return out + list(ALLOW)


def program(rules=DEFAULT_RULES):
    """The whole program as instruction tuples: prologue, a block per rule, deny."""
    out = list(PROLOGUE)
    for rule in rules:
        block = rule_block(rule)
        for index, (op, dst, src, off, imm) in enumerate(block):
            if off == NEXT:
                off = len(block) - index - 1
            out.append((op, dst, src, off, imm))
    return out + list(DENY)


def encode(instructions):
    """Pack (op, dst, src, off, imm) tuples as struct bpf_insn (8 bytes each)."""
    return b"".join(struct.pack("<BBhi", OPCODES[op], dst | (src << 4), off, imm)
                    for op, dst, src, off, imm in instructions)


def restrict_v2(directory, rules=DEFAULT_RULES, code=None):
    """Load the device program for ``rules`` (or the instructions ``code``) and
    attach it to the cgroup ``directory``."""
    code = encode(program(rules) if code is None else code)
    try:
        prog_fd = bpf_seam.bpf_load_device_program(
            code, why="load the device filter: a BPF program the kernel asks on every "
                      "open or mknod of a device node (allow the default devices only)")
    except OSError as exc:
        raise SetupError(f"cannot load the device cgroup program: {exc.strerror}",
                         op="restrict devices", path=directory, errno=exc.errno) from None
    try:
        cgroup_fd = syscalls.open_path(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
                                       why="open the container's cgroup to attach the filter")
        try:
            bpf_seam.bpf_attach_device_program(
                cgroup_fd, prog_fd, path=directory,
                why="attach the device filter to the container's cgroup (it stays there "
                    "until the cgroup is removed)")
        finally:
            os.close(cgroup_fd)
    except OSError as exc:
        raise SetupError(f"cannot attach the device cgroup program: {exc.strerror}",
                         op="restrict devices", path=directory, errno=exc.errno) from None
    finally:
        os.close(prog_fd)
