"""The build context: a directory, what ``.dockerignore`` leaves of it, COPY sources.

``.dockerignore``: one pattern a line, ``#`` comments, blank lines ignored;
paths are relative to the context (a leading ``/`` is dropped) and cleaned;
``*`` and ``?`` stay within one path component, ``**`` spans any number of
them, ``[...]`` is a class; a line starting with ``!`` re-includes what an
earlier pattern excluded.  The last pattern that matches a path decides, and a
pattern that matches a directory excludes everything below it.

COPY and ADD sources are cleaned relative to the context (``..`` cannot leave
it); a source with ``*``, ``?`` or ``[`` is a glob over the context's paths.
"""

import os
import posixpath
import re
import stat

from ..errors import NotFound, SpecError


class IgnoreRules:
    """Compiled ``.dockerignore`` patterns: ``excluded("a/b.txt")`` -> bool."""

    def __init__(self, lines=()):
        self.rules = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:].strip()
            pattern = posixpath.normpath(line.lstrip("/")) if line.lstrip("/") else "."
            if pattern == ".":
                # "." (or "/") excludes the whole context (re-included by later "!" lines)
                self.rules.append((re.compile(r".*"), negate, pattern))
                continue
            self.rules.append((re.compile(_pattern_regex(pattern)), negate, pattern))
        self.has_exceptions = any(negate for _r, negate, _p in self.rules)

    @classmethod
    def load(cls, context_dir, dockerfile=None):
        """The rules of ``<Dockerfile>.dockerignore`` beside the Dockerfile if there is
        one (BuildKit's per-Dockerfile file), else of ``<context>/.dockerignore``."""
        candidates = [os.path.join(context_dir, ".dockerignore")]
        if dockerfile:
            candidates.insert(0, dockerfile + ".dockerignore")
        for path in candidates:
            try:
                with open(path, encoding="utf-8") as handle:
                    return cls(handle.read().splitlines())
            except FileNotFoundError:
                continue
        return cls()

    def excluded(self, rel):
        """True if ``rel`` (relative, "/"-separated) is left out of the context."""
        if not self.rules:
            return False
        parents = _self_and_parents(rel)
        result = False
        for regex, negate, _pattern in self.rules:
            if any(regex.fullmatch(path) for path in parents):
                result = not negate
        return result

    def may_reinclude_below(self, rel_dir):
        """True if a ``!`` exception could re-include something under excluded ``rel_dir``
        (then the walk goes on below it; without exceptions it need not)."""
        return self.has_exceptions


def _self_and_parents(rel):
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _pattern_regex(pattern):
    """A regular expression (full match) for one cleaned ignore/glob pattern."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            if pattern.startswith("**", index):
                index += 2
                if pattern.startswith("/", index):
                    out.append("(?:.*/)?")  # "**/" : zero or more whole directories
                    index += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 2 if pattern[index + 1:index + 2] in "!^" else index + 1)
            if end < 0:
                raise SpecError(f"bad pattern {pattern!r}: '[' without ']'")
            body = pattern[index + 1:end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            index = end
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def has_glob(text):
    return any(c in text for c in "*?[")


class Context:
    """The context directory and its ignore rules."""

    def __init__(self, directory, dockerfile=None):
        self.root = os.path.realpath(directory)
        if not os.path.isdir(self.root):
            raise NotFound(f"unable to prepare context: path {directory!r} not found",
                           op="build")
        self.ignore = IgnoreRules.load(self.root, dockerfile)

    def clean(self, source):
        """The context-relative path of a COPY source ("" for the context itself)."""
        cleaned = posixpath.normpath("/" + source).lstrip("/")
        return "" if cleaned in (".", "") else cleaned

    def walk(self, rel=""):
        """Every context-relative path below ``rel`` that the ignore rules keep, sorted."""
        base = os.path.join(self.root, rel) if rel else self.root
        try:
            names = sorted(os.listdir(base))
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            child = f"{rel}/{name}" if rel else name
            path = os.path.join(self.root, child)
            is_dir = stat.S_ISDIR(os.lstat(path).st_mode)
            if self.ignore.excluded(child):
                if is_dir and self.ignore.may_reinclude_below(child):
                    yield from self.walk(child)
                continue
            yield child
            if is_dir:
                yield from self.walk(child)

    def host_path(self, rel):
        return os.path.join(self.root, rel) if rel else self.root

    def sources(self, source, instruction="COPY"):
        """[(context-relative path, host path)] for one COPY source (globs expanded)."""
        rel = self.clean(source)
        if has_glob(rel):
            regex = re.compile(_pattern_regex(rel))
            depth = rel.count("/")
            matches = [p for p in self.walk() if p.count("/") == depth and regex.fullmatch(p)]
            if not matches:
                raise NotFound(f"{instruction} failed: no source files were specified "
                               f"(nothing in the context matches {source!r})", op="build")
            return [(p, self.host_path(p)) for p in matches]
        path = self.host_path(rel)
        hidden = rel and self.ignore.excluded(rel) and not (
            # an excluded directory still gives what a "!" exception keeps below it
            os.path.isdir(path) and self.ignore.has_exceptions and next(self.walk(rel), None))
        if hidden or not os.path.lexists(path):
            raise NotFound(f"{instruction} failed: file not found in build context or excluded "
                           f"by .dockerignore: {source}", op="build")
        if os.path.islink(path):
            path = self._follow(rel, source, instruction)
        return [(rel, path)]

    def _follow(self, rel, source, instruction):
        """A source that is a symlink is followed, but never out of the context."""
        real = os.path.realpath(self.host_path(rel))
        if real != self.root and not real.startswith(self.root + "/"):
            raise SpecError(f"{instruction} failed: {source} is a symlink that leaves the "
                            f"build context", op="build")
        if not os.path.exists(real):
            raise NotFound(f"{instruction} failed: {source} is a broken symlink", op="build")
        return real

    def tree(self, rel, host_path):
        """[(path relative to the source, host path)] of a source: itself or its contents."""
        if not os.path.isdir(host_path):
            return [("", host_path)]
        result = []
        real_rel = os.path.relpath(host_path, self.root)
        real_rel = "" if real_rel == "." else real_rel
        for child in self.walk(real_rel):
            inner = child[len(real_rel) + 1:] if real_rel else child
            result.append((inner, self.host_path(child)))
        return result


def hash_entries(hasher, entries):
    """Feed what a copy depends on to ``hasher``: names, types, modes, contents.

    Times and owners of context files are left out (as Docker's cache does):
    touching a file does not invalidate the cache, changing its bytes does.
    """
    for name, path in entries:
        st = os.lstat(path)
        kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
        hasher.update(f"{name}\0{kind}\0{stat.S_IMODE(st.st_mode):o}\0".encode(
            "utf-8", "surrogateescape"))
        if kind == "l":
            hasher.update(os.readlink(path).encode("utf-8", "surrogateescape"))
        elif kind == "f" and stat.S_ISREG(st.st_mode):
            with open(path, "rb") as handle:
                while True:
                    chunk = handle.read(1 << 20)
                    if not chunk:
                        break
                    hasher.update(chunk)
        hasher.update(b"\n")
