"""The compiled seccomp filter cache: keys, the stored format, damaged files (no root)."""

import os

import pytest

from minicontainer.linux import syscalls
from minicontainer.security import bpf, capabilities, filtercache, seccomp
from minicontainer.spec import Security

DEFAULT = capabilities.DOCKER_DEFAULTS


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "mctest-data"
    monkeypatch.setenv("MINICONTAINER_DATA_ROOT", str(root))
    return root


def _libseccomp():
    try:
        from minicontainer.security import libseccomp
        libseccomp.lib()
        return True
    except Exception:
        return False


needs_libseccomp = pytest.mark.skipif(not _libseccomp(), reason="machine lacks libseccomp.so.2")


def key(raw=b"{}", caps=DEFAULT, machine="x86_64", kernel=None, code=b"c", lib="2.5.4"):
    return filtercache.cache_key(raw, caps, machine, kernel, code, lib)


def test_key_is_stable_and_ignores_capability_order():
    assert key(caps=["CAP_KILL", "CAP_CHOWN"]) == key(caps={"CAP_CHOWN", "CAP_KILL"})
    assert len(key()) == 64


@pytest.mark.parametrize("change", [
    {"raw": b'{"defaultAction": "SCMP_ACT_ALLOW"}'}, {"raw": b"{} "},
    {"caps": DEFAULT | {"CAP_SYS_ADMIN"}}, {"caps": DEFAULT - {"CAP_KILL"}},
    {"machine": "aarch64"}, {"kernel": (6, 18)}, {"code": b"c2"}, {"lib": "2.5.5"},
])
def test_key_changes_with_every_input(change):
    assert key(**change) != key()


def test_parts_cannot_run_together():
    assert key(raw=b"ab", machine="c") != key(raw=b"a", machine="bc")


def program():
    return bpf.Program(b"\x06\x00\x00\x00\x00\x00\xff\x7f" * 3, 5, 4, ("riscv_hwprobe", "x"),
                       "SCMP_ACT_ERRNO", 1)


def test_encode_decode_round_trip():
    back = bpf.decode(bpf.encode(program()))
    assert (back.code, back.rule_count, back.allowed, back.skipped, back.default_action,
            back.default_errno, back.origin) == (program().code, 5, 4, ["riscv_hwprobe", "x"],
                                                 "SCMP_ACT_ERRNO", 1, "cache")
    assert bpf.decode(bpf.encode(bpf.Program(b"\0" * 8, 0, 0))).skipped == []


def test_why_speaks_plain_words():
    assert program().why().startswith("load the seccomp filter: 4 syscalls allowed, "
                                      "the rest answer EPERM")


@pytest.mark.parametrize("damage", [
    lambda b: b[:-1],                                  # short
    lambda b: b[:-8],                                  # short by a whole instruction
    lambda b: b[:-1] + bytes([b[-1] ^ 1]),             # one bit flipped in the program
    lambda b: b.replace(b"MCBPF1", b"MCBPF0", 1),      # another format
    lambda b: b.split(b"\n", 1)[0],                    # header only
    lambda b: b"",
    lambda b: b"\0" * len(b),
    lambda b: b.replace(b" 5 ", b" x ", 1),            # a number that is not one
])
def test_damaged_blobs_are_refused(damage):
    assert bpf.decode(damage(bpf.encode(program()))) is None


def test_empty_and_oversized_programs_are_refused():
    assert bpf.decode(bpf.encode(bpf.Program(b"", 0, 0))) is None
    assert bpf.decode(bpf.encode(bpf.Program(b"\0" * 8 * 4097, 0, 0))) is None


def test_unconfined_and_privileged_mean_no_filter():
    assert filtercache.program_for(Security(seccomp="unconfined"), DEFAULT) is None
    assert filtercache.program_for(Security(privileged=True), DEFAULT) is None


def test_cache_dir_follows_the_data_root(data_root):
    assert filtercache.cache_dir() == os.path.join(str(data_root), "cache", "seccomp")
    assert filtercache.cache_dir("/x") == "/x/cache/seccomp"


@pytest.fixture
def notes(monkeypatch):
    seen = []
    monkeypatch.setattr(syscalls, "_recorder", lambda op, args, *rest: seen.append((op, args)))
    return seen


def _only_file(directory):
    (name,) = os.listdir(directory)
    return os.path.join(directory, name)


@needs_libseccomp
def test_miss_stores_and_hit_skips_libseccomp(data_root, monkeypatch, notes):
    first = filtercache.program_for(Security(), DEFAULT)
    assert first.origin == "compiled" and first.rule_count > 300
    path = _only_file(filtercache.cache_dir())
    assert path.endswith(".bpf") and os.stat(path).st_mode & 0o777 == 0o600
    for directory in (data_root, data_root / "cache", data_root / "cache" / "seccomp"):
        assert os.stat(directory).st_mode & 0o777 == 0o700

    def refuse(*args, **kwargs):
        raise AssertionError("compiled although the filter is cached")
    monkeypatch.setattr(seccomp, "compile_filter", refuse)
    monkeypatch.setattr(seccomp, "parse_profile", refuse)
    second = filtercache.program_for(Security(), DEFAULT)
    assert second.origin == "cache"
    assert (second.code, second.rule_count, second.allowed, second.skipped) == (
        first.code, first.rule_count, first.allowed, first.skipped)
    assert [args[0] for op, args in notes if op == "seccomp_cache"] == ["miss", "hit"]


@needs_libseccomp
def test_other_capabilities_get_their_own_entry():
    a = filtercache.program_for(Security(), DEFAULT)
    b = filtercache.program_for(Security(), DEFAULT | {"CAP_SYS_ADMIN"})
    assert a.code != b.code
    assert len(os.listdir(filtercache.cache_dir())) == 2


@needs_libseccomp
def test_the_profiles_bytes_are_the_key(tmp_path):
    profile = tmp_path / "mctest-profile.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": '
                       '[{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}]}')
    first = filtercache.program_for(Security(seccomp=str(profile)), DEFAULT)
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": '
                       '[{"names": ["keyctl", "add_key"], "action": "SCMP_ACT_ERRNO"}]}')
    second = filtercache.program_for(Security(seccomp=str(profile)), DEFAULT)
    assert second.origin == "compiled" and second.rule_count == first.rule_count + 1
    assert len(os.listdir(filtercache.cache_dir())) == 2


@needs_libseccomp
@pytest.mark.parametrize("spoil", ["truncate", "garbage", "group-writable"])
def test_a_spoiled_cache_file_is_ignored_and_rebuilt(spoil):
    first = filtercache.program_for(Security(), DEFAULT)
    path = _only_file(filtercache.cache_dir())
    if spoil == "truncate":
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) - 3)
    elif spoil == "garbage":
        with open(path, "r+b") as f:
            f.seek(-16, os.SEEK_END)
            f.write(b"\xff" * 16)
    else:
        os.chmod(path, 0o620)
    again = filtercache.program_for(Security(), DEFAULT)
    assert again.origin == "compiled" and again.code == first.code
    assert filtercache.program_for(Security(), DEFAULT).origin == "cache"


@needs_libseccomp
def test_an_unwritable_data_root_still_gives_a_filter(tmp_path, monkeypatch):
    blocker = tmp_path / "mctest-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MINICONTAINER_DATA_ROOT", str(blocker / "root"))
    program = filtercache.program_for(Security(), DEFAULT)
    assert program.origin == "compiled" and program.rule_count > 300
    assert filtercache.store(os.path.join(filtercache.cache_dir(), "k.bpf"), b"x") is False


@needs_libseccomp
def test_bad_profiles_still_fail_as_spec_errors(tmp_path):
    from minicontainer.errors import SpecError
    broken = tmp_path / "mctest-broken.json"
    broken.write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        filtercache.program_for(Security(seccomp=str(broken)), DEFAULT)
    with pytest.raises(SpecError, match="not found"):
        filtercache.program_for(Security(seccomp=str(tmp_path / "missing.json")), DEFAULT)
