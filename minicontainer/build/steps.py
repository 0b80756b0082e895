"""One handler per Dockerfile instruction: each turns the stage's state into the next.

A handler works out what the step means (variables expanded, sources hashed),
forms the cache key from that, and either takes the cached result or does the
work.  Config-only instructions change the image config and add a history
entry marked ``empty_layer``; RUN, COPY, ADD and WORKDIR may add a layer.
"""

import hashlib
import posixpath

from ..errors import SpecError
from . import args as argmod
from .dockerfile import error

_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
       "m": 60_000_000_000, "h": 3_600_000_000_000}
DEFAULT_SHELL = ["/bin/sh", "-c"]


def handle(builder, stage, instr):
    handler = HANDLERS[instr.cmd]
    try:
        handler(builder, stage, instr)
    except argmod.SubstitutionError as exc:
        raise error(builder.dockerfile.name, instr.line, exc.message) from None
    except OSError as exc:  # an unreadable source, a full disk: name the step that hit it
        from ..errors import SetupError
        raise SetupError(f"{builder.dockerfile.name}:{instr.line}: {instr.cmd.upper()} "
                         f"failed: {exc.strerror or exc}", path=exc.filename,
                         errno=exc.errno) from None


def _word(builder, stage, text):
    return argmod.process_word(text, stage.variables(), builder.escape)


def _words(builder, stage, text):
    return argmod.process_words(text, stage.variables(), builder.escape)


def _shell(stage):
    return list(stage.state.section.get("Shell") or DEFAULT_SHELL)


# -- config-only instructions --------------------------------------------------------

def _env(builder, stage, instr):
    pairs = argmod.parse_pairs(instr.rest, builder.escape, stage.variables(), "ENV")
    text = " ".join(f"{k}={v}" for k, v in pairs)

    def change(section):
        env = list(section.get("Env") or [])
        for key, value in pairs:
            env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
        section["Env"] = env
    builder.config_step(stage, f"ENV {text}", change, key=repr(pairs))


def _arg(builder, stage, instr):
    for name, default_text in argmod.parse_arg_words(instr.rest, builder.escape):
        default = None if default_text is None else _word(builder, stage, default_text)
        stage.args[name] = builder.build_args.stage_value(name, default)
    builder.say_step_done(stage)  # ARG changes no config (Docker adds no history either)


def _label(builder, stage, instr):
    pairs = argmod.parse_pairs(instr.rest, builder.escape, stage.variables(), "LABEL",
                               legacy_ok=True)

    def change(section):
        labels = dict(section.get("Labels") or {})
        labels.update(pairs)
        section["Labels"] = labels
    builder.config_step(stage, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs), change,
                        key=repr(pairs))


def _maintainer(builder, stage, instr):
    author = instr.rest.strip()
    builder.config_step(stage, f"MAINTAINER {author}", None,
                        config_change=lambda config: config.__setitem__("author", author))


def _user(builder, stage, instr):
    user = _word(builder, stage, instr.rest.strip())
    builder.config_step(stage, f"USER {user}", lambda s: s.__setitem__("User", user))


def _stopsignal(builder, stage, instr):
    signal = _word(builder, stage, instr.rest.strip())
    builder.config_step(stage, f"STOPSIGNAL {signal}",
                        lambda s: s.__setitem__("StopSignal", signal))


def _expose(builder, stage, instr):
    ports = []
    for word in _words(builder, stage, instr.rest):
        number, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise error(builder.dockerfile.name, instr.line, f"invalid proto: {proto}")
        low, _, high = number.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise error(builder.dockerfile.name, instr.line, f"invalid containerPort: {number}")
        for port in range(int(low), int(high or low) + 1):
            ports.append(f"{port}/{proto}")

    def change(section):
        exposed = dict(section.get("ExposedPorts") or {})
        exposed.update({port: {} for port in ports})
        section["ExposedPorts"] = exposed
    builder.config_step(stage, "EXPOSE " + " ".join(ports), change)


def _volume(builder, stage, instr):
    if instr.json is not None:
        paths = [_word(builder, stage, item) for item in instr.json]
    else:
        paths = _words(builder, stage, instr.rest)
    if not paths or any(not p.strip() for p in paths):
        raise error(builder.dockerfile.name, instr.line, "VOLUME specified can not be an "
                                                         "empty string")

    def change(section):
        volumes = dict(section.get("Volumes") or {})
        volumes.update({path: {} for path in paths})
        section["Volumes"] = volumes
    builder.config_step(stage, "VOLUME " + str(paths), change)


def _command_form(stage, instr):
    if instr.json is not None:
        return list(instr.json)
    if not instr.rest:
        return None
    return _shell(stage) + [instr.rest]


def _cmd(builder, stage, instr):
    command = _command_form(stage, instr)
    stage.cmd_set = True
    builder.config_step(stage, f"CMD {command}", lambda s: s.__setitem__("Cmd", command))


def _entrypoint(builder, stage, instr):
    command = _command_form(stage, instr)
    reset_cmd = not stage.cmd_set  # an inherited CMD goes; one set in this stage stays

    def change(section):
        section["Entrypoint"] = command
        if reset_cmd:
            section["Cmd"] = None
    builder.config_step(stage, f"ENTRYPOINT {command}", change)


def _shell_instr(builder, stage, instr):
    shell = list(instr.json)
    if not shell:
        raise error(builder.dockerfile.name, instr.line, "SHELL requires at least one argument")
    builder.config_step(stage, f"SHELL {shell}", lambda s: s.__setitem__("Shell", shell))


def parse_duration(text):
    """Go-style durations as HEALTHCHECK takes them ("30s", "1m30s", "500ms") -> ns."""
    import re
    if not text or not re.fullmatch(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", text):
        raise SpecError(f"invalid duration {text!r}")
    total = 0
    for number, _frac, unit in re.findall(r"(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)", text):
        total += int(float(number) * _NS[unit])
    return total


def _healthcheck(builder, stage, instr):
    rest = instr.rest.strip()
    keyword, _, command = rest.partition(" ")
    name = builder.dockerfile.name
    if keyword.upper() == "NONE":
        if command.strip() or instr.flags:
            raise error(name, instr.line, "HEALTHCHECK NONE takes no arguments")
        check = {"Test": ["NONE"]}
    elif keyword.upper() == "CMD":
        from .dockerfile import _json_form
        command = command.strip()
        exec_form = _json_form(command)
        if exec_form is not None:
            test = ["CMD"] + exec_form
        elif command:
            test = ["CMD-SHELL", command]
        else:
            raise error(name, instr.line, "HEALTHCHECK CMD needs a command")
        check = {"Test": test}
        try:
            for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                              ("start-period", "StartPeriod"),
                              ("start-interval", "StartInterval")):
                if flag in instr.flags:
                    check[key] = parse_duration(instr.flags[flag])
            if "retries" in instr.flags:
                check["Retries"] = int(instr.flags["retries"])
        except (SpecError, ValueError) as exc:
            raise error(name, instr.line, f"HEALTHCHECK: {exc}") from None
    else:
        raise error(name, instr.line, f"unknown type for HEALTHCHECK: {keyword!r} "
                                      f"(use CMD or NONE)")
    builder.config_step(stage, f"HEALTHCHECK {check}",
                        lambda s: s.__setitem__("Healthcheck", check))


def _onbuild(builder, stage, instr):
    trigger = instr.rest.strip()
    word = trigger.split(None, 1)[0].upper() if trigger else ""
    if word in ("ONBUILD", "FROM", "MAINTAINER"):
        raise error(builder.dockerfile.name, instr.line,
                    f"{word} isn't allowed as an ONBUILD trigger")

    def change(section):
        section["OnBuild"] = list(section.get("OnBuild") or []) + [trigger]
    builder.config_step(stage, f"ONBUILD {trigger}", change)


# -- instructions that may add a layer -----------------------------------------------

def _run(builder, stage, instr):
    from .runstep import run_command
    if "mount" in instr.flags or "security" in instr.flags:
        raise error(builder.dockerfile.name, instr.line,
                    "RUN --mount and --security are not supported by this builder")
    network = instr.flags.get("network", builder.network)
    if network == "default":
        network = builder.network
    if network not in ("none", "host", "bridge"):
        raise error(builder.dockerfile.name, instr.line,
                    f"RUN --network={network}: use none, host or bridge")
    argv = list(instr.json) if instr.json is not None else _shell(stage) + [instr.rest]
    if not argv:
        raise error(builder.dockerfile.name, instr.line, "RUN requires at least one argument")
    section = stage.state.section
    declared = stage.declared_args()
    env = _run_env(section.get("Env") or [], declared, builder.build_args.predefined())
    shown = " ".join(argv)
    arg_prefix = f"|{len(declared)} " + " ".join(f"{k}={v}" for k, v in declared) + " " \
        if declared else ""
    created_by = f"RUN {arg_prefix}{shown}"
    user = section.get("User") or None
    cwd = posixpath.normpath(section.get("WorkingDir") or "/")
    builder.layer_step(stage, created_by, (network, repr(argv)),
                       lambda state: run_command(builder, state, argv, env, user, cwd,
                                                 network, shown))


def _run_env(config_env, declared, predefined):
    """What RUN sees: the image's Env, then ARGs that ENV does not override, proxies."""
    from ..image.config import merge_env
    from ..spec import DEFAULT_PATH
    names = {item.partition("=")[0] for item in config_env}
    extra = [f"{k}={v}" for k, v in declared if k not in names]
    extra += [f"{k}={v}" for k, v in predefined.items() if k not in names]
    env = merge_env(list(config_env), extra)
    if not any(item.startswith("PATH=") for item in env):
        env.insert(0, f"PATH={DEFAULT_PATH}")
    return env


def _workdir(builder, stage, instr):
    from . import fsops
    path = _word(builder, stage, instr.rest.strip())
    current = stage.state.section.get("WorkingDir") or "/"
    path = posixpath.normpath(posixpath.join(current, path))

    def make(state):
        with fsops.mounted(builder, state) as (merged, upper):
            if fsops.is_dir_in_root(merged, path):
                return None
            fsops.make_dirs(merged, path, None)
            return fsops.layer_from_upper(builder, upper)
    builder.layer_step(stage, f"WORKDIR {path}", (), make,
                       change=lambda s: s.__setitem__("WorkingDir", path))


def _copy(builder, stage, instr):
    from .copystep import copy_instruction
    copy_instruction(builder, stage, instr, add=False)


def _add(builder, stage, instr):
    from .copystep import copy_instruction
    copy_instruction(builder, stage, instr, add=True)


def key_digest(parts):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(str(part).encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


HANDLERS = {
    "env": _env, "arg": _arg, "label": _label, "maintainer": _maintainer, "user": _user,
    "stopsignal": _stopsignal, "expose": _expose, "volume": _volume, "cmd": _cmd,
    "entrypoint": _entrypoint, "shell": _shell_instr, "healthcheck": _healthcheck,
    "onbuild": _onbuild, "run": _run, "workdir": _workdir, "copy": _copy, "add": _add,
}
