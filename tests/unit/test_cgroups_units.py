"""Docker's resource flags: units, defaults and the errors for nonsense values."""

import pytest

from minicontainer import units
from minicontainer.errors import SpecError
from minicontainer.spec import Resources

CPUS = (0, 1)          # a pretend 2-CPU host, so the tests do not depend on this one
MEMS = (0,)


def parse(**options):
    return units.parse_resources(options, cpus_available=CPUS, mems_available=MEMS)


def refused(match, **options):
    with pytest.raises(SpecError, match=match) as info:
        parse(**options)
    text = str(info.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("text, expected", [
    ("512m", 512 << 20), ("1g", 1 << 30), ("1G", 1 << 30), ("100k", 100 << 10),
    ("4096", 4096), ("4096b", 4096), ("1.5g", 3 << 29), ("2MiB", 2 << 20), ("2mb", 2 << 20),
    ("1t", 1 << 40), ("1p", 1 << 50), ("7 m", 7 << 20),
])
def test_sizes_are_binary_and_case_insensitive(text, expected):
    assert units.ram_in_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "m", "-1", "12x", "1.2.3m", "1e6", "0x10"])
def test_bad_sizes(text):
    with pytest.raises(ValueError):
        units.ram_in_bytes(text)


def test_nothing_given_is_all_unset():
    assert parse() == Resources()
    assert parse(memory=None, cpus="") == Resources()


def test_memory_and_docker_default_swap():
    r = parse(memory="512m")
    assert r.memory == 512 << 20
    assert r.memory_swap == 1 << 30          # Docker: memory+swap = twice the memory


def test_memory_minimum_is_6mib():
    text = refused("Minimum memory limit allowed is 6MB", memory="4m")
    assert "--memory" in text and "4m" in text
    assert parse(memory="6m").memory == 6 << 20
    assert parse(memory="0").memory is None


def test_memory_bad_unit_names_the_flag():
    assert "--memory" in refused("invalid size", memory="lots")


def test_memory_swap():
    assert parse(memory="64m", memory_swap="-1").memory_swap == -1
    assert parse(memory="64m", memory_swap="128m").memory_swap == 128 << 20
    assert parse(memory="64m", memory_swap="64m").memory_swap == 64 << 20
    refused("larger than memory limit", memory="64m", memory_swap="32m")
    refused("memory limit", memory_swap="64m")


def test_memory_reservation():
    assert parse(memory_reservation="32m").memory_reservation == 32 << 20
    refused("Minimum memory reservation allowed is 6MB", memory_reservation="1m")
    refused("can not be less than memory reservation", memory="64m", memory_reservation="128m")


def test_cpus():
    assert parse(cpus="1.5").cpus == 1.5
    assert parse(cpus="0.5").cpus == 0.5
    assert parse(cpus=".25").cpus == 0.25
    assert parse(cpus="0").cpus is None           # --cpus 0 = unlimited
    assert parse(cpus="2").cpus == 2.0


def test_cpus_above_the_host():
    text = refused("range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
                   cpus="3")
    assert "--cpus" in text


@pytest.mark.parametrize("value", ["abc", "1.2.3", "-1", "1e3", ""])
def test_cpus_not_a_number(value):
    if value == "":
        assert parse(cpus=value).cpus is None
    else:
        refused("--cpus", cpus=value)


def test_cpus_too_precise():
    refused("too precise", cpus="0.0000000001")


def test_cpus_conflicts_with_quota_and_period():
    refused("conflicting options", cpus="1", cpu_quota="50000")
    refused("conflicting options", cpus="1", cpu_period="50000")


def test_cpu_period_and_quota():
    r = parse(cpu_period="50000", cpu_quota="25000")
    assert (r.cpu_period, r.cpu_quota) == (50000, 25000)
    assert parse(cpu_quota="-1").cpu_quota == -1
    refused("less than 1ms", cpu_period="999")
    refused("larger than 1s", cpu_period="1000001")
    refused("less than 1ms", cpu_quota="999")
    refused("--cpu-quota", cpu_quota="-5")
    refused("not an integer", cpu_period="1.5")


def test_cpu_shares():
    assert parse(cpu_shares="512").cpu_shares == 512
    assert parse(cpu_shares="1").cpu_shares == 2            # the kernel's minimum
    assert parse(cpu_shares="1000000").cpu_shares == 262144
    assert parse(cpu_shares="0").cpu_shares is None
    refused("positive integer", cpu_shares="-3")


def test_cpuset():
    assert parse(cpuset_cpus="0-1").cpuset_cpus == "0-1"
    assert parse(cpuset_cpus="0,1").cpuset_cpus == "0,1"
    assert parse(cpuset_mems="0").cpuset_mems == "0"
    assert units.parse_list("0-2,4") == (0, 1, 2, 4)
    refused("not available - requested 0-3", cpuset_cpus="0-3")
    refused("memory nodes are not available", cpuset_mems="1")
    for bad in ("1-", "a", "2-1", "0,,1", ""):
        if bad:
            refused("cpuset", cpuset_cpus=bad)


def test_pids_limit():
    assert parse(pids_limit="100").pids_limit == 100
    assert parse(pids_limit="0").pids_limit == -1            # <= 0: unlimited
    assert parse(pids_limit="-1").pids_limit == -1
    refused("--pids-limit", pids_limit="many")


def test_blkio_weight():
    assert parse(blkio_weight="500").blkio_weight == 500
    assert parse(blkio_weight="0").blkio_weight is None
    refused("from 10 to 1000", blkio_weight="5")
    refused("from 10 to 1000", blkio_weight="1001")


def test_device_rates():
    r = parse(device_read_bps=["/dev/sda:1mb", "/dev/sdb:100"], device_write_bps="/dev/sda:2g")
    assert r.device_read_bps == (("/dev/sda", 1 << 20), ("/dev/sdb", 100))
    assert r.device_write_bps == (("/dev/sda", 2 << 30),)
    refused("bad format", device_read_bps="/dev/sda")
    refused("device path", device_read_bps="sda:1mb")
    refused("invalid rate", device_write_bps="/dev/sda:fast")


def test_unknown_option():
    with pytest.raises(SpecError, match="unknown resource option"):
        units.parse_resources({"memroy": "1g"})


def test_update_leaves_unset_fields_alone():
    changes = units.parse_resources({"memory": "64m"}, update=True)
    assert changes.memory_swap is None
    current = parse(memory="32m", pids_limit="10")
    merged = units.merge_resources(current, units.parse_resources(
        {"memory": "48m"}, update=True))
    assert (merged.memory, merged.memory_swap, merged.pids_limit) == (48 << 20, 64 << 20, 10)
    with pytest.raises(SpecError, match="memory-swap"):
        units.merge_resources(current, units.parse_resources({"memory": "128m"}, update=True))


def test_human_bytes():
    assert units.human_bytes(512 << 20) == "512 MiB"
    assert units.human_bytes(1 << 30) == "1 GiB"
    assert units.human_bytes(1536 << 20) == "1.5 GiB"
    assert units.human_bytes(100) == "100 bytes"


def test_host_facts_are_read_when_not_given():
    assert units.host_cpus()
    assert units.host_mems()
