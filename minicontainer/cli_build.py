"""``minicontainer build``: images from a Dockerfile (click command)."""


def register(cli):
    """Add the ``build`` command to the click group (filled in by the build work)."""
