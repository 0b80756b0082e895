"""Small output and input helpers shared by the image and volume commands.

Sizes and ages are shown the way Docker shows them (``4.26MB``, ``2 hours
ago``); ``--format`` takes the simple subset of Go templates that scripts use
(``{{.Id}}``, ``{{.Config.Env}}``, ``{{json .RootFS}}``); ``-c/--change``
takes the Dockerfile instructions that ``import`` and ``commit`` accept.
"""

import json

from .errors import SpecError

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def human_size(count):
    """Decimal units with three significant digits: 0B, 912B, 1.23kB, 4.26MB."""
    value = float(count or 0)
    for unit in _UNITS:
        text = f"{value:.3g}"
        if value < 999.5 or unit == _UNITS[-1]:
            return (text if "e" not in text else f"{value:.0f}") + unit
        value /= 1000
    return f"{count}B"


def parse_time(text):
    """An RFC 3339 time (Go writes nanoseconds) as seconds since the epoch, or None."""
    from datetime import datetime
    if not text:
        return None
    text = text.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # keep at most microseconds: Python does not read nanoseconds
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[:min(digits, 6)] + rest[digits:]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def human_duration(created, now=None):
    """``2 hours ago`` for an RFC 3339 time; ``N/A`` when unknown."""
    import time
    when = parse_time(created)
    if when is None:
        return "N/A"
    seconds = max(0, (time.time() if now is None else now) - when)
    if seconds < 1:
        return "Less than a second ago"
    if seconds < 60:
        return f"{int(seconds)} second{'s' if int(seconds) != 1 else ''} ago"
    minutes = seconds / 60
    if minutes < 2:
        return "About a minute ago"
    if minutes < 60:
        return f"{int(minutes)} minutes ago"
    hours = minutes / 60
    if hours < 2:
        return "About an hour ago"
    if hours < 48:
        return f"{int(hours)} hours ago"
    days = hours / 24
    for limit, size, unit in ((14, 1, "days"), (90, 7, "weeks"), (730, 30, "months")):
        if days < limit:
            return f"{int(days // size)} {unit} ago"
    return f"{int(days // 365)} years ago"


def render_template(template, data):
    """Fill ``{{.A.B}}`` and ``{{json .A}}`` from ``data``; ``\\t``/``\\n`` as escapes."""
    import re

    def field(path):
        value = data
        for key in [p for p in path.split(".") if p]:
            if not isinstance(value, dict) or key not in value:
                raise SpecError(f"template: field .{path} does not exist")
            value = value[key]
        return value

    def replace(match):
        as_json, path = match.group(1), match.group(2)
        value = field(path)
        if as_json:
            return json.dumps(value)
        if value is None:
            return "<no value>"
        if isinstance(value, list):
            return "[" + " ".join(str(v) for v in value) + "]"
        if isinstance(value, dict):
            return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(value.items())) + "]"
        return str(value)

    text = template.replace("\\t", "\t").replace("\\n", "\n")
    return re.sub(r"\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}", replace, text)


# -- import/commit --change ----------------------------------------------------------

def _words(rest, instruction):
    """A JSON array form or a whitespace-separated list."""
    rest = rest.strip()
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            raise SpecError(f"{instruction}: invalid JSON array {rest!r}") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SpecError(f"{instruction}: expected a JSON array of strings")
        return value, True
    return rest.split(), False


def _pairs(rest, instruction):
    """``K=V K2="V 2"`` (or the old ``K V`` form) as a list of (key, value)."""
    import shlex
    words = shlex.split(rest)
    if not words:
        raise SpecError(f"{instruction} needs at least one argument")
    if "=" not in words[0]:
        return [(words[0], rest.strip().split(None, 1)[1] if len(words) > 1 else "")]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise SpecError(f"{instruction}: {word!r} is not KEY=VALUE")
        pairs.append((key, value))
    return pairs


def parse_changes(changes, base=None):
    """Dockerfile instructions -> the image config section they produce.

    ``base`` is the section being changed (for commit): ENV, LABEL, EXPOSE and
    VOLUME add to it, as Docker's commit does; CMD and the rest replace.
    """
    section = {}
    base = base or {}
    for change in changes or ():
        instruction, _, rest = change.strip().partition(" ")
        key = instruction.upper()
        if not rest.strip():
            raise SpecError(f"--change {change!r}: {key} needs an argument")
        if key in ("CMD", "ENTRYPOINT"):
            words, is_json = _words(rest, key)
            section[key.title() if key == "CMD" else "Entrypoint"] = \
                words if is_json else ["/bin/sh", "-c", rest.strip()]
        elif key == "ENV":
            env = list(section.get("Env", base.get("Env") or []))
            for name, value in _pairs(rest, key):
                env = [e for e in env if e.partition("=")[0] != name] + [f"{name}={value}"]
            section["Env"] = env
        elif key == "LABEL":
            labels = dict(section.get("Labels", base.get("Labels") or {}))
            labels.update(_pairs(rest, key))
            section["Labels"] = labels
        elif key in ("EXPOSE", "VOLUME"):
            field = "ExposedPorts" if key == "EXPOSE" else "Volumes"
            merged = dict(section.get(field, base.get(field) or {}))
            words = _words(rest, key)[0]
            for word in words:
                if key == "EXPOSE" and "/" not in word:
                    word += "/tcp"
                merged[word] = {}
            section[field] = merged
        elif key in ("WORKDIR", "USER", "STOPSIGNAL"):
            section[{"WORKDIR": "WorkingDir", "USER": "User",
                     "STOPSIGNAL": "StopSignal"}[key]] = rest.strip()
        else:
            raise SpecError(f"--change {change!r}: {key} is not one of CMD, ENTRYPOINT, ENV, "
                            f"EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR")
    return section


def table(header, rows):
    """Lines of a table whose columns fit their widest cell (as Docker's tabwriter)."""
    cells = [list(header)] + [[str(cell) for cell in row] for row in rows]
    widths = [max(10, max(len(row[i]) for row in cells) + 3) for i in range(len(header) - 1)]
    return ["".join(cell.ljust(width) for cell, width in zip(row, widths)) + row[-1]
            for row in cells]


# -- shared command behaviour ---------------------------------------------------------

def each(items, action, echo_item=True):
    """Docker's multi-argument commands: act on each item (printing it when
    ``echo_item``), report each failure on one line, exit 1 at the end if any."""
    import click

    from .errors import MiniContainerError
    failed = False
    for item in items:
        try:
            action(item)
            if echo_item:
                click.echo(item)
        except MiniContainerError as exc:
            click.echo(f"minicontainer: {exc}", err=True)
            failed = True
    if failed:
        raise SystemExit(1)


def print_documents(documents, fmt=None):
    """``inspect`` output: Docker's JSON array, or one rendered template per document."""
    import click
    if fmt:
        for document in documents:
            click.echo(render_template(fmt, document))
    else:
        click.echo(json.dumps(documents, indent=4))
