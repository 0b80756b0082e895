"""The click commands besides ``run`` (which cli.py parses itself, for speed)."""

import json

import click

from .errors import MiniContainerError


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MiniContainerError as exc:
            click.echo(f"minicontainer: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """A container runtime that shows what Docker does underneath.

    \b
    minicontainer run [OPTIONS] IMAGE|ROOTFS_DIR [COMMAND [ARG...]]
    (see: minicontainer run --help)
    """


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
             add_help_option=False)
@click.pass_context
def run(ctx):
    """Run a command in a new container (docker run's flags)."""
    from .cli import run_command
    ctx.exit(run_command(ctx.args))


@cli.command(name="rm")
@click.option("-f", "--force", is_flag=True, help="Kill a running container first")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes too")
@click.argument("containers", nargs=-1, required=True)
def remove(force, volumes, containers):
    """Remove one or more containers."""
    from .lifecycle import remove as remove_container
    from .cli_format import each
    each(containers, lambda ref: remove_container(ref, force=force, volumes=volumes))


@cli.command(name="ps")
@click.option("-a", "--all", "show_all", is_flag=True, help="Show all containers")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_command(show_all, quiet, fmt):
    """List containers."""
    from .lifecycle import list_containers
    rows = [s for s in list_containers()
            if show_all or s["status"] in ("running", "paused", "restarting")]
    if quiet:
        for state in rows:
            click.echo(state["id"][:12])
    elif fmt == "json":
        for state in rows:
            click.echo(json.dumps({"ID": state["id"][:12], "Names": state.get("name") or "",
                                   "Command": " ".join(state["spec"]["args"]),
                                   "Status": state["status"], "ExitCode": state.get("exit_code")}))
    else:
        click.echo(f"{'CONTAINER ID':<14}{'IMAGE':<12}{'COMMAND':<22}{'STATUS':<16}NAMES")
        for state in rows:
            status = state["status"]
            if status == "exited":
                code = state.get("exit_code")
                status = f"Exited ({'unknown' if code is None else code})"
            elif status == "paused":
                status = "Up (Paused)"
            elif status == "running" and state.get("health"):
                status = f"Up ({state['health']['Status']})"
            command = " ".join(state["spec"]["args"])[:20]
            click.echo(f"{state['id'][:12]:<14}{(state['spec'].get('image') or '-'):<12}"
                       f"{command:<22}{status:<16}{state.get('name') or ''}")


@cli.group()
def network():
    """Manage networks (bridges with their own subnet, NAT and name resolution)."""


def _data_root():
    from .state import data_root
    return data_root()


@network.command(name="create")
@click.option("--subnet", help="Subnet in CIDR format (e.g. 10.89.0.0/24)")
@click.option("--gateway", help="IPv4 gateway for the subnet")
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("-d", "--driver", default="bridge", help="Driver to manage the network (bridge)")
@click.argument("name")
def network_create(subnet, gateway, internal, driver, name):
    """Create a network."""
    from .network import manage
    from .validate import check_name
    check_name(name)
    definition = manage.create(_data_root(), name, subnet, gateway, internal, driver)
    click.echo(definition["id"])


@network.command(name="ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs")
def network_ls(quiet):
    """List networks."""
    from .network import manage
    rows = manage.ls(_data_root())
    if not quiet:
        click.echo(f"{'NETWORK ID':<14}{'NAME':<20}{'DRIVER':<9}{'SUBNET':<18}BRIDGE")
    for net in rows:
        if quiet:
            click.echo(net["id"][:12])
        else:
            click.echo(f"{net['id'][:12]:<14}{net['name']:<20}{net.get('driver', 'bridge'):<9}"
                       f"{net['subnet']:<18}{net['bridge']}")


@network.command(name="inspect")
@click.argument("names", nargs=-1, required=True)
def network_inspect(names):
    """Display detailed information on one or more networks."""
    from .network import manage
    click.echo(json.dumps([manage.inspect(_data_root(), name) for name in names], indent=4))


@network.command(name="rm")
@click.argument("names", nargs=-1, required=True)
def network_rm(names):
    """Remove one or more networks."""
    from .network import manage
    for name in names:
        manage.remove(_data_root(), name)
        click.echo(name)


@network.command(name="prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def network_prune(force):
    """Remove all unused networks."""
    from .network import manage
    removed = manage.prune(_data_root())
    if removed:
        click.echo("Deleted Networks:\n" + "\n".join(removed))


def _register_more():
    from .cli_lifecycle import register
    register(cli)


_register_more()


def _register_images():
    from .cli_images import register
    register(cli)
    from .cli_build import register as register_build
    register_build(cli)
    from .cli_compose import register as register_compose
    register_compose(cli)


_register_images()


@network.command(name="connect")
@click.option("--ip", help="IPv4 address")
@click.option("--alias", "aliases", multiple=True, help="Add network-scoped alias for the container")
@click.argument("network_name")
@click.argument("container")
def network_connect(ip, aliases, network_name, container):
    """Connect a running container to a network (its next ethN)."""
    from .lifecycle import connect
    connect(container, network_name, ip=ip, aliases=aliases)


@network.command(name="disconnect")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect")
@click.argument("network_name")
@click.argument("container")
def network_disconnect(force, network_name, container):
    """Disconnect a container from a network."""
    from .lifecycle import disconnect
    disconnect(container, network_name)
