"""Run the simulator on a real socket: :class:`Simulator` for tests and tools.

``Simulator(...).start()`` serves on a free 127.0.0.1 port in a background thread
(Werkzeug's threaded server, HTTP/1.1 keep-alive). The same operations as the
``/sim/`` control API are methods here.
"""

from __future__ import annotations

import logging
from typing import Any

from werkzeug.serving import WSGIRequestHandler

from rhworker.errors import RhworkerError
from rhworker.sim import control
from rhworker.sim.app import SimApp
from rhworker.sim.state import Cloud, Options
from rhworker.wsgiserver import ThreadedWsgiServer

LOG = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        LOG.debug("%s %s -> %s", self.command, self.path, code)


class Simulator:
    """A Nova + minimal Keystone simulator with a control API."""

    def __init__(
        self,
        spec: dict[str, Any] | None = None,
        *,
        admin_token: str | None = None,
        anonymous_admin: bool = True,
        **options: Any,
    ) -> None:
        self.cloud = Cloud(Options(**options))
        if spec is not None:
            self.cloud.load(spec)
        self.app = SimApp(self.cloud, admin_token=admin_token, anonymous_admin=anonymous_admin)
        self._serving: ThreadedWsgiServer | None = None

    # --- lifecycle -------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        if self._serving is not None:
            raise RhworkerError("simulator already started")
        self._serving = ThreadedWsgiServer(
            self.app, host, port, handler=_QuietHandler, name="sim-http"
        )
        LOG.info("simulator listening on %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Block serving requests in this thread (after ``start`` was not called)."""
        assert self._serving is not None
        self._serving.server.serve_forever()

    def stop(self) -> None:
        self.cloud.close()
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.stop()

    def __enter__(self) -> Simulator:
        if self._serving is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._serving is None:
            raise RhworkerError("simulator not started")
        return int(self._serving.server.server_port)

    @property
    def url(self) -> str:
        assert self._serving is not None, "simulator not started"
        return f"http://{self._serving.server.host}:{self.port}"

    @property
    def compute_url(self) -> str:
        return f"{self.url}/v2.1"

    @property
    def identity_url(self) -> str:
        return f"{self.url}/v3"

    # --- control ---------------------------------------------------------------------

    def load_cloud(self, spec: dict[str, Any]) -> None:
        self.cloud.load(spec)

    def kill_host(self, name: str) -> None:
        self.cloud.kill_host(name)

    def revive_host(self, name: str) -> None:
        self.cloud.revive_host(name)

    def crash_server(self, server_id: str, vm_state: str = "active") -> None:
        """The guest dies; Nova shows ``vm_state`` (active, stopped or error)."""
        self.cloud.crash_server(server_id, vm_state)

    def inject(self, fault: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Add a fault: ``type`` is latency, error, fail_evacuation,
        fail_evacuation_target or lose_capacity (see :mod:`rhworker.sim.faults`)."""
        return control.inject(self.cloud, {**(fault or {}), **kwargs})

    def clear_faults(self) -> None:
        control.clear_faults(self.cloud)

    def set_options(self, **values: Any) -> dict[str, Any]:
        return control.set_options(self.cloud, values)

    def state(self) -> dict[str, Any]:
        return control.snapshot(self.cloud)

    def reset(self) -> None:
        self.cloud.reset()

    def requests(
        self, *, worker: str | None = None, since: float | None = None, changes: bool = False
    ) -> list[dict[str, Any]]:
        """The request log (see :mod:`rhworker.sim.requestlog`), oldest first."""
        entries = self.app.request_log.entries(worker=worker, since=since, changes=changes)
        return [e.to_dict() for e in entries]
