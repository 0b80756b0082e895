"""Each Dockerfile instruction does what Docker's does, checked in the built image."""

import hashlib
import http.server
import json
import os
import threading

import pytest

from build_helpers import BuildEnv
from conftest import needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox]


@pytest.fixture
def bx(mc):
    env = BuildEnv(mc)
    yield env
    assert env.close() == [], "the build left mounts behind"


def _run(bx, image, *command, entrypoint=None):
    extra = ["--entrypoint", entrypoint] if entrypoint is not None else []
    result = bx("run", "--rm", *extra, image, *command)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _config(bx, image):
    return json.loads(bx("image", "inspect", image).stdout)[0]["Config"]


def test_copy_add_shell_workdir_and_config_instructions(bx):
    bx.build(bx.context("instructions"), "-t", "mctest-build/instr:1")
    image = "mctest-build/instr:1"
    # ENTRYPOINT + CMD
    assert _run(bx, image) == "entry from-cmd\n"
    assert _run(bx, image, "given") == "entry given\n"
    files = _run(bx, image, "-c", "cd /srv/app && stat -c '%a %n' conf/* renamed.txt "
                 "sub/inner.txt /opt/unpacked/pkg/bin/tool /opt/plain/one.txt; "
                 "cat /shell-was /workdir-was", entrypoint="sh")
    assert files.splitlines() == [
        "600 conf/a.conf", "600 conf/b.conf", "644 renamed.txt", "644 sub/inner.txt",
        "755 /opt/unpacked/pkg/bin/tool", "644 /opt/plain/one.txt",
        "/bin/sh", "/relative/deeper"]
    config = _config(bx, image)
    assert config["Shell"] == ["/bin/sh", "-e", "-c"]
    assert config["WorkingDir"] == "/relative/deeper"
    assert sorted(config["ExposedPorts"]) == ["53/udp", "8080/tcp", "9000/tcp", "9001/tcp"]
    assert config["Volumes"] == {"/data": {}}
    assert config["StopSignal"] == "SIGINT"
    assert config["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000,
                                     "Retries": 2}
    assert config["Labels"] == {"multi": "a b", "single": "c"}
    assert config["Env"][-1] == "APP=/srv/app"


def test_target_stage_stops_the_build_there(bx):
    context = bx.context("scratch")
    result = bx("build", "--target", "nosuch", context)
    assert result.returncode == 1
    assert "target stage 'nosuch' could not be found" in result.stderr
    result = bx("build", "-t", "mctest-build/tools:1", "--target", "TOOLS", context)
    assert result.returncode == 0, result.stderr
    assert "Step 2/2" in result.stdout and "FROM scratch" not in result.stdout
    assert _run(bx, "mctest-build/tools:1", "cat", "/rootfs/etc/motd") == "built from scratch\n"
    whole = bx("build", context)
    assert "Step 7/7 : RUN echo other-stage-ran" in whole.stdout
    assert "other-stage-ran" in whole.stdout.split("Step 7/7")[1]


def test_scratch_image_runs_with_only_its_own_files(bx):
    context = bx.context("scratch")
    with open(os.path.join(context, "Dockerfile")) as handle:
        text = handle.read().split("FROM busybox AS other")[0]
    with open(os.path.join(context, "Dockerfile.two"), "w") as handle:
        handle.write(text)
    bx.build(context, "-f", os.path.join(context, "Dockerfile.two"), "-t", "mctest-build/s:1")
    assert _run(bx, "mctest-build/s:1") == "built from scratch\n"
    assert sorted(_run(bx, "mctest-build/s:1", "/bin/sh", "-c",
                       "echo /*").split()) == ["/bin", "/dev", "/etc", "/proc", "/sys"]


def test_add_from_a_url_on_the_loopback(bx, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "remote.txt").write_text("from the loopback\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        context = tmp_path / "mctest-ctx"
        context.mkdir()
        url = f"http://127.0.0.1:{server.server_address[1]}/remote.txt"
        good = hashlib.sha256(b"from the loopback\n").hexdigest()
        (context / "Dockerfile").write_text(
            f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {url} /r/\n")
        result = bx("build", str(context))
        assert result.returncode == 1 and "Dockerfile:2: ADD failed: digest mismatch" in \
            result.stderr
        (context / "Dockerfile").write_text(
            f"FROM busybox\nADD --checksum=sha256:{good} {url} /r/\n")
        bx.build(str(context), "-t", "mctest-build/url:1")
    finally:
        server.shutdown()
        server.server_close()
    assert _run(bx, "mctest-build/url:1", "stat", "-c", "%a", "/r/remote.txt") == "600\n"
    assert _run(bx, "mctest-build/url:1", "cat", "/r/remote.txt") == "from the loopback\n"


def test_onbuild_triggers_run_in_the_child(bx, tmp_path):
    parent = tmp_path / "mctest-parent"
    parent.mkdir()
    (parent / "Dockerfile").write_text("FROM busybox\nONBUILD RUN echo triggered > /t\n")
    bx.build(str(parent), "-t", "mctest-build/parent:1")
    child = tmp_path / "mctest-child"
    child.mkdir()
    (child / "Dockerfile").write_text("FROM mctest-build/parent:1\nCMD [\"cat\", \"/t\"]\n")
    bx.build(str(child), "-t", "mctest-build/child:1")
    assert _run(bx, "mctest-build/child:1") == "triggered\n"
    assert "OnBuild" not in _config(bx, "mctest-build/child:1")


def test_run_as_user_and_copy_chown_by_number(bx, tmp_path):
    context = tmp_path / "mctest-ctx"
    context.mkdir()
    (context / "f").write_text("x")
    (context / "Dockerfile").write_text(
        "FROM busybox\nCOPY --chown=1000:1001 f /home/app/f\nUSER app\n"
        "RUN id -u > /tmp/uid && cat /home/app/f > /home/app/copy\n")
    bx.build(str(context), "-t", "mctest-build/user:1")
    out = _run(bx, "mctest-build/user:1", "sh", "-c",
               "cat /tmp/uid; stat -c '%u:%g' /home/app/f /home/app/copy")
    assert out.splitlines() == ["1000", "1000:1001", "1000:1000"]


def test_dockerfile_from_stdin_and_its_own_ignore_file(bx, tmp_path):
    context = tmp_path / "mctest-ctx"
    context.mkdir()
    (context / "kept.txt").write_text("kept\n")
    (context / "dropped.txt").write_text("dropped\n")
    (context / "Dockerfile.alt").write_text("FROM busybox\nCOPY *.txt /t/\n")
    (context / "Dockerfile.alt.dockerignore").write_text("dropped.txt\n")
    (context / ".dockerignore").write_text("kept.txt\n")  # not used: the alt one wins
    bx.build(str(context), "-f", "Dockerfile.alt", "-t", "mctest-build/alt:1")
    assert _run(bx, "mctest-build/alt:1", "ls", "/t") == "kept.txt\n"
    result = bx("build", "-f", "-", "-t", "mctest-build/stdin:1", str(context),
                input="FROM busybox\nRUN echo from-stdin > /s\n")
    assert result.returncode == 0, result.stderr
    assert _run(bx, "mctest-build/stdin:1", "cat", "/s") == "from-stdin\n"


def test_run_network_none_by_default_host_when_asked(bx, tmp_path):
    context = tmp_path / "mctest-ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\nRUN ls /sys/class/net > /none\n"
        "RUN --network=host ls /sys/class/net > /host\n")
    before = set(os.listdir("/sys/class/net"))
    bx.build(str(context), "-t", "mctest-build/net:1")
    after = set(os.listdir("/sys/class/net"))
    assert _run(bx, "mctest-build/net:1", "cat", "/none") == "lo\n"
    host = set(_run(bx, "mctest-build/net:1", "cat", "/host").split())
    # others' tests add and remove devices meanwhile: those there all along were seen
    assert before & after <= host and len(host) > 1


def test_cache_tells_apart_values_that_print_alike(bx, tmp_path):
    context = tmp_path / "mctest-ctx"
    context.mkdir()
    (context / "Dockerfile").write_text('FROM busybox\nENV A="x B=y"\n')
    bx.build(str(context), "-t", "mctest-build/env:1")
    (context / "Dockerfile").write_text("FROM busybox\nENV A=x B=y\n")
    result = bx("build", "-t", "mctest-build/env:2", str(context))
    assert "Using cache" not in result.stdout
    assert _run(bx, "mctest-build/env:2", "sh", "-c", "echo $A,$B") == "x,y\n"
    assert _run(bx, "mctest-build/env:1", "sh", "-c", "echo $A,$B") == "x B=y,\n"


def test_add_xz_archive_with_absolute_links_and_copy_through_a_linked_dir(bx, tmp_path):
    import tarfile
    context = tmp_path / "mctest-ctx"
    (context / "tree" / "lib2").mkdir(parents=True)
    (context / "tree" / "lib2" / "file").write_text("via link\n")
    src = tmp_path / "mctest-src"
    (src / "etc").mkdir(parents=True)
    (src / "etc" / "conf").write_text("conf\n")
    os.symlink("/etc/conf", str(src / "etc" / "abs-link"))
    with tarfile.open(str(context / "pack.tar.xz"), "w:xz") as tar:
        tar.add(str(src), arcname=".")
    (context / "Dockerfile").write_text(
        "FROM busybox\nRUN mkdir -p /usr/lib2 && ln -s usr/lib2 /lib2\n"
        "COPY tree/ /\nADD pack.tar.xz /x/\n")
    bx.build(str(context), "-t", "mctest-build/xz:1")
    out = _run(bx, "mctest-build/xz:1", "sh", "-c",
               "readlink /lib2; cat /usr/lib2/file; readlink /x/etc/abs-link; cat /x/etc/conf")
    assert out.splitlines() == ["usr/lib2", "via link", "/etc/conf", "conf"]


def test_unreadable_or_missing_sources_name_the_line(bx, tmp_path):
    context = tmp_path / "mctest-ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\n\nCOPY missing.txt /\n")
    result = bx("build", str(context))
    assert result.returncode == 1
    assert "file not found in build context or excluded by .dockerignore: missing.txt" \
        in result.stderr
    (context / "Dockerfile").write_text("FROM nosuch-mctest-image:1\n")
    result = bx("build", str(context))
    assert result.returncode == 1 and "Dockerfile:1: base image" in result.stderr
    (context / "Dockerfile").write_text("FROM busybox\nENV A=${B:?needs B}\n")
    result = bx("build", str(context))
    assert result.returncode == 1 and "Dockerfile:2: B: needs B" in result.stderr


def test_copy_from_an_image_and_a_stage_number_and_entrypoint_resets_inherited_cmd(bx,
                                                                                    tmp_path):
    context = tmp_path / "mctest-ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\nRUN echo zero > /zero\n"
        "FROM scratch\nCOPY --from=0 /zero /from-stage\nCOPY --from=busybox /bin/busybox /bin/\n"
        "COPY --from=busybox /bin/sh /bin/echo /bin/cat /bin/\n"
        'ENTRYPOINT ["/bin/echo", "args:"]\n')
    bx.build(str(context), "-t", "mctest-build/from:1")
    assert _run(bx, "mctest-build/from:1") == "args:\n"  # no CMD: scratch had none
    assert _run(bx, "mctest-build/from:1", "x") == "args: x\n"
    assert _run(bx, "mctest-build/from:1", "-c", "cat /from-stage",
                entrypoint="/bin/sh") == "zero\n"
    (context / "Dockerfile").write_text('FROM busybox\nENTRYPOINT ["echo", "only"]\n')
    bx.build(str(context), "-t", "mctest-build/reset:1")
    assert _config(bx, "mctest-build/reset:1")["Cmd"] is None  # busybox's ["sh"] is gone
    assert _run(bx, "mctest-build/reset:1") == "only\n"
