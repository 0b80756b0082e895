"""Capability names ↔ numbers and Docker's --cap-add/--cap-drop/--privileged rules."""

import pytest

from minicontainer.errors import SpecError
from minicontainer.security import capabilities as caps
from minicontainer.spec import Security

DOCKER_DEFAULT_MASK = 0x00000000A80425FB


def test_numbers_follow_the_kernel_header():
    assert caps.NUMBERS["CAP_CHOWN"] == 0
    assert caps.NUMBERS["CAP_SYS_ADMIN"] == 21
    assert caps.NUMBERS["CAP_AUDIT_WRITE"] == 29
    assert caps.NUMBERS["CAP_CHECKPOINT_RESTORE"] == 40
    assert len(caps.NAMES) == 41


def test_docker_defaults_are_the_14_and_match_the_mask_docker_shows():
    assert len(caps.DOCKER_DEFAULTS) == 14
    assert caps.to_mask(caps.DOCKER_DEFAULTS) == DOCKER_DEFAULT_MASK
    assert caps.from_mask(DOCKER_DEFAULT_MASK) == caps.DOCKER_DEFAULTS


def test_default_security_gives_docker_defaults():
    assert caps.effective_set(Security(), last=40) == caps.DOCKER_DEFAULTS


@pytest.mark.parametrize("spelling", ["NET_ADMIN", "net_admin", "CAP_NET_ADMIN", "cap_net_admin"])
def test_cap_add_accepts_any_spelling(spelling):
    got = caps.effective_set(Security(cap_add=(spelling,)), last=40)
    assert got == caps.DOCKER_DEFAULTS | {"CAP_NET_ADMIN"}


def test_cap_drop_removes_from_defaults():
    got = caps.effective_set(Security(cap_drop=("chown", "NET_RAW")), last=40)
    assert got == caps.DOCKER_DEFAULTS - {"CAP_CHOWN", "CAP_NET_RAW"}


def test_drop_all_keeps_only_added():
    got = caps.effective_set(Security(cap_drop=("ALL",), cap_add=("kill",)), last=40)
    assert got == {"CAP_KILL"}


def test_add_all_minus_dropped():
    got = caps.effective_set(Security(cap_add=("all",), cap_drop=("SYS_ADMIN",)), last=40)
    assert got == set(caps.NAMES) - {"CAP_SYS_ADMIN"}


def test_add_all_and_drop_all_is_all():
    got = caps.effective_set(Security(cap_add=("ALL",), cap_drop=("ALL",)), last=40)
    assert got == set(caps.NAMES)


def test_privileged_is_every_capability_the_kernel_knows():
    assert caps.effective_set(Security(privileged=True), last=40) == set(caps.NAMES)
    older = caps.effective_set(Security(privileged=True), last=37)
    assert "CAP_PERFMON" not in older and "CAP_AUDIT_READ" in older


def test_unknown_capability_is_a_one_line_spec_error():
    with pytest.raises(SpecError) as info:
        caps.effective_set(Security(cap_add=("CAP_FLY",)))
    assert "unknown capability 'CAP_FLY'" in str(info.value)
    assert "\n" not in str(info.value)


def test_last_cap_reads_the_kernel(tmp_path):
    path = tmp_path / "cap_last_cap"
    path.write_text("37\n")
    assert caps.last_cap(str(path)) == 37
    assert caps.last_cap(str(tmp_path / "missing")) == 40
