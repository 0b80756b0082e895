"""Image names the way Docker reads them.

``busybox`` means ``docker.io/library/busybox:latest``; ``host:port/repo:tag``
names another registry; ``name@sha256:<hex>`` pins one manifest by content.
The rules follow Docker's reference grammar: the first path component is a
registry only when it contains a ``.`` or a ``:`` or is ``localhost``;
repository components are lowercase letters and digits joined by ``.``,
``_``, ``__`` or runs of ``-``; a tag is at most 128 word characters, dots
and dashes and does not start with either.  Pure: no I/O.
"""

import re

from ..errors import SpecError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
    r"(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*"
    r"(?::[0-9]+)?\Z|\[[a-fA-F0-9:]+\](?::[0-9]+)?\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}\Z")
_HEX64 = re.compile(r"[a-f0-9]{64}\Z")
_MAX_NAME = 255


class Reference:
    """A parsed image reference: ``domain``/``path`` plus ``tag`` and/or ``digest``."""

    __slots__ = ("domain", "path", "tag", "digest")

    def __init__(self, domain, path, tag=None, digest=None):
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest

    @property
    def repository(self):
        """``docker.io/library/busybox``: the name without tag or digest."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_repository(self):
        """``busybox`` for Docker Hub official images, as ``docker images`` shows."""
        if self.domain == DEFAULT_DOMAIN:
            if self.path.startswith(OFFICIAL_PREFIX) and self.path.count("/") == 1:
                return self.path[len(OFFICIAL_PREFIX):]
            return self.path
        return self.repository

    def __str__(self):
        text = self.repository
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text

    def familiar(self):
        text = self.familiar_repository
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text

    def with_tag(self, tag):
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest):
        return Reference(self.domain, self.path, None, digest)

    def __eq__(self, other):
        return isinstance(other, Reference) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))

    def __repr__(self):
        return f"Reference({str(self)!r})"


def parse(text, default_tag=True):
    """Parse and normalise ``text``; ``default_tag`` adds ``:latest`` when neither is given."""
    if not isinstance(text, str) or not text:
        raise SpecError("invalid reference format: image name is empty")
    original = text
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        check_digest(digest, what=f"digest in {original!r}")
    tag = None
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1:]
        if not _TAG.match(tag):
            raise SpecError(f"invalid reference format: bad tag {tag!r} in {original!r}")
    if not text:
        raise SpecError(f"invalid reference format: no repository in {original!r}")
    domain, path = _split_domain(text, original)
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            if component.lower() != component:
                raise SpecError(f"invalid reference format: repository name must be "
                                f"lowercase: {original!r}")
            raise SpecError(f"invalid reference format: bad repository component "
                            f"{component!r} in {original!r}")
    if len(domain) + 1 + len(path) > _MAX_NAME:
        raise SpecError(f"invalid reference format: repository name longer than "
                        f"{_MAX_NAME} characters: {original!r}")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def _split_domain(text, original):
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.match(first):
            raise SpecError(f"invalid reference format: bad registry {first!r} in {original!r}")
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, text
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    if not path:
        raise SpecError(f"invalid reference format: no repository in {original!r}")
    return domain, path


def check_digest(digest, what="digest"):
    """Raise SpecError unless ``digest`` is ``algorithm:encoded`` (sha256 = 64 hex)."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise SpecError(f"invalid {what}: {digest!r} is not algorithm:hex")
    algorithm, encoded = digest.split(":", 1)
    if algorithm == "sha256" and not _HEX64.match(encoded):
        raise SpecError(f"invalid {what}: sha256 needs 64 lowercase hex digits")
    if algorithm not in ("sha256", "sha512"):
        raise SpecError(f"invalid {what}: unsupported algorithm {algorithm!r}")
    return digest


def is_image_id(text):
    """True for a bare 64-hex image id or ``sha256:<64 hex>`` (Docker accepts both)."""
    if text.startswith("sha256:"):
        text = text[7:]
    return bool(_HEX64.match(text))
