"""The order of the child's security steps, checked with fakes (no root needed)."""

import pytest

import minicontainer.security as security


class FakeFilter:
    def __init__(self, log):
        self.log = log

    def load(self):
        self.log.append("seccomp")


@pytest.fixture
def log(monkeypatch):
    steps = []
    monkeypatch.setattr(security, "apply_ulimits", lambda u: steps.append("ulimits"))
    monkeypatch.setattr(security, "drop_bounding", lambda c: steps.append("bounding"))
    monkeypatch.setattr(security, "set_process_caps", lambda c, uid: steps.append(f"caps {uid}"))
    monkeypatch.setattr(security, "no_new_privs", lambda: steps.append("nnp"))
    return steps


def plan(log, nnp, with_filter=True):
    return security.Plan({"CAP_CHOWN"}, FakeFilter(log) if with_filter else None, (), nnp, (), ())


def test_without_no_new_privs_the_filter_goes_in_while_still_root(log):
    p = plan(log, nnp=False)
    security.apply_before_user(p)
    log.append("setuser")
    security.apply_after_user(p, 1000)
    assert log == ["ulimits", "bounding", "seccomp", "setuser", "caps 1000"]


def test_with_no_new_privs_the_filter_is_the_last_step(log):
    p = plan(log, nnp=True)
    security.apply_before_user(p)
    log.append("setuser")
    security.apply_after_user(p, 0)
    assert log == ["ulimits", "bounding", "setuser", "caps 0", "nnp", "seccomp"]


def test_unconfined_loads_nothing(log):
    p = plan(log, nnp=True, with_filter=False)
    security.apply_before_user(p)
    security.apply_after_user(p, 0)
    assert "seccomp" not in log and "nnp" in log
