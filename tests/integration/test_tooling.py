"""The project's tooling: the busybox root filesystem recipe, scripts/setup
and scripts/test. None of this needs the container runtime itself."""

import os
import shutil
import stat
import subprocess
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_BUSYBOX = os.path.join(REPO, "rootfs", "build-busybox")
SETUP = os.path.join(REPO, "scripts", "setup")
TEST = os.path.join(REPO, "scripts", "test")
BUSYBOX_TREE = os.path.join(REPO, "rootfs", "build", "busybox")

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="machine lacks root privileges")
needs_busybox = pytest.mark.skipif(
    not os.path.exists("/bin/busybox"),
    reason="machine lacks /bin/busybox (Debian package busybox-static)")


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


@pytest.fixture
def scratch():
    """A temporary directory any user can enter, named for leak spotting."""
    path = tempfile.mkdtemp(prefix="mctest-tooling-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def busybox_tree():
    """The shared default image, built if needed (a no-op when up to date)."""
    if not os.path.exists("/bin/busybox"):
        pytest.skip("machine lacks /bin/busybox (Debian package busybox-static)")
    proc = run([BUILD_BUSYBOX])
    assert proc.returncode == 0, proc.stderr
    return BUSYBOX_TREE


def read_table(path):
    """name -> fields of a colon-separated file such as /etc/passwd."""
    with open(path) as f:
        return {line.split(":")[0]: line.rstrip("\n").split(":") for line in f if line.strip()}


def snapshot(path):
    """What a rebuild would change: inode and mtime of path."""
    st = os.stat(path)
    return (st.st_ino, st.st_mtime_ns)


# ---- the busybox root filesystem --------------------------------------------

def test_busybox_tree_has_a_shell_and_core_applets(busybox_tree):
    assert os.access(os.path.join(busybox_tree, "bin", "busybox"), os.X_OK)
    for applet in ("bin/sh", "bin/ps", "sbin/ip", "bin/hostname", "bin/cat", "bin/true"):
        path = os.path.join(busybox_tree, applet)
        assert os.path.islink(path), applet
        assert os.path.realpath(path) == os.path.join(os.path.realpath(busybox_tree), "bin", "busybox")


def test_busybox_applet_links_are_relative_and_stay_inside_the_tree(busybox_tree):
    root = os.path.realpath(busybox_tree)
    links = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                continue
            links += 1
            assert not os.readlink(path).startswith("/"), path
            target = os.path.realpath(path)
            assert target.startswith(root + os.sep), f"{path} -> {target}"
            assert os.path.exists(target), path
    assert links > 100  # busybox-static has some 270 applets


def test_busybox_tree_has_accounts_for_root_app_and_nobody(busybox_tree):
    passwd = read_table(os.path.join(busybox_tree, "etc", "passwd"))
    assert passwd["root"] == ["root", "x", "0", "0", "root", "/root", "/bin/sh"]
    assert passwd["app"][2:4] == ["1000", "1000"]
    assert passwd["app"][5] == "/home/app"
    assert passwd["nobody"][2] == "65534"
    group = read_table(os.path.join(busybox_tree, "etc", "group"))
    assert group["root"][2] == "0"
    assert group["app"][2] == "1000"
    assert group["extra"][2] == "1001"
    assert "app" in group["extra"][3].split(",")


def test_busybox_tree_has_mount_targets_and_standard_directories(busybox_tree):
    for d in ("proc", "sys", "dev", "tmp", "root", "etc", "var", "run", "home/app",
              "sbin", "usr/bin", "usr/sbin"):
        assert os.path.isdir(os.path.join(busybox_tree, d)), d
    assert stat.S_IMODE(os.stat(os.path.join(busybox_tree, "tmp")).st_mode) == 0o1777
    for f in ("etc/hostname", "etc/hosts", "etc/resolv.conf", "sbin/docker-init"):
        path = os.path.join(busybox_tree, f)
        assert os.path.isfile(path) and not os.path.islink(path), f
        assert os.path.getsize(path) == 0, f
    if os.geteuid() == 0:
        home = os.stat(os.path.join(busybox_tree, "home", "app"))
        assert (home.st_uid, home.st_gid) == (1000, 1000)


@needs_busybox
def test_busybox_build_is_atomic_and_idempotent(scratch):
    out = os.path.join(scratch, "img")
    first = run([BUILD_BUSYBOX, out])
    assert first.returncode == 0, first.stderr
    assert "built" in first.stdout
    before = (snapshot(out), snapshot(out + ".stamp"))

    again = run([BUILD_BUSYBOX, out])
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert (snapshot(out), snapshot(out + ".stamp")) == before
    assert run([BUILD_BUSYBOX, "--check", out]).returncode == 0

    # A stale stamp (as after a busybox upgrade) makes it rebuild, and the
    # new tree replaces the old one without leaving temporaries behind.
    with open(out + ".stamp", "w") as f:
        f.write("busybox=old recipe=old\n")
    assert run([BUILD_BUSYBOX, "--check", out]).returncode == 1
    rebuilt = run([BUILD_BUSYBOX, out])
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert snapshot(out)[0] != before[0][0]
    assert sorted(os.listdir(scratch)) == ["img", "img.stamp"]
    assert os.path.islink(os.path.join(out, "bin", "sh"))


# ---- scripts/setup -----------------------------------------------------------

def test_setup_refuses_to_run_without_root(scratch):
    # A copy in a directory anyone can enter, because the checkout itself
    # may live where an unprivileged user cannot (e.g. under /root).
    os.mkdir(os.path.join(scratch, "scripts"))
    script = os.path.join(scratch, "scripts", "setup")
    shutil.copy(SETUP, script)
    os.chmod(script, 0o755)
    if os.geteuid() == 0:
        argv = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", script]
    else:
        argv = [script]
    proc = run(argv, cwd=scratch)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "root" in lines[0]
    assert not os.path.exists(os.path.join(scratch, ".venv"))


@needs_root
def test_setup_is_idempotent():
    first = run([SETUP])
    assert first.returncode == 0, first.stdout + first.stderr
    watched = [os.path.join(REPO, ".venv", "bin", "python"),
               os.path.join(REPO, ".venv", ".minicontainer-installed"),
               BUSYBOX_TREE, BUSYBOX_TREE + ".stamp"]
    before = [snapshot(p) for p in watched]

    second = run([SETUP])
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout == "setup: up to date\n"
    assert second.stderr == ""
    assert [snapshot(p) for p in watched] == before
    assert run([SETUP, "--check"]).returncode == 0


# ---- scripts/test ------------------------------------------------------------

def write_test(directory, body):
    with open(os.path.join(directory, "test_mctest_probe.py"), "w") as f:
        f.write(body)


@needs_root
@pytest.mark.parametrize("body, expected", [
    ("import os\n\ndef test_ok():\n    assert os.environ['MINICONTAINER_TEST'] == '1'\n", 0),
    ("def test_broken():\n    assert False\n", 1),
    ("# no tests at all\n", 1),  # pytest exit 5 (nothing collected) is a failure
])
def test_scripts_test_passes_pytest_results_through(scratch, body, expected):
    write_test(scratch, body)
    proc = run([TEST, scratch, "-q", "-p", "no:cacheprovider"], cwd=REPO)
    assert proc.returncode == expected, proc.stdout + proc.stderr


def test_ci_entry_runs_scripts_test():
    with open(os.path.join(REPO, ".ci", "run")) as f:
        text = f.read()
    assert "exec scripts/test" in text
    assert os.access(os.path.join(REPO, ".ci", "run"), os.X_OK)
