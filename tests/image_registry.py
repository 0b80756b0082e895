"""A real registry for the tests: Debian's docker-registry on 127.0.0.1:<free port>.

Only ever bound to the loopback; storage and config live in the test's temp
directory; the process is stopped by its own pid.  Optional auth: "htpasswd"
(Basic) or "token" (Bearer tokens from a small token service run here, signed
with a throwaway RSA key made by openssl).
"""

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def have_registry():
    return os.path.exists(REGISTRY_BIN)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalRegistry:
    def __init__(self, workdir, auth=None, token_realm=None, cert=None, htpasswd=None,
                 tls=None):
        self.workdir = str(workdir)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.process = None
        os.makedirs(os.path.join(self.workdir, "storage"), exist_ok=True)
        lines = [
            "version: 0.1",
            "log: {level: error, accesslog: {disabled: true}}",
            "storage:",
            f"  filesystem: {{rootdirectory: {self.workdir}/storage}}",
            "  delete: {enabled: true}",
            "http:",
            f"  addr: {self.host}",
            "  secret: mctest-secret",
        ]
        if tls:  # (certificate, key) files: serve HTTPS
            lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
        self.scheme = "https" if tls else "http"
        if auth == "htpasswd":
            lines += ["auth:", f"  htpasswd: {{realm: mctest, path: {htpasswd}}}"]
        elif auth == "token":
            lines += ["auth:", "  token:", f"    realm: {token_realm}",
                      "    service: mctest-registry", "    issuer: mctest-issuer",
                      f"    rootcertbundle: {cert}"]
        self.config = os.path.join(self.workdir, "config.yml")
        with open(self.config, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def start(self):
        self.log = open(os.path.join(self.workdir, "registry.log"), "wb")
        self.process = subprocess.Popen([REGISTRY_BIN, "serve", self.config],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(400):  # wait for it to listen (not a timing assertion)
            if self.process.poll() is not None:
                raise RuntimeError("docker-registry exited: " + open(self.log.name).read())
            try:
                import ssl
                context = ssl.create_default_context()
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
                urllib.request.urlopen(f"{self.scheme}://{self.host}/v2/", timeout=2,
                                       context=context).close()
                return self
            except urllib.error.HTTPError:
                return self  # 401: up, wants auth
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start listening")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()


class TokenService:
    """A tiny bearer-token service: checks Basic credentials, signs JWTs with openssl.

    Anonymous requests get pull access only; ``user``/``password`` get pull+push.
    """

    def __init__(self, workdir, user="mctest", password="mctest-pass"):
        import http.server
        import threading
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.user, self.password = user, password
        self.key = os.path.join(self.workdir, "key.pem")
        self.cert = os.path.join(self.workdir, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        self.key, "-out", self.cert, "-days", "2", "-subj", "/CN=mctest-token"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        import base64
        self.x5c = base64.b64encode(der).decode()
        self.requests = []
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                service.requests.append((self.path, self.headers.get("Authorization")))
                status, body = service.answer(self.path, self.headers.get("Authorization"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, path, authorization):
        import base64
        import json
        from urllib.parse import parse_qs, urlsplit
        query = parse_qs(urlsplit(path).query)
        authenticated = False
        if authorization:
            scheme, _, value = authorization.partition(" ")
            user, _, password = base64.b64decode(value).decode().partition(":")
            if scheme != "Basic" or (user, password) != (self.user, self.password):
                return 401, b'{"details": "bad credentials"}'
            authenticated = True
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":")
            allowed = [a for a in actions.split(",") if a == "pull" or authenticated]
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        claims = {"iss": "mctest-issuer", "sub": self.user if authenticated else "",
                  "aud": query.get("service", [""])[0], "exp": now + 600, "nbf": now - 10,
                  "iat": now, "jti": os.urandom(8).hex(), "access": access}
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                                   input=signing_input.encode(), check=True,
                                   capture_output=True).stdout
        token = signing_input + "." + _b64(signature)
        return 200, json.dumps({"token": token, "access_token": token,
                                "expires_in": 600}).encode()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def _b64(raw):
    import base64
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
