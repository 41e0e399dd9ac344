"""A WSGI app served in a background thread: Werkzeug's threaded server.

What :class:`rhworker.api.server.ApiServer` and :class:`rhworker.sim.server.Simulator`
share: listen on ``host:port`` (0: a free port), serve from a daemon thread, stop.
"""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class ThreadedWsgiServer:
    """``app`` on ``host:port``, served by a daemon thread named ``name``.

    Listening raises ``OSError`` (address in use, ...): the caller translates it.
    """

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        *,
        handler: type[WSGIRequestHandler],
        name: str,
    ) -> None:
        self.server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=handler
        )
        self.server.daemon_threads = True  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
