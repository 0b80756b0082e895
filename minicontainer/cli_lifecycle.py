"""Docker's container commands besides run: create, start, stop, logs, inspect, ..."""

import json
import sys
import time

import click

from . import lifecycle
from .cli_format import each as _each
from .errors import MiniContainerError


def register(cli):
    for command in (create, start, stop, restart, kill, wait, logs, inspect, pause, unpause,
                    stats, top, update, container, exec_command):
        cli.add_command(command)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
               add_help_option=False)
@click.pass_context
def create(ctx):
    """Create a new container (docker run's flags) without starting it."""
    from . import runflags
    from .container import Container
    options, image, command = runflags.parse(ctx.args)
    if options.get("help"):
        click.echo(runflags.usage_text().replace("run", "create", 1))
        return
    spec = runflags.build_spec(options, image, command)
    click.echo(Container(spec).create())


@click.command()
@click.argument("containers", nargs=-1, required=True)
def start(containers):
    """Start one or more created or stopped containers (the supervisor parents them)."""
    from .supervisor_client import request

    def start_one(ref):
        store, container_id, state = lifecycle.load(ref)
        if lifecycle.is_running(state):
            return
        request({"op": "start", "id": container_id})
    _each(containers, start_one)


@click.command()
@click.option("-t", "--time", "timeout", type=int, default=None,
              help="Seconds to wait before killing the container")
@click.option("-s", "--signal", "sig", default=None, help="Signal to send to the container")
@click.argument("containers", nargs=-1, required=True)
def stop(timeout, sig, containers):
    """Stop one or more running containers (stop signal, then SIGKILL)."""
    _each(containers, lambda ref: lifecycle.stop(ref, _timeout(ref, timeout), sig))


def _timeout(ref, given):
    if given is not None:
        return given
    _store, _id, state = lifecycle.load(ref)
    configured = state["spec"].get("stop_timeout")
    return 10 if configured is None else configured


@click.command()
@click.option("-t", "--time", "timeout", type=int, default=None)
@click.argument("containers", nargs=-1, required=True)
def restart(timeout, containers):
    """Restart one or more containers."""
    from .supervisor_client import request

    def restart_one(ref):
        _store, container_id, _state = lifecycle.load(ref)
        lifecycle.stop(ref, _timeout(ref, timeout))
        request({"op": "start", "id": container_id})
    _each(containers, restart_one)


@click.command()
@click.option("-s", "--signal", "sig", default="KILL", help="Signal to send to the container")
@click.argument("containers", nargs=-1, required=True)
def kill(sig, containers):
    """Kill one or more running containers."""
    _each(containers, lambda ref: lifecycle.kill(ref, sig))


@click.command()
@click.argument("containers", nargs=-1, required=True)
def wait(containers):
    """Block until containers stop, then print their exit codes."""
    for ref in containers:
        code = lifecycle.wait(ref)
        click.echo("" if code is None else code)


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-n", "--tail", default="all", help="Number of lines to show from the end")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("--since", default=None, help="Show logs since a timestamp or a duration (10m)")
@click.argument("ref")
def logs(follow, tail, timestamps, since, ref):
    """Fetch the logs of a container."""
    from . import logs as logfile
    store, container_id, state = lifecycle.load(ref)
    if tail != "all" and not tail.isdigit():
        raise MiniContainerError(f"invalid --tail {tail!r}: a number or all")
    directory = store.container_dir(container_id)
    entries = logfile.read(directory, container_id, None if tail == "all" else int(tail),
                           logfile.parse_since(since))
    for entry in entries:
        _print_entry(entry, timestamps)
    if follow:
        def running():
            return lifecycle.current_status(store.load(container_id)) in ("running", "paused",
                                                                            "restarting")
        for entry in logfile.follow(directory, container_id, running):
            _print_entry(entry, timestamps)


def _print_entry(entry, timestamps):
    stream = sys.stdout if entry["stream"] == "stdout" else sys.stderr
    stream.write((entry["time"] + " " if timestamps else "") + entry["log"])
    stream.flush()


@click.command()
@click.argument("containers", nargs=-1, required=True)
def inspect(containers):
    """Display detailed information on one or more containers (Docker's shape)."""
    from .inspect import describe
    click.echo(json.dumps([describe(ref) for ref in containers], indent=4))


@click.command()
@click.argument("containers", nargs=-1, required=True)
def pause(containers):
    """Freeze every process in one or more containers (cgroup freezer)."""
    _each(containers, lifecycle.pause)


@click.command()
@click.argument("containers", nargs=-1, required=True)
def unpause(containers):
    """Thaw one or more paused containers."""
    _each(containers, lifecycle.unpause)


@click.command()
@click.option("--no-stream", is_flag=True, help="Print one sample and exit")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("containers", nargs=-1)
def stats(no_stream, fmt, containers):
    """Live resource usage from the containers' cgroups."""
    refs = containers or [s["id"] for s in lifecycle.list_containers()
                          if s["status"] in ("running", "paused")]
    while True:
        rows = [lifecycle.stats(ref) for ref in refs]
        if fmt == "json":
            for row in rows:
                click.echo(json.dumps(row))
        else:
            click.echo(f"{'CONTAINER ID':<14}{'NAME':<20}{'MEM USAGE / LIMIT':<26}{'CPU TIME':<12}PIDS")
            for row in rows:
                limit = row.get("memory_limit")
                memory = f"{_mib(row.get('memory_current'))} / {_mib(limit) if limit else 'unlimited'}"
                cpu = f"{(row.get('cpu_usage_ns') or 0) / 1e9:.2f}s"
                click.echo(f"{row['id'][:12]:<14}{(row.get('name') or '-'):<20}{memory:<26}"
                           f"{cpu:<12}{row.get('pids_current')}")
        if no_stream:
            return
        time.sleep(1)


def _mib(value):
    return "-" if value is None else f"{value / (1 << 20):.1f}MiB"


@click.command()
@click.argument("ref")
def top(ref):
    """Display the running processes of a container."""
    click.echo(f"{'PID':<10}CMD")
    for pid, command in lifecycle.top(ref):
        click.echo(f"{pid:<10}{command}")


@click.command()
@click.option("-m", "--memory")
@click.option("--memory-swap")
@click.option("--memory-reservation")
@click.option("--cpus")
@click.option("-c", "--cpu-shares")
@click.option("--cpu-quota")
@click.option("--cpu-period")
@click.option("--cpuset-cpus")
@click.option("--cpuset-mems")
@click.option("--pids-limit")
@click.option("--blkio-weight")
@click.argument("containers", nargs=-1, required=True)
def update(containers, **options):
    """Change the resource limits of running containers."""
    given = {k: v for k, v in options.items() if v is not None}
    _each(containers, lambda ref: lifecycle.update(ref, given))


@click.group()
def container():
    """Manage containers."""


@container.command(name="prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def container_prune(force):
    """Remove all stopped containers."""
    removed = lifecycle.prune()
    click.echo("Deleted Containers:" + "".join(f"\n{cid}" for cid in removed))


@click.command(name="exec", context_settings={"allow_interspersed_args": False})
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option("-d", "--detach", is_flag=True, help="Run the command in the background")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("-w", "--workdir", help="Working directory inside the container")
@click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
@click.argument("ref")
@click.argument("command", nargs=-1, required=True)
def exec_command(interactive, tty, detach, env, workdir, user, ref, command):
    """Run a command in a running container (its namespaces, cgroup and confinement)."""
    _store, _id, state = lifecycle.load(ref)
    if not lifecycle.is_running(state):
        raise MiniContainerError(f"container {ref} is not running")
    if state.get("status") == "paused":
        raise MiniContainerError(f"container {ref} is paused, unpause the container first")
    code = lifecycle.exec_command(state, command, env, workdir, user, tty, interactive, detach)
    if not detach:
        raise SystemExit(code)
