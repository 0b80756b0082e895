"""The image and volume commands, end to end: the real CLI in a subprocess.

Each test has its own state root, data root and credentials directory; the
only registry is Debian's docker-registry started here on 127.0.0.1.  Runs
use ``--network none`` and ``MINICONTAINER_PULL=never`` unless a pull is the
point.  Until ``commands.py`` registers these commands, the CLI is started
through a two-line harness that calls ``cli_images.register``.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import pytest

from image_helpers import make_busybox_tree
from image_registry import LocalRegistry, TokenService, have_registry

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="machine lacks root (overlay mounts, containers)")
needs_registry = pytest.mark.skipif(not have_registry(), reason="machine lacks docker-registry "
                                                                "(apt install docker-registry)")
needs_openssl = pytest.mark.skipif(not shutil.which("openssl"), reason="machine lacks openssl")

HARNESS = ("import sys; from minicontainer.commands import cli; "
           "from minicontainer.cli_images import register; register(cli); "
           "from minicontainer.cli import main; sys.exit(main(sys.argv[1:]))")


class Roots:
    """Private state/data/config roots and the two ways to call the CLI."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="mctest-imgcli-")
        os.chmod(self.base, 0o711)  # a container's root must reach its /etc files
        self.state = os.path.join(self.base, "state")
        self.data = os.path.join(self.base, "data")
        self.config = os.path.join(self.base, "config")
        self.env = dict(os.environ, MINICONTAINER_STATE_ROOT=self.state,
                        MINICONTAINER_DATA_ROOT=self.data, MINICONTAINER_CONFIG=self.config,
                        MINICONTAINER_NET_PREFIX="mctesti", MINICONTAINER_PULL="never",
                        MINICONTAINER_BUSYBOX_ROOTFS=make_busybox_tree(
                            os.path.join(self.base, "busybox-src")))

    def cli(self, *args, input=None, check=True, text=True, **env):
        """An image/volume command through the harness (register + main)."""
        return self._run([sys.executable, "-c", HARNESS, *args], input, check, text, env)

    def run(self, *args, check=True, **env):
        """``python -m minicontainer run ...`` (no harness: run is the lead's)."""
        return self._run([sys.executable, "-m", "minicontainer", "run", *args], None, check,
                         True, env)

    def _run(self, argv, input, check, text, env):
        result = subprocess.run(argv, input=input, capture_output=True, text=text, timeout=120,
                                env=dict(self.env, **env))
        if check and result.returncode != 0:
            raise AssertionError(f"{argv[3:] if argv[1] == '-c' else argv[2:]} exited "
                                 f"{result.returncode}: {result.stderr}")
        return result

    def cleanup(self):
        containers = os.path.join(self.state, "containers")
        for container_id in (os.listdir(containers) if os.path.isdir(containers) else []):
            self._run([sys.executable, "-m", "minicontainer", "rm", "-f", container_id], None,
                      False, True, {})
        from minicontainer import image
        overlays = os.path.join(self.data, "overlay")
        for container_id in (os.listdir(overlays) if os.path.isdir(overlays) else []):
            image.release_rootfs(self.data, container_id)
        shutil.rmtree(self.base)


@pytest.fixture
def roots():
    made = Roots()
    yield made
    made.cleanup()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = LocalRegistry(tmp_path_factory.mktemp("mctest-cli-registry")).start()
    yield reg
    reg.stop()


def rootfs_tarball(path, greeting, extra=None):
    """A gzip tarball of a small busybox root with /etc/greeting (what `import` eats)."""
    tree = path + ".tree"
    make_busybox_tree(tree)
    with open(os.path.join(tree, "etc", "greeting"), "w") as handle:
        handle.write(greeting + "\n")
    for name, content in (extra or {}).items():
        os.makedirs(os.path.dirname(os.path.join(tree, name)), exist_ok=True)
        with open(os.path.join(tree, name), "w") as handle:
            handle.write(content)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tree, arcname=".")
    shutil.rmtree(tree)
    return path


def image_ids(roots):
    return roots.cli("images", "-q").stdout.split()


# -- registry ------------------------------------------------------------------------

@needs_registry
def test_push_then_pull_images_and_run(roots, registry):
    name = f"{registry.host}/mctest/cli-bb:1"
    roots.cli("tag", "busybox", name)
    pushed = roots.cli("push", name).stdout
    assert f"The push refers to repository [{registry.host}/mctest/cli-bb]" in pushed
    digest = pushed.strip().splitlines()[-1].split("digest: ")[1].split()[0]
    assert digest.startswith("sha256:")

    other = Roots()
    try:
        pulled = other.cli("pull", f"{registry.host}/mctest/cli-bb:1").stdout.splitlines()
        assert pulled[0] == "1: Pulling from mctest/cli-bb" and pulled[-1] == name
        assert f"Digest: {digest}" in pulled and any("Pull complete" in x for x in pulled)
        again = other.cli("image", "pull", name).stdout
        assert "Already exists" in again
        quiet = other.cli("pull", "-q", name).stdout
        assert quiet == name + "\n"
        table = other.cli("images").stdout.splitlines()
        assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
        row = next(line.split() for line in table if line.startswith(registry.host))
        assert row[:2] == [f"{registry.host}/mctest/cli-bb", "1"]
        document = json.loads(other.cli("image", "inspect", name).stdout)[0]
        assert document["RepoTags"] == [name]
        assert document["RepoDigests"] == [f"{registry.host}/mctest/cli-bb@{digest}"]
        assert document["Id"].partition(":")[2].startswith(row[2])
        out = other.run("--rm", "--network", "none", name, "echo", "pulled and ran").stdout
        assert out == "pulled and ran\n"
        missing = other.cli("pull", f"{registry.host}/mctest/absent:1", check=False)
        assert missing.returncode != 0 and missing.stderr.count("\n") == 1
    finally:
        other.cleanup()


@needs_registry
@needs_openssl
def test_login_logout_against_a_token_registry(roots, tmp_path):
    tokens = TokenService(tmp_path / "mctest-tokens")
    reg = LocalRegistry(tmp_path / "mctest-token-registry", auth="token",
                        token_realm=tokens.realm, cert=tokens.cert).start()
    try:
        target = f"{reg.host}/mctest/private:1"
        roots.cli("tag", "busybox", target)
        denied = roots.cli("push", target, check=False)
        assert denied.returncode != 0
        wrong = roots.cli("login", "-u", "mctest", "--password-stdin", reg.host,
                          input="wrong\n", check=False)
        assert wrong.returncode == 1 and "refused" in wrong.stderr
        assert not os.path.exists(os.path.join(roots.config, "config.json"))
        good = roots.cli("login", "-u", "mctest", "--password-stdin", f"http://{reg.host}/",
                         input="mctest-pass\n")
        assert good.stdout == "Login Succeeded\n"
        stored = json.load(open(os.path.join(roots.config, "config.json")))
        assert reg.host in stored["auths"]
        assert "digest: sha256:" in roots.cli("push", target).stdout
        with_flag = roots.cli("login", "-u", "mctest", "-p", "mctest-pass", reg.host)
        assert "--password-stdin" in with_flag.stderr
        assert roots.cli("logout", reg.host).stdout == \
            f"Removing login credentials for {reg.host}\n"
        assert roots.cli("logout", reg.host).stdout == f"Not logged in to {reg.host}\n"
        assert reg.host not in json.load(open(os.path.join(roots.config,
                                                           "config.json")))["auths"]
        assert roots.cli("push", target, check=False).returncode != 0
    finally:
        reg.stop()
        tokens.stop()


# -- import, run, commit ---------------------------------------------------------------

def test_import_a_tarball_then_run_it(roots):
    tarball = rootfs_tarball(os.path.join(roots.base, "root.tgz"), "hello from import")
    image_id = roots.cli("import", "-c", 'CMD ["cat", "/etc/greeting"]', "-c", "ENV MCTEST=1",
                         "-m", "imported", tarball, "mctest/imported:1").stdout.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert roots.run("--rm", "--network", "none", "mctest/imported:1").stdout == \
        "hello from import\n"
    assert roots.run("--rm", "--network", "none", "mctest/imported:1", "sh", "-c",
                     "echo $MCTEST").stdout == "1\n"
    with open(tarball, "rb") as handle:
        from_stdin = roots.cli("import", "-", "mctest/imported:stdin", input=handle.read(),
                               text=False)
    assert from_stdin.stdout.startswith(b"sha256:")
    assert roots.run("--rm", "--network", "none", "mctest/imported:stdin", "cat",
                     "/etc/greeting").stdout == "hello from import\n"
    history = roots.cli("image", "history", "mctest/imported:1").stdout.splitlines()
    assert history[0].split()[:2] == ["IMAGE", "CREATED"]
    assert "minicontainer import" in history[1] and history[1].rstrip().endswith("imported")
    bad = roots.cli("import", "-c", "RUN true", tarball, check=False)
    assert bad.returncode == 125 and "RUN is not one of" in bad.stderr


def test_commit_a_containers_change_and_run_the_new_image(roots):
    tarball = rootfs_tarball(os.path.join(roots.base, "root.tgz"), "original")
    roots.cli("import", tarball, "mctest/base:1")
    roots.run("--name", "mctest-commit", "--network", "none", "mctest/base:1", "sh", "-c",
              "echo changed > /etc/greeting; rm /bin/ls; mkdir /made; echo x > /made/file")
    image_id = roots.cli("commit", "-c", "ENV STEP=2", "-m", "a change", "mctest-commit",
                         "mctest/committed:1").stdout.strip()
    out = roots.run("--rm", "--network", "none", "mctest/committed:1", "sh", "-c",
                    "cat /etc/greeting /made/file; test -e /bin/ls || echo whiteout; "
                    "echo $STEP $PATH").stdout.splitlines()
    assert out[:3] == ["changed", "x", "whiteout"]
    assert out[3].split()[0] == "2" and "/bin" in out[3]  # ENV added to the image's, not instead
    document = json.loads(roots.cli("image", "inspect", image_id).stdout)[0]
    assert document["Comment"] == "a change" and len(document["RootFS"]["Layers"]) == 2
    # the base image is not touched
    assert roots.run("--rm", "--network", "none", "mctest/base:1", "cat",
                     "/etc/greeting").stdout == "original\n"
    subprocess.run([sys.executable, "-m", "minicontainer", "rm", "mctest-commit"],
                   env=roots.env, check=True, capture_output=True)
    gone = roots.cli("commit", "mctest-commit", check=False)
    assert gone.returncode == 125 and "no such container" in gone.stderr


# -- the local store -------------------------------------------------------------------

def test_tag_rmi_in_use_and_prune(roots):
    tarball = rootfs_tarball(os.path.join(roots.base, "root.tgz"), "tagged")
    image_id = roots.cli("import", tarball, "mctest/one:1").stdout.strip()
    roots.cli("tag", "mctest/one:1", "mctest/two:latest")
    rows = [line.split() for line in roots.cli("images").stdout.splitlines()[1:]]
    assert sorted(r[:2] for r in rows if r[0].startswith("mctest")) == \
        [["mctest/one", "1"], ["mctest/two", "latest"]]
    assert roots.cli("images", "mctest/two").stdout.count("\n") == 2
    assert image_id[7:19] in image_ids(roots)
    tags = roots.cli("image", "inspect", "-f", "{{json .RepoTags}}", "mctest/two").stdout
    assert sorted(json.loads(tags)) == ["mctest/one:1", "mctest/two:latest"]

    # a container (exited, not removed) holds its image
    roots.run("--name", "mctest-user", "--network", "none", "mctest/one:1", "echo")
    assert roots.cli("rmi", "mctest/two").stdout == "Untagged: mctest/two:latest\n"
    refused = roots.cli("rmi", "mctest/one:1", check=False)
    assert refused.returncode == 1 and "used by a container" in refused.stderr
    assert image_id[7:19] in image_ids(roots)
    subprocess.run([sys.executable, "-m", "minicontainer", "rm", "mctest-user"],
                   env=roots.env, check=True, capture_output=True)
    removed = roots.cli("image", "rm", "mctest/one:1").stdout.splitlines()
    assert removed == ["Untagged: mctest/one:1", f"Deleted: {image_id}"]
    assert image_id[7:19] not in image_ids(roots)

    # prune: a dangling image goes, a named one stays unless -a
    dangling = roots.cli("import", tarball).stdout.strip()
    kept = roots.cli("import", "-m", "another image", tarball, "mctest/kept:1").stdout.strip()
    pruned = roots.cli("image", "prune", "-f").stdout
    assert f"deleted: {dangling}" in pruned and kept not in pruned
    assert "Total reclaimed space:" in pruned
    refused = roots.cli("image", "prune", input="n\n", check=False)
    assert refused.returncode != 0 and kept[7:19] in image_ids(roots)
    assert f"deleted: {kept}" in roots.cli("image", "prune", "-a", "-f").stdout
    assert image_ids(roots) == []


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_save_then_load_round_trip(roots, fmt):
    tarball = rootfs_tarball(os.path.join(roots.base, "root.tgz"), f"saved as {fmt}")
    image_id = roots.cli("import", "-c", "CMD cat /etc/greeting", tarball,
                         "mctest/saved:1").stdout.strip()
    archive = os.path.join(roots.base, "saved.tar")
    roots.cli("save", "--format", fmt, "-o", archive, "mctest/saved:1")
    names = set(tarfile.open(archive).getnames())
    assert ("manifest.json" in names) if fmt == "docker" else ("index.json" in names)
    streamed = roots.cli("save", "--format", fmt, "mctest/saved:1", text=False).stdout
    assert streamed[:512] == open(archive, "rb").read()[:512]

    other = Roots()
    try:
        loaded = other.cli("load", "-i", archive).stdout
        assert loaded == "Loaded image: mctest/saved:1\n"
        assert other.cli("image", "inspect", "-f", "{{.Id}}", "mctest/saved:1").stdout \
            .strip() == image_id
        assert other.run("--rm", "--network", "none", "mctest/saved:1").stdout == \
            f"saved as {fmt}\n"
        third = Roots()
        try:
            assert third.cli("load", input=streamed, text=False).stdout == \
                b"Loaded image: mctest/saved:1\n"
        finally:
            third.cleanup()
    finally:
        other.cleanup()
    for junk in (b"", b"not a tar\n"):
        bad = roots.cli("load", input=junk, text=False, check=False)
        assert bad.returncode == 125 and bad.stderr.count(b"\n") == 1
    missing = roots.cli("save", "-o", os.path.join(roots.base, "x.tar"), "mctest/absent",
                        check=False)
    assert missing.returncode == 125 and not os.path.exists(os.path.join(roots.base, "x.tar"))


# -- volumes -------------------------------------------------------------------------

def test_volume_commands(roots):
    assert roots.cli("volume", "create", "mctest-vol").stdout == "mctest-vol\n"
    random_name = roots.cli("volume", "create", "--label", "team=mctest").stdout.strip()
    assert len(random_name) == 64
    listing = roots.cli("volume", "ls").stdout.splitlines()
    assert listing[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert sorted(line.split()[1] for line in listing[1:]) == sorted([random_name,
                                                                      "mctest-vol"])
    assert roots.cli("volume", "ls", "-q", "-f", "label=team=mctest").stdout == \
        random_name + "\n"
    record = json.loads(roots.cli("volume", "inspect", "mctest-vol").stdout)[0]
    assert record["Name"] == "mctest-vol" and record["Driver"] == "local"
    assert record["Mountpoint"] == os.path.join(roots.data, "volumes", "mctest-vol", "_data")

    # a container that mounts it keeps it
    roots.run("--name", "mctest-vuser", "--network", "none", "-v",
              f"{record['Mountpoint']}:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    refused = roots.cli("volume", "rm", "mctest-vol", check=False)
    assert refused.returncode == 1 and "in use" in refused.stderr
    assert roots.cli("volume", "ls", "-q", "-f", "dangling=true").stdout == random_name + "\n"
    subprocess.run([sys.executable, "-m", "minicontainer", "rm", "mctest-vuser"],
                   env=roots.env, check=True, capture_output=True)
    assert open(os.path.join(record["Mountpoint"], "f")).read() == "kept\n"  # outlived it

    # prune takes anonymous volumes only, unless -a
    assert "Total reclaimed space" in roots.cli("volume", "prune", "-f").stdout
    assert len(roots.cli("volume", "ls", "-q").stdout.split()) == 2
    assert roots.cli("volume", "rm", "mctest-vol").stdout == "mctest-vol\n"
    missing = roots.cli("volume", "rm", "mctest-vol", check=False)
    assert missing.returncode == 1 and "no such volume" in missing.stderr
    assert roots.cli("volume", "rm", "-f", "mctest-vol").returncode == 0
    pruned = roots.cli("volume", "prune", "-a", "-f").stdout
    assert random_name in pruned
    assert roots.cli("volume", "ls", "-q").stdout == ""
    bad = roots.cli("volume", "create", "-x", check=False)
    assert bad.returncode == 2


def test_volume_mounts_for_run_named_anonymous_and_bind(roots):
    """What run will call: named volumes seeded from the image, its VOLUMEs anonymous."""
    from minicontainer import image, volumes
    tarball = rootfs_tarball(os.path.join(roots.base, "root.tgz"), "seed",
                             {"srv/app/conf": "setting=1\n", "var/cache/x": "cached\n"})
    roots.cli("import", "-c", "VOLUME /var/cache", tarball, "mctest/vols:1")
    host_dir = os.path.join(roots.base, "mctest-bind", "deep")
    rootfs, config = image.prepare_rootfs(roots.data, "mctest/vols:1", "mctest-volumes")
    try:
        mounts, anonymous = volumes.volume_mounts(
            roots.data, ["mctest-app:/srv/app", f"{host_dir}:/host:ro", "/scratch"],
            config.volumes, rootfs)
    finally:
        image.release_rootfs(roots.data, "mctest-volumes")
    by_target = {m.target: m for m in mounts}
    assert sorted(by_target) == ["/host", "/scratch", "/srv/app", "/var/cache"]
    assert all(m.type == "bind" for m in mounts)
    named = by_target["/srv/app"].source
    assert named == os.path.join(roots.data, "volumes", "mctest-app", "_data")
    assert open(os.path.join(named, "conf")).read() == "setting=1\n"
    assert os.path.isdir(host_dir) and by_target["/host"].readonly
    assert len(anonymous) == 2
    assert open(os.path.join(by_target["/var/cache"].source, "x")).read() == "cached\n"
    assert volumes.volume_names_in(roots.data, [m.as_dict() for m in mounts]) == \
        {"mctest-app", *anonymous}
    listing = roots.cli("volume", "ls", "-q").stdout.split()
    assert sorted(listing) == sorted(["mctest-app", *anonymous])
    volumes.remove_anonymous(roots.data, anonymous)
    assert roots.cli("volume", "ls", "-q").stdout.split() == ["mctest-app"]
    assert "mctest-app" not in roots.cli("volume", "prune", "-f").stdout  # named: kept
