"""The read-mostly compose commands: ps, logs, top, config, and exec/run."""

import json
import os
import time

from .. import lifecycle
from . import plan
from .loader import ComposeError
from .project import RUNNING, Operations


class Views(Operations):

    # -- ps -----------------------------------------------------------------------------

    def ps_rows(self, names=(), show_all=False):
        self.selected(names)  # unknown service names fail
        rows = []
        for state in self.containers():
            labels = plan.labels_of(state)
            service = labels.get(plan.LABEL_SERVICE)
            if names and service not in names:
                continue
            status = lifecycle.current_status(state)
            if not show_all and status not in RUNNING:
                continue
            rows.append({"ID": state["id"][:12], "Name": state.get("name") or "",
                         "Image": state["spec"].get("image") or "", "Service": service,
                         "Command": " ".join(state["spec"].get("args") or []),
                         "State": status, "Health": (state.get("health") or {}).get("Status", ""),
                         "Status": _status_text(state, status),
                         "ExitCode": state.get("exit_code") or 0,
                         "Publishers": _ports(state)})
        return rows

    def ps(self, names=(), show_all=False, quiet=False, fmt="table", services=False):
        rows = self.ps_rows(names, show_all)
        if services:
            for name in dict.fromkeys(row["Service"] for row in rows):
                self.out.write(f"{name}\n")
        elif quiet:
            for row in rows:
                self.out.write(f"{row['ID']}\n")
        elif fmt == "json":
            self.out.write(json.dumps(rows) + "\n")
        else:
            self.out.write(f"{'NAME':<24}{'IMAGE':<22}{'SERVICE':<12}{'STATUS':<22}PORTS\n")
            for row in rows:
                ports = ", ".join(f"{p['URL']}:{p['PublishedPort']}->{p['TargetPort']}/"
                                  f"{p['Protocol']}" for p in row["Publishers"])
                self.out.write(f"{row['Name']:<24}{row['Image']:<22}{row['Service']:<12}"
                               f"{row['Status']:<22}{ports}\n")

    # -- logs ---------------------------------------------------------------------------

    def logs(self, names=(), follow=False, tail=None, timestamps=False, prefix=True):
        self.selected(names)  # unknown service names fail
        from .. import logs as logfile
        from ..state import StateStore
        store = StateStore()
        targets = [s for s in self.containers() if not names or
                   plan.labels_of(s).get(plan.LABEL_SERVICE) in names]
        width = max([len(s.get("name") or "") for s in targets] + [0])
        positions = {}
        for state in targets:
            entries = logfile.read(store.container_dir(state["id"]), state["id"], tail)
            for entry in entries:
                self._log_line(state, entry, width, timestamps, prefix)
            path = logfile.log_path(store.container_dir(state["id"]), state["id"])
            positions[state["id"]] = os.path.getsize(path) if os.path.exists(path) else 0
        while follow:
            alive = False
            for state in targets:
                try:
                    current = store.load(state["id"])
                except Exception:
                    continue
                alive = alive or lifecycle.current_status(current) in RUNNING
                positions[state["id"]] = self._new_lines(store, state, positions[state["id"]],
                                                         width, timestamps, prefix)
            if not alive:
                return
            time.sleep(0.2)

    def _new_lines(self, store, state, position, width, timestamps, prefix):
        from .. import logs as logfile
        path = logfile.log_path(store.container_dir(state["id"]), state["id"])
        if not os.path.exists(path):
            return position
        with open(path) as handle:
            handle.seek(position)
            text = handle.read()
        complete = text[:text.rfind("\n") + 1]
        for line in complete.splitlines():
            if line.strip():
                self._log_line(state, json.loads(line), width, timestamps, prefix)
        return position + len(complete.encode())

    def _log_line(self, state, entry, width, timestamps, prefix):
        head = f"{(state.get('name') or ''):<{width}}  | " if prefix else ""
        stamp = entry["time"] + " " if timestamps else ""
        self.out.write(head + stamp + entry["log"])
        if not entry["log"].endswith("\n"):
            self.out.write("\n")
        self.out.flush()

    # -- top ----------------------------------------------------------------------------

    def top(self, names=()):
        self.selected(names)  # unknown service names fail
        for state in self.containers():
            if names and plan.labels_of(state).get(plan.LABEL_SERVICE) not in names:
                continue
            if lifecycle.current_status(state) not in ("running", "paused"):
                continue
            self.out.write(f"{state.get('name')}\n{'PID':<10}CMD\n")
            for pid, command in lifecycle.top(state["id"]):
                self.out.write(f"{pid:<10}{command}\n")
            self.out.write("\n")

    # -- exec and run ---------------------------------------------------------------------

    def find_running(self, service, index=1):
        self.project.service(service)
        for state in self.containers(service):
            if plan.labels_of(state).get(plan.LABEL_NUMBER) == str(index):
                if not lifecycle.is_running(state):
                    raise ComposeError(f"service {service!r} is not running")
                return state
        raise ComposeError(f"service {service!r} is not running")

    def exec(self, service, command, index=1, env=(), workdir=None, user=None, tty=False,
             interactive=True, detach=False):
        state = self.find_running(service, index)
        return lifecycle.exec_command(state, command, env, workdir, user, tty, interactive,
                                      detach)

    def run(self, service_name, command=None, remove=False, detach=False, env=(),
            entrypoint=None, name=None, no_deps=False, service_ports=False, user=None,
            workdir=None, tty=False, interactive=True, labels=()):
        """A one-off container for a service (its dependencies started first)."""
        from ..container import Container
        from .specs import oneoff_name, service_spec
        service = self.project.service(service_name)
        self.ensure_images([service_name])
        if not no_deps and service["depends_on"]:
            self.up(names=[d for d in service["depends_on"] if d in self.project.services])
            self.wait_for_dependencies(service)
        self.ensure_networks()
        self.ensure_volumes()
        self.ensure_bind_sources([service_name])
        overrides = {"rm": True} if remove else {}
        if env:
            overrides["env"] = [f"{k}={v}" for k, v in service["environment"].items()] + list(env)
        for key, value in (("entrypoint", entrypoint), ("user", user), ("workdir", workdir)):
            if value is not None:
                overrides[key] = value
        if tty:
            overrides["tty"] = True
        if interactive and not detach:
            overrides["interactive"] = True
        if labels:
            overrides["label"] = [f"{k}={v}" for k, v in service["labels"].items()] + list(labels)
        spec, _extra = service_spec(self.project, service, command=command or None, oneoff=True,
                                   name=name or oneoff_name(self.project, service),
                                   overrides=overrides)
        if service_ports:
            from ..spec import NetworkOptions
            options = spec.network_options.as_dict()
            options["ports"] = tuple(service["ports"])
            spec = spec.replace(network_options=NetworkOptions(**options))
        if entrypoint is not None:
            spec = spec.replace(entrypoint=entrypoint)
        if detach:
            id_ = self._create(spec)
            self.out.write(id_ + "\n")
            return 0
        return Container(spec).run().exit_code

    # -- config ---------------------------------------------------------------------------

    def config(self, what=None):
        from .render import render
        if what == "services":
            self.out.write("".join(f"{name}\n" for name in self.project.services))
        elif what == "volumes":
            self.out.write("".join(f"{name}\n" for name in self.project.volumes))
        elif what == "networks":
            self.out.write("".join(f"{name}\n" for name in self.project.networks))
        elif what != "quiet":
            self.out.write(render(self.project))


def _status_text(state, status):
    if status == "exited":
        return f"Exited ({state.get('exit_code')})"
    if status == "restarting":
        return "Restarting"
    text = "Up"
    if status == "paused":
        text += " (Paused)"
    health = (state.get("health") or {}).get("Status")
    if health:
        text += f" ({health})"
    return text


def _ports(state):
    records = state.get("network") or []
    records = records if isinstance(records, list) else [records]
    result = []
    for record in records:
        for port in record.get("ports") or []:
            result.append({"URL": port.get("host_ip") or "0.0.0.0",
                           "TargetPort": port["container_port"],
                           "PublishedPort": port["host_port"], "Protocol": port["proto"]})
    return result
