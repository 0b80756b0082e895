"""``minicontainer build``: images from a Dockerfile (click command).

Exits 1 when the build fails (a RUN step's non-zero code, a malformed
Dockerfile, a missing source), like ``docker build``; the error is one line
on stderr.
"""

import click


def _parse_build_args(values):
    import os
    result = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not key:
            from .errors import SpecError
            raise SpecError(f"invalid --build-arg {item!r}: use NAME=VALUE")
        if not sep:  # --build-arg NAME: the caller's environment, as Docker does
            if key not in os.environ:
                continue
            value = os.environ[key]
        result[key] = value
    return result


@click.command(name="build")
@click.option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag (NAME:TAG)")
@click.option("-f", "--file", "dockerfile", help="Name of the Dockerfile (default: CONTEXT/Dockerfile)")
@click.option("--build-arg", "build_args", multiple=True, help="Set build-time variables (K=V)")
@click.option("--target", help="Set the target build stage to build")
@click.option("--label", "labels", multiple=True, help="Set metadata for an image (K=V)")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image")
@click.option("--network", default="none", show_default=True,
              type=click.Choice(["none", "host", "bridge", "default"]),
              help="Networking mode for the RUN instructions")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID on success")
@click.option("--explain", is_flag=True,
              help="Narrate every kernel step: the copy-on-write views, each RUN container")
@click.option("--pull", "pull_always", is_flag=True, help="Always pull the base images")
@click.argument("context", type=click.Path())
def build(tags, dockerfile, build_args, target, labels, no_cache, network, quiet, explain,
          pull_always, context):
    """Build an image from a Dockerfile."""
    import io
    import sys
    from .build import build_image
    from .errors import MiniContainerError
    out = io.StringIO() if quiet else sys.stdout
    try:
        image_id = build_image(context, dockerfile=dockerfile, tags=tags,
                               build_args=_parse_build_args(build_args), target=target,
                               no_cache=no_cache, network=network, out=out,
                               pull="always" if pull_always else None,
                               labels=dict(item.partition("=")[::2] for item in labels),
                               explain=explain)
    except MiniContainerError as exc:
        if quiet:
            sys.stderr.write(out.getvalue())
        click.echo(f"minicontainer: {exc}", err=True)
        sys.exit(1)
    if quiet:
        click.echo(image_id)


@click.group(name="builder")
def builder():
    """Manage the build cache."""


@builder.command(name="prune")
@click.option("-a", "--all", "prune_all", is_flag=True, help="Accepted for Docker compatibility")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def builder_prune(prune_all, force):
    """Remove the build cache (the layers only cached steps still use)."""
    from .image.store import Store
    from .state import data_root
    if not force and not click.confirm("WARNING! This will remove all build cache. "
                                       "Are you sure you want to continue?"):
        return
    freed = Store(data_root()).prune_build_cache()
    click.echo(f"Total reclaimed space: {freed / 1e6:.1f}MB")


def register(cli):
    """Add ``build``, its alias ``image build`` and ``builder prune`` to the click group."""
    cli.add_command(build)
    cli.add_command(builder)
    image_group = cli.commands.get("image")
    if image_group is not None and hasattr(image_group, "add_command"):
        image_group.add_command(build, name="build")
