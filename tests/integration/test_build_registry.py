"""A built image leaves the machine's store intact: pushed to a local registry
(Debian's docker-registry on 127.0.0.1), copied out by skopeo to an OCI layout
and unpacked by umoci, it has the same files, owners and whiteouts as ``run``
sees, and the same command.
"""

import json
import os
import shutil
import subprocess

import pytest

from build_helpers import BuildEnv
from conftest import needs_busybox, needs_root
from image_registry import LocalRegistry, have_registry

TOOLS = ("skopeo", "umoci")
pytestmark = [
    needs_root, needs_busybox,
    pytest.mark.skipif(not have_registry(), reason="machine lacks docker-registry "
                                                   "(apt install docker-registry)"),
    pytest.mark.skipif(not all(shutil.which(t) for t in TOOLS),
                       reason="machine lacks skopeo/umoci (apt install skopeo umoci)"),
]


@pytest.fixture
def bx(mc, tmp_path):
    env = BuildEnv(mc)
    env.env["MINICONTAINER_CONFIG"] = str(tmp_path / "mctest-config")
    yield env
    assert env.close() == [], "the build left mounts behind"


@pytest.fixture
def registry(tmp_path):
    reg = LocalRegistry(tmp_path / "mctest-registry").start()
    yield reg
    reg.stop()


def test_built_image_pushed_and_unpacked_by_skopeo_and_umoci(bx, registry, tmp_path):
    name = f"{registry.host}/mctest/built:1"
    context = bx.context("basics")
    bx.build(context, "-t", name)
    pushed = bx("push", name)
    assert pushed.returncode == 0, pushed.stderr
    layout, bundle = str(tmp_path / "layout"), str(tmp_path / "bundle")
    subprocess.run(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
                    f"docker://{name}", f"oci:{layout}:built"], check=True, capture_output=True)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:built", bundle], check=True,
                   capture_output=True)
    rootfs = os.path.join(bundle, "rootfs")
    with open(os.path.join(rootfs, "etc", "message")) as handle:
        assert handle.read() == "hello from-default the builder\n"
    found = sorted(os.path.relpath(os.path.join(base, n), rootfs)
                   for base, dirs, files in os.walk(os.path.join(rootfs, "app"))
                   for n in dirs + files)
    assert found == ["app/data.txt", "app/logs", "app/logs/keep.log", "app/made-by-run",
                     "app/main.sh"]
    st = os.stat(os.path.join(rootfs, "app", "main.sh"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 1000, 0o755)
    # the whiteout of the final stage's RUN hides /bin/ls in umoci's view too
    assert not os.path.lexists(os.path.join(rootfs, "bin", "ls"))
    assert os.path.exists(os.path.join(rootfs, "bin", "cat"))
    with open(os.path.join(bundle, "config.json")) as handle:
        process = json.load(handle)["process"]
    assert process["args"] == ["sh", "-c", "cat /etc/message"]
    assert process["cwd"] == "/app" and process["user"]["uid"] == 1000
    # and ``run`` of the same image sees the same files
    listing = bx("run", "--rm", name, "find", "/app").stdout.split()
    assert sorted(p.lstrip("/") for p in listing if p != "/app") == found
