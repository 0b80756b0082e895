"""``build`` end to end: real images from the Dockerfiles in tests/build, run with ``run``.

Every build runs its RUN steps in real containers (namespaces, cgroup,
overlay over the layers so far) on the embedded busybox image, with
``--network none``; nothing leaves the machine.
"""

import json
import os

import pytest

from build_helpers import BuildEnv
from conftest import needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox]


@pytest.fixture
def bx(mc):
    env = BuildEnv(mc)
    yield env
    assert env.close() == [], "the build left mounts behind"


def _run(bx, image, *command):
    result = bx("run", "--rm", image, *command)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_multi_stage_build_with_args_env_user_workdir_and_dockerignore(bx):
    context = bx.context("basics")
    result = bx("build", "-t", "mctest-build/basics:1", context)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Step 1/16 : FROM ${BASE} AS builder" in out
    assert "Step 16/16 : CMD [\"sh\", \"-c\", \"cat /etc/message\"]" in out
    assert " ---> Running in " in out and "Removing intermediate container" in out
    assert "Successfully tagged mctest-build/basics:1" in out
    image_id = out.strip().splitlines()[-2].split()[-1]
    # CMD, with ARG default, meta ARG redeclared, ENV with a quoted value
    assert _run(bx, "mctest-build/basics:1") == "hello from-default the builder\n"
    # USER and WORKDIR take effect in run
    assert _run(bx, "mctest-build/basics:1", "sh", "-c", "id -un; pwd") == "app\n/app\n"
    # .dockerignore: **/*.key gone everywhere, app/logs gone but its ! exception kept
    listing = _run(bx, "mctest-build/basics:1", "find", "/app").split()
    assert sorted(listing) == ["/app", "/app/data.txt", "/app/logs", "/app/logs/keep.log",
                               "/app/made-by-run", "/app/main.sh"]
    # COPY --chown in the first stage, owners kept by COPY --from; modes kept
    stat = _run(bx, "mctest-build/basics:1", "stat", "-c", "%U:%G %a %n",
                "/app/main.sh", "/app/data.txt", "/etc/message")
    assert stat.splitlines() == ["app:app 755 /app/main.sh", "app:app 644 /app/data.txt",
                                 "root:root 644 /etc/message"]
    # deletions in later layers are hidden in the result
    check = _run(bx, "mctest-build/basics:1", "sh", "-c",
                 "test -e /doomed && echo doomed; test -e /bin/ls && echo ls; "
                 "echo $GREETING_SEEN")
    assert check == "unset\n"  # a meta ARG not redeclared is not seen in the stage
    inspect = json.loads(bx("image", "inspect", "mctest-build/basics:1").stdout)[0]
    assert inspect["Id"] == "sha256:" + image_id or inspect["Id"].startswith("sha256:" + image_id)
    config = inspect["Config"]
    assert config["Labels"] == {"org.example.stage": "final", "version": "none"}
    assert config["User"] == "app" and config["WorkingDir"] == "/app"
    assert config["Cmd"] == ["sh", "-c", "cat /etc/message"]


def test_build_arg_overrides_a_default(bx):
    context = bx.context("basics")
    bx.build(context, "-t", "mctest-build/args:1", "--build-arg", "SUFFIX=given",
             "--build-arg", "GREETING=hi", "--build-arg", "UNUSED=1")
    assert _run(bx, "mctest-build/args:1") == "hi given the builder\n"
    result = bx("build", "--build-arg", "UNUSED=1", context)
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in result.stdout


def test_unchanged_rebuild_is_all_cache_and_a_changed_file_is_a_miss(bx):
    context = bx.context("basics")
    first = bx("build", "-t", "mctest-build/cache:1", context)
    assert first.returncode == 0, first.stderr
    second = bx("build", "-t", "mctest-build/cache:1", context)
    assert second.returncode == 0, second.stderr
    assert "Running in" not in second.stdout, second.stdout
    assert second.stdout.count(" ---> Using cache") == 12  # all but FROM and ARG (no cache entry)
    assert first.stdout.splitlines()[-2] == second.stdout.splitlines()[-2]  # same image id
    with open(os.path.join(context, "app", "data.txt"), "w") as handle:
        handle.write("data-v2\n")
    third = bx("build", "-t", "mctest-build/cache:2", context)
    assert third.returncode == 0, third.stderr
    steps = third.stdout.split("Step ")
    copy_step = next(s for s in steps if s.startswith("7/16 : COPY --chown=app:app"))
    assert "Using cache" not in copy_step
    assert "Using cache" in next(s for s in steps if s.startswith("6/16"))
    assert third.stdout.count("Running in") == 1  # the final stage's RUN, after the change
    assert third.stdout.splitlines()[-2] != first.stdout.splitlines()[-2]
    assert _run(bx, "mctest-build/cache:2", "cat", "/app/data.txt") == "data-v2\n"
    # --no-cache runs everything again
    fourth = bx("build", "--no-cache", context)
    assert fourth.stdout.count("Running in") == 3 and "Using cache" not in fourth.stdout


def test_a_failing_run_stops_the_build_and_leaves_nothing(bx):
    context = bx.context("failing")
    result = bx("build", "-t", "mctest-build/failing:1", context)
    assert result.returncode == 1
    assert "before-the-failure" in result.stdout
    assert "never-reached" not in result.stdout
    assert "The command '/bin/sh -c false' returned a non-zero code: 1" in result.stderr
    assert "Step 3/4 : RUN false" in result.stdout
    images = bx("images", "--format", "{{.Repository}}").stdout.split()
    assert "mctest-build/failing" not in images
    assert bx("ps", "-a", "-q").stdout.strip() == ""
    overlay = os.path.join(bx.data_root, "overlay")
    assert not os.path.exists(overlay) or os.listdir(overlay) == []


def test_a_malformed_dockerfile_names_the_line(bx):
    result = bx("build", bx.context("malformed"))
    assert result.returncode == 1
    assert "Dockerfile:3: unknown instruction: RUNN" in result.stderr


def test_python_api_for_compose(bx, mc, tmp_path):
    import io
    from minicontainer.build import build_image
    from minicontainer.build.runstep import BuildStepFailed
    from minicontainer.image.store import Store
    context = tmp_path / "mctest-ctx"
    context.mkdir()
    (context / "Dockerfile.api").write_text("FROM busybox\nARG V\nRUN echo v=$V > /v\n")
    before = dict(os.environ)
    out = io.StringIO()
    image_id = build_image(str(context), dockerfile="Dockerfile.api", tags=("mctest-build/api:1",
                                                                            "mctest-build/api:2"),
                           build_args={"V": "7"}, labels={"com.example": "yes"}, out=out,
                           data_root=bx.data_root, state_root=mc.state_root, pull="never")
    assert dict(os.environ) == before
    text = out.getvalue()
    assert "v=7" not in text and f"Successfully built {image_id[7:19]}" in text
    assert "Successfully tagged mctest-build/api:2" in text
    store = Store(bx.data_root)
    image = store.image(store.resolve("mctest-build/api:2")[1])
    assert image.id == image_id and image.config["config"]["Labels"] == {"com.example": "yes"}
    assert _run(bx, "mctest-build/api:1", "cat", "/v") == "v=7\n"
    (context / "Dockerfile.api").write_text("FROM busybox\nRUN exit 3\n")
    with pytest.raises(BuildStepFailed) as failed:
        build_image(str(context), dockerfile="Dockerfile.api", out=io.StringIO(),
                    data_root=bx.data_root, state_root=mc.state_root, pull="never")
    assert failed.value.exit_code == 1
    assert str(failed.value) == "The command '/bin/sh -c exit 3' returned a non-zero code: 3"


def test_explain_narrates_views_containers_and_layers(bx, tmp_path):
    context = tmp_path / "mctest-ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo hi > /x\nRUN echo again > /y\n")
    result = bx("build", "--explain", str(context))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("[runtime] mount('overlay'") >= 2  # one view per RUN
    assert out.count("execve('/bin/sh', ('/bin/sh', '-c', 'echo") == 2
    assert out.count("build-layer(") == 2  # still narrated after the first container


def test_views_of_a_killed_build_are_released_by_the_next(bx, tmp_path):
    from minicontainer.image import mount_image, open_image
    _config, handle = open_image(bx.data_root, "busybox")
    stale = "build-999999999-1-mctest"  # no such process: a build that was killed
    merged = mount_image(bx.data_root, handle, stale)
    assert bx.mounts_left() == [merged]
    context = tmp_path / "mctest-ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nCMD [\"true\"]\n")
    bx.build(str(context))
    assert bx.mounts_left() == []
    assert not os.path.exists(os.path.join(bx.data_root, "overlay", stale))


def test_image_prune_keeps_the_build_cache_and_builder_prune_drops_it(bx, tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo cached > /made.txt\n")
    assert bx("build", "-t", "mctest-build/prune:1", str(context)).returncode == 0
    assert bx("rmi", "mctest-build/prune:1").returncode == 0
    assert bx("image", "prune", "-a", "-f").returncode == 0
    # The untagged image's RUN layer is gone from the index, not from the cache.
    again = bx("build", "-t", "mctest-build/prune:1", str(context))
    assert again.returncode == 0, again.stderr
    assert "Using cache" in again.stdout and "Running in" not in again.stdout
    assert _run(bx, "mctest-build/prune:1", "cat", "/made.txt") == "cached\n"
    assert bx("rmi", "mctest-build/prune:1").returncode == 0
    pruned = bx("builder", "prune", "-f")
    assert pruned.returncode == 0 and "Total reclaimed space" in pruned.stdout
    cold = bx("build", "-t", "mctest-build/prune:1", str(context))
    assert cold.returncode == 0, cold.stderr
    assert "Running in" in cold.stdout and "Using cache" not in cold.stdout


def test_an_image_with_the_same_empty_layer_twice_runs(bx, tmp_path):
    # A RUN that sets the mode a copied file already has copies it up unchanged:
    # its layer is the COPY's layer again.  overlayfs refuses a lower directory
    # named twice, so the runtime names it once (the upper copy hides the lower).
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "app.sh").write_text("#!/bin/sh\necho app\n")
    os.chmod(context / "app.sh", 0o755)
    (context / "Dockerfile").write_text("FROM busybox\nCOPY app.sh /app.sh\n"
                                        "RUN chmod 755 /app.sh\n")
    assert bx("build", "-t", "mctest-build/twice:1", str(context)).returncode == 0
    inspect = json.loads(bx("image", "inspect", "mctest-build/twice:1").stdout)[0]
    layers = inspect["RootFS"]["Layers"]
    assert len(layers) != len(set(layers)), layers
    assert _run(bx, "mctest-build/twice:1", "/app.sh") == "app\n"
