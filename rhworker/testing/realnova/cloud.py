"""RealNovaCloud: real Nova 34 (fake computes) in a child process, as a CloudUnderTest.

The child is ``server.py`` run by the Nova virtualenv's python (see :mod:`.venv`); it
serves Nova's Compute API and a small JSON control API on one free loopback port.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rhworker.errors import RhworkerError
from rhworker.testing.cloud import CloudUnderTest
from rhworker.testing.realnova import venv
from rhworker.testing.subprocess_server import ChildServer

SERVER = Path(__file__).with_name("server.py")
READY = "RHWORKER-REALNOVA-READY"


class RealNovaError(RhworkerError):
    """Real Nova did not start, or a control call failed."""


def _ready_info(buf: bytes) -> dict[str, Any] | None:
    """The JSON after ``READY`` on the child's ready line, once it has come."""
    for line in buf.decode(errors="replace").splitlines():
        if line.startswith(READY):
            return dict(json.loads(line[len(READY) :]))
    return None


class RealNovaCloud(ChildServer):
    """Real Nova with one fake nova-compute per host of ``spec``, on 127.0.0.1.

    Options: ``service_down_time`` (s, Nova's default 60; at least 6, because a
    service's first heartbeat comes 5 s after it starts), ``report_interval`` (s, 10),
    ``rpc_timeout`` (s, 60: how long an RPC call to a dead compute blocks),
    ``spawn_delay`` (s, 0), ``log_level`` (the child's stderr log, WARNING),
    ``startup_timeout`` (s, 120). ``startup_s``: wall time from launch to ready
    (built), measured here.
    """

    kind = "realnova"
    name = "real Nova"
    error = RealNovaError
    log_names = ("nova.log",)
    keep_logs_env = "RHWORKER_REALNOVA_KEEP_LOGS"
    term_timeout = 5.0

    def __init__(
        self,
        spec: dict[str, Any],
        *,
        service_down_time: int = 60,
        report_interval: int = 10,
        rpc_timeout: int = 60,
        spawn_delay: float = 0.0,
        log_level: str = "WARNING",
        startup_timeout: float = 120.0,
    ) -> None:
        if service_down_time < 6 or report_interval >= service_down_time:
            raise ValueError(
                "service_down_time must be at least 6 s and above report_interval "
                "(Nova's first heartbeat comes 5 s after a service starts)"
            )
        self.spec = spec
        self.options = {
            "--service-down-time": str(int(service_down_time)),
            "--report-interval": str(int(report_interval)),
            "--rpc-timeout": str(int(rpc_timeout)),
            "--spawn-delay": str(float(spawn_delay)),
            "--log-level": log_level,
        }
        super().__init__(prefix="rhworker-realnova-", startup_timeout=startup_timeout)
        self.log_path = os.path.join(self.dir, "nova.log")
        self.ready_info: dict[str, Any] = {}

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> RealNovaCloud:
        python = venv.venv_python(venv.ensure_venv())
        spec_path = os.path.join(self.dir, "spec.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(self.spec, f)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        cmd = [str(python), str(SERVER), "--spec", spec_path]
        for k, v in self.options.items():
            cmd += [k, v]
        start = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=self.dir,
                env=env,
                start_new_session=True,
            )
        try:
            self.ready_info = self._wait_ready(start + self.startup_timeout)
        except BaseException:
            self.close()
            raise
        self.port = int(self.ready_info["port"])
        self.startup_s = time.monotonic() - start
        return self

    def _wait_ready(self, deadline: float) -> dict[str, Any]:
        return self._read_stdout_until(deadline, _ready_info)

    # -- CloudUnderTest ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.url

    @property
    def compute_url(self) -> str:
        return f"{self.base_url}/v2.1"

    def crash_host(self, host: str) -> None:
        self._control("POST", f"hosts/{host}/crash")

    def crash_server(self, server_id: str) -> None:
        self._control("POST", f"servers/{server_id}/crash")

    def restart_host(self, host: str) -> None:
        self._control("POST", f"hosts/{host}/restart", timeout=120)

    def set_spawn_delay(self, seconds: float) -> None:
        self._control("POST", "spawn_delay", {"seconds": seconds})

    def servers(self) -> list[dict[str, Any]]:
        return list(self._control("GET", "servers"))

    def migrations(self) -> list[dict[str, Any]]:
        return list(self._control("GET", "migrations"))

    def requests(self) -> dict[str, int]:
        """Nova API requests served so far, by HTTP method (control calls excluded)."""
        result: dict[str, int] = self._control("GET", "requests")
        return result

    def requests_by_path(self) -> dict[str, int]:
        """Nova API requests served so far, by method and path (ids as ``{id}``)."""
        result: dict[str, int] = self._control("GET", "requests/by_path")
        return result

    def services(self) -> list[dict[str, Any]]:
        return list(self._control("GET", "services"))

    # -- extras -----------------------------------------------------------------------

    def build(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Add hosts, flavors, aggregates and servers from another spec."""
        return dict(self._control("POST", "build", spec, timeout=300))

    def server(self, name: str) -> dict[str, Any]:
        found = [s for s in self.servers() if s["name"] == name]
        if len(found) != 1:
            raise RealNovaError(f"{len(found)} servers named {name}")
        return found[0]

    def _control(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> Any:
        if self.proc is None or self.proc.poll() is not None:
            raise RealNovaError(f"real Nova is not running; log:\n{self.log_tail()}")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.base_url}/_rhworker/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise RealNovaError(f"{method} {path}: {e.code} {detail}") from e


def _conforms(cloud: RealNovaCloud) -> CloudUnderTest:
    """Type-checked only: RealNovaCloud implements the CloudUnderTest protocol."""
    return cloud
