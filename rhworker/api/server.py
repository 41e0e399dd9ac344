"""Serve the API on a real socket: :class:`ApiServer` for ``rhworker api`` and tests.

Werkzeug's threaded development server, as ``rhworker sim serve`` uses; production
runs :mod:`rhworker.api.wsgi` under uwsgi, gunicorn or mod_wsgi instead.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any

from werkzeug.serving import WSGIRequestHandler

from rhworker.errors import ConfigError, RhworkerError
from rhworker.wsgiserver import ThreadedWsgiServer

LOG = logging.getLogger(__name__)


class _LoggingHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        LOG.info("%s %s -> %s", self.command, self.path, code)


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_noauth_bind(host: str, auth_strategy: str, allow_non_loopback: bool) -> None:
    """``ConfigError`` when ``noauth`` would listen beyond loopback without leave."""
    if auth_strategy == "noauth" and not allow_non_loopback and not is_loopback(host):
        raise ConfigError(
            f"[api] auth_strategy = noauth refuses to listen on {host!r}: anyone reaching "
            "it could change the inventory. Listen on 127.0.0.1, use auth_strategy = "
            "keystone, or set [api] allow_noauth_on_non_loopback = true"
        )


class ApiServer:
    """A WSGI app on ``host:port`` (0: a free port) in a background thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._serving: ThreadedWsgiServer | None = None

    @property
    def url(self) -> str:
        if self._serving is None:
            raise RhworkerError("API server not started")
        server = self._serving.server
        host = str(server.server_address[0])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{server.server_port}"

    def start(self) -> ApiServer:
        if self._serving is not None:
            raise RhworkerError("API server already started")
        try:
            self._serving = ThreadedWsgiServer(
                self.app, self.host, self.port, handler=_LoggingHandler, name="api-http"
            )
        except OSError as e:
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {e}") from e
        LOG.info("API listening on %s", self.url)
        return self

    def stop(self) -> None:
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.stop()

    def __enter__(self) -> ApiServer:
        if self._serving is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
