"""The image archive commands: import, load, save and commit (a container's layer)."""

import os
import sys

import click

from .cli_images import _data_root, container_image_id, ensure_builtin
from .errors import SpecError
from .image.unpack import _Prefixed as _Joined  # bytes already read, then the rest


@click.command(name="import")
@click.option("-c", "--change", "changes", multiple=True,
              help="Apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, WORKDIR, USER, "
                   "EXPOSE, VOLUME, LABEL, STOPSIGNAL)")
@click.option("-m", "--message", help="Set commit message for imported image")
@click.option("--platform", help="Set platform (os/arch) of the imported image")
@click.argument("source")
@click.argument("name", required=False)
def import_command(changes, message, platform, source, name):
    """Import a root filesystem tarball (FILE or - for stdin) as an image."""
    from .cli_format import parse_changes
    from .image.archive import import_tarball
    from .image.store import Store
    if source.startswith(("http://", "https://")):
        raise SpecError("import from a URL is not supported: download the file first")
    data_root = _data_root()
    section = parse_changes(changes)
    if source == "-":
        desc = import_tarball(data_root, sys.stdin.buffer, name, section, message)
    else:
        try:
            stream = open(source, "rb")
        except OSError as exc:
            raise SpecError(f"import {source}: {exc.strerror}") from None
        with stream:
            desc = import_tarball(data_root, stream, name, section, message)
    image = Store(data_root).image(desc["digest"])
    if platform:
        _note_platform(platform)
    click.echo(image.id)


def _note_platform(platform):
    from .image.builtin import host_arch
    from .image.pull import parse_platform
    if parse_platform(platform)["architecture"] != host_arch():
        click.echo(f"WARNING: --platform {platform} is not recorded; the image is marked "
                   f"linux/{host_arch()}", err=True)


@click.command()
@click.option("-i", "--input", "source", help="Read from tar archive file, instead of STDIN")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output")
def load(source, quiet):
    """Load images from a tar archive (docker-archive or OCI layout)."""
    from .image import reference as refs
    from .image.archive import load as load_archive
    if source is None and sys.stdin.isatty():
        raise SpecError("requested load from stdin, but stdin is a terminal (use -i FILE)")
    stream = source
    if source is None:
        first = sys.stdin.buffer.read(1 << 16)
        if not first:
            raise SpecError("requested load from stdin, but stdin is empty")
        stream = _Joined(first, sys.stdin.buffer)
    try:
        names = load_archive(_data_root(), stream)
    except SpecError as exc:
        if not str(exc).startswith("cannot read archive"):
            raise
        raise SpecError(f"{source or 'stdin'} is not a tar archive (docker-archive or OCI "
                        f"layout, optionally compressed)") from None
    if quiet:
        return
    for name in names:
        if name.startswith("sha256:"):
            from .image.store import Store
            click.echo(f"Loaded image ID: {Store(_data_root()).image(name).id}")
        else:
            click.echo(f"Loaded image: {refs.parse(name).familiar()}")


@click.command()
@click.option("-o", "--output", help="Write to a file, instead of STDOUT")
@click.option("--format", "fmt", type=click.Choice(["docker", "oci"]), default="docker",
              show_default=True, help="Archive format")
@click.argument("names", nargs=-1, required=True)
def save(output, fmt, names):
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    from .image.archive import save as save_archive
    data_root = _data_root()
    ensure_builtin(data_root, names)
    if output is None:
        if sys.stdout.isatty():
            raise SpecError("cowardly refusing to save to a terminal. Use the -o flag or "
                            "redirect")
        sys.stdout.flush()
        save_archive(data_root, list(names), sys.stdout.buffer, fmt)
        sys.stdout.buffer.flush()
        return
    # Written beside the target and renamed: a failed save leaves no half archive.
    tmp = f"{output}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as out:
            save_archive(data_root, list(names), out, fmt)
        os.rename(tmp, output)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@click.command()
@click.option("-a", "--author", help='Author (e.g., "Jane Doe <jane@example.com>")')
@click.option("-c", "--change", "changes", multiple=True,
              help="Apply a Dockerfile instruction to the created image")
@click.option("-m", "--message", help="Commit message")
@click.argument("container")
@click.argument("name", required=False)
def commit(author, changes, message, container, name):
    """Create a new image from a container's changes (its writable layer)."""
    from .cli_format import parse_changes
    from .image import container_upper_dir
    from .image.archive import commit as commit_image
    from .image.store import Store
    from .state import StateStore
    store = StateStore()
    container_id = store.resolve(container)
    data_root = _data_root()
    base = container_image_id(data_root, container_id, store.load(container_id))
    if not base:
        raise SpecError(f"container {container} runs from a directory, not an image: "
                        f"there is no layer to commit")
    images_store = Store(data_root)
    base_section = images_store.image(images_store.resolve(base)[1]).config.get("config")
    desc = commit_image(data_root, container_upper_dir(data_root, container_id), base,
                        name=name, changes=parse_changes(changes, base_section),
                        author=author, message=message)
    click.echo(Store(data_root).image(desc["digest"]).id)
