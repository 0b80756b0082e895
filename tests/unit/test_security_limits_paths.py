"""--ulimit parsing and Docker's masked/read-only path lists."""

import pytest

from minicontainer.errors import SpecError
from minicontainer.security import limits, paths
from minicontainer.spec import Security

INF = limits.RLIM_INFINITY


@pytest.mark.parametrize("text,expected", [
    ("nofile=1024:2048", ("nofile", 1024, 2048)),
    ("core=0", ("core", 0, 0)),
    ("NPROC=100:200", ("nproc", 100, 200)),
    ("memlock=-1", ("memlock", INF, INF)),
    ("stack=8192:unlimited", ("stack", 8192, INF)),
    ("as=1000000", ("as", 1000000, 1000000)),
    ("rttime=5:10", ("rttime", 5, 10)),
])
def test_ulimit_parsing(text, expected):
    assert limits.parse_ulimit(text) == expected


@pytest.mark.parametrize("text,words", [
    ("nofile", "name=soft[:hard]"), ("nofile=", "name=soft[:hard]"),
    ("files=10", "unknown limit 'files'"), ("nofile=ten", "not a number"),
    ("nofile=2048:1024", "above hard limit"), ("nofile=1:2:3", "too many"),
    ("nofile=-5", "negative"),
])
def test_ulimit_nonsense_is_a_one_line_spec_error(text, words):
    with pytest.raises(SpecError) as info:
        limits.parse_ulimit(text)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_later_ulimit_flag_wins():
    assert limits.parse_ulimits(["nofile=10:20", "core=0", "nofile=30:40"]) == (
        ("nofile", 30, 40), ("core", 0, 0))


def test_every_docker_ulimit_name_is_known():
    for name in ("nofile", "nproc", "core", "cpu", "data", "fsize", "locks", "memlock",
                 "msgqueue", "nice", "rtprio", "rttime", "sigpending", "stack", "as", "rss"):
        assert name in limits.RESOURCES


def test_default_masks_match_docker(tmp_path):
    cpu = tmp_path / "devices/system/cpu"
    (cpu / "cpu0/thermal_throttle").mkdir(parents=True)
    (cpu / "cpu1/thermal_throttle").mkdir(parents=True)
    (cpu / "cpu2").mkdir(parents=True)
    masked = paths.masked_paths(Security(), sysfs=str(tmp_path))
    for path in ("/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                 "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                 "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                 "/sys/devices/virtual/powercap"):
        assert path in masked
    assert "/sys/devices/system/cpu/cpu0/thermal_throttle" in masked
    assert "/sys/devices/system/cpu/cpu1/thermal_throttle" in masked
    assert len(masked) == 14
    assert paths.readonly_paths(Security()) == (
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


@pytest.mark.parametrize("security", [Security(privileged=True),
                                      Security(systempaths_unconfined=True)])
def test_privileged_or_unconfined_lifts_masks(security):
    assert paths.masked_paths(security) == ()
    assert paths.readonly_paths(security) == ()


def test_security_opts(tmp_path):
    import json

    from minicontainer.security.options import parse_security_opts

    profile = tmp_path / "mctest-profile.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW"}))
    assert parse_security_opts(["seccomp=unconfined", "no-new-privileges",
                                "systempaths=unconfined", "apparmor=unconfined"]) == {
        "seccomp": "unconfined", "no_new_privileges": True, "systempaths_unconfined": True}
    assert parse_security_opts(["no-new-privileges:false"]) == {"no_new_privileges": False}
    assert parse_security_opts([f"seccomp={profile}"]) == {"seccomp": str(profile)}
    for bad in ("seccomp=", "no-new-privileges=maybe", "systempaths=open", "apparmor=docker",
                "selinux", f"seccomp={tmp_path / 'missing.json'}"):
        with pytest.raises(SpecError):
            parse_security_opts([bad])
