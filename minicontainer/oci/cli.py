"""``minicontainer-oci``: runc's command line over minicontainer's runtime.

containerd's shim and Podman's conmon run this binary several times per
container (create, start, state, kill, delete...), so it is parsed by hand
(click alone would cost 30-40 ms per call) and each command imports only what
it needs.  The syntax is runc's (Go's urfave/cli): global options before the
command, ``--flag value``, ``--flag=value``, ``-f value``, single-dash long
names; options of a command come before its positional arguments.

Errors are one line on stderr and, with ``--log``, a record in the log file
(JSON lines ``{"level","msg","time"}`` with ``--log-format json``: that is
where containerd's shim looks for the reason a create failed); the exit
status is 1, as runc's.
"""

import os
import sys

# name -> (takes a value, repeatable); a short alias maps to its long name.
GLOBAL_FLAGS = {
    "root": (True, False), "log": (True, False), "log-format": (True, False),
    "debug": (False, False), "systemd-cgroup": (False, False), "criu": (True, False),
    "rootless": (True, False), "log-level": (True, False), "help": (False, False),
    "version": (False, False),
}
GLOBAL_SHORT = {"h": "help", "v": "version"}

_CREATE = {"bundle": (True, False), "console-socket": (True, False),
           "pid-file": (True, False), "no-pivot": (False, False),
           "no-new-keyring": (False, False), "preserve-fds": (True, False)}
COMMANDS = {
    # command -> (flags, short aliases, options may follow positionals, usage)
    "create": (_CREATE, {"b": "bundle"}, True, "create [options] <container-id>"),
    "run": (dict(_CREATE, **{"detach": (False, False), "keep": (False, False),
                             "no-subreaper": (False, False)}),
            {"b": "bundle", "d": "detach"}, True, "run [options] <container-id>"),
    "start": ({}, {}, True, "start <container-id>"),
    "state": ({}, {}, True, "state <container-id>"),
    "kill": ({"all": (False, False)}, {"a": "all"}, True, "kill [--all] <container-id> [signal]"),
    "delete": ({"force": (False, False)}, {"f": "force"}, True,
               "delete [--force] <container-id>"),
    "exec": ({"console-socket": (True, False), "cwd": (True, False), "env": (True, True),
              "tty": (False, False), "user": (True, False), "additional-gids": (True, True),
              "process": (True, False), "detach": (False, False), "pid-file": (True, False),
              "process-label": (True, False), "apparmor": (True, False),
              "no-new-privs": (False, False), "cap": (True, True),
              "preserve-fds": (True, False), "cgroup": (True, True),
              "ignore-paused": (False, False)},
             {"e": "env", "t": "tty", "u": "user", "g": "additional-gids", "p": "process",
              "d": "detach", "c": "cap"}, False,
             "exec [options] <container-id> [command [args...]]"),
    "ps": ({"format": (True, False)}, {"f": "format"}, False,
           "ps [--format table|json] <container-id> [ps options]"),
    "list": ({"format": (True, False), "quiet": (False, False)}, {"f": "format", "q": "quiet"},
             True, "list [--format table|json] [--quiet]"),
    "pause": ({}, {}, True, "pause <container-id>"),
    "resume": ({}, {}, True, "resume <container-id>"),
    "update": ({"resources": (True, False), "memory": (True, False),
                "memory-reservation": (True, False), "memory-swap": (True, False),
                "kernel-memory": (True, False), "kernel-memory-tcp": (True, False),
                "cpu-shares": (True, False), "cpu-period": (True, False),
                "cpu-quota": (True, False), "cpu-rt-period": (True, False),
                "cpu-rt-runtime": (True, False), "cpuset-cpus": (True, False),
                "cpuset-mems": (True, False), "pids-limit": (True, False),
                "blkio-weight": (True, False), "l3-cache-schema": (True, False),
                "mem-bw-schema": (True, False)},
               {"r": "resources"}, True, "update [options] <container-id>"),
    "features": ({}, {}, True, "features"),
    "spec": ({"bundle": (True, False), "rootless": (False, False)}, {"b": "bundle"}, True,
             "spec [--bundle DIR] [--rootless]"),
}
# How many positional arguments each command needs (min, max; None: any).
ARITY = {"create": (1, 1), "run": (1, 1), "start": (1, 1), "state": (1, 1), "kill": (1, 2),
         "delete": (1, 1), "exec": (1, None), "ps": (1, None), "list": (0, 0),
         "pause": (1, 1), "resume": (1, 1), "update": (1, 1), "features": (0, 0),
         "spec": (0, 0)}
VERSION = "0.1.0"
OCI_VERSION = "1.0.2"


class UsageError(Exception):
    """A malformed command line."""


def parse_flags(argv, flags, shorts, interleave):
    """(options, positionals) from ``argv`` per the ``flags`` table.

    Go's flag syntax: ``-x``, ``--x``, ``-x=v``, ``--x v``; a boolean takes
    ``=false``.  ``--`` ends the options; without ``interleave`` so does the
    first positional (the rest is e.g. exec's command, untouched).
    """
    options, positionals = {}, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positionals.extend(argv[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            if not interleave:
                positionals.extend(argv[i:])
                break
            positionals.append(arg)
            i += 1
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        name = shorts.get(name, name)
        if name in ("help", "h") and name not in flags:  # every command has --help
            options["help"] = True
            i += 1
            continue
        if name not in flags:
            raise UsageError(f"flag provided but not defined: {arg.partition('=')[0]}")
        takes, repeatable = flags[name]
        if takes:
            if not has_value:
                i += 1
                if i >= len(argv):
                    raise UsageError(f"flag needs an argument: {arg}")
                value = argv[i]
        else:
            if has_value and value.lower() not in ("true", "1", "false", "0"):
                raise UsageError(f'invalid boolean value "{value}" for {arg}')
            value = not has_value or value.lower() in ("true", "1")
        if repeatable:
            options.setdefault(name, []).append(value)
        else:
            options[name] = value
        i += 1
    return options, positionals


def split_global(argv):
    """(global options, command, the command's arguments)."""
    i = 0
    global_argv = []
    while i < len(argv) and argv[i].startswith("-"):
        name, has_value, _ = argv[i].lstrip("-").partition("=")
        name = GLOBAL_SHORT.get(name, name)
        global_argv.append(argv[i])
        if name in GLOBAL_FLAGS and GLOBAL_FLAGS[name][0] and not has_value:
            i += 1
            if i < len(argv):
                global_argv.append(argv[i])
        i += 1
    options, _ = parse_flags(global_argv, GLOBAL_FLAGS, GLOBAL_SHORT, True)
    command = argv[i] if i < len(argv) else None
    return options, command, argv[i + 1:]


def usage():
    lines = ["Usage: minicontainer-oci [global options] command [options] [arguments...]", "",
             "Global options: --root DIR (default /run/minicontainer-oci), --log FILE,",
             "  --log-format text|json, --debug, --systemd-cgroup (not supported)", "",
             "Commands:"]
    lines += [f"  {text}" for _flags, _shorts, _inter, text in COMMANDS.values()]
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    from .log import Log
    log = Log()
    try:
        options, command, rest = split_global(argv)
        fmt = options.get("log-format", "text")
        log = Log(options.get("log"), fmt if fmt in ("text", "json") else "text",
                  bool(options.get("debug")))
        if fmt not in ("text", "json"):
            raise UsageError(f"invalid --log-format {fmt!r}: use text or json")
        if options.get("version"):
            sys.stdout.write(f"minicontainer-oci version {VERSION}\nspec: {OCI_VERSION}\n")
            return 0
        if options.get("help") or command in (None, "help"):
            sys.stdout.write(usage())
            return 0 if options.get("help") or command == "help" else 1
        if command not in COMMANDS:
            raise UsageError(f"no such command: {command}")
        if options.get("systemd-cgroup"):
            raise UsageError("--systemd-cgroup is not supported: minicontainer-oci manages "
                             "cgroups through cgroupfs only (use the cgroupfs manager)")
        flags, shorts, interleave, text = COMMANDS[command]
        cmd_options, args = parse_flags(rest, flags, shorts, interleave)
        if cmd_options.get("help"):
            sys.stdout.write(f"Usage: minicontainer-oci {text}\n")
            return 0
        low, high = ARITY[command]
        if len(args) < low or (high is not None and len(args) > high):
            raise UsageError(f'"{command}" requires {_count(low, high)}; usage: '
                             f"minicontainer-oci {text}")
        log.debug(f"{command} {' '.join(rest)}")
        from .commands import dispatch
        root = options.get("root") or os.environ.get("MINICONTAINER_OCI_ROOT") \
            or "/run/minicontainer-oci"
        return dispatch(command, root, cmd_options, args, log)
    except UsageError as exc:
        log.error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure is one line, never a traceback
        from ..errors import MiniContainerError
        if not isinstance(exc, (MiniContainerError, OSError)):
            if os.environ.get("MINICONTAINER_OCI_TRACEBACK"):
                raise
            log.error(f"internal error: {exc!r}")
            return 1
        log.error(str(exc) if not isinstance(exc, OSError) else _oserror(exc))
        return 1


def _count(low, high):
    if high == low:
        return f"exactly {low} argument{'s' if low != 1 else ''}"
    if high is None:
        return f"at least {low} argument{'s' if low != 1 else ''}"
    return f"{low} to {high} arguments"


def _oserror(exc):
    text = exc.strerror or str(exc)
    return f"{text}: {exc.filename}" if exc.filename else text
