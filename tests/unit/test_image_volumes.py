"""-v / --mount / --tmpfs parsing and the volume store (temporary data roots)."""

import os

import pytest

from minicontainer import volumes
from minicontainer.errors import Conflict, NotFound, SpecError
from minicontainer.spec import Mount


@pytest.mark.parametrize("text, expected", [
    ("/host:/ctr", Mount(target="/ctr", source="/host", type="bind")),
    ("/host:/ctr:ro", Mount(target="/ctr", source="/host", type="bind", readonly=True)),
    ("/host:/ctr:rw,rslave", Mount(target="/ctr", source="/host", type="bind", options="rslave")),
    ("./rel:/ctr", Mount(target="/ctr", source="/cwd/rel", type="bind")),
    ("data:/var/lib/db", Mount(target="/var/lib/db", source="data", type="volume")),
    ("data:/x:ro,nocopy", Mount(target="/x", source="data", type="volume", readonly=True,
                                options="nocopy")),
    ("/anon", Mount(target="/anon", source=None, type="volume")),
    ("/anon:ro", Mount(target="/anon", source=None, type="volume", readonly=True)),
    ("/a/../b/", Mount(target="/b", source=None, type="volume")),
])
def test_parse_volume(text, expected):
    assert volumes.parse_volume(text, cwd="/cwd") == expected


@pytest.mark.parametrize("text, words", [
    ("a:b:c:d", "invalid volume specification"),
    ("/h::/c", "invalid volume specification"),
    ("/h:rel", "invalid mode"),
    ("rel", "must be absolute"),
    ("/h:/", "over the container's root"),
    ("/h:/c:rx", "invalid mode"),
    ("/h:/c:ro,rw", "both ro and rw"),
    ("b@d:/c", "invalid volume name"),
    ("x:/c", "invalid volume name"),
])
def test_parse_volume_errors(text, words):
    with pytest.raises(SpecError, match=words):
        volumes.parse_volume(text)


def test_parse_tmpfs():
    assert volumes.parse_tmpfs("/run") == Mount(target="/run", source="tmpfs", type="tmpfs")
    assert volumes.parse_tmpfs("/cache:size=64m,mode=1777,ro") == Mount(
        target="/cache", source="tmpfs", type="tmpfs", readonly=True,
        options="size=64m,mode=1777,ro")
    with pytest.raises(SpecError):
        volumes.parse_tmpfs("cache")


def test_parse_mount():
    assert volumes.parse_mount("type=bind,source=/h,target=/c,readonly") == Mount(
        target="/c", source="/h", type="bind", readonly=True)
    assert volumes.parse_mount("type=bind,src=h,dst=/c,bind-propagation=rshared",
                               cwd="/w") == Mount(target="/c", source="/w/h", type="bind",
                                                  options="rshared")
    assert volumes.parse_mount("source=db,target=/d,volume-nocopy") == Mount(
        target="/d", source="db", type="volume", options="nocopy")
    assert volumes.parse_mount("type=volume,destination=/d,ro=false") == Mount(
        target="/d", source=None, type="volume")
    assert volumes.parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=700") == Mount(
        target="/t", source="tmpfs", type="tmpfs", options="size=1m,mode=700")
    for bad, words in [("type=bind,target=/c", "needs a source"),
                       ("type=nfs,target=/c", "type must be"),
                       ("type=bind,source=/h", "target is required"),
                       ("type=bind,source=/h,target=/c,colour=red", "unknown field"),
                       ("type=bind,source=/h,target=/c,readonly=maybe", "true or false"),
                       ("type=tmpfs,source=x,target=/c", "no source")]:
        with pytest.raises(SpecError, match=words):
            volumes.parse_mount(bad)


def test_volumes_from_and_image_volumes():
    theirs = [Mount(target="/a", source="/h", type="bind"),
              Mount(target="/t", source="tmpfs", type="tmpfs"),
              Mount(target="/v", source="/vol/_data", type="bind", readonly=True)]
    assert [m.readonly for m in volumes.volumes_from(theirs)] == [False, True]
    assert [m.readonly for m in volumes.volumes_from(theirs, "ro")] == [True, True]
    with pytest.raises(SpecError):
        volumes.volumes_from(theirs, "x")
    extra = volumes.image_volume_mounts(["/data", "/cache/"],
                                        [Mount(target="/data", source="/h", type="bind")])
    assert extra == [Mount(target="/cache", source=None, type="volume")]


def test_volume_store_lifecycle(tmp_path):
    root = str(tmp_path / "mctest-data")
    record = volumes.create_volume(root, "mctest-db", labels={"a": "b"})
    assert record["Mountpoint"] == os.path.join(root, "volumes", "mctest-db", "_data")
    assert os.path.isdir(record["Mountpoint"]) and record["Anonymous"] is False
    assert volumes.create_volume(root, "mctest-db") == record  # existing: returned as is
    anon = volumes.create_volume(root)
    assert anon["Anonymous"] and len(anon["Name"]) == 64
    assert [v["Name"] for v in volumes.list_volumes(root)] == sorted(["mctest-db", anon["Name"]])
    assert volumes.inspect_volume(root, "mctest-db")["Labels"] == {"a": "b"}
    with pytest.raises(NotFound):
        volumes.inspect_volume(root, "nope")
    with pytest.raises(Conflict, match="in use"):
        volumes.remove_volume(root, "mctest-db", in_use={"mctest-db"})
    with open(os.path.join(anon["Mountpoint"], "f"), "w") as handle:
        handle.write("12345")
    removed, freed = volumes.prune_volumes(root)
    assert removed == [anon["Name"]] and freed == 5
    assert volumes.prune_volumes(root, in_use={"mctest-db"}, all_volumes=True) == ([], 0)
    volumes.remove_volume(root, "mctest-db")
    volumes.remove_volume(root, "mctest-db", force=True)
    with pytest.raises(NotFound):
        volumes.remove_volume(root, "mctest-db")
    assert volumes.list_volumes(root) == []


def test_resolve_in_root_follows_links_inside(tmp_path):
    root = tmp_path / "root"
    (root / "usr" / "share").mkdir(parents=True)
    (root / "etc").symlink_to("/usr/share")
    (root / "up").symlink_to("../../../../usr")
    assert volumes.resolve_in_root(str(root), "/etc") == str(root / "usr" / "share")
    assert volumes.resolve_in_root(str(root), "/up/share") == str(root / "usr" / "share")
    assert volumes.resolve_in_root(str(root), "/missing") is None
    (root / "loop").symlink_to("/loop")
    assert volumes.resolve_in_root(str(root), "/loop") is None
