"""The ``minicontainer`` command.

``run`` takes a lean path (runflags, no click) because it is what users time
against runc; every other command is a click command in ``commands.py``,
imported only when asked for.
"""

import os
import sys

PROG = "minicontainer"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = _global_options(argv)
    if argv and argv[0] == "run":
        return run_command(argv[1:])
    from .commands import cli
    return cli.main(args=argv, prog_name=PROG, standalone_mode=True)


def _global_options(argv):
    """``--state-root DIR`` before the command sets MINICONTAINER_STATE_ROOT."""
    while argv and argv[0].startswith("--state-root"):
        name, has_value, value = argv[0].partition("=")
        if name != "--state-root":
            break
        if not has_value:
            if len(argv) < 2:
                fail("flag needs an argument: --state-root")
            value = argv[1]
            argv = argv[1:]
        os.environ["MINICONTAINER_STATE_ROOT"] = value
        argv = argv[1:]
    return argv


def fail(message, code=125, hint=None):
    sys.stderr.write(f"{PROG}: {message}\n")
    if hint:
        sys.stderr.write(hint + "\n")
    sys.exit(code)


def run_command(argv):
    """``minicontainer run``: Docker's exit codes (125 runtime, 126/127 exec, else the command's)."""
    from . import runflags
    from .errors import MiniContainerError
    try:
        options, image, command = runflags.parse(argv)
        if options.get("help"):
            print(runflags.usage_text())
            return 0
        spec = runflags.build_spec(options, image, command)
    except runflags.UsageError as exc:
        fail(str(exc), hint=f"See '{PROG} run --help'.")
    except MiniContainerError as exc:
        fail(str(exc), exc.exit_code)
    if options.get("detach"):
        return _run_detached(spec)
    explain = None
    if options.get("explain") or os.environ.get("MINICONTAINER_EXPLAIN") == "1":
        from .runtime.explain import ExplainPrinter
        explain = ExplainPrinter()
    from .container import Container
    try:
        result = Container(spec).run(explain=explain)
    except MiniContainerError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return 130
    if explain is not None:
        explain.say(f"[runtime] the container's PID 1 exited: exit code {result.exit_code}")
    return result.exit_code


def _run_detached(spec):
    """``run -d``: the per-host supervisor starts it and parents it; print the id."""
    from .errors import MiniContainerError
    from .supervisor_client import request
    from .image import looks_like_path
    if looks_like_path(spec.rootfs):  # the supervisor has its own working directory
        spec = spec.replace(rootfs=os.path.abspath(spec.rootfs))
    try:
        answer = request({"op": "run", "spec": spec.to_json_dict()})
    except MiniContainerError as exc:
        fail(str(exc), exc.exit_code)
    print(answer["id"])
    return 0
