"""The build context: .dockerignore rules, COPY sources, what the cache hashes."""

import hashlib
import os

import pytest

from minicontainer.build.context import Context, IgnoreRules, hash_entries
from minicontainer.errors import NotFound


@pytest.mark.parametrize("lines, path, excluded", [
    (["*.md"], "README.md", True),
    (["*.md"], "docs/README.md", False),       # * stays in one component
    (["**/*.md"], "docs/deep/README.md", True),
    (["**/*.md"], "README.md", True),          # **/ matches zero directories too
    (["docs"], "docs/a/b.txt", True),          # a directory takes its contents with it
    (["/docs/"], "docs/x", True),              # leading and trailing slashes cleaned
    (["docs", "!docs/keep.txt"], "docs/keep.txt", False),
    (["docs", "!docs/keep.txt"], "docs/drop.txt", True),
    (["!a.txt", "*.txt"], "a.txt", True),      # the last matching rule decides
    (["# comment", "", "  tmp?  "], "tmp1", True),
    (["tmp?"], "tmp12", False),
    (["[ab].log"], "a.log", True),
    (["[!ab].log"], "a.log", False),
    (["."], "anything/at/all", True),
])
def test_ignore_rules(lines, path, excluded):
    assert IgnoreRules(lines).excluded(path) is excluded


def _tree(root, files):
    for name, data in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(data)


def test_sources_globs_ignore_and_escapes(tmp_path):
    _tree(str(tmp_path), {"a.txt": "a", "b.txt": "b", "c.log": "c", "sub/d.txt": "d",
                          "sub/skip.txt": "s", ".dockerignore": "sub/skip.txt\n*.log\n"})
    ctx = Context(str(tmp_path))
    assert [rel for rel, _ in ctx.sources("*.txt")] == ["a.txt", "b.txt"]
    assert [rel for rel, _ in ctx.sources("../../a.txt")] == ["a.txt"]  # cannot leave
    with pytest.raises(NotFound, match="excluded by .dockerignore: c.log"):
        ctx.sources("c.log")
    with pytest.raises(NotFound, match="no source files"):
        ctx.sources("*.none")
    rel, host = ctx.sources("sub")[0]
    assert [name for name, _ in ctx.tree(rel, host)] == ["d.txt"]
    assert "sub/skip.txt" not in list(ctx.walk())


def test_symlink_out_of_the_context_is_refused(tmp_path):
    os.symlink("/etc/hostname", str(tmp_path / "link"))
    from minicontainer.errors import SpecError
    with pytest.raises(SpecError, match="leaves the build context"):
        Context(str(tmp_path)).sources("link")


def test_hash_follows_bytes_and_modes_not_times(tmp_path):
    _tree(str(tmp_path), {"f": "one"})
    path = str(tmp_path / "f")

    def digest():
        hasher = hashlib.sha256()
        hash_entries(hasher, [("f", path)])
        return hasher.hexdigest()
    first = digest()
    os.utime(path, (1, 1))
    assert digest() == first
    os.chmod(path, 0o600)
    assert digest() != first
    os.chmod(path, 0o644)
    with open(path, "w") as handle:
        handle.write("two")
    assert digest() != first


def test_an_excluded_directory_gives_what_an_exception_keeps(tmp_path):
    _tree(str(tmp_path), {"logs/a.log": "a", "logs/keep.log": "k",
                          ".dockerignore": "logs\n!logs/keep.log\n"})
    ctx = Context(str(tmp_path))
    rel, host = ctx.sources("logs")[0]
    assert [name for name, _ in ctx.tree(rel, host)] == ["keep.log"]
    with pytest.raises(NotFound):
        ctx.sources("logs/a.log")
