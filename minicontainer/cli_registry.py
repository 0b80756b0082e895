"""``pull``, ``push``, ``login``, ``logout``: the commands that talk to a registry.

Progress goes to stdout, one line per layer, as Docker prints it; the last
line of ``pull`` is the full name pulled.  Credentials are stored by
``image.auth`` in Docker's config.json format.
"""

import sys

import click

from .errors import SpecError


def _data_root():
    from .state import data_root
    return data_root()


def _progress(quiet=False):
    from .image.pull import Progress
    return Progress(out=sys.stdout, quiet=quiet)


# -- registries -------------------------------------------------------------------

@click.command()
@click.option("--platform", help="Set platform if server is multi-platform capable "
                                 "(os/arch[/variant])")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.argument("name")
def pull(platform, quiet, name):
    """Download an image from a registry."""
    from .image import reference as refs
    from .image.pull import parse_platform, pull as pull_image
    parse_platform(platform)  # a bad --platform fails before anything is printed
    progress = _progress(quiet)
    if refs.parse(name, default_tag=False).tag is None and "@" not in name:
        progress.message("Using default tag: latest")
    ref = refs.parse(name)
    progress.message(f"{ref.digest or ref.tag}: Pulling from {ref.path}")
    full, _digest = pull_image(_data_root(), name, platform=platform, progress=progress)
    click.echo(full)


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.argument("name")
def push(quiet, name):
    """Upload an image to a registry."""
    from .image import reference as refs
    from .image.pull import push as push_image
    from .cli_images import ensure_builtin
    ensure_builtin(_data_root(), [name])
    progress = _progress(quiet)
    progress.message(f"The push refers to repository [{refs.parse(name).repository}]")
    push_image(_data_root(), name, progress=progress)


def registry_host(server):
    """``login``'s SERVER as a registry host: scheme and path dropped, Hub spellings unified."""
    text = server.strip()
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    text = text.split("/", 1)[0]
    if not text:
        raise SpecError(f"invalid registry address {server!r}")
    if text in ("index.docker.io", "registry-1.docker.io", "docker.io"):
        return "docker.io"
    return text


@click.command()
@click.option("-u", "--username", help="Username")
@click.option("-p", "--password", help="Password")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin")
@click.argument("server", required=False, default="docker.io")
def login(username, password, password_stdin, server):
    """Log in to a registry (credentials kept in Docker's config.json format)."""
    from .image.pull import login as login_registry
    if password and password_stdin:
        raise SpecError("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise SpecError("must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        click.echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
                   err=True)
    if not username:
        username = click.prompt("Username")
    if not password:
        password = click.prompt("Password", hide_input=True)
    login_registry(registry_host(server), username, password)
    click.echo("Login Succeeded")


@click.command()
@click.argument("server", required=False, default="docker.io")
def logout(server):
    """Log out from a registry (forget its stored credentials)."""
    from .image.pull import logout as logout_registry
    host = registry_host(server)
    if logout_registry(host):
        click.echo(f"Removing login credentials for {server}")
    else:
        click.echo(f"Not logged in to {server}")
