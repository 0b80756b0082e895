"""``exec``'s process: from ``--process FILE`` (the config's process object) or flags.

Without ``--process`` the container's own process is the base (its user,
environment, capabilities...), changed by the flags as runc does: the
command from the arguments, ``--env`` appended, ``--cwd``, ``--user``,
``--tty``, ``--additional-gids``, ``--cap`` added, ``--no-new-privs``.
"""

from ..errors import SpecError


def exec_spec(record, options, argv):
    """The ContainerSpec ``runtime.exec.exec_in`` runs (the container's, changed)."""
    from ..spec import ContainerSpec
    base = ContainerSpec.from_json_dict(record["spec"])
    if options.get("process"):
        if argv:
            raise SpecError("exec: give the command either in --process or as arguments")
        document = _read_process(options["process"])
        spec = from_process(base, document)
    else:
        if not argv:
            raise SpecError("exec: no command given (arguments or --process)")
        spec = base.replace(args=tuple(argv))
    spec = _apply_flags(spec, options)
    # Like runc, the new process gets the runtime's stdin, not /dev/null.
    return spec.replace(interactive=True)


def _read_process(path):
    import json
    try:
        with open(path) as f:
            document = json.load(f)
    except OSError as exc:
        raise SpecError(f"--process {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SpecError(f"--process {path}: not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise SpecError(f"--process {path}: expected a JSON object (the config's process)")
    return document


def from_process(base, process):
    """``base`` with the fields of an OCI process object."""
    from . import config
    converter = getattr(config, "process_fields", None)
    if converter is not None:
        # Part of the bundle conversion: the same rules for the same object.
        return base.replace(**converter(process, base))
    args = process.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise SpecError("process.args must be a non-empty list of strings")
    changes = {"args": tuple(args), "env": tuple(process.get("env") or ()),
               "cwd": process.get("cwd") or "/", "tty": bool(process.get("terminal"))}
    user = process.get("user") or {}
    changes["user"] = f"{int(user.get('uid', 0))}:{int(user.get('gid', 0))}"
    security = base.security.replace(
        group_add=tuple(str(g) for g in user.get("additionalGids") or ()),
        no_new_privileges=bool(process.get("noNewPrivileges")))
    changes["security"] = security
    return base.replace(**changes)


def _apply_flags(spec, options):
    changes = {}
    if options.get("env"):
        changes["env"] = tuple(spec.env) + tuple(options["env"])
    if options.get("cwd"):
        changes["cwd"] = options["cwd"]
    if options.get("user"):
        changes["user"] = options["user"]
    if options.get("tty"):
        changes["tty"] = True
    security = spec.security
    if options.get("additional-gids"):
        security = security.replace(group_add=tuple(security.group_add)
                                    + tuple(options["additional-gids"]))
    if options.get("no-new-privs"):
        security = security.replace(no_new_privileges=True)
    if options.get("cap"):
        security = _add_caps(security, options["cap"])
    if security is not spec.security:
        changes["security"] = security
    return spec.replace(**changes) if changes else spec


def _add_caps(security, caps):
    names = tuple(c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper()
                  for c in caps)
    current = getattr(security, "capabilities", None)
    if isinstance(current, dict):
        merged = {key: sorted(set(value) | set(names)) for key, value in current.items()
                  if key != "ambient"}
        if "ambient" in current:
            merged["ambient"] = current["ambient"]
        return security.replace(capabilities=merged)
    return security.replace(cap_add=tuple(security.cap_add) + names)
