"""`--security-opt` values (Docker's syntax) → changes to a spec.Security.

Accepted, with '=' or the older ':' separator:
  seccomp=unconfined | seccomp=PROFILE.json (checked and made absolute now)
  no-new-privileges | no-new-privileges=true|false
  systempaths=unconfined
  apparmor=unconfined, label=disable (no LSM is used here: nothing to lift)
"""

import os

from ..errors import SpecError

_TRUE = ("", "true", "1", "yes")
_FALSE = ("false", "0", "no")


def _split(option):
    for sep in ("=", ":"):
        if sep in option:
            key, _, value = option.partition(sep)
            return key.strip().lower(), value.strip()
    return option.strip().lower(), ""


def parse_security_opts(options):
    """Several --security-opt strings → a dict of Security fields to replace."""
    changes = {}
    for option in options:
        key, value = _split(option)
        if key == "seccomp":
            if not value:
                raise SpecError("--security-opt seccomp needs a value (unconfined or a "
                                "profile path)", op="security-opt")
            if value in ("unconfined", "default"):
                changes["seccomp"] = value
            else:
                from .seccomp import build_filter, read_profile
                path = os.path.abspath(value)
                build_filter(read_profile(path), ())  # bad profiles fail now, not in the child
                changes["seccomp"] = path
        elif key == "no-new-privileges":
            if value.lower() in _TRUE:
                changes["no_new_privileges"] = True
            elif value.lower() in _FALSE:
                changes["no_new_privileges"] = False
            else:
                raise SpecError(f"--security-opt {option!r}: expected true or false",
                                op="security-opt")
        elif key == "systempaths":
            if value != "unconfined":
                raise SpecError(f"--security-opt {option!r}: only systempaths=unconfined exists",
                                op="security-opt")
            changes["systempaths_unconfined"] = True
        elif (key, value) in (("apparmor", "unconfined"), ("label", "disable")):
            continue  # no AppArmor/SELinux profile is applied, so nothing to turn off
        else:
            raise SpecError(f"unsupported --security-opt {option!r}", op="security-opt")
    return changes
