"""KeystoneServer: real Keystone 30 (SQLite, fernet tokens) in a child process on loopback.

Started from a copy of the template state the venv build made (:mod:`.venv`), then
``keystone-manage bootstrap`` (admin user, project and role, the ``reader``/``member``/
``manager``/``service`` roles, the identity endpoint), then served by ``serve.py``.
Once it answers, :meth:`KeystoneServer.start` adds through Keystone's own API:

- ``demo``: a non-admin user, ``member`` of project ``demo``;
- ``masakari``: a service user (role ``service`` in project ``service``) for
  keystonemiddleware's ``auth_token`` to validate tokens with.

Each is a credentials dict (``auth_url``, ``username``, ``password``, ``project_name``,
``user_domain_name``, ``project_domain_name``): keystoneauth's password plugin options.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rhworker.errors import RhworkerError
from rhworker.testing import venvbuild
from rhworker.testing.keystone import venv
from rhworker.testing.servers import free_port
from rhworker.testing.subprocess_server import ChildServer

SERVE = Path(__file__).with_name("serve.py")
READY = "RHWORKER-KEYSTONE-READY"
REGION = "RegionOne"
ADMIN_PASSWORD = "keystone-admin"  # loopback-only test credentials
DEFAULT_STARTUP_TIMEOUT = 180.0  # s; bootstrap + serve, ~10 s on an idle machine

Credentials = dict[str, str]


class KeystoneError(RhworkerError):
    """Keystone did not start, or an identity call failed."""


class KeystoneServer(ChildServer):
    """Keystone on ``127.0.0.1:<free port>``; ``auth_url`` is its ``/v3``.

    ``startup_s``: copy + bootstrap + serve + users, measured here.
    """

    name = "Keystone"
    error = KeystoneError
    log_names = ("keystone.log", "serve.err")
    keep_logs_env = "RHWORKER_KEYSTONE_KEEP_LOGS"

    def __init__(self, *, startup_timeout: float = DEFAULT_STARTUP_TIMEOUT) -> None:
        super().__init__(prefix="rhworker-keystone-", startup_timeout=startup_timeout)
        self.log_path = self.dir / "keystone.log"
        self.admin: Credentials = {}
        self.user: Credentials = {}
        self.service: Credentials = {}

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v3"

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> KeystoneServer:
        start = time.monotonic()
        path = venv.ensure_venv()
        state = self.dir / "state"
        shutil.copytree(path / venv.TEMPLATE, state)
        conf = state / "keystone.conf"
        conf.write_text(venv.keystone_conf(state, log_file=str(self.log_path)))
        self.port = free_port()
        try:
            self._bootstrap(path, conf)
            self._serve(path, conf, start + self.startup_timeout)
            self.admin = self.credentials("admin", ADMIN_PASSWORD, "admin")
            self.user = self._add_user("demo", "demo", "member")
            self.service = self._add_user("masakari", "service", "service")
        except BaseException:
            self.close()
            raise
        self.startup_s = time.monotonic() - start
        return self

    def _bootstrap(self, path: Path, conf: Path) -> None:
        cmd = venv.manage(path, conf, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD)
        cmd += ["--bootstrap-region-id", REGION]
        for interface in ("public", "internal", "admin"):  # auth_token looks up internal
            cmd += [f"--bootstrap-{interface}-url", self.auth_url]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=self.startup_timeout,
            env=venvbuild.child_env(),
        )
        if proc.returncode != 0:
            raise KeystoneError(f"keystone-manage bootstrap failed:\n{proc.stderr[-3000:]}")

    def _serve(self, path: Path, conf: Path, deadline: float) -> None:
        cmd = [str(venvbuild.venv_python(path)), str(SERVE), "--config-file", str(conf)]
        cmd += ["--port", str(self.port)]
        with open(self.dir / "serve.err", "ab") as err:
            self.proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=self.dir,
                env=venvbuild.child_env(),
                start_new_session=True,
            )
        self._wait_ready(deadline)

    def _wait_ready(self, deadline: float) -> None:
        self._read_stdout_until(deadline, lambda buf: True if READY.encode() in buf else None)

    # -- identity API -----------------------------------------------------------------

    def credentials(self, username: str, password: str, project: str) -> Credentials:
        return {
            "auth_url": self.auth_url,
            "username": username,
            "password": password,
            "project_name": project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }

    def token(self, creds: Credentials) -> str:
        """A project-scoped token for ``creds`` (``POST /v3/auth/tokens``)."""
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": creds["username"],
                            "domain": {"name": creds["user_domain_name"]},
                            "password": creds["password"],
                        }
                    },
                },
                "scope": {
                    "project": {
                        "name": creds["project_name"],
                        "domain": {"name": creds["project_domain_name"]},
                    }
                },
            }
        }
        headers, _ = self._call("POST", "/v3/auth/tokens", body)
        return headers["X-Subject-Token"]

    def add_endpoint(self, service_type: str, name: str, url: str, *, region: str = REGION) -> None:
        """Register a service and its endpoints (public, internal) in ``region`` (made
        if new): two services of one type are told apart by region, as clouds do."""
        token = self.token(self.admin)
        _, regions = self._call("GET", "/v3/regions", None, token)
        if region not in {r["id"] for r in regions["regions"]}:
            self._call("POST", "/v3/regions", {"region": {"id": region}}, token)
        _, svc = self._call(
            "POST", "/v3/services", {"service": {"type": service_type, "name": name}}, token
        )
        for interface in ("public", "internal"):
            endpoint = {
                "service_id": svc["service"]["id"],
                "interface": interface,
                "region_id": region,
                "url": url,
            }
            self._call("POST", "/v3/endpoints", {"endpoint": endpoint}, token)

    def _add_user(self, name: str, project: str, role: str) -> Credentials:
        token = self.token(self.admin)
        _, proj = self._call(
            "POST", "/v3/projects", {"project": {"name": project, "domain_id": "default"}}, token
        )
        password = f"{name}-password"
        user_body = {"name": name, "password": password, "domain_id": "default"}
        _, user = self._call("POST", "/v3/users", {"user": user_body}, token)
        _, roles = self._call("GET", f"/v3/roles?name={role}", None, token)
        role_id = roles["roles"][0]["id"]
        grant = f"/v3/projects/{proj['project']['id']}/users/{user['user']['id']}/roles/{role_id}"
        self._call("PUT", grant, None, token)
        return self.credentials(name, password, project)

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None, token: str | None = None
    ) -> tuple[Any, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Auth-Token"] = token
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
                return resp.headers, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise KeystoneError(f"{method} {path}: {e.code} {detail}") from e
