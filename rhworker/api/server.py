"""Serve the API on a real socket: :class:`ApiServer` for ``rhworker api`` and tests.

Werkzeug's threaded development server, as ``rhworker sim serve`` uses; production
runs :mod:`rhworker.api.wsgi` under uwsgi, gunicorn or mod_wsgi instead.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from rhworker.errors import ConfigError, RhworkerError

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
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RhworkerError("API server not started")
        host = str(self._server.server_address[0])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self._server.server_port}"

    def start(self) -> ApiServer:
        if self._server is not None:
            raise RhworkerError("API server already started")
        try:
            self._server = make_server(
                self.host, self.port, self.app, threaded=True, request_handler=_LoggingHandler
            )
        except OSError as e:
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {e}") from e
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="api-http", daemon=True
        )
        self._thread.start()
        LOG.info("API listening on %s", self.url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> ApiServer:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
