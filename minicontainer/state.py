"""Where containers are recorded: <state_root>/containers/<id>/state.json.

The state file is written atomically; a name is claimed with a symlink
``<state_root>/names/<name> -> <id>`` (symlink creation is atomic, so two
runs cannot take the same name).  Deleting works from the files alone and is
idempotent, so a crash leaves nothing that ``rm -f`` cannot clean.
"""

import os

from .errors import Conflict, NotFound
from .linux.fs import atomic_write, dumps_json, remove_tree

DEFAULT_STATE_ROOT = "/run/minicontainer"
DEFAULT_DATA_ROOT = "/var/lib/minicontainer"


def state_root(override=None):
    """Runtime state (gone at reboot, like the containers): /run/minicontainer."""
    return override or os.environ.get("MINICONTAINER_STATE_ROOT") or DEFAULT_STATE_ROOT


def data_root(override=None):
    """Lasting data (networks, images, volumes, caches): /var/lib/minicontainer."""
    return override or os.environ.get("MINICONTAINER_DATA_ROOT") or DEFAULT_DATA_ROOT


class StateStore:
    def __init__(self, root=None):
        self.root = state_root(root)
        self.containers = os.path.join(self.root, "containers")
        self.names = os.path.join(self.root, "names")

    def container_dir(self, container_id):
        return os.path.join(self.containers, container_id)

    def create(self, container_id, name):
        """Make the container's directory and claim its name."""
        os.makedirs(self.containers, 0o711, exist_ok=True)
        os.makedirs(self.names, 0o700, exist_ok=True)
        if name is not None:
            try:
                os.symlink(container_id, os.path.join(self.names, name))
            except FileExistsError:
                other = os.readlink(os.path.join(self.names, name))
                raise Conflict(f'the container name "/{name}" is already in use by container '
                               f'"{other}"; remove that container to reuse the name') from None
        path = self.container_dir(container_id)
        os.mkdir(path, 0o711)
        return path

    def save(self, container_id, state):
        atomic_write(os.path.join(self.container_dir(container_id), "state.json"),
                     dumps_json(state), durable=False)

    def load(self, container_id):
        import json
        try:
            with open(os.path.join(self.container_dir(container_id), "state.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            raise NotFound(f"no such container: {container_id}") from None

    def resolve(self, ref):
        """A container id from a name, a full id or a unique id prefix."""
        link = os.path.join(self.names, ref)
        if os.path.islink(link):
            return os.readlink(link)
        try:
            ids = os.listdir(self.containers)
        except FileNotFoundError:
            ids = []
        matches = [i for i in ids if i.startswith(ref)] if ref else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Conflict(f"multiple containers match {ref!r}; give more of the id")
        raise NotFound(f"no such container: {ref}")

    def list_ids(self):
        try:
            return sorted(os.listdir(self.containers))
        except FileNotFoundError:
            return []

    def remove(self, container_id, name=None):
        """Forget a container: its name and its directory (idempotent)."""
        if name is not None:
            link = os.path.join(self.names, name)
            try:
                if os.readlink(link) == container_id:
                    os.unlink(link)
            except FileNotFoundError:
                pass
        # Renamed away first, then emptied: a start still writing into the
        # directory then fails cleanly instead of refilling it under our feet.
        graveyard = os.path.join(self.root, ".removing")
        os.makedirs(graveyard, 0o700, exist_ok=True)
        doomed = os.path.join(graveyard, f"{container_id}-{os.getpid()}")
        try:
            os.rename(self.container_dir(container_id), doomed)
        except FileNotFoundError:
            return
        remove_tree(doomed)
