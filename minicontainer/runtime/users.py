"""Docker's ``-u uid[:gid]`` / ``name[:group]``, resolved in the container's root.

Read after pivot_root, so the names are the container's, never the host's.
"""

from ..errors import SpecError


def _read_db(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f
                    if line.strip() and not line.startswith("#")]
    except OSError:
        return []


class User:
    __slots__ = ("uid", "gid", "groups", "home", "name")

    def __init__(self, uid, gid, groups, home, name):
        self.uid, self.gid, self.groups, self.home, self.name = uid, gid, groups, home, name


def resolve_user(spec_user, group_add=(), passwd="/etc/passwd", group="/etc/group"):
    """Who the container's process runs as: uid, gid, supplementary groups, home."""
    user_part, _, group_part = (spec_user or "0").partition(":")
    users = [e for e in _read_db(passwd) if len(e) >= 7]
    entry = None
    if user_part.isdigit():
        uid = int(user_part)
        entry = next((e for e in users if e[2] == user_part), None)
    else:
        entry = next((e for e in users if e[0] == user_part), None)
        if entry is None:
            raise SpecError(f"unable to find user {user_part}: no matching entries in passwd file")
        uid = int(entry[2])
    # Docker: a uid with no passwd entry runs with gid 0 and HOME=/.
    gid = int(entry[3]) if entry else 0
    home = entry[5] if entry else "/"
    name = entry[0] if entry else None
    groups_db = [e for e in _read_db(group) if len(e) >= 3]
    if group_part:
        gid = _group_id(group_part, groups_db)
    supplementary = []
    if name is not None and not group_part:
        for g in groups_db:
            members = g[3].split(",") if len(g) > 3 and g[3] else []
            if name in members and g[2].isdigit():
                supplementary.append(int(g[2]))
    for extra in group_add:
        supplementary.append(_group_id(str(extra), groups_db))
    groups = [gid] + [g for g in supplementary if g != gid]
    return User(uid, gid, sorted(set(groups), key=groups.index), home, name)


def _group_id(value, groups_db):
    if value.isdigit():
        return int(value)
    entry = next((g for g in groups_db if g[0] == value), None)
    if entry is None:
        raise SpecError(f"unable to find group {value}: no matching entries in group file")
    return int(entry[2])
