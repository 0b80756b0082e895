"""import, save/load (docker-archive and OCI), commit, and the image commands."""

import json
import os
import shutil
import subprocess

import pytest

from minicontainer import image
from minicontainer.errors import Conflict, NotFound
from minicontainer.image import archive, manage
from minicontainer.image.store import Store

from image_helpers import make_busybox_tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="machine lacks root (overlay mounts)")
needs_skopeo = pytest.mark.skipif(not (shutil.which("skopeo") and shutil.which("umoci")),
                                  reason="machine lacks skopeo/umoci (apt install skopeo umoci)")


def run(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def roots(tmp_path, monkeypatch):
    base = tmp_path / "mctest-arch"
    source = make_busybox_tree(str(base / "src"))
    with open(os.path.join(source, "etc", "motd"), "w") as handle:
        handle.write("from the builtin\n")
    monkeypatch.setenv("MINICONTAINER_BUSYBOX_ROOTFS", source)
    (base / "state").mkdir()
    return base


def in_container(data_root, ref, base, *command, cid="mctest-a"):
    state = base / "state" / cid
    state.mkdir(exist_ok=True)
    rootfs, config = image.prepare_rootfs(data_root, ref, cid, str(state))
    try:
        return run("chroot", rootfs, *command), config
    finally:
        image.release_rootfs(data_root, cid, str(state))


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_save_load_round_trip(roots, fmt):
    first, second = str(roots / "d1"), str(roots / "d2")
    _name, original = image.find_image(first, "busybox")
    manage.tag_image(first, "busybox", "localhost/mctest/extra:2")
    out = roots / f"saved-{fmt}.tar"
    with open(out, "wb") as handle:
        archive.save(first, ["busybox", "localhost/mctest/extra:2"], handle, fmt=fmt)
    with open(out, "rb") as stream:  # load < file: a stream, spooled
        names = archive.load(second, stream)
    assert sorted(names) == ["docker.io/library/busybox:latest", "localhost/mctest/extra:2"]
    _name, loaded = image.find_image(second, "localhost/mctest/extra:2")
    assert loaded.id == original.id  # the config blob, hence the image id, is unchanged
    if fmt == "oci":
        assert loaded.manifest_digest == original.manifest_digest
    output, config = in_container(second, "localhost/mctest/extra:2", roots, "/bin/cat",
                                  "/etc/motd")
    assert output == "from the builtin\n" and config.cmd == ("sh",)
    if shutil.which("skopeo"):  # an independent reader agrees
        transport = "docker-archive" if fmt == "docker" else "oci-archive"
        suffix = "" if fmt == "docker" else ":latest"
        info = json.loads(run("skopeo", "--insecure-policy", "inspect",
                              f"{transport}:{out}{suffix}"))
        assert info["Architecture"] == "amd64" and len(info["Layers"]) == 1


@needs_skopeo
def test_load_archives_written_by_skopeo(roots):
    layout = str(roots / "layout")
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:t")
    bundle = str(roots / "bundle")
    run("umoci", "unpack", "--image", f"{layout}:t", bundle)
    shutil.rmtree(os.path.join(bundle, "rootfs"))
    make_busybox_tree(os.path.join(bundle, "rootfs"))
    run("umoci", "repack", "--image", f"{layout}:t", bundle)
    run("umoci", "config", "--image", f"{layout}:t", "--config.cmd", "sh")
    docker_tar, oci_tar = roots / "sk-docker.tar", roots / "sk-oci.tar"
    run("skopeo", "--insecure-policy", "copy", f"oci:{layout}:t",
        f"docker-archive:{docker_tar}:mctest/skopeo:1")
    run("skopeo", "--insecure-policy", "copy", f"oci:{layout}:t", f"oci-archive:{oci_tar}:v1")
    data = str(roots / "d")
    assert archive.load(data, str(docker_tar)) == ["docker.io/mctest/skopeo:1"]
    assert archive.load(data, str(oci_tar)) == ["localhost/sk-oci:v1"]
    for ref in ("mctest/skopeo:1", "localhost/sk-oci:v1"):
        assert in_container(data, ref, roots, "/bin/echo", "ok")[0] == "ok\n"


def test_import_rootfs_tarball(roots):
    tree = make_busybox_tree(str(roots / "tree"))
    tarball = roots / "rootfs.tar.gz"
    run("tar", "-C", tree, "-czf", str(tarball), ".")
    data = str(roots / "d")
    with open(tarball, "rb") as handle:
        desc = archive.import_tarball(data, handle, name="localhost/mctest/imported:1",
                                      changes={"Cmd": ["/bin/sh"], "Env": ["A=b"]})
    assert Store(data).resolve("localhost/mctest/imported:1")[1] == desc["digest"]
    output, config = in_container(data, "localhost/mctest/imported:1", roots, "/bin/sh", "-c",
                                  "echo $0")
    assert output == "/bin/sh\n" and config.env == ("A=b",)


def test_hostile_import_is_refused_and_leaves_no_image(roots):
    import io
    from image_helpers import entry, make_tar
    from minicontainer.errors import SetupError
    data = str(roots / "d")
    with pytest.raises(SetupError, match="unsafe layer"):
        archive.import_tarball(data, io.BytesIO(make_tar([entry("../../escape", data=b"x")])),
                               name="localhost/mctest/bad:1")
    assert Store(data).entries() == []
    assert not os.path.exists(roots / "escape") and not os.path.exists(roots.parent / "escape")


def test_commit_turns_the_upper_layer_into_an_image(roots):
    data = str(roots / "d")
    state = roots / "state" / "c"
    state.mkdir()
    rootfs, _config = image.prepare_rootfs(data, "busybox", "mctest-c", str(state))
    try:
        run("chroot", rootfs, "/bin/sh", "-c",
            "echo made > /root/new; rm /etc/motd; rm -r /var; mkdir /var; echo v > /var/only")
        desc = archive.commit(data, image.container_upper_dir(data, "mctest-c"), "busybox",
                              name="localhost/mctest/committed:1", changes={"Cmd": ["id"]},
                              author="mctest", message="a test commit")
    finally:
        image.release_rootfs(data, "mctest-c", str(state))
    committed = Store(data).image(desc["digest"])
    assert len(committed.layers) == 2 and committed.config["config"]["Cmd"] == ["id"]
    assert committed.config["history"][-1]["comment"] == "a test commit"
    output, config = in_container(data, "localhost/mctest/committed:1", roots, "/bin/sh", "-c",
                                  "cat /root/new; ls /etc; ls /var")
    assert output.split() == ["made", "passwd", "only"]
    assert config.cmd == ("id",)


def test_images_tag_rmi_inspect_prune(roots):
    data = str(roots / "d")
    _name, img = image.find_image(data, "busybox")
    assert manage.tag_image(data, "busybox", "localhost/mctest/b:1") == "localhost/mctest/b:1"
    rows = manage.list_images(data)
    assert {(r["Repository"], r["Tag"]) for r in rows} == {("busybox", "latest"),
                                                           ("localhost/mctest/b", "1")}
    assert {r["ID"] for r in rows} == {img.id} and rows[0]["Size"] > 1_000_000
    info = manage.inspect_image(data, img.id[7:19])
    assert info["Id"] == img.id and sorted(info["RepoTags"]) == ["busybox:latest",
                                                                 "localhost/mctest/b:1"]
    assert manage.history(data, "busybox")[0]["created_by"].startswith("minicontainer")
    with pytest.raises(Conflict, match="multiple repositories"):
        manage.remove_image(data, img.id)
    assert manage.remove_image(data, "localhost/mctest/b:1") == [("Untagged",
                                                                  "localhost/mctest/b:1")]
    with pytest.raises(Conflict, match="used by a container"):
        manage.remove_image(data, "busybox", in_use={img.id})
    events = manage.remove_image(data, "busybox")
    assert events == [("Untagged", "busybox:latest"), ("Deleted", img.id)]
    store = Store(data)
    assert store.entries() == [] and os.listdir(store.layers_dir) == []
    with pytest.raises(NotFound):
        manage.inspect_image(data, "busybox:latest")
    # a dangling image (commit without a name) is pruned; a named one only with --all
    image.find_image(data, "busybox")
    upper = roots / "upper"
    upper.mkdir()
    (upper / "f").write_text("x")
    dangling = archive.commit(data, str(upper), "busybox")
    dangling_id = Store(data).image(dangling["digest"]).id
    assert any(r["Repository"] == "<none>" for r in manage.list_images(data))
    deleted, freed = manage.prune_images(data)
    assert deleted == [dangling_id] and freed > 0
    assert [r["Repository"] for r in manage.list_images(data)] == ["busybox"]
    assert manage.prune_images(data, all_images=True, in_use={img.id})[0] == []
    assert len(manage.prune_images(data, all_images=True)[0]) == 1
    assert manage.list_images(data) == []
