"""Acting on a compose project: up, down, start, stop, restart, build, pull.

The project is validated whole when it is loaded (``model.load_project``), so
by the time anything here creates a network or a container every service is
known to be well formed.  Images come first (pull, build), then networks and
volumes, then containers in dependency order, each waiting for the condition
its dependents asked for; ``down`` undoes it in reverse.  Containers are found
again by their labels (``com.docker.compose.project`` and ``.service``).
"""

import sys

from .. import lifecycle
from ..errors import Conflict, MiniContainerError, NotFound
from ..state import data_root
from . import plan
from .loader import ComposeError
from .specs import container_name, service_spec

RUNNING = ("running", "paused", "restarting")


class Operations:
    """The compose commands on one loaded Project; progress goes to ``err``."""

    def __init__(self, project, out=None, err=None):
        self.project = project
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def say(self, kind, name, what):
        self.err.write(f" {kind} {name}  {what}\n")
        self.err.flush()

    # -- finding what exists --------------------------------------------------------------

    def containers(self, service=None, oneoff=False, states=None):
        states = lifecycle.list_containers() if states is None else states
        return plan.project_containers(states, self.project.name, service, oneoff)

    def selected(self, names):
        """The services asked for (all when none), in start order."""
        for name in names:
            self.project.service(name)
        order = plan.start_order(self.project.services)
        return [name for name in order if not names or name in names]

    # -- images -------------------------------------------------------------------------

    def build(self, names=(), no_cache=False, pull=False):
        for name in self.selected(names):
            service = self.project.services[name]
            if service["build"] is not None:
                self._build_one(service, no_cache, pull)

    def _build_one(self, service, no_cache=False, pull=False):
        from ..build import build_image
        build = service["build"]
        self.err.write(f"[+] Building {service['name']} ({service['image']})\n")
        self.err.flush()
        image_id = build_image(build["context"], dockerfile=build["dockerfile"],
                               tags=(service["image"],), build_args=_build_args(build["args"],
                                                                                self.project),
                               target=build["target"], no_cache=no_cache or build["no_cache"],
                               network=build["network"], out=self.err,
                               pull="always" if pull else None)
        self.say("Image", service["image"], "Built")
        return image_id

    def pull(self, names=(), ignore_failures=False):
        from ..image import ensure_image
        if _default_pull() == "never":  # MINICONTAINER_PULL=never: no registry traffic at all
            raise ComposeError("pulling is disabled (MINICONTAINER_PULL=never)")
        for name in self.selected(names):
            service = self.project.services[name]
            if service["build"] is not None and service["pull_policy"] != "always":
                continue
            try:
                ensure_image(data_root(), service["image"], "always")
                self.say("Image", service["image"], "Pulled")
            except MiniContainerError:
                if not ignore_failures:
                    raise

    def ensure_images(self, names, build=False, no_build=False):
        """Every image the services need, built or found before anything is created."""
        from ..image import ensure_image
        ids = {}
        for name in names:
            service = self.project.services[name]
            present = _image_id(service["image"])
            if service["build"] is not None and not no_build and (
                    build or present is None or service["pull_policy"] == "build"):
                self._build_one(service)
            elif present is None or service["pull_policy"] == "always":
                policy = service["pull_policy"] or _default_pull()
                policy = {"if_not_present": "missing", "build": "missing"}.get(policy, policy)
                if _default_pull() == "never":  # the environment forbids registry traffic
                    policy = "never"
                try:
                    ensure_image(data_root(), service["image"], policy)
                except NotFound as exc:
                    from .preflight import located
                    raise located(self.project, name, "image", exc.message) from None
            ids[name] = _image_id(service["image"])
        return ids

    # -- networks and volumes -----------------------------------------------------------------

    def ensure_networks(self):
        from ..network import manage, store
        for key, network in self.project.networks.items():
            try:
                existing = store.find(data_root(), network["name"])
                if network["subnet"] and existing["subnet"] != network["subnet"]:
                    self.err.write(f"WARNING: network {network['name']} exists with subnet "
                                   f"{existing['subnet']}, not {network['subnet']} as the file "
                                   "now says; run down first to recreate it\n")
                continue
            except NotFound:
                if network["external"]:
                    raise ComposeError(f"network {network['name']} declared as external, but "
                                       "could not be found") from None
            manage.create(data_root(), network["name"], network["subnet"], network["gateway"],
                          network["internal"])
            self.say("Network", network["name"], "Created")

    def ensure_volumes(self):
        from ..volumes import create_volume, inspect_volume
        for key, volume in self.project.volumes.items():
            try:
                inspect_volume(data_root(), volume["name"])
                continue
            except NotFound:
                if volume["external"]:
                    raise ComposeError(f"external volume \"{volume['name']}\" not found") \
                        from None
            create_volume(data_root(), volume["name"],
                          labels={plan.LABEL_PROJECT: self.project.name,
                                  plan.LABEL_VOLUME: key})
            self.say("Volume", f"\"{volume['name']}\"", "Created")

    def ensure_bind_sources(self, names):
        """Missing bind-mount sources made as directories, as Docker Compose does."""
        import os
        for name in names:
            for mount in self.project.services[name]["volumes"]:
                if mount["type"] == "bind" and mount["create_host_path"] and \
                        not os.path.exists(mount["source"]):
                    os.makedirs(mount["source"], 0o755)

    # -- up -----------------------------------------------------------------------------------

    def up(self, names=(), build=False, no_build=False, force_recreate=False,
           no_recreate=False, no_deps=False, no_start=False, timeout=None):
        """Create what is missing, recreate what changed, start in dependency order."""
        services = self.project.services
        for name in names:
            self.project.service(name)  # an unknown name fails before anything happens
        wanted = set(names) if no_deps else plan.with_dependencies(services, names or services)
        order = [name for name in plan.start_order(services) if name in wanted]
        image_ids = self.ensure_images(order, build, no_build)
        specs = {name: service_spec(self.project, services[name], image_id=image_ids[name])
                 for name in order}
        states = lifecycle.list_containers()
        actions = {}
        for name in order:
            spec, _extra = specs[name]
            existing = self.containers(name, states=states)
            current = existing[0] if existing else None
            actions[name] = (current, plan.decide(current, dict(spec.labels)[plan.LABEL_HASH],
                                                  force_recreate, no_recreate))
        from .preflight import check_free
        check_free(self.project, self.containers(states=states), actions, specs, states)
        self._warn_orphans()
        self.ensure_networks()
        self.ensure_volumes()
        self.ensure_bind_sources(order)
        started = []
        for name in order:
            service = services[name]
            spec, _extra = specs[name]
            current, action = actions[name]
            if not no_start:
                self.wait_for_dependencies(service)
            label = container_name(self.project, service)
            if action == "recreate":
                self._remove(current, self._timeout(current, timeout))
                self.say("Container", label, "Recreated")
                action = "create"
            if action == "create":
                container_id = self._create(spec, start=not no_start)
                if current is None:
                    self.say("Container", label, "Created")
            elif action == "start" and not no_start:
                container_id = current["id"]
                self._start(container_id)
            else:
                self.say("Container", label, "Running" if action == "keep" else "Created")
                continue
            if not no_start:
                self.say("Container", label, "Started")
                started.append(container_id)
        return started

    def _create(self, spec, start=True):
        from ..supervisor_client import request
        if start:
            return request({"op": "run", "spec": spec.to_json_dict()})["id"]
        from ..container import Container
        return Container(spec).create()

    def _start(self, container_id):
        from ..supervisor_client import request
        request({"op": "start", "id": container_id})

    def wait_for_dependencies(self, service):
        """Block until each dependency meets its condition (waits.py)."""
        from .waits import wait_for_dependencies
        wait_for_dependencies(self, service)

    # -- stop, start, restart, down --------------------------------------------------------

    def _timeout(self, state, given):
        if given is not None:
            return given
        configured = state["spec"].get("stop_timeout")
        return 10 if configured is None else configured

    def _remove(self, state, timeout, volumes=False):
        if lifecycle.is_running(state) or state.get("status") == "restarting":
            lifecycle.stop(state["id"], timeout)
        lifecycle.remove(state["id"], force=True, volumes=volumes)

    def levels(self, states):
        """Containers grouped for stopping: dependents first, each group in parallel."""
        services = self.project.services
        depth = {}

        def level(name):
            if name not in depth:
                depth[name] = 0  # (cycles were refused at load)
                depth[name] = 1 + max([level(d) for d in plan.dependencies(services[name],
                                                                           services)] + [-1])
            return depth[name]
        groups = {}
        for state in states:
            service = plan.labels_of(state).get(plan.LABEL_SERVICE)
            groups.setdefault(level(service) if service in services else 10**6, []).append(state)
        return [groups[key] for key in sorted(groups, reverse=True)]

    def in_parallel(self, states, action):
        """``action(state)`` for each, concurrently (a stop waits out its grace period)."""
        if len(states) < 2:
            for state in states:
                action(state)
            return
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=min(8, len(states))) as pool:
            for future in [pool.submit(action, state) for state in states]:
                future.result()

    def stop(self, names=(), timeout=None):
        wanted = set(self.selected(names))
        running = [s for s in self.containers()
                   if plan.labels_of(s).get(plan.LABEL_SERVICE) in wanted
                   and lifecycle.current_status(s) in RUNNING]

        def stop_one(state):
            label = state.get("name") or state["id"][:12]
            self.say("Container", label, "Stopping")
            lifecycle.stop(state["id"], self._timeout(state, timeout))
            self.say("Container", label, "Stopped")
        for group in self.levels(running):
            self.in_parallel(group, stop_one)

    def start(self, names=()):
        for name in self.selected(names):
            service = self.project.services[name]
            containers = self.containers(name)
            if not containers and names:
                raise ComposeError(f"service {name!r} has no container to start")
            for state in containers:
                if lifecycle.current_status(state) in RUNNING:
                    continue
                self.wait_for_dependencies(service)
                self._start(state["id"])
                self.say("Container", state.get("name"), "Started")

    def restart(self, names=(), timeout=None):
        self.stop(names, timeout)
        self.start(names)

    def down(self, volumes=False, rmi=None, remove_orphans=False, timeout=None):
        """Remove the project's containers, then its networks (and volumes, images)."""
        from ..network import manage, store
        known = set(self.project.services)
        states = lifecycle.list_containers()
        mine = self.containers(states=states) + self.containers(oneoff=True, states=states)
        orphans = [s for s in mine if plan.labels_of(s).get(plan.LABEL_SERVICE) not in known]
        if orphans and not remove_orphans:
            for state in orphans:
                self.err.write(f"WARNING: found orphan container {state.get('name')} for "
                               "this project (use --remove-orphans to remove it)\n")
            mine = [s for s in mine if s not in orphans]

        def remove_one(state):
            label = state.get("name") or state["id"][:12]
            if lifecycle.current_status(state) in RUNNING:
                self.say("Container", label, "Stopping")
            self._remove(state, self._timeout(state, timeout), volumes=volumes)
            self.say("Container", label, "Removed")
        for group in self.levels(mine):
            self.in_parallel(group, remove_one)
        for network in self.project.networks.values():
            if network["external"]:
                continue
            try:
                store.find(data_root(), network["name"])
            except NotFound:
                continue
            try:
                manage.remove(data_root(), network["name"])
            except Conflict as exc:  # e.g. an orphan container still on it
                self.err.write(f"WARNING: network {network['name']}: {exc}\n")
                continue
            self.say("Network", network["name"], "Removed")
        if volumes:
            from ..volumes import remove_volume
            for volume in self.project.volumes.values():
                if not volume["external"]:
                    try:
                        remove_volume(data_root(), volume["name"])
                    except NotFound:
                        continue
                    self.say("Volume", volume["name"], "Removed")
        if rmi:
            self._remove_images(rmi)

    def _remove_images(self, which):
        from ..image.manage import remove_image
        if which not in ("local", "all"):
            raise ComposeError(f"invalid --rmi {which!r}: use local or all")
        done = set()
        for service in self.project.services.values():
            local = service["build"] is not None and not service["image_given"]
            if (which == "local" and not local) or service["image"] in done:
                continue
            done.add(service["image"])
            try:
                remove_image(data_root(), service["image"])
            except (NotFound, Conflict) as exc:
                self.err.write(f"WARNING: image {service['image']}: {exc}\n")
                continue
            self.say("Image", service["image"], "Removed")

    def _warn_orphans(self):
        known = set(self.project.services)
        for state in self.containers():
            if plan.labels_of(state).get(plan.LABEL_SERVICE) not in known:
                self.err.write(f"WARNING: found orphan container {state.get('name')} for this "
                               "project (compose down --remove-orphans removes it)\n")


def _image_id(ref):
    from ..image import find_image
    try:
        return find_image(data_root(), ref)[1].id
    except (NotFound, MiniContainerError):
        return None


def _default_pull():
    import os
    return os.environ.get("MINICONTAINER_PULL") or "missing"


def _build_args(args, project):
    """build.args: a key without a value takes ours (environment, then .env)."""
    result = {}
    for key, value in args.items():
        if value is None:
            if key in project.environ:
                result[key] = project.environ[key]
        else:
            result[key] = value
    return result
