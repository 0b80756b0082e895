"""Registry credentials, stored the way Docker's config.json stores them.

``<config dir>/config.json`` holds ``{"auths": {"<registry>": {"auth":
base64("user:password")}}}``; Docker Hub's key is its historical
``https://index.docker.io/v1/``.  The config dir is $MINICONTAINER_CONFIG or
~/.config/minicontainer; the file is written atomically with mode 0600.
"""

import base64
import os

DOCKER_HUB_KEY = "https://index.docker.io/v1/"


def config_dir():
    return os.environ.get("MINICONTAINER_CONFIG") or os.path.join(
        os.path.expanduser("~"), ".config", "minicontainer")


def _config_path(directory=None):
    return os.path.join(directory or config_dir(), "config.json")


def config_key(domain):
    return DOCKER_HUB_KEY if domain in ("docker.io", "index.docker.io") else domain


def _load(directory=None):
    from .files import read_json
    return read_json(_config_path(directory), {}) or {}


def _save(data, directory=None):
    import json
    from .files import atomic_write
    path = _config_path(directory)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=2) + "\n", mode=0o600)


def load_credentials(domain, directory=None):
    """(username, password) stored for ``domain``, or None."""
    entry = _load(directory).get("auths", {}).get(config_key(domain))
    if not entry or not entry.get("auth"):
        return None
    try:
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def store_credentials(domain, username, password, directory=None):
    data = _load(directory)
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    data.setdefault("auths", {})[config_key(domain)] = {"auth": token}
    _save(data, directory)


def remove_credentials(domain, directory=None):
    """Forget ``domain``'s credentials; True if there were any."""
    data = _load(directory)
    found = data.get("auths", {}).pop(config_key(domain), None) is not None
    if found:
        _save(data, directory)
    return found


def parse_challenge(header):
    """``Bearer realm="x",service="y"`` -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = (header or "").strip().partition(" ")
    params, key, value, i = {}, "", "", 0
    while i < len(rest):
        while i < len(rest) and rest[i] in " ,":
            i += 1
        start = i
        while i < len(rest) and rest[i] != "=":
            i += 1
        key = rest[start:i].strip().lower()
        i += 1
        if i < len(rest) and rest[i] == '"':
            i += 1
            chars = []
            while i < len(rest) and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < len(rest):
                    i += 1
                chars.append(rest[i])
                i += 1
            value = "".join(chars)
            i += 1
        else:
            start = i
            while i < len(rest) and rest[i] != ",":
                i += 1
            value = rest[start:i].strip()
        if key:
            params[key] = value
    return scheme.lower(), params
