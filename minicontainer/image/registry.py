"""A client for the OCI distribution API (what ``docker pull``/``push`` speak).

Plain urllib.  Authentication follows the registry's ``WWW-Authenticate``
challenge: ``Bearer`` -> fetch a token from the realm (with the stored
credentials, if any, as Basic auth) for the repository scope and retry;
``Basic`` -> send the credentials.  Redirects (blob storage on another host)
are followed by hand so the registry's Authorization header never leaves for
the other host.  Plain HTTP is used only for insecure registries: localhost,
127.0.0.1 and ::1 by default, plus $MINICONTAINER_INSECURE_REGISTRIES
(comma-separated hosts).  For those, as Docker does, HTTPS is tried first
without checking the certificate, and HTTP follows when the server does not
speak TLS.
"""

import os

from ..errors import NotFound, SetupError
from .files import sha256_digest
from .store import INDEX_TYPES, MANIFEST_TYPES

ACCEPT_MANIFESTS = ", ".join(MANIFEST_TYPES + INDEX_TYPES)
DOCKER_HUB_HOST = "registry-1.docker.io"


class RegistryError(SetupError):
    """The registry said no (or something in between did)."""


class AuthError(RegistryError):
    exit_code = 1


def default_insecure(host):
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    if name in ("localhost", "127.0.0.1", "[::1]", "::1") or name.startswith("127."):
        return True
    extra = os.environ.get("MINICONTAINER_INSECURE_REGISTRIES", "")
    return host in {item.strip() for item in extra.split(",") if item.strip()}


class _NoRedirect:
    """urllib handler that hands 3xx back to us instead of following it."""

    @staticmethod
    def build(verify_tls=True):
        import urllib.request

        class Handler(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None
        handlers = [Handler]
        if not verify_tls:  # an insecure registry may have a self-signed certificate
            import ssl
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=context))
        return urllib.request.build_opener(*handlers)


class Response:
    """The parts of an HTTP response we use; ``stream`` must be closed by the caller."""

    def __init__(self, status, headers, stream, url):
        self.status, self.headers, self.stream, self.url = status, headers, stream, url

    def read(self):
        try:
            return self.stream.read()
        finally:
            self.stream.close()

    def close(self):
        self.stream.close()


class Client:
    def __init__(self, domain, credentials=None, insecure=None, timeout=60):
        self.domain = domain
        self.host = DOCKER_HUB_HOST if domain == "docker.io" else domain
        self.credentials = credentials
        self.insecure = default_insecure(self.host) if insecure is None else insecure
        self.timeout = timeout
        self.scheme = None if self.insecure else "https"
        self._opener = _NoRedirect.build(verify_tls=not self.insecure)
        self._auth = {}  # scope -> Authorization header value

    # -- plumbing ------------------------------------------------------------------

    def _base(self):
        return f"{self.scheme}://{self.host}"

    def _open(self, method, url, headers, body):
        import urllib.error
        import urllib.request
        data = body() if callable(body) else body
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            raw = self._opener.open(request, timeout=self.timeout)
            return Response(raw.status, raw.headers, raw, url)
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.headers, exc, url)
        finally:
            if callable(body) and hasattr(data, "close"):
                data.close()  # a file opened for this one attempt

    def _decide_scheme(self):
        if self.scheme is not None:
            return
        import ssl
        import urllib.error
        self.scheme = "https"
        try:
            self._open("GET", self._base() + "/v2/", {}, None).close()
        except (ssl.SSLError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ConnectionRefusedError):
                raise RegistryError(f"cannot reach registry {self.host}: connection refused",
                                    op="registry") from None
            self.scheme = "http"  # insecure registry without TLS

    def request(self, method, path, scope=None, headers=None, body=None, ok=(200,)):
        """Send ``method path``; authenticate on 401 and follow redirects; check status."""
        import urllib.error
        from urllib.parse import urljoin
        self._decide_scheme()
        url = path if "://" in path else self._base() + path
        headers = dict(headers or {})
        for _hop in range(6):
            send = dict(headers)
            if scope in self._auth and _same_host(url, self._base()):
                send["Authorization"] = self._auth[scope]
            try:
                response = self._open(method, url, send, body)
            except urllib.error.URLError as exc:
                raise RegistryError(f"cannot reach registry {self.host}: {exc.reason}",
                                    op="registry") from None
            if response.status == 401 and scope not in self._auth:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                self._authenticate(challenge, scope)
                continue
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                response.close()
                url = urljoin(url, location)
                if response.status == 303:
                    method, body = "GET", None
                continue
            if response.status not in ok:
                raise self._error(response, method, path)
            return response
        raise RegistryError(f"too many redirects or auth rounds for {path}", op="registry")

    def _authenticate(self, challenge, scope):
        from .auth import parse_challenge
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if not self.credentials:
                raise AuthError(f"{self.host} needs a login (minicontainer login {self.domain})",
                                op="registry auth")
            self._auth[scope] = "Basic " + _basic(self.credentials)
            return
        if scheme != "bearer" or "realm" not in params:
            raise AuthError(f"{self.host} asks for unsupported authentication {challenge!r}",
                            op="registry auth")
        self._auth[scope] = "Bearer " + self._fetch_token(params, scope)

    def _fetch_token(self, params, scope):
        import json
        import urllib.error
        import urllib.request
        from urllib.parse import urlencode
        query = {"service": params.get("service", "")} if params.get("service") else {}
        if scope:
            query["scope"] = scope
        url = params["realm"] + ("&" if "?" in params["realm"] else "?") + urlencode(query)
        headers = {}
        if self.credentials:
            headers["Authorization"] = "Basic " + _basic(self.credentials)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=self.timeout) as raw:
                data = json.loads(raw.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise AuthError(f"{self.host}: login refused by the token service "
                                f"({exc.code})", op="registry auth") from None
            raise RegistryError(f"token service {url} answered {exc.code}",
                                op="registry auth") from None
        except urllib.error.URLError as exc:
            raise RegistryError(f"cannot reach token service: {exc.reason}",
                                op="registry auth") from None
        token = data.get("token") or data.get("access_token")
        if not token:
            raise AuthError("the token service returned no token", op="registry auth")
        return token

    def _error(self, response, method, path):
        import json
        try:
            body = response.read()
            errors = json.loads(body).get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except (ValueError, AttributeError, OSError):
            detail = ""
        text = f"{method} {path}: {response.status}" + (f" ({detail})" if detail else "")
        if response.status == 404:
            return NotFound(text, op="registry")
        if response.status in (401, 403):
            return AuthError(text + " - check minicontainer login", op="registry")
        return RegistryError(text, op="registry")

    # -- the API -------------------------------------------------------------------

    def ping(self):
        """GET /v2/, authenticating if challenged: True when the registry accepts us."""
        self.request("GET", "/v2/").close()
        return True

    def get_manifest(self, repo, reference):
        """(bytes, media type, digest) of a manifest or index; the digest is verified."""
        response = self.request("GET", f"/v2/{repo}/manifests/{reference}",
                                scope=f"repository:{repo}:pull",
                                headers={"Accept": ACCEPT_MANIFESTS})
        body = response.read()
        digest = sha256_digest(body)
        claimed = response.headers.get("Docker-Content-Digest")
        expected = reference if reference.startswith("sha256:") else claimed
        if expected and expected != digest:
            raise RegistryError(f"manifest {repo}:{reference} hashes to {digest}, "
                                f"expected {expected}", op="pull")
        media_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
        return body, media_type, digest

    def open_blob(self, repo, digest):
        """A Response whose ``stream`` yields the blob (the caller verifies while storing)."""
        return self.request("GET", f"/v2/{repo}/blobs/{digest}", scope=f"repository:{repo}:pull")

    def has_blob(self, repo, digest, scope=None):
        try:
            self.request("HEAD", f"/v2/{repo}/blobs/{digest}",
                         scope=scope or f"repository:{repo}:pull").close()
            return True
        except NotFound:
            return False

    def upload_blob(self, repo, digest, size, opener):
        """Monolithic upload: POST for a session, PUT the bytes with ?digest=."""
        from urllib.parse import quote, urljoin
        scope = f"repository:{repo}:pull,push"
        started = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope=scope,
                               headers={"Content-Length": "0"}, body=b"", ok=(202,))
        started.close()
        location = urljoin(self._base() + "/", started.headers["Location"])
        location += ("&" if "?" in location else "?") + "digest=" + quote(digest)
        self.request("PUT", location, scope=scope, body=opener, ok=(201, 204),
                     headers={"Content-Type": "application/octet-stream",
                              "Content-Length": str(size)}).close()

    def put_manifest(self, repo, reference, body, media_type):
        response = self.request("PUT", f"/v2/{repo}/manifests/{reference}",
                                scope=f"repository:{repo}:pull,push", body=body,
                                headers={"Content-Type": media_type}, ok=(201, 200))
        response.close()
        return response.headers.get("Docker-Content-Digest") or sha256_digest(body)


def _basic(credentials):
    import base64
    return base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()


def _same_host(url, base):
    from urllib.parse import urlsplit
    return urlsplit(url).netloc == urlsplit(base).netloc


def client_for(domain, insecure=None, config_directory=None):
    """A Client with the stored login for ``domain`` (if any)."""
    from .auth import load_credentials
    return Client(domain, credentials=load_credentials(domain, config_directory),
                  insecure=insecure)


