"""The machine-wide record of IPv4 forwarding (fake switch and registry files)."""

import pytest

from minicontainer.network import forwarding


@pytest.fixture
def switch(tmp_path, monkeypatch):
    path = tmp_path / "ip_forward"
    path.write_text("0\n")
    monkeypatch.setattr(forwarding, "IP_FORWARD", str(path))
    monkeypatch.setattr(forwarding, "REGISTRY", str(tmp_path / "run" / "users.json"))
    return path


def test_the_last_data_root_to_leave_restores_forwarding(switch):
    live = {"/a", "/b"}
    has = live.__contains__
    forwarding.hold("/a", has)
    assert switch.read_text().strip() == "1"
    forwarding.hold("/b", has)
    live.discard("/a")
    forwarding.release("/a", has)
    assert switch.read_text().strip() == "1"  # /b still has a network
    live.discard("/b")
    forwarding.release("/b", has)
    assert switch.read_text().strip() == "0"


def test_a_vanished_data_root_does_not_keep_forwarding_on(switch):
    live = {"/a", "/gone"}
    has = live.__contains__
    forwarding.hold("/gone", has)
    forwarding.hold("/a", has)
    live.clear()  # /gone was removed without releasing; /a gives up its last network
    forwarding.release("/a", has)
    assert switch.read_text().strip() == "0"


def test_forwarding_found_on_stays_on(switch):
    switch.write_text("1\n")
    forwarding.hold("/a", lambda root: True)
    forwarding.release("/a", lambda root: False)
    assert switch.read_text().strip() == "1"
