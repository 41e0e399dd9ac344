"""MasakariApi: the real masakari-api 22 in a child process on a free loopback port.

It runs from the Masakari virtualenv (:mod:`.venv`) with its own SQLite database
(a copy of the template ``masakari-manage db sync`` made when the venv was built),
``auth_strategy = noauth2`` (every request is an admin; Masakari's paste pipeline
``noauth2``) or ``keystone`` (keystonemiddleware ``auth_token`` against a Keystone),
and oslo.messaging's ``fake:/`` transport. No masakari-engine runs: the RPC cast that
hands a new notification to the engine goes nowhere, so notifications stay ``new``;
and showing a notification at microversion 1.1 or later, which asks the engine for
``recovery_workflow_details`` by an RPC call, answers 500 (``MessagingTimeout``, after
the 2 s ``rpc_response_timeout`` set here). Clients that show a notification after
creating it (``openstack notification create``) need ``--os-ha-api-version 1.0``.

Masakari asks Nova whether a host exists before it records it (``nova services
list --host``), through a Keystone password login of its "privileged user": give it
``nova_auth_url``, an Identity v3 whose catalog has a compute endpoint — the Nova
simulator's ``/v3`` (user ``admin``/``admin`` in project ``admin``) does.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rhworker.errors import RhworkerError
from rhworker.testing import venvbuild
from rhworker.testing.masakari import venv
from rhworker.testing.servers import free_port
from rhworker.testing.subprocess_server import ChildServer

DEFAULT_STARTUP_TIMEOUT = 90.0  # s; ~3 s on an idle machine


class MasakariError(RhworkerError):
    """masakari-api did not start, or a client run against it failed."""


class MasakariApi(ChildServer):
    """masakari-api on ``127.0.0.1:<free port>``; ``endpoint`` is its ``/v1``.

    ``nova_auth_url``/``nova_user``/``nova_password``/``nova_project``: the Identity v3
    and credentials Masakari uses to reach Nova. ``auth_strategy``: ``noauth2`` or
    ``keystone``; with ``keystone``, ``keystone_authtoken`` holds that section's options
    (``www_authenticate_uri``, ``auth_url``, ``username``, ...). ``conf`` adds options:
    ``{"DEFAULT": {"duplicate_notification_detection_interval": "5"}}``.
    ``startup_s``: launch to first answer, measured here.
    """

    name = "masakari-api"
    error = MasakariError
    log_names = ("masakari-api.log",)
    keep_logs_env = "RHWORKER_MASAKARI_KEEP_LOGS"

    def __init__(
        self,
        *,
        nova_auth_url: str | None = None,
        nova_user: str = "admin",
        nova_password: str = "admin",
        nova_project: str = "admin",
        auth_strategy: str = "noauth2",
        keystone_authtoken: dict[str, str] | None = None,
        conf: dict[str, dict[str, str]] | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    ) -> None:
        if auth_strategy not in ("noauth2", "keystone"):
            raise ValueError(f"auth_strategy {auth_strategy!r}: noauth2 or keystone")
        self.auth_strategy = auth_strategy
        self.nova = {
            "os_privileged_user_name": nova_user,
            "os_privileged_user_password": nova_password,
            "os_privileged_user_tenant": nova_project,
            "os_user_domain_name": "Default",
            "os_project_domain_name": "Default",
            "os_region_name": "RegionOne",
            "nova_catalog_admin_info": "compute:nova:publicURL",
        }
        if nova_auth_url:
            self.nova["os_privileged_user_auth_url"] = nova_auth_url
        self.keystone_authtoken = dict(keystone_authtoken or {})
        self.extra = {k: dict(v) for k, v in (conf or {}).items()}
        super().__init__(prefix="rhworker-masakari-", startup_timeout=startup_timeout)
        self.log_path = self.dir / "masakari-api.log"

    @property
    def endpoint(self) -> str:
        """The instance-ha endpoint, as a Keystone catalog would list it."""
        return f"{self.url}/v1"

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> MasakariApi:
        path = venv.ensure_venv()
        for name in venv.TEMPLATE_FILES:
            shutil.copyfile(path / venv.TEMPLATE / name, self.dir / name)
        self.port = free_port()
        conf = self.dir / "masakari.conf"
        conf.write_text(self._conf_text(path))
        cmd = [*venvbuild.script_command(path, "masakari-api"), "--config-file", str(conf)]
        start = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                env=venvbuild.child_env(),
                start_new_session=True,
            )
        try:
            self._wait_ready(start + self.startup_timeout)
        except BaseException:
            self.close()
            raise
        self.startup_s = time.monotonic() - start
        return self

    def _conf_text(self, path: Path) -> str:
        default = {
            "auth_strategy": self.auth_strategy,
            "masakari_api_listen": "127.0.0.1",
            "masakari_api_listen_port": str(self.port),
            "masakari_api_workers": "1",
            # Masakari sleeps up to this many seconds (random) before recording a
            # notification when no coordination backend is set: off for tests.
            "notification_delay_max": "0",
            # No engine answers the RPC call behind a notification shown at 1.1+:
            # fail it fast (500) instead of after oslo.messaging's 60 s.
            "rpc_response_timeout": "2",
            **self.nova,
            **self.extra.get("DEFAULT", {}),
        }
        text = venv.masakari_conf(self.dir, **default)
        sections: dict[str, dict[str, str]] = {
            "wsgi": {"api_paste_config": str(path / "etc" / "masakari" / "api-paste.ini")},
            # Masakari's Nova client takes its auth plugin type from this section.
            "keystone_authtoken": {"auth_type": "password", **self.keystone_authtoken},
        }
        for name, options in self.extra.items():
            if name != "DEFAULT":
                sections.setdefault(name, {}).update(options)
        for name, options in sections.items():
            text += f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in options.items())
        return text

    def _wait_ready(self, deadline: float) -> None:
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise MasakariError(
                    f"masakari-api exited with {self.proc.returncode} before answering; "
                    f"log:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise MasakariError(f"masakari-api not ready in time; log:\n{self.log_tail()}")
            time.sleep(0.1)

    def describe(self) -> dict[str, Any]:
        return {"url": self.url, "auth_strategy": self.auth_strategy, "dir": str(self.dir)}
