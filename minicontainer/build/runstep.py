"""RUN: the command in a container on the image so far; its changes become a layer.

The container is an ordinary minicontainer container (namespaces, cgroup,
seccomp, the chosen network) whose root is the build's own copy-on-write view
of the layers so far, passed as a directory: the container adds no overlay of
its own, so what the command writes lands in the view's upper directory,
which ``fsops.layer_from_upper`` turns into the step's layer.  Its output is
streamed to the build's progress as it comes; the container is removed
whatever happens.
"""

import os

from ..errors import MiniContainerError
from . import fsops


class BuildStepFailed(MiniContainerError):
    """A RUN command exited non-zero (the build stops; ``build`` exits 1)."""

    exit_code = 1


def run_command(builder, state, argv, env, user, cwd, network, shown):
    """Run ``argv`` on ``state``; (layer descriptor, diff id) or None if nothing changed."""
    from ..spec import DEFAULT_NAMESPACES, ContainerSpec
    namespaces = DEFAULT_NAMESPACES - {"net"} if network == "host" else DEFAULT_NAMESPACES
    with fsops.mounted(builder, state) as (merged, upper):
        stubs = fsops.missing_stubs(merged)
        if cwd and cwd != "/":
            fsops.make_dirs(merged, cwd, None)  # Docker creates a missing WORKDIR for RUN
        spec = ContainerSpec(rootfs=merged, args=tuple(argv), env=tuple(env), cwd=cwd or "/",
                             user=user or None, network=network, auto_remove=True,
                             namespaces=namespaces)
        code = _run(builder, spec)
        if code != 0:
            raise BuildStepFailed(f"The command '{shown}' returned a non-zero code: {code}",
                                  op=None)
        fsops.remove_stubs(upper, stubs)
        if fsops.upper_is_empty(upper):
            return None
        return fsops.layer_from_upper(builder, upper)


def _run(builder, spec):
    """Create, start and wait for the container, its output copied to ``builder.out``."""
    from ..container import Container
    from ..runtime import launcher
    container = Container(spec, state_root=builder.state_root)
    builder.say(f" ---> Running in {container.id[:12]}")
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    read_end, write_end = os.pipe()
    try:
        container.create()
        try:
            proc = container.start((devnull, write_end, write_end), builder.explain)
        except BaseException:
            container._remove()
            raise
    finally:
        os.close(write_end)
        os.close(devnull)
    try:
        try:
            _copy_output(read_end, builder)
        finally:
            os.close(read_end)
        code = launcher.wait(proc)
    except BaseException:
        launcher.kill_and_reap(proc)
        container.finish(None)
        raise
    code = container.finish(code)
    if builder.explain is not None:  # the launcher turns the recorder off when done
        from ..linux import syscalls
        syscalls.set_recorder(builder.explain)
    builder.say(f"Removing intermediate container {container.id[:12]}")
    return code


def _copy_output(fd, builder):
    import codecs
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        data = os.read(fd, 65536)
        if not data:
            break
        builder.write(decoder.decode(data))
    tail = decoder.decode(b"", final=True)
    if tail:
        builder.write(tail)
