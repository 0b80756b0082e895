"""``volume create|ls|inspect|rm|prune``: named volumes under the data root.

A volume counts as in use while a recorded container (running or exited,
not removed) mounts it, as in Docker; ``rm`` and ``prune`` leave those alone.
"""

import json

import click

from .cli_format import each, human_size, print_documents, render_template, table
from .errors import SpecError


def _data_root():
    from .state import data_root
    return data_root()


def volumes_in_use(data_root, states=None):
    """Names of the volumes that recorded containers mount."""
    from .volumes import volume_names_in
    if states is None:
        from .cli_images import _container_states
        states = _container_states()
    names = set()
    for _container_id, state in states:
        names.update(volume_names_in(data_root, (state.get("spec") or {}).get("mounts") or ()))
        names.update(state.get("anonymous_volumes") or ())
    return names


@click.group()
def volume():
    """Manage volumes."""


def _key_values(values, flag):
    result = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not key:
            raise SpecError(f"invalid {flag} {value!r}: use KEY=VALUE")
        result[key] = item if sep else ""
    return result


@volume.command(name="create")
@click.option("-d", "--driver", default="local", show_default=True, help="Volume driver name")
@click.option("--label", "labels", multiple=True, help="Set metadata for a volume (KEY=VALUE)")
@click.option("-o", "--opt", "options", multiple=True, help="Set driver specific options")
@click.option("--name", "name_option", help="Specify volume name")
@click.argument("name", required=False)
def volume_create(driver, labels, options, name_option, name):
    """Create a volume (a random name when none is given)."""
    from .volumes import create_volume
    if driver != "local":
        raise SpecError(f"volume driver {driver!r} is not supported: only local")
    if options:
        raise SpecError("volume options (-o) are not supported by the local driver here")
    if name and name_option and name != name_option:
        raise SpecError(f"conflicting volume names: {name!r} and --name {name_option!r}")
    import os
    # A random name, but not an anonymous volume: prune keeps it unless -a (Docker).
    record = create_volume(_data_root(), name or name_option or os.urandom(32).hex(),
                           labels=_key_values(labels, "--label"))
    click.echo(record["Name"])


def _filters(values):
    wanted = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or key not in ("dangling", "name", "label"):
            raise SpecError(f"invalid filter {value!r}: use dangling=true|false, name=..., "
                            f"label=KEY[=VALUE]")
        wanted.setdefault(key, []).append(item)
    return wanted


def _keep(record, wanted, in_use):
    for item in wanted.get("dangling", []):
        dangling = item.lower() in ("1", "true")
        if (record["Name"] not in in_use) != dangling:
            return False
    if wanted.get("name") and not any(n in record["Name"] for n in wanted["name"]):
        return False
    for item in wanted.get("label", []):
        key, sep, value = item.partition("=")
        labels = record.get("Labels") or {}
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


@volume.command(name="ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@click.option("-f", "--filter", "filters", multiple=True,
              help="Filter output (dangling=true, name=..., label=...)")
@click.option("--format", "fmt", help="Format the output using a template ({{.Name}})")
def volume_ls(quiet, filters, fmt):
    """List volumes."""
    from .volumes import list_volumes
    data_root = _data_root()
    wanted = _filters(filters)
    in_use = volumes_in_use(data_root) if "dangling" in wanted else set()
    records = [r for r in list_volumes(data_root) if _keep(r, wanted, in_use)]
    if quiet:
        for record in records:
            click.echo(record["Name"])
        return
    if fmt:
        for record in records:
            click.echo(json.dumps(record) if fmt == "json" else render_template(fmt, record))
        return
    for line in table(["DRIVER", "VOLUME NAME"], [(r["Driver"], r["Name"]) for r in records]):
        click.echo(line)


@volume.command(name="inspect")
@click.option("-f", "--format", "fmt", help="Format the output using a template")
@click.argument("names", nargs=-1, required=True)
def volume_inspect(fmt, names):
    """Display detailed information on one or more volumes."""
    from .volumes import inspect_volume
    data_root = _data_root()
    print_documents([inspect_volume(data_root, name) for name in names], fmt)


@volume.command(name="rm")
@click.option("-f", "--force", is_flag=True, help="Do not fail when a volume does not exist")
@click.argument("names", nargs=-1, required=True)
def volume_rm(force, names):
    """Remove one or more volumes (not those a container uses)."""
    from .volumes import remove_volume
    data_root = _data_root()
    in_use = volumes_in_use(data_root)
    each(names, lambda name: remove_volume(data_root, name, in_use=in_use, force=force))


@volume.command(name="prune")
@click.option("-a", "--all", "prune_all", is_flag=True,
              help="Remove all unused volumes, not just anonymous ones")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def volume_prune(prune_all, force):
    """Remove unused volumes (anonymous ones unless -a)."""
    from .volumes import prune_volumes
    if not force:
        what = "all unused volumes" if prune_all else "all anonymous local volumes not used " \
                                                      "by at least one container"
        click.confirm(f"WARNING! This will remove {what}.\nAre you sure you want to continue?",
                      abort=True)
    data_root = _data_root()
    removed, freed = prune_volumes(data_root, in_use=volumes_in_use(data_root),
                                   all_volumes=prune_all)
    if removed:
        click.echo("Deleted Volumes:")
        for name in removed:
            click.echo(name)
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(freed)}")
