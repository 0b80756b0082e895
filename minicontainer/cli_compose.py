"""``minicontainer compose``: multi-container applications (click commands).

Docker Compose v2's command line: global ``-f``/``-p``/``--env-file``
before the command, then ``up -d``, ``down -v``, ``ps``, ``logs -f``, ...
The whole project is read and checked before any command acts, so a mistake
in the file fails with its file, line and reason and creates nothing.
"""

import sys

import click


class _ComposeGroup(click.Group):
    def invoke(self, ctx):
        from .errors import MiniContainerError
        try:
            return super().invoke(ctx)
        except MiniContainerError as exc:
            click.echo(f"minicontainer compose: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            ctx.exit(130)


def _warn(message):
    click.echo(f"WARNING: {message}", err=True)


def _operations(ctx):
    """The loaded project's operations (loaded once per command)."""
    from .compose.model import load_project
    from .compose.views import Views
    options = ctx.obj
    project = load_project(files=options["files"], project=options["project_name"],
                           env_file=options["env_file"],
                           project_directory=options["project_directory"],
                           profiles=options["profiles"], warn=_warn)
    return Views(project)


@click.group(name="compose", cls=_ComposeGroup)
@click.option("-f", "--file", "files", multiple=True, help="Compose configuration files")
@click.option("-p", "--project-name", "project_name", help="Project name")
@click.option("--env-file", help="An alternate environment file")
@click.option("--project-directory", help="An alternate working directory")
@click.option("--profile", "profiles", multiple=True, help="Profiles to enable")
@click.pass_context
def compose(ctx, files, project_name, env_file, project_directory, profiles):
    """Define and run multi-container applications (Docker Compose's commands)."""
    ctx.obj = {"files": files, "project_name": project_name, "env_file": env_file,
               "project_directory": project_directory, "profiles": profiles}


@compose.command()
@click.option("-d", "--detach", is_flag=True, help="Run containers in the background")
@click.option("--build", "build", is_flag=True, help="Build images before starting containers")
@click.option("--no-build", is_flag=True, help="Don't build an image, even if it's missing")
@click.option("--force-recreate", is_flag=True, help="Recreate containers even if unchanged")
@click.option("--no-recreate", is_flag=True, help="Don't recreate existing containers")
@click.option("--no-deps", is_flag=True, help="Don't start linked services")
@click.option("--no-start", is_flag=True, help="Don't start the services after creating them")
@click.option("--remove-orphans", is_flag=True, help="Accepted; see down --remove-orphans")
@click.option("-t", "--timeout", type=int, help="Shutdown timeout in seconds")
@click.argument("services", nargs=-1)
@click.pass_context
def up(ctx, detach, build, no_build, force_recreate, no_recreate, no_deps, no_start,
       remove_orphans, timeout, services):
    """Create and start containers (in dependency order)."""
    ops = _operations(ctx)
    started = ops.up(services, build=build, no_build=no_build, force_recreate=force_recreate,
                     no_recreate=no_recreate, no_deps=no_deps, no_start=no_start,
                     timeout=timeout)
    if detach or no_start:
        return
    # Attached: follow every container's output until they all stop or ^C.
    try:
        ops.logs(services, follow=True)
    except KeyboardInterrupt:
        click.echo("Gracefully stopping... (press Ctrl+C again to force)", err=True)
        ops.stop(services, timeout)
    del started


@compose.command()
@click.option("-v", "--volumes", is_flag=True, help="Remove named volumes declared in the file")
@click.option("--rmi", type=click.Choice(["local", "all"]), help="Remove images used by services")
@click.option("--remove-orphans", is_flag=True, help="Remove containers of services not in the file")
@click.option("-t", "--timeout", type=int, help="Shutdown timeout in seconds")
@click.pass_context
def down(ctx, volumes, rmi, remove_orphans, timeout):
    """Stop and remove containers and networks (and volumes with -v)."""
    _operations(ctx).down(volumes=volumes, rmi=rmi, remove_orphans=remove_orphans,
                          timeout=timeout)


@compose.command(name="ps")
@click.option("-a", "--all", "show_all", is_flag=True, help="Show all stopped containers too")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option("--services", is_flag=True, help="Display services")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("services_filter", nargs=-1)
@click.pass_context
def ps(ctx, show_all, quiet, services, fmt, services_filter):
    """List the project's containers."""
    _operations(ctx).ps(services_filter, show_all, quiet, fmt, services)


@compose.command()
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-n", "--tail", default="all", help="Number of lines from the end of the logs")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("--no-log-prefix", is_flag=True, help="Don't print a prefix in logs")
@click.argument("services", nargs=-1)
@click.pass_context
def logs(ctx, follow, tail, timestamps, no_log_prefix, services):
    """View output from containers."""
    from .errors import SpecError
    if tail != "all" and not tail.isdigit():
        raise SpecError(f"invalid --tail {tail!r}: a number or all")
    _operations(ctx).logs(services, follow, None if tail == "all" else int(tail), timestamps,
                          not no_log_prefix)


@compose.command(name="exec", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run the command in the background")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("-w", "--workdir", help="Working directory inside the container")
@click.option("-u", "--user", help="Run the command as this user")
@click.option("-T", "--no-TTY", "no_tty", is_flag=True, help="Disable pseudo-TTY allocation")
@click.option("--index", type=int, default=1, help="Index of the container")
@click.argument("service")
@click.argument("command", nargs=-1, required=True)
@click.pass_context
def exec_command(ctx, detach, env, workdir, user, no_tty, index, service, command):
    """Execute a command in a running service container."""
    tty = not no_tty and sys.stdin.isatty() and sys.stdout.isatty()
    code = _operations(ctx).exec(service, command, index, env, workdir, user, tty=tty,
                                 interactive=True, detach=detach)
    ctx.exit(code)


@compose.command(context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run container in background")
@click.option("--rm", "remove", is_flag=True, help="Remove the container when it exits")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("-l", "--label", "labels", multiple=True, help="Add or override a label")
@click.option("--entrypoint", help="Override the entrypoint of the image")
@click.option("--name", help="Assign a name to the container")
@click.option("--no-deps", is_flag=True, help="Don't start linked services")
@click.option("--service-ports", is_flag=True, help="Publish the service's ports")
@click.option("-u", "--user", help="Run as this user")
@click.option("-w", "--workdir", help="Working directory inside the container")
@click.option("-T", "--no-TTY", "no_tty", is_flag=True, help="Disable pseudo-TTY allocation")
@click.option("-i", "--interactive", is_flag=True, default=True, help="Keep STDIN open")
@click.argument("service")
@click.argument("command", nargs=-1)
@click.pass_context
def run(ctx, detach, remove, env, labels, entrypoint, name, no_deps, service_ports, user,
        workdir, no_tty, interactive, service, command):
    """Run a one-off command on a service."""
    tty = not no_tty and sys.stdin.isatty() and sys.stdout.isatty()
    code = _operations(ctx).run(service, list(command), remove, detach, env, entrypoint, name,
                                no_deps, service_ports, user, workdir, tty,
                                interactive, labels)
    ctx.exit(code)


@compose.command()
@click.argument("services", nargs=-1)
@click.pass_context
def start(ctx, services):
    """Start the services' existing containers."""
    _operations(ctx).start(services)


@compose.command()
@click.option("-t", "--timeout", type=int, help="Shutdown timeout in seconds")
@click.argument("services", nargs=-1)
@click.pass_context
def stop(ctx, timeout, services):
    """Stop the services' containers (reverse dependency order)."""
    _operations(ctx).stop(services, timeout)


@compose.command()
@click.option("-t", "--timeout", type=int, help="Shutdown timeout in seconds")
@click.argument("services", nargs=-1)
@click.pass_context
def restart(ctx, timeout, services):
    """Restart the services' containers."""
    _operations(ctx).restart(services, timeout)


@compose.command()
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image")
@click.option("--pull", is_flag=True, help="Always attempt to pull a newer base image")
@click.argument("services", nargs=-1)
@click.pass_context
def build(ctx, no_cache, pull, services):
    """Build or rebuild the services' images."""
    _operations(ctx).build(services, no_cache, pull)


@compose.command()
@click.option("--ignore-pull-failures", is_flag=True, help="Pull what it can")
@click.argument("services", nargs=-1)
@click.pass_context
def pull(ctx, ignore_pull_failures, services):
    """Pull the services' images."""
    _operations(ctx).pull(services, ignore_pull_failures)


@compose.command()
@click.option("-q", "--quiet", is_flag=True, help="Only validate the configuration")
@click.option("--services", "what", flag_value="services", help="Print the service names")
@click.option("--volumes", "what", flag_value="volumes", help="Print the volume names")
@click.option("--networks", "what", flag_value="networks", help="Print the network names")
@click.pass_context
def config(ctx, quiet, what):
    """Validate the files and print the resolved configuration."""
    _operations(ctx).config("quiet" if quiet else what)


@compose.command()
@click.argument("services", nargs=-1)
@click.pass_context
def top(ctx, services):
    """Display the running processes of the services' containers."""
    _operations(ctx).top(services)


def register(cli):
    """Add the ``compose`` group to the click group."""
    cli.add_command(compose)
