"""What an image's config means for ``run``, and how run-time flags override it.

Docker's rules, in order:

- ``--entrypoint X`` replaces the image's Entrypoint *and* drops its Cmd;
  ``--entrypoint ""`` clears the Entrypoint.  Arguments after the image name
  replace Cmd.  The command is Entrypoint + Cmd; empty is an error.
- Env: the image's, then each ``-e`` replaces the variable of the same name
  (``-e NAME`` alone takes NAME from the caller's environment, or drops it);
  PATH gets Docker's default when nobody set it; HOSTNAME (and TERM=xterm
  with a tty) are added unless given.
- ``-w`` replaces WorkingDir (must be absolute); default ``/``.
- ``-u`` replaces User; default: none (root).
- Labels merge (run's win); ExposedPorts and Volumes add up; ``--stop-signal``
  and ``--health-*`` replace the image's; ``--no-healthcheck`` or an image
  test of ``["NONE"]`` disables the health check.
"""

import posixpath

from ..errors import SpecError
from ..spec import DEFAULT_PATH, Record

_NS = 1_000_000_000


class ImageConfig(Record):
    """The ``config`` section of an OCI/Docker image config, as plain values."""

    FIELDS = (
        ("entrypoint", None), ("cmd", None), ("env", ()), ("working_dir", ""),
        ("user", ""), ("exposed_ports", ()), ("volumes", ()), ("stop_signal", None),
        ("healthcheck", None), ("labels", None), ("architecture", None), ("os", None),
        ("image_id", None),
    )
    __slots__ = tuple(name for name, _ in FIELDS)

    @classmethod
    def from_json(cls, data, image_id=None):
        """From the whole config blob (``{"config": {...}, "architecture": ...}``)."""
        section = data.get("config") or {}
        return cls(
            entrypoint=_tuple_or_none(section.get("Entrypoint")),
            cmd=_tuple_or_none(section.get("Cmd")),
            env=tuple(section.get("Env") or ()),
            working_dir=section.get("WorkingDir") or "",
            user=section.get("User") or "",
            exposed_ports=tuple(sorted(section.get("ExposedPorts") or {})),
            volumes=tuple(sorted(section.get("Volumes") or {})),
            stop_signal=section.get("StopSignal") or None,
            healthcheck=section.get("Healthcheck") or None,
            labels=dict(section.get("Labels") or {}),
            architecture=data.get("architecture"), os=data.get("os"),
            image_id=image_id,
        )

    def to_json_section(self):
        """The ``config`` section again, Docker's capitalised keys."""
        section = {}
        if self.entrypoint is not None:
            section["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            section["Cmd"] = list(self.cmd)
        if self.env:
            section["Env"] = list(self.env)
        if self.working_dir:
            section["WorkingDir"] = self.working_dir
        if self.user:
            section["User"] = self.user
        if self.exposed_ports:
            section["ExposedPorts"] = {port: {} for port in self.exposed_ports}
        if self.volumes:
            section["Volumes"] = {path: {} for path in self.volumes}
        if self.stop_signal:
            section["StopSignal"] = self.stop_signal
        if self.healthcheck:
            section["Healthcheck"] = dict(self.healthcheck)
        if self.labels:
            section["Labels"] = dict(self.labels)
        return section


class RunConfig(Record):
    """The result of merging: what the launcher uses."""

    FIELDS = (
        ("args", ()), ("env", ()), ("cwd", "/"), ("user", None), ("stop_signal", "SIGTERM"),
        ("healthcheck", None), ("labels", None), ("exposed_ports", ()), ("volumes", ()),
    )
    __slots__ = tuple(name for name, _ in FIELDS)


def _tuple_or_none(value):
    if value is None:
        return None
    if isinstance(value, str):  # old images store a shell string
        return ("/bin/sh", "-c", value)
    return tuple(value)


def merge_env(base, overrides, host_env=None):
    """``base`` (KEY=VALUE list) with ``overrides`` applied by key, order kept."""
    order, values = [], {}
    for item in base:
        key, _, value = item.partition("=")
        if key not in values:
            order.append(key)
        values[key] = value
    for item in overrides:
        key, sep, value = item.partition("=")
        if not key:
            raise SpecError(f"invalid environment variable: {item!r}")
        if not sep:
            if host_env is None or key not in host_env:
                continue  # -e NAME with NAME unset: Docker leaves it out
            value = host_env[key]
        if key not in values:
            order.append(key)
        values[key] = value
    return [f"{key}={values[key]}" for key in order]


def merge_run_config(image_config, options=None, host_env=None):
    """Combine ``image_config`` (ImageConfig or None) with run ``options`` (a dict).

    Options (all optional): entrypoint (None | str | list), args (list),
    env (list of KEY=VALUE or KEY), workdir, user, labels (dict),
    expose (list), stop_signal, healthcheck (dict of Docker Healthcheck keys to
    override), no_healthcheck (bool), hostname, tty (bool).
    """
    options = options or {}
    image = image_config or ImageConfig()
    args = _command(image, options.get("entrypoint"), list(options.get("args") or ()))
    env = merge_env(image.env, options.get("env") or (), host_env)
    keys = {item.partition("=")[0] for item in env}
    if "PATH" not in keys:
        env.insert(0, f"PATH={DEFAULT_PATH}")
    if options.get("hostname") and "HOSTNAME" not in keys:
        env.append(f"HOSTNAME={options['hostname']}")
    if options.get("tty") and "TERM" not in keys:
        env.append("TERM=xterm")
    return RunConfig(
        args=tuple(args), env=tuple(env), cwd=_workdir(image, options.get("workdir")),
        user=options.get("user") or image.user or None,
        stop_signal=options.get("stop_signal") or image.stop_signal or "SIGTERM",
        healthcheck=_healthcheck(image.healthcheck, options),
        labels={**(image.labels or {}), **(options.get("labels") or {})},
        exposed_ports=tuple(sorted(set(image.exposed_ports) |
                                   {_port_key(p) for p in options.get("expose") or ()})),
        volumes=tuple(image.volumes),
    )


def _command(image, entrypoint, args):
    if entrypoint is not None:
        if isinstance(entrypoint, str):
            head = [entrypoint] if entrypoint else []
        else:
            head = list(entrypoint)
        tail = args  # a new entrypoint drops the image's Cmd
    else:
        head = list(image.entrypoint or ())
        tail = args or list(image.cmd or ())
    command = head + tail
    if not command:
        raise SpecError("no command specified: the image has no Entrypoint or Cmd; "
                        "give a command after the image name")
    return command


def _workdir(image, override):
    if override:
        if not override.startswith("/"):
            raise SpecError(f"the working directory {override!r} is invalid, it needs to be "
                            f"an absolute path")
        return posixpath.normpath(override)
    if image.working_dir:
        return posixpath.normpath(posixpath.join("/", image.working_dir))
    return "/"


def _healthcheck(image_check, options):
    if options.get("no_healthcheck"):
        return None
    check = dict(image_check or {})
    check.update(options.get("healthcheck") or {})
    test = check.get("Test")
    if not test or test == ["NONE"]:
        return None
    check.setdefault("Interval", 30 * _NS)
    check.setdefault("Timeout", 30 * _NS)
    check.setdefault("StartPeriod", 0)
    check.setdefault("Retries", 3)
    for key in ("Interval", "Timeout", "StartPeriod"):
        if not check[key]:  # 0 means "the default" in Docker's config
            check[key] = {"Interval": 30 * _NS, "Timeout": 30 * _NS, "StartPeriod": 0}[key]
    if not check["Retries"]:
        check["Retries"] = 3
    return check


def _port_key(port):
    text = str(port)
    return text if "/" in text else text + "/tcp"
