"""The device rules, as v1 lines and as the v2 BPF program (no root needed).

The program is checked two ways: its bytes against hand-decoded instructions,
and its behaviour by running it in a small interpreter of the few eBPF
instructions the assembler emits, against a plain-Python reading of the rules.
"""

import itertools
import struct

import pytest

from minicontainer.cgroups import devices
from minicontainer.cgroups.devices import (DEFAULT_RULES, DEV_ACCESS, DEV_TYPE, encode,
                                           program, rule_line)
from minicontainer.linux import cgroupfs


def test_v1_lines_are_dockers_default_list():
    lines = [rule_line(r) for r in DEFAULT_RULES]
    assert lines == ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm",
                     "c 1:5 rwm", "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"]


def test_v1_denies_all_first_then_allows_each_rule(monkeypatch):
    writes = []
    monkeypatch.setattr(cgroupfs, "write", lambda path, value, why: writes.append((path, value)))
    devices.restrict_v1("/cg/devices/mctest")
    assert writes[0] == ("/cg/devices/mctest/devices.deny", "a")
    assert writes[1:] == [("/cg/devices/mctest/devices.allow", rule_line(r))
                          for r in DEFAULT_RULES]


def test_instruction_encoding():
    # r2 = *(u32 *)(r1 + 0): opcode 0x61, dst 2 in the low nibble, src 1 in the high
    assert encode([("ldxw", 2, 1, 0, 0)]) == bytes([0x61, 0x12, 0, 0, 0, 0, 0, 0])
    # if r4 != 136 goto +3
    assert encode([("jne", 4, 0, 3, 136)]) == bytes([0x55, 0x04, 3, 0, 136, 0, 0, 0])
    assert encode([("exit", 0, 0, 0, 0)]) == bytes([0x95] + [0] * 7)


def test_program_ends_in_deny_and_every_jump_lands_on_a_block_start():
    insns = program()
    assert insns[-2:] == [("mov32", 0, 0, 0, 0), ("exit", 0, 0, 0, 0)]
    starts = {6}   # after the prologue
    for pc, insn in enumerate(insns):
        if insn[0] == "exit":
            starts.add(pc + 1)
    for pc, (op, _dst, _src, off, _imm) in enumerate(insns):
        if op.startswith("jne"):
            assert pc + 1 + off in starts, f"jump at {pc} lands mid-block"


# -- an interpreter for the emitted subset ---------------------------------------

def run(code, kind, major, minor, access):
    ctx = struct.pack("<III", (access << 16) | kind, major, minor)
    regs = [0] * 11
    pc = 0
    insns = [struct.unpack("<BBhi", code[i:i + 8]) for i in range(0, len(code), 8)]
    for _ in range(10000):
        opcode, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if opcode == 0x61:
            assert src == 1, "only the context is read"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif opcode == 0x54:
            regs[dst] = regs[dst] & (imm & 0xFFFFFFFF)
        elif opcode == 0x74:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif opcode == 0xb4:
            regs[dst] = imm & 0xFFFFFFFF
        elif opcode == 0xbc:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif opcode == 0x55:
            if regs[dst] != (imm & 0xFFFFFFFF):
                pc += off
        elif opcode == 0x5d:
            if regs[dst] != regs[src]:
                pc += off
        elif opcode == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {opcode:#x}")
    raise AssertionError("the program did not end")


def reference(rules, kind, major, minor, access):
    """The rules read plainly: allowed if some rule covers type, numbers and access."""
    for r_kind, r_major, r_minor, r_access, _what in rules:
        bits = sum(DEV_ACCESS[c] for c in r_access)
        if ((r_kind == "a" or DEV_TYPE[r_kind] == kind)
                and (r_major is None or r_major == major)
                and (r_minor is None or r_minor == minor)
                and access & ~bits == 0):
            return 1
    return 0


CASES = list(itertools.product(
    (1, 2),                                   # block, char
    (0, 1, 5, 8, 10, 136, 254),               # majors
    (0, 1, 2, 3, 5, 7, 8, 9, 11, 200, 4095),  # minors
    range(1, 8)))                             # every access combination


@pytest.mark.parametrize("rules", [
    DEFAULT_RULES,
    (("c", 1, 3, "rw", "null without mknod"),),
    (("a", None, None, "r", "read anything"), ("b", 8, None, "rwm", "sd*")),
    (),
], ids=["docker-default", "one-rule", "wildcards", "deny-all"])
def test_program_agrees_with_the_rules(rules):
    code = encode(program(rules))
    for kind, major, minor, access in CASES:
        assert run(code, kind, major, minor, access) == \
            reference(rules, kind, major, minor, access), (kind, major, minor, access)


def test_default_program_answers():
    code = encode(program())
    char, block = DEV_TYPE["c"], DEV_TYPE["b"]
    rw, mknod = DEV_ACCESS["r"] | DEV_ACCESS["w"], DEV_ACCESS["m"]
    assert run(code, char, 1, 3, rw) == 1            # /dev/null
    assert run(code, char, 136, 7, rw) == 1          # a pty
    assert run(code, block, 8, 0, mknod) == 1        # mknod of sda ...
    assert run(code, block, 8, 0, DEV_ACCESS["r"]) == 0   # ... but no reading it
    assert run(code, char, 1, 11, DEV_ACCESS["r"]) == 0   # /dev/kmsg
    assert run(code, char, 1, 1, rw) == 0            # /dev/mem


def test_unknown_access_letter_is_refused():
    with pytest.raises(ValueError):
        program((("c", 1, 3, "rx", "bad"),))
