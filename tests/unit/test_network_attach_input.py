"""attach refuses bad input before it creates anything (no root needed)."""

import pytest

from minicontainer import network
from minicontainer.errors import SpecError
from minicontainer.spec import NetworkOptions


@pytest.mark.parametrize("options", [
    NetworkOptions(mac="02:42:zz:00:00:01"),
    NetworkOptions(mac="01:00:5e:00:00:01"),  # multicast
    NetworkOptions(add_hosts=("nohost",)),
    NetworkOptions(add_hosts=("name:999.0.0.1",)),
    NetworkOptions(aliases=("bad alias",)),
    NetworkOptions(ports=("80:99999",)),
    NetworkOptions(ip="172.17.0.5"),            # --ip on the default network
    NetworkOptions(aliases=("db",)),            # alias on the default network
])
def test_bad_options_create_nothing(tmp_path, options):
    with pytest.raises(SpecError) as info:
        network.attach(str(tmp_path), "c" * 64, 1, "bridge", options)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []
