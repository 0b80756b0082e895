"""``${VAR}`` in compose files: the shell-like substitutions Docker Compose does.

    $VAR  ${VAR}           the value, or "" (with a warning) when unset
    ${VAR:-default}        default when unset or empty;   ${VAR-default} when unset
    ${VAR:?message}        error when unset or empty;     ${VAR?message} when unset
    ${VAR:+other}          other when set and not empty;  ${VAR+other} when set
    $$                     a literal $

Defaults and messages may themselves contain substitutions.  Values come from
the environment first, then the project's ``.env`` file (or ``--env-file``).
"""

import os
import re

from .loader import Map, Seq, error

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    """A ${VAR:?message} whose variable is missing, or a malformed ${...}."""


def read_env_file(path, required=True):
    """KEY=VALUE lines of a .env file as a dict (``export``, quotes and comments allowed)."""
    from .loader import ComposeError
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        if required:
            raise ComposeError(f"{path}: env file not found") from None
        return {}
    except OSError as exc:
        raise ComposeError(f"{path}: {exc.strerror}") from None
    values = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not _NAME.fullmatch(key):
            raise ComposeError(f"{os.path.basename(path)}:{number}: invalid variable name "
                               f"{key!r}")
        if not sep:
            if key in os.environ:
                values[key] = os.environ[key]
            continue
        values[key] = _env_value(value.strip())
    return values


def _env_value(value):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        inner = value[1:-1]
        if value[0] == '"':
            inner = inner.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        return inner
    # an unquoted value ends at " #" (a comment)
    return re.split(r"\s+#", value, maxsplit=1)[0].strip()


def substitute(text, lookup, warn=None):
    """``text`` with every substitution done; ``lookup(name)`` -> value or None."""
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing(text, i + 2)
            out.append(_braced(text[i + 2:end], lookup, warn))
            i = end + 1
        else:
            match = _NAME.match(text, i + 1)
            if match is None:
                raise InterpolationError(f"invalid interpolation format in {text!r}: a lone '$' "
                                         "(write $$ for a literal $)")
            out.append(_value(match.group(), lookup, warn))
            i = match.end()
    return "".join(out)


def _closing(text, start):
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"invalid interpolation format in {text!r}: missing '}}'")


def _value(name, lookup, warn):
    value = lookup(name)
    if value is None:
        if warn is not None:
            warn(f'The "{name}" variable is not set. Defaulting to a blank string.')
        return ""
    return value


def _braced(inner, lookup, warn):
    match = _NAME.match(inner)
    if match is None:
        raise InterpolationError(f"invalid interpolation format: ${{{inner}}}")
    name, rest = match.group(), inner[match.end():]
    if not rest:
        return _value(name, lookup, warn)
    value = lookup(name)
    for operator in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(operator):
            word = rest[len(operator):]
            break
    else:
        raise InterpolationError(f"invalid interpolation format: ${{{inner}}}")
    missing = value is None or (operator.startswith(":") and value == "")
    kind = operator[-1]
    if kind == "-":
        return substitute(word, lookup, warn) if missing else value
    if kind == "+":
        return "" if missing else substitute(word, lookup, warn)
    if missing:  # "?"
        message = substitute(word, lookup, warn) or f"{name} is missing a value"
        raise InterpolationError(f"required variable {name} is missing a value: {message}")
    return value


def interpolate(tree, environ, warn=None, path=""):
    """A copy of ``tree`` (Map/Seq from the loader) with every string value substituted."""
    lookup = environ.get
    if isinstance(tree, Map):
        result = Map(file=tree.file, line=tree.line, lines=tree.lines)
        for key, value in tree.items():
            result[key] = _one(value, environ, warn, f"{path}.{key}" if path else key,
                               tree.where(key))
        return result
    if isinstance(tree, Seq):
        return Seq([_one(item, environ, warn, f"{path}[{index}]", tree.where(index))
                    for index, item in enumerate(tree)],
                   file=tree.file, line=tree.line, lines=tree.lines)
    if isinstance(tree, str):
        return substitute(tree, lookup, warn)
    return tree


def _one(value, environ, warn, path, where):
    if isinstance(value, str):
        try:
            return substitute(value, environ.get, warn)
        except InterpolationError as exc:
            raise error(where, path, str(exc)) from None
    return interpolate(value, environ, warn, path)
