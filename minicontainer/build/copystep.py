"""COPY and ADD: files from the context (or another stage, or an image) into a layer.

Docker's rules: the destination is relative to WORKDIR; with several sources
(or a wildcard) it must be a directory ending in ``/``; a directory source
copies its contents, not itself; a file lands at ``dest/NAME`` when the
destination ends in ``/`` or is a directory already, else at ``dest``.
Context files arrive owned by 0:0 (``--chown`` names an owner, looked up in
the image's /etc/passwd and /etc/group), files from another stage keep their
owners, ``--chmod`` sets every copied mode.  ADD also unpacks a local tar
archive (plain, gzip, bzip2, xz) into the destination and fetches a URL
(mode 0600).  The cache key holds the sources' names, modes and bytes.
"""

import hashlib
import os
import posixpath
import re
import shutil

from ..errors import NotFound, SpecError
from . import args as argmod
from . import fsops
from .context import _pattern_regex, has_glob, hash_entries
from .dockerfile import error


def copy_instruction(builder, stage, instr, add):
    name = "ADD" if add else "COPY"
    variables = stage.variables()
    raw = instr.json if instr.json is not None else instr.rest.split()
    try:
        words = [argmod.process_word(word, variables, builder.escape) for word in raw]
        flags = {k: argmod.process_word(v, variables, builder.escape)
                 for k, v in instr.flags.items()}
    except argmod.SubstitutionError as exc:
        raise error(builder.dockerfile.name, instr.line, exc.message) from None
    if len(words) < 2:
        raise error(builder.dockerfile.name, instr.line,
                    f"{name} requires at least two arguments, but only one was provided. "
                    f"Destination could not be determined.")
    for unsupported in ("link", "parents", "exclude", "keep-git-dir"):
        if unsupported in flags:
            raise error(builder.dockerfile.name, instr.line,
                        f"{name} --{unsupported} is not supported by this builder")
    sources, dest = words[:-1], words[-1]
    workdir = stage.state.section.get("WorkingDir") or "/"
    dest_abs = posixpath.normpath(posixpath.join(workdir, dest))
    dest_is_dir_hint = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
    multiple = len(sources) > 1 or any(has_glob(s) for s in sources)
    chown, chmod = flags.get("chown"), flags.get("chmod")
    mode = fsops.parse_chmod(chmod) if chmod else None
    hasher = hashlib.sha256()
    from_ref = flags.get("from")
    if from_ref:
        source_state = builder.source_state(from_ref, instr)
        hasher.update(source_state.key.encode())
        items = None
    else:
        items = _context_items(builder, sources, add, hasher, name)
    if "checksum" in flags:
        _check_checksum(builder, instr, flags["checksum"], items)
    shown_flags = "".join(f"--{k}={v} " for k, v in flags.items())
    created_by = f"{name} {shown_flags}{' '.join(sources)} {dest}"

    def make(state):
        with fsops.mounted(builder, state) as (merged, upper):
            options = fsops.CopyOptions(
                owner=fsops.resolve_chown(merged, chown) if chown else None,
                chmod=mode, keep_owner=bool(from_ref))
            dest_is_dir = dest_is_dir_hint or fsops.is_dir_in_root(merged, dest_abs)
            if multiple and not dest_is_dir:
                raise error(builder.dockerfile.name, instr.line,
                            f"When using {name} with more than one source file, the "
                            f"destination must be a directory and end with a /")
            if from_ref:
                with fsops.mounted(builder, source_state) as (source_root, _upper):
                    found = _stage_items(source_root, sources, name, from_ref)
                    _copy_items(builder, found, merged, dest_abs, dest_is_dir, options, False)
            else:
                _copy_items(builder, items, merged, dest_abs, dest_is_dir, options, add)
            if fsops.upper_is_empty(upper):
                return None
            return fsops.layer_from_upper(builder, upper)
    builder.layer_step(stage, created_by, ("sha256:" + hasher.hexdigest(), repr(words),
                                           repr(sorted(flags.items()))), make)


def _context_items(builder, sources, add, hasher, name):
    """[(name, host path, tree listing or None)] of context sources; hashed into ``hasher``."""
    items = []
    for source in sources:
        if add and re.match(r"^https?://", source):
            path = builder.download(source)
            hash_entries(hasher, [(source, path)])
            items.append((os.path.basename(path), path, None, True))
            continue
        for rel, host in builder.context.sources(source, name):
            if os.path.isdir(host):
                tree = builder.context.tree(rel, host)
                hash_entries(hasher, [(f"{rel}/", host)] +
                             [(f"{rel}/{inner}", path) for inner, path in tree])
                items.append((rel, host, tree, False))
            else:
                hash_entries(hasher, [(rel, host)])
                items.append((rel, host, None, False))
    return items


def _check_checksum(builder, instr, expected, items):
    """ADD --checksum=sha256:HEX: the one downloaded source must hash to it."""
    remote = [host for _name, host, _tree, is_remote in items if is_remote]
    if len(items) != 1 or len(remote) != 1:
        raise error(builder.dockerfile.name, instr.line,
                    "ADD --checksum needs exactly one source, an http(s) URL")
    algorithm, _, wanted = expected.partition(":")
    if algorithm != "sha256" or len(wanted) != 64:
        raise error(builder.dockerfile.name, instr.line,
                    f"ADD --checksum={expected}: use sha256:<64 hex digits>")
    digest = hashlib.sha256()
    with open(remote[0], "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != wanted.lower():
        raise error(builder.dockerfile.name, instr.line,
                    f"ADD failed: digest mismatch: expected {expected}, got "
                    f"sha256:{digest.hexdigest()}")


def _stage_items(root, sources, name, from_ref):
    """The same shape for sources in another stage's (or image's) mounted root."""
    items = []
    for source in sources:
        path = posixpath.normpath("/" + source)
        if has_glob(path):
            parent, pattern = posixpath.split(path)
            regex = re.compile(_pattern_regex(pattern))
            directory = fsops.secure_join(root, parent)
            try:
                names = sorted(n for n in os.listdir(directory) if regex.fullmatch(n))
            except OSError:
                names = []
            if not names:
                raise NotFound(f"{name} --from={from_ref} failed: no source files were "
                               f"specified (nothing matches {source!r})", op="build")
            found = [(n, os.path.join(directory, n)) for n in names]
        else:
            host = fsops.secure_join(root, path)
            if not os.path.lexists(host):
                raise NotFound(f"{name} --from={from_ref} failed: {source} not found",
                               op="build")
            found = [(posixpath.basename(path) or "/", host)]
        for item_name, host in found:
            tree = fsops.list_tree(host) if os.path.isdir(host) else None
            items.append((item_name, host, tree, False))
    return items


def _copy_items(builder, items, root, dest_abs, dest_is_dir, options, add):
    for item_name, host, tree, remote in items:
        if tree is not None:
            fsops.make_dirs(root, dest_abs, options)
            fsops.copy_tree(tree, root, dest_abs, options)
        elif add and not remote and fsops.is_archive(host):
            scratch = builder.scratch_dir()
            try:
                listing = fsops.extract_archive(host, scratch)
                fsops.make_dirs(root, dest_abs, options)
                keep = fsops.CopyOptions(options.owner, options.chmod, keep_owner=True)
                fsops.copy_tree(listing, root, dest_abs, keep)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        else:
            target = posixpath.join(dest_abs, posixpath.basename(item_name)) \
                if dest_is_dir else dest_abs
            if target == "/":
                raise SpecError("cannot copy a file onto /", op="build")
            fsops.make_dirs(root, posixpath.dirname(target), options)
            fsops.copy_entry(host, fsops.host_target(root, target), options)
