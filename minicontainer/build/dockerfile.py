"""Read a Dockerfile into instructions (pure: no files touched but the text given).

Docker's rules, in the order the parser applies them:

- Parser directives (``# escape=``, ``# syntax=``, ``# check=``) count only at
  the very top, before any comment, blank line or instruction; ``escape``
  picks the line-continuation and quoting character (``\\`` or a backtick).
- A line whose last non-blank character is the escape character continues on
  the next line; comment lines and blank lines inside a continued instruction
  are dropped.
- The first word names the instruction (any case); ``--name=value`` words
  right after it are flags (COPY --from, RUN --network, HEALTHCHECK
  --interval ...).  A rest that parses as a JSON array of strings is the exec
  (JSON) form, anything else the shell form, kept as written.

Errors name the file and line: ``Dockerfile:7: unknown instruction: RUNN``.
"""

from ..errors import SpecError

INSTRUCTIONS = frozenset((
    "from", "run", "cmd", "entrypoint", "copy", "add", "env", "arg", "workdir", "user",
    "expose", "volume", "label", "stopsignal", "healthcheck", "shell", "onbuild",
    "maintainer",
))
# Instructions whose leading --flags are theirs (others take the words as arguments).
FLAGS = {
    "from": ("platform",),
    "copy": ("from", "chown", "chmod", "link", "parents", "exclude"),
    "add": ("chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"),
    "run": ("network", "mount", "security"),
    "healthcheck": ("interval", "timeout", "start-period", "start-interval", "retries"),
}
DIRECTIVES = ("escape", "syntax", "check")


class Instruction:
    """One instruction: ``cmd`` (lower case), flags, its rest, JSON form or not."""

    __slots__ = ("cmd", "flags", "rest", "json", "line", "original")

    def __init__(self, cmd, flags, rest, json_args, line, original):
        self.cmd = cmd
        self.flags = flags          # {name: value}, in the order written
        self.rest = rest            # the text after the flags (shell form)
        self.json = json_args       # a list of strings for the exec form, else None
        self.line = line            # where it starts in the file (1-based)
        self.original = original    # the instruction as one line, for Step N/M

    def __repr__(self):
        return f"Instruction({self.cmd!r}, line={self.line}, rest={self.rest!r})"


class Dockerfile:
    __slots__ = ("name", "escape", "directives", "instructions")

    def __init__(self, name, escape, directives, instructions):
        self.name, self.escape = name, escape
        self.directives, self.instructions = directives, instructions


class DockerfileError(SpecError):
    """A malformed Dockerfile; the message starts with ``FILE:LINE:``."""


def error(name, line, message):
    return DockerfileError(f"{name}:{line}: {message}", op=None)


def parse(text, name="Dockerfile"):
    """The Dockerfile ``text`` (named ``name`` in errors) as a Dockerfile."""
    lines = text.lstrip("\ufeff").splitlines()  # an editor's byte order mark is no text
    directives, first = _directives(lines, name)
    escape = directives.get("escape", "\\")
    instructions = []
    pending, start = None, 0
    for number in range(first, len(lines)):
        raw = lines[number]
        stripped = raw.strip()
        if pending is None:
            if not stripped or stripped.startswith("#"):
                continue
            pending, start = [], number + 1
        elif not stripped or stripped.startswith("#"):
            continue  # blank and comment lines inside a continued instruction
        body = raw.rstrip()
        if body.endswith(escape):
            pending.append(body[:-1])
            continue
        pending.append(body)
        instructions.append(_instruction(_join(pending), start, name))
        pending = None
    if pending is not None and _join(pending):
        instructions.append(_instruction(_join(pending), start, name))
    if not instructions:
        raise error(name, 1, "file with no instructions")
    if instructions[0].cmd not in ("from", "arg"):
        raise error(name, instructions[0].line,
                    "no build stage in current context: the first instruction must be FROM "
                    "(or ARG before it)")
    return Dockerfile(name, escape, directives, instructions)


def _join(parts):
    return "".join(parts).strip()


def _directives(lines, name):
    """({directive: value}, index of the first line after them)."""
    found = {}
    index = 0
    for index, raw in enumerate(lines):
        stripped = raw.strip()
        if not stripped.startswith("#"):
            return found, index
        body = stripped[1:].strip()
        key, sep, value = body.partition("=")
        key = key.strip().lower()
        if not sep or key not in DIRECTIVES or " " in key:
            return found, index
        if key in found:
            raise error(name, index + 1, f"only one {key} parser directive can be used")
        value = value.strip()
        if key == "escape" and value not in ("\\", "`"):
            raise error(name, index + 1, f"invalid escape token '{value}' does not match "
                                         f"` or \\")
        found[key] = value
    return found, len(lines)


def _instruction(text, line, name):
    word, _, rest = text.partition(" ")
    if "\t" in word:
        word, _, more = word.partition("\t")
        rest = more + " " + rest
    cmd = word.lower()
    if cmd not in INSTRUCTIONS:
        raise error(name, line, f"unknown instruction: {word.upper()}")
    rest = rest.strip()
    flags = {}
    allowed = FLAGS.get(cmd)  # others (CMD --verbose) take such words as arguments
    while allowed is not None and rest.startswith("--"):
        flag, _, after = rest.partition(" ")
        key, sep, value = flag[2:].partition("=")
        if key not in allowed:
            raise error(name, line, f"unknown flag: --{key} for {cmd.upper()}")
        if key in flags and key not in ("mount", "exclude"):
            raise error(name, line, f"duplicate flag specified: --{key}")
        flags[key] = value if sep else "true"
        rest = after.strip()
    # HEALTHCHECK's JSON form comes after its CMD keyword: the step parses it.
    json_args = _json_form(rest) if cmd in ("run", "cmd", "entrypoint", "shell", "copy",
                                            "add", "volume") else None
    if not rest and cmd not in ("cmd", "entrypoint", "run"):
        raise error(name, line, f"{cmd.upper()} requires at least one argument")
    if cmd in ("run",) and not rest:
        raise error(name, line, "RUN requires at least one argument")
    if cmd == "shell" and json_args is None:
        raise error(name, line, "SHELL requires the arguments to be in JSON form")
    return Instruction(cmd, flags, rest, json_args, line, _display(word, flags, rest))


def _display(word, flags, rest):
    parts = [word.upper()] + [f"--{k}={v}" for k, v in flags.items()] + ([rest] if rest else [])
    return " ".join(parts)


def _json_form(rest):
    if not rest.startswith("["):
        return None
    import json
    try:
        value = json.loads(rest)
    except ValueError:
        return None  # Docker falls back to the shell form
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def stages(dockerfile):
    """(meta ARG instructions, [(FROM instruction, [instructions of that stage])])."""
    meta, result = [], []
    for item in dockerfile.instructions:
        if item.cmd == "from":
            result.append((item, []))
        elif not result:
            if item.cmd != "arg":
                raise error(dockerfile.name, item.line,
                            f"{item.cmd.upper()} before the first FROM: only ARG may come "
                            f"before FROM")
            meta.append(item)
        else:
            result[-1][1].append(item)
    if not result:
        raise error(dockerfile.name, dockerfile.instructions[-1].line,
                    "no build stage: the file has no FROM")
    return meta, result
