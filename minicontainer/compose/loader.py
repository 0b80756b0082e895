"""Finding and reading compose files: YAML that remembers where each value was.

Every mapping and sequence is loaded as a ``Map``/``Seq`` (a dict/list that
also knows its file and, for each key or item, the line it was written on),
so that any later check can say "compose.yaml:12: services.web.ports[0]: ...".
Several ``-f`` files are merged the way Docker Compose merges them: mappings
key by key, with the later file winning, and the lists that add up (ports,
expose, volumes, ...) appended.
"""

import os

from ..errors import SpecError

# The names Docker Compose looks for, in its order, in the working directory
# and then in each parent directory.
FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_NAMES = {"compose.yaml": "compose.override.yaml", "compose.yml": "compose.override.yml",
                  "docker-compose.yaml": "docker-compose.override.yaml",
                  "docker-compose.yml": "docker-compose.override.yml"}


class ComposeError(SpecError):
    """A compose file is wrong; the message starts with ``file:line:``."""


class Map(dict):
    """A mapping from a compose file: ``file``, ``line`` and ``lines[key]`` = (file, line)."""

    __slots__ = ("file", "line", "lines")

    def __init__(self, *args, file=None, line=None, lines=None):
        super().__init__(*args)
        self.file, self.line, self.lines = file, line, dict(lines or {})

    def where(self, key=None):
        """(file, line) of ``key`` (or of the mapping itself)."""
        return self.lines.get(key) or (self.file, self.line)


class Seq(list):
    """A sequence from a compose file: ``file``, ``line`` and ``lines[index]`` = (file, line)."""

    __slots__ = ("file", "line", "lines")

    def __init__(self, items=(), file=None, line=None, lines=None):
        super().__init__(items)
        self.file, self.line, self.lines = file, line, list(lines or [])

    def where(self, index=None):
        if index is not None and 0 <= index < len(self.lines):
            return self.lines[index]
        return self.file, self.line


def error(where, path, message):
    """A ComposeError for ``path`` (e.g. services.web.ports[0]) at ``where`` = (file, line)."""
    file, line = where if where else (None, None)
    place = os.path.basename(file) if file else "compose file"
    if line is not None:
        place = f"{place}:{line}"
    return ComposeError(f"{place}: {path}: {message}" if path else f"{place}: {message}")


def _loader_class(file):
    import yaml
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class MarkedLoader(base):
        pass

    _yaml_12_scalars(MarkedLoader)

    def mapping(loader, node):
        own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor) come first, own keys last
        merged = len(node.value) - own
        result = Map(file=file, line=node.start_mark.line + 1)
        own_keys = set()
        for position, (key_node, value_node) in enumerate(node.value):
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise error((file, key_node.start_mark.line + 1), None,
                            f"a mapping key must be a plain value, not {type(key).__name__}")
            key = str(key) if not isinstance(key, str) else key
            if position >= merged:
                if key in own_keys:
                    raise error((file, key_node.start_mark.line + 1), None,
                                f"mapping key {key!r} already defined at line "
                                f"{result.lines[key][1]}")
                own_keys.add(key)
            result[key] = loader.construct_object(value_node, deep=True)
            result.lines[key] = (file, key_node.start_mark.line + 1)
        return result

    def sequence(loader, node):
        return Seq([loader.construct_object(child, deep=True) for child in node.value],
                   file=file, line=node.start_mark.line + 1,
                   lines=[(file, child.start_mark.line + 1) for child in node.value])

    MarkedLoader.add_constructor("tag:yaml.org,2002:map", mapping)
    MarkedLoader.add_constructor("tag:yaml.org,2002:seq", sequence)
    return MarkedLoader


def _yaml_12_scalars(cls):
    """Plain scalars resolved as YAML 1.2 (Docker Compose's parser) does, not 1.1:
    ``80:80`` stays a string (1.1 reads base-60 numbers) and ``no``/``on`` stay
    words (1.1 reads booleans), so ``ports: [8080:80]`` and ``restart: no`` work."""
    import re
    dropped = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    cls.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in dropped]
        for first, resolvers in cls.yaml_implicit_resolvers.items()}
    cls.add_implicit_resolver("tag:yaml.org,2002:bool",
                              re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    cls.add_implicit_resolver("tag:yaml.org,2002:int",
                              re.compile(r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+)$"),
                              list("-+0123456789"))
    cls.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9]+[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
        list("-+0123456789."))


def load_text(text, file):
    """The document in ``text`` as Map/Seq trees; a YAML error names file and line."""
    import yaml
    try:
        data = yaml.load(text, Loader=_loader_class(file))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise error((file, line), None, f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise error((file, None), None, f"YAML syntax error: {exc}") from None
    if data is None:
        data = Map(file=file, line=1)
    if not isinstance(data, Map):
        raise error((file, 1), None, "the top level must be a mapping (services:, networks:, ...)")
    return data


def load_file(path):
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ComposeError(f"{path}: no such file") from None
    except OSError as exc:
        raise ComposeError(f"{path}: {exc.strerror}") from None
    return load_text(text, os.path.abspath(path))


def find_files(files=(), cwd=None, environ=None):
    """The compose files to use: ``-f`` values, else $COMPOSE_FILE, else a search.

    The search looks in ``cwd`` and its parents for the first directory with
    one of FILE_NAMES, and adds that name's override file when it exists.
    """
    environ = os.environ if environ is None else environ
    cwd = os.path.abspath(cwd or os.getcwd())
    if files:
        return [os.path.abspath(os.path.join(cwd, f)) for f in files]
    if environ.get("COMPOSE_FILE"):
        separator = environ.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        return [os.path.abspath(os.path.join(cwd, f))
                for f in environ["COMPOSE_FILE"].split(separator) if f]
    directory = cwd
    while True:
        for name in FILE_NAMES:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                override = os.path.join(directory, OVERRIDE_NAMES[name])
                return [path] + ([override] if os.path.isfile(override) else [])
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    raise ComposeError(f"no configuration file provided: not found (looked for "
                       f"{', '.join(FILE_NAMES)} in {cwd} and its parents)")


# -- merging several files --------------------------------------------------------------

# Service keys whose lists add up across files (the rest are replaced).
APPENDED = {"ports", "expose", "dns", "dns_search", "cap_add", "cap_drop", "security_opt",
            "tmpfs", "env_file", "extra_hosts", "devices", "external_links", "group_add"}
# Lists Compose merges as mappings (KEY=VALUE or name -> options).
AS_MAPPING = {"environment", "labels", "depends_on", "networks", "ulimits", "sysctls", "args"}


def as_mapping(value, key=None):
    """environment/labels/depends_on lists as a Map (KEY=V -> {KEY: V}, NAME -> {NAME: None})."""
    if isinstance(value, Seq):
        result = Map(file=value.file, line=value.line)
        for index, item in enumerate(value):
            if isinstance(item, str) and key not in ("depends_on", "networks"):
                name, sep, rest = item.partition("=")
                result[name] = rest if sep else None
            else:
                result[str(item)] = None
            result.lines[str(item).partition("=")[0]] = value.where(index)
        return result
    return value


def merge(base, override, key=None):
    """``override`` laid over ``base`` (both Map/Seq trees from load_text)."""
    if isinstance(base, Map) and key in AS_MAPPING:
        override = as_mapping(override, key)
    if isinstance(override, Map) and key in AS_MAPPING:
        base = as_mapping(base, key)
    if isinstance(base, Map) and isinstance(override, Map):
        result = Map(base, file=override.file, line=override.line, lines=base.lines)
        for name, value in override.items():
            result[name] = merge(base[name], value, name) if name in base else value
            result.lines[name] = override.where(name)
        return result
    if isinstance(base, Seq) and isinstance(override, Seq) and key in APPENDED | {"volumes"}:
        items = list(base) + list(override)
        lines = base.lines + override.lines
        if key == "volumes":  # a later mount at the same target replaces the earlier
            seen = {}
            for index, item in enumerate(items):
                seen[_target(item)] = index
            keep = sorted(seen.values())
            items, lines = [items[i] for i in keep], [lines[i] for i in keep]
        return Seq(items, file=override.file, line=override.line, lines=lines)
    return override


def _target(item):
    if isinstance(item, Map):
        return item.get("target")
    parts = str(item).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def load_files(paths):
    """The merged document of several compose files (each line still traced to its file)."""
    merged = None
    for path in paths:
        document = load_file(path)
        merged = document if merged is None else merge(merged, document)
    return merged
