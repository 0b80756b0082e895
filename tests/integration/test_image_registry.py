"""Pull and push against a real registry (Debian's docker-registry on 127.0.0.1).

The images in it are made by independent tools: umoci builds OCI images from
a local busybox tree (one per platform), skopeo pushes them (gzip or zstd
layers); the multi-platform index is put by hand over plain HTTP.  Nothing
here talks to any host but 127.0.0.1.
"""

import json
import os
import shutil
import subprocess
import urllib.request

import pytest

from minicontainer import image
from minicontainer.errors import NotFound, SetupError
from minicontainer.image import auth
from minicontainer.image.pull import Progress, pull, push
from minicontainer.image.registry import AuthError
from minicontainer.image.store import Store

from image_helpers import make_busybox_tree
from image_registry import LocalRegistry, TokenService, have_registry

TOOLS = ("skopeo", "umoci", "openssl")
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="machine lacks root (overlay, umoci unpack)"),
    pytest.mark.skipif(not have_registry(), reason="machine lacks docker-registry "
                                                   "(apt install docker-registry)"),
    pytest.mark.skipif(not all(shutil.which(t) for t in TOOLS),
                       reason="machine lacks skopeo/umoci/openssl (apt install skopeo umoci)"),
]

QUIET = Progress(quiet=True)


def run(*argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("mctest-registry")


@pytest.fixture(scope="module")
def registry(work):
    reg = LocalRegistry(work / "registry").start()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def layout(work):
    """An OCI layout made by umoci: tags amd64, arm64 and zstd, each with its /platform.

    The zstd tag has content of its own: skopeo reuses any layer it has pushed
    before (in whatever compression), so a shared layer would never be zstd.
    """
    path = str(work / "layout")
    run("umoci", "init", "--layout", path)
    for arch in ("amd64", "arm64", "zstd"):
        run("umoci", "new", "--image", f"{path}:{arch}")
        bundle = str(work / f"bundle-{arch}")
        run("umoci", "unpack", "--image", f"{path}:{arch}", bundle)
        rootfs = os.path.join(bundle, "rootfs")
        shutil.rmtree(rootfs)
        make_busybox_tree(rootfs)
        with open(os.path.join(rootfs, "platform"), "w") as handle:
            handle.write(arch + "\n")
        run("umoci", "repack", "--image", f"{path}:{arch}", bundle)
        run("umoci", "config", "--image", f"{path}:{arch}", "--config.cmd", "sh",
            "--config.env", "FROM=umoci", "--architecture", arch.replace("zstd", "amd64"),
            "--os", "linux")
        shutil.rmtree(bundle)
    return path


def skopeo_push(layout, tag, destination, zstd=False):
    extra = ["--dest-compress-format", "zstd"] if zstd else []
    run("skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", *extra,
        f"oci:{layout}:{tag}", f"docker://{destination}")


def raw_manifest(host, repo, ref):
    request = urllib.request.Request(
        f"http://{host}/v2/{repo}/manifests/{ref}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                           "application/vnd.oci.image.index.v1+json"})
    with urllib.request.urlopen(request) as response:
        return response.read(), response.headers["Docker-Content-Digest"]


def run_in(data_root, ref, tmp_path, command):
    """Mount the image's root, run ``command`` in it with chroot, release the root."""
    state = tmp_path / "mctest-state" / "c"
    state.mkdir(parents=True, exist_ok=True)
    rootfs, config = image.prepare_rootfs(data_root, ref, "mctest-c", str(state))
    try:
        return run("chroot", rootfs, *command).stdout, config
    finally:
        image.release_rootfs(data_root, "mctest-c", str(state))


def test_pull_gzip_image_made_by_umoci_and_skopeo(registry, layout, tmp_path):
    skopeo_push(layout, "amd64", f"{registry.host}/mctest/umoci:gzip")
    data = str(tmp_path / "mctest-data")
    name, digest = pull(data, f"{registry.host}/mctest/umoci:gzip", progress=QUIET)
    assert name == f"{registry.host}/mctest/umoci:gzip"
    assert digest == raw_manifest(registry.host, "mctest/umoci", "gzip")[1]
    out, config = run_in(data, f"{registry.host}/mctest/umoci:gzip", tmp_path,
                         ["/bin/sh", "-c", "cat /platform; echo $0"])
    assert out.split() == ["amd64", "/bin/sh"]
    assert config.cmd == ("sh",) and "FROM=umoci" in config.env
    # pulling again downloads nothing
    lines = []
    pull(data, f"{registry.host}/mctest/umoci:gzip", progress=Progress(out=_Lines(lines)))
    assert any("Already exists" in line for line in lines)


def test_pull_zstd_layer(registry, layout, tmp_path):
    skopeo_push(layout, "zstd", f"{registry.host}/mctest/zstd:1", zstd=True)
    body, _ = raw_manifest(registry.host, "mctest/zstd", "1")
    assert json.loads(body)["layers"][0]["mediaType"].endswith("+zstd")
    data = str(tmp_path / "mctest-data")
    pull(data, f"{registry.host}/mctest/zstd:1", progress=QUIET)
    out, _config = run_in(data, f"{registry.host}/mctest/zstd:1", tmp_path,
                          ["/bin/cat", "/platform"])
    assert out == "zstd\n"


def test_multi_platform_index_and_platform_selection(registry, layout, tmp_path):
    repo = "mctest/multi"
    entries = []
    for arch in ("amd64", "arm64"):
        skopeo_push(layout, arch, f"{registry.host}/{repo}:{arch}")
        body, digest = raw_manifest(registry.host, repo, arch)
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": digest, "size": len(body),
                        "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": entries}).encode()
    request = urllib.request.Request(
        f"http://{registry.host}/v2/{repo}/manifests/latest", data=index, method="PUT",
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
    urllib.request.urlopen(request).close()

    data = str(tmp_path / "mctest-data")
    from minicontainer.image.builtin import host_arch
    _name, chosen = pull(data, f"{registry.host}/{repo}", progress=QUIET)
    by_arch = {e["platform"]["architecture"]: e["digest"] for e in entries}
    if host_arch() in by_arch:  # the default is this machine's platform
        assert chosen == by_arch[host_arch()]
    _name, chosen = pull(data, f"{registry.host}/{repo}", platform="linux/amd64",
                         progress=QUIET)
    assert chosen == entries[0]["digest"]
    _name, chosen = pull(data, f"{registry.host}/{repo}:latest", platform="linux/arm64",
                         progress=QUIET)
    assert chosen == entries[1]["digest"]
    _name, img = image.find_image(data, f"{registry.host}/{repo}:latest")
    assert img.config["architecture"] == "arm64"
    layer = Store(data).image_layer_dirs(img)[-1]
    assert open(os.path.join(layer, "platform")).read() == "arm64\n"
    with pytest.raises(NotFound, match="linux/s390x"):
        pull(data, f"{registry.host}/{repo}", platform="linux/s390x", progress=QUIET)


def test_push_back_and_pull_by_digest(registry, layout, tmp_path):
    """An image made by umoci/skopeo: pull it, push it back elsewhere, pull that by digest."""
    skopeo_push(layout, "amd64", f"{registry.host}/mctest/origin:1")
    first = str(tmp_path / "mctest-data1")
    _name, original = pull(first, f"{registry.host}/mctest/origin:1", progress=QUIET)
    target = f"{registry.host}/mctest/pushed:v1"
    digest = push(first, f"{registry.host}/mctest/origin:1", target=target, progress=QUIET)
    assert digest == original  # the same manifest bytes, so the same digest
    # an independent tool reads what we pushed
    inspected = json.loads(run("skopeo", "--insecure-policy", "inspect", "--tls-verify=false",
                               f"docker://{target}").stdout)
    assert inspected["Digest"] == digest and inspected["Architecture"] == "amd64"
    from minicontainer.image.manage import tag_image
    tag_image(first, f"{registry.host}/mctest/origin:1", target)  # docker tag + docker push
    assert push(first, target, progress=QUIET) == digest  # all blobs there: only the manifest

    second = str(tmp_path / "mctest-data2")
    by_digest = f"{registry.host}/mctest/pushed@{digest}"
    name, pulled = pull(second, by_digest, progress=QUIET)
    assert (name, pulled) == (by_digest, digest)
    out, config = run_in(second, by_digest, tmp_path, ["/bin/cat", "/platform"])
    assert out == "amd64\n" and config.cmd == ("sh",)
    assert Store(second).image(digest).id == Store(first).image(digest).id


def test_push_builtin_busybox(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MINICONTAINER_BUSYBOX_ROOTFS",
                       make_busybox_tree(str(tmp_path / "mctest-src")))
    first = str(tmp_path / "mctest-data1")
    target = f"{registry.host}/mctest/busybox:1"
    image.find_image(first, "busybox")
    digest = push(first, "busybox", target=target, progress=QUIET)
    second = str(tmp_path / "mctest-data2")
    assert pull(second, target, progress=QUIET)[1] == digest
    out, _config = run_in(second, target, tmp_path, ["/bin/echo", "pushed builtin"])
    assert out == "pushed builtin\n"


def test_corrupted_blob_is_refused(registry, layout, tmp_path):
    skopeo_push(layout, "amd64", f"{registry.host}/mctest/corrupt:1")
    body, _ = raw_manifest(registry.host, "mctest/corrupt", "1")
    layer = json.loads(body)["layers"][0]["digest"].split(":")[1]
    blob = os.path.join(registry.workdir, "storage", "docker", "registry", "v2", "blobs",
                        "sha256", layer[:2], layer, "data")
    original = open(blob, "rb").read()
    try:
        with open(blob, "r+b") as handle:
            handle.seek(len(original) // 2)
            handle.write(b"\0" * 64)
        data = str(tmp_path / "mctest-data")
        with pytest.raises(SetupError, match="digest mismatch"):
            pull(data, f"{registry.host}/mctest/corrupt:1", progress=QUIET)
        store = Store(data)
        assert store.entries() == [] and not store.has_blob("sha256:" + layer)
        assert os.listdir(store.layers_dir) == []
    finally:
        with open(blob, "wb") as handle:
            handle.write(original)


def test_token_auth_login_push_logout_pull(work, tmp_path, monkeypatch):
    monkeypatch.setenv("MINICONTAINER_CONFIG", str(tmp_path / "mctest-config"))
    monkeypatch.setenv("MINICONTAINER_BUSYBOX_ROOTFS",
                       make_busybox_tree(str(tmp_path / "mctest-src")))
    tokens = TokenService(work / "tokens")
    reg = LocalRegistry(work / "token-registry", auth="token", token_realm=tokens.realm,
                        cert=tokens.cert).start()
    try:
        data = str(tmp_path / "mctest-data")
        image.find_image(data, "busybox")
        target = f"{reg.host}/mctest/private:1"
        with pytest.raises(AuthError):
            push(data, "busybox", target=target, progress=QUIET)
        from minicontainer.image.pull import login, logout
        with pytest.raises(AuthError, match="refused"):
            login(reg.host, "mctest", "wrong")
        assert auth.load_credentials(reg.host) is None
        login(reg.host, "mctest", "mctest-pass")
        stored = json.load(open(tmp_path / "mctest-config" / "config.json"))
        assert stored["auths"][reg.host]["auth"] == "bWN0ZXN0Om1jdGVzdC1wYXNz"
        assert os.stat(tmp_path / "mctest-config" / "config.json").st_mode & 0o777 == 0o600
        digest = push(data, "busybox", target=target, progress=QUIET)
        assert any(authz and authz.startswith("Basic ") for _p, authz in tokens.requests)
        assert logout(reg.host) and not logout(reg.host)
        other = str(tmp_path / "mctest-data2")
        assert pull(other, target, progress=QUIET)[1] == digest  # anonymous pull allowed
    finally:
        reg.stop()
        tokens.stop()


def test_insecure_registry_with_a_self_signed_certificate(work, tmp_path, monkeypatch):
    """localhost-ish registries: HTTPS first, certificate not checked (as Docker)."""
    from minicontainer.image.registry import Client
    tls = work / "tls"
    tls.mkdir()
    cert, key = str(tls / "cert.pem"), str(tls / "key.pem")
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
        cert, "-days", "2", "-subj", "/CN=mctest-tls")
    monkeypatch.setenv("MINICONTAINER_BUSYBOX_ROOTFS",
                       make_busybox_tree(str(tmp_path / "mctest-src")))
    reg = LocalRegistry(work / "tls-registry", tls=(cert, key)).start()
    try:
        data = str(tmp_path / "mctest-data")
        image.find_image(data, "busybox")
        target = f"{reg.host}/mctest/tls:1"
        digest = push(data, "busybox", target=target, progress=QUIET)
        assert pull(str(tmp_path / "mctest-data2"), target, progress=QUIET)[1] == digest
        client = Client(reg.host)
        client.ping()
        assert client.scheme == "https"
    finally:
        reg.stop()


def test_ensure_image_pull_policies(registry, layout, tmp_path):
    skopeo_push(layout, "amd64", f"{registry.host}/mctest/policy:1")
    ref = f"{registry.host}/mctest/policy:1"
    data = str(tmp_path / "mctest-data")
    with pytest.raises(NotFound):
        image.ensure_image(data, ref, "never")
    lines = []
    name, digest = image.ensure_image(data, ref, progress=Progress(out=_Lines(lines)))
    assert name == ref and any("Pull complete" in line for line in lines)
    assert image.ensure_image(data, ref, "never") == (name, digest)
    assert image.ensure_image(data, ref, "missing", progress=QUIET) == (name, digest)
    lines.clear()
    assert image.ensure_image(data, ref, "always", progress=Progress(out=_Lines(lines))) == \
        (name, digest)
    assert any("Already exists" in line for line in lines)


class _Lines:
    def __init__(self, lines):
        self.lines = lines

    def write(self, text):
        self.lines.append(text)

    def flush(self):
        pass

    def isatty(self):
        return False
