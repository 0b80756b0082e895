"""The image commands (images, rmi, tag, inspect, history, prune, import, load, save, commit).

``register(cli)`` adds them to the click group of ``commands.py``, with the
``image ...`` spellings (``image ls``, ``image rm`` ...), the registry
commands of ``cli_registry.py`` (pull, push, login, logout) and ``volume ...``
from ``cli_volumes.py``.  Output follows Docker's shape so scripts written
for ``docker`` read ours.  Library errors (MiniContainerError) go up to the
group, which prints one line and exits 125.
"""

import json
import os

import click

from .errors import MiniContainerError
from .cli_format import human_duration, human_size, print_documents, render_template, table


def _data_root():
    from .state import data_root
    return data_root()


def _container_states():
    """Every recorded container of the state root (id, state dict)."""
    from .errors import NotFound
    from .state import StateStore
    store = StateStore()
    result = []
    for container_id in store.list_ids():
        try:
            result.append((container_id, store.load(container_id)))
        except (NotFound, ValueError):
            continue
    return result


def ensure_builtin(data_root, names):
    """Import the embedded busybox first when one of ``names`` is its name (as run does)."""
    from .image.builtin import ALIASES
    if any(name in ALIASES for name in names):
        from .image import find_image
        find_image(data_root, "busybox")


def images_in_use(data_root, states=None):
    """Image ids (config digests) that recorded containers were made from.

    A container's overlay record lists the layers it was mounted over, which
    names its image even after the name was moved to another image; the
    image name in its spec (or an ``image_id`` in its state) covers the rest.
    """
    from .image import overlay_dir
    from .image.files import read_json
    from .image.store import Store
    store = Store(data_root)
    ids, layer_sets, names = set(), set(), set()
    for container_id, state in (_container_states() if states is None else states):
        if state.get("image_id"):
            ids.add(state["image_id"])
        record = read_json(os.path.join(overlay_dir(data_root, container_id), "lower.json"), {})
        if record.get("diff_ids"):
            layer_sets.add(tuple(record["diff_ids"]))
        elif (state.get("spec") or {}).get("image"):
            names.add(state["spec"]["image"])
    for name in names:
        try:
            ids.add(store.image(store.resolve(name)[1]).id)
        except MiniContainerError:
            continue
    if layer_sets:
        for _name, desc in store.entries():
            try:
                image = store.image(desc["digest"])
            except (MiniContainerError, KeyError, ValueError):
                continue
            if tuple(image.diff_ids) in layer_sets:
                ids.add(image.id)
    return ids


def container_image_id(data_root, container_id, state):
    """The id of the image under a container's root: the one whose layers it mounted."""
    from .image import overlay_dir
    from .image.files import read_json
    from .image.store import Store
    if state.get("image_id"):
        return state["image_id"]
    record = read_json(os.path.join(overlay_dir(data_root, container_id), "lower.json"), {})
    store = Store(data_root)
    name = (state.get("spec") or {}).get("image")
    candidates = []
    if name:
        try:
            candidates.append(store.image(store.resolve(name)[1]))
        except MiniContainerError:
            pass
    if "diff_ids" not in record:
        return candidates[0].id if candidates else None
    for _name, desc in store.entries():
        try:
            candidates.append(store.image(desc["digest"]))
        except (MiniContainerError, KeyError, ValueError):
            continue
    for image in candidates:  # the named image first, if its layers still match
        if list(image.diff_ids) == list(record["diff_ids"]):
            return image.id
    from .errors import NotFound
    raise NotFound(f"the image of container {container_id[:12]} is no longer in the store",
                   op="commit")


# -- the local store --------------------------------------------------------------

def _short(image_id, no_trunc=False):
    return image_id if no_trunc else image_id.partition(":")[2][:12]


@click.command()
@click.option("-a", "--all", "show_all", is_flag=True,
              help="Show all images (there are no intermediate images to hide)")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.option("--digests", is_flag=True, help="Show digests")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("--format", "fmt", help="Go-template-like format, e.g. '{{.Repository}}' or json")
@click.argument("repository", required=False)
def images(show_all, quiet, digests, no_trunc, fmt, repository):
    """List images."""
    from .image.manage import list_images
    rows = list_images(_data_root(), all_images=show_all)
    if repository:
        rows = [r for r in rows if _matches(r, repository)]
    if quiet:
        seen = []
        for row in rows:
            if _short(row["ID"], no_trunc) not in seen:
                seen.append(_short(row["ID"], no_trunc))
        for image_id in seen:
            click.echo(image_id)
        return
    if fmt:
        for row in rows:
            shown = dict(row, ID=_short(row["ID"], no_trunc), Size=human_size(row["Size"]),
                         CreatedSince=human_duration(row["Created"]))
            click.echo(json.dumps(shown) if fmt == "json" else render_template(fmt, shown))
        return
    header = ["REPOSITORY", "TAG"] + (["DIGEST"] if digests else []) + \
        ["IMAGE ID", "CREATED", "SIZE"]
    lines = []
    for row in rows:
        lines.append([row["Repository"], row["Tag"]] + ([row["Digest"]] if digests else []) +
                     [_short(row["ID"], no_trunc), human_duration(row["Created"]),
                      human_size(row["Size"])])
    for line in table(header, lines):
        click.echo(line)


def _matches(row, pattern):
    import fnmatch
    repo, _, tag = pattern.partition(":") if "/" not in pattern.rpartition(":")[2] else \
        (pattern, "", "")
    return fnmatch.fnmatch(row["Repository"], repo) and (not tag or
                                                         fnmatch.fnmatch(row["Tag"], tag))


@click.command()
@click.option("-f", "--force", is_flag=True,
              help="Force removal (also when a container uses it or it has several names)")
@click.option("--no-prune", is_flag=True, help="Accepted for Docker compatibility")
@click.argument("names", nargs=-1, required=True)
def rmi(force, no_prune, names):
    """Remove one or more images."""
    from .image.manage import remove_image
    data_root = _data_root()
    in_use = images_in_use(data_root)
    failed = False
    for name in names:
        try:
            for event, what in remove_image(data_root, name, force=force, in_use=in_use):
                click.echo(f"{event}: {what}")
        except MiniContainerError as exc:
            click.echo(f"minicontainer: {exc}", err=True)
            failed = True
    if failed:
        raise SystemExit(1)


@click.command()
@click.argument("source")
@click.argument("target")
def tag(source, target):
    """Create a tag TARGET that refers to SOURCE."""
    from .image.manage import tag_image
    ensure_builtin(_data_root(), [source])
    tag_image(_data_root(), source, target)


def inspect_document(data_root, name):
    """``image inspect``'s record: Docker's keys, plus the OCI manifest we keep."""
    from .image.manage import inspect_image
    from .image.store import Store
    data = inspect_image(data_root, name)
    store = Store(data_root)
    history = store.image(data["Manifest"]["Digest"]).config.get("history") or []
    layer_dirs = [store.layer_dir(d) for d in (data.get("RootFS") or {}).get("diff_ids", [])]
    document = {
        "Id": data["Id"], "RepoTags": data["RepoTags"], "RepoDigests": data["RepoDigests"],
        "Parent": "", "Comment": (history[-1].get("comment", "") if history else ""),
        "Created": data["Created"], "DockerVersion": "", "Author": data["Author"],
        "Config": data["Config"], "Architecture": data["Architecture"],
        "Os": data["Os"], "Size": data["Size"],
        "GraphDriver": {"Name": "overlay", "Data": {
            "LowerDir": ":".join(reversed(layer_dirs))}},
        "RootFS": {"Type": "layers", "Layers": list((data.get("RootFS") or {}).get("diff_ids", []))},
        "Metadata": {"LastTagTime": ""},
        "Manifest": data["Manifest"],
    }
    if data.get("Variant"):
        document["Variant"] = data["Variant"]
    return document


@click.command(name="inspect")
@click.option("-f", "--format", "fmt", help="Format the output using a template ({{.Id}})")
@click.argument("names", nargs=-1, required=True)
def image_inspect(fmt, names):
    """Display detailed information on one or more images."""
    data_root = _data_root()
    ensure_builtin(data_root, names)
    print_documents([inspect_document(data_root, name) for name in names], fmt)


@click.command(name="history")
@click.option("-H", "--human", default=True, type=bool, help="Human readable sizes and dates")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.argument("name")
def image_history(human, quiet, no_trunc, name):
    """Show the history of an image."""
    from .image.manage import history
    from .image.store import Store
    data_root = _data_root()
    ensure_builtin(data_root, [name])
    store = Store(data_root)
    image = store.image(store.resolve(name)[1])
    entries = history(data_root, name)  # newest first
    sizes = _layer_sizes(store, image)
    rows, layer_index = [], len(sizes) - 1
    for position, entry in enumerate(entries):
        size = 0
        if not entry.get("empty_layer") and layer_index >= 0:
            size, layer_index = sizes[layer_index], layer_index - 1
        shown_id = _short(image.id, no_trunc) if position == 0 else "<missing>"
        rows.append((shown_id, entry.get("created"), entry.get("created_by", ""), size,
                     entry.get("comment", "")))
    if quiet:
        for row in rows:
            click.echo(row[0])
        return
    lines = []
    for shown_id, created, created_by, size, comment in rows:
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        when = human_duration(created) if human else (created or "")
        lines.append([shown_id, when, created_by, human_size(size) if human else size, comment])
    for line in table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], lines):
        click.echo(line.rstrip())


def _layer_sizes(store, image):
    from .image.files import read_json
    sizes = []
    for layer, diff_id in zip(image.layers, image.diff_ids):
        record = read_json(os.path.join(os.path.dirname(store.layer_dir(diff_id)),
                                        "layer.json"), {})
        sizes.append(record.get("size", layer.get("size", 0)))
    return sizes


@click.command(name="prune")
@click.option("-a", "--all", "prune_all", is_flag=True,
              help="Remove all unused images, not just dangling ones")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def image_prune(prune_all, force):
    """Remove unused images."""
    from .image.manage import prune_images
    if not force:
        what = "all images without at least one container associated to them" if prune_all \
            else "all dangling images"
        click.confirm(f"WARNING! This will remove {what}.\nAre you sure you want to continue?",
                      abort=True)
    data_root = _data_root()
    deleted, freed = prune_images(data_root, all_images=prune_all,
                                  in_use=images_in_use(data_root))
    if deleted:
        click.echo("Deleted Images:")
        for image_id in deleted:
            click.echo(f"deleted: {image_id}")
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(freed)}")


# -- files --------------------------------------------------------------------------

# -- registration -------------------------------------------------------------------

IMAGE_SUBCOMMANDS = (("ls", images), ("list", images), ("rm", rmi), ("remove", rmi),
                     ("inspect", image_inspect), ("history", image_history),
                     ("prune", image_prune), ("tag", tag))


def register(cli):
    """Add the image and volume commands to ``cli`` (idempotent)."""
    if "images" in cli.commands:
        return cli
    from .cli_archives import commit, import_command, load, save
    from .cli_registry import login, logout, pull, push
    for command in (pull, push, login, logout, images, rmi, tag, import_command, load, save,
                    commit):
        cli.add_command(command)
    group = click.Group(name="image", help="Manage images.")
    for name, command in IMAGE_SUBCOMMANDS + (("pull", pull), ("push", push),
                                              ("import", import_command), ("load", load),
                                              ("save", save)):
        group.add_command(command, name=name)
    cli.add_command(group)
    from .cli_volumes import volume
    cli.add_command(volume)
    return cli
