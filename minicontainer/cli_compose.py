"""``minicontainer compose``: multi-container applications (click commands)."""


def register(cli):
    """Add the ``compose`` group to the click group (filled in by the compose work)."""
