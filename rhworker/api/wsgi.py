"""WSGI entry point for uwsgi, gunicorn or mod_wsgi: ``rhworker.api.wsgi:application``.

Nothing is read at import. The configuration is loaded at the first request, from
the ``RHWORKER_CONFIG_FILE`` key of the WSGI environ (mod_wsgi's ``SetEnv``) or of
the process environment, else ``/etc/rhworker/rhworker.conf`` when it exists; the
store and, with ``[api] auth_strategy = keystone``, keystonemiddleware are set up
then, once per process. Example::

    RHWORKER_CONFIG_FILE=/etc/rhworker/rhworker.conf \\
        gunicorn -w 4 -b 127.0.0.1:15868 rhworker.api.wsgi:application
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

CONFIG_KEY = "RHWORKER_CONFIG_FILE"
DEFAULT_CONFIG = "/etc/rhworker/rhworker.conf"


def config_files(environ: Mapping[str, Any], process_env: Mapping[str, str]) -> list[str]:
    """The configuration file this process uses (none: the defaults)."""
    path = environ.get(CONFIG_KEY) or process_env.get(CONFIG_KEY)
    if path:
        return [str(path)]
    return [DEFAULT_CONFIG] if os.path.exists(DEFAULT_CONFIG) else []


def build(files: list[str]) -> Callable[..., Any]:
    """The configured application (logging set up from the configuration)."""
    from rhworker import conf as rconf
    from rhworker.api.app import create_app
    from rhworker.logs import setup_from_conf
    from rhworker.preflight import validate_values

    conf = rconf.load(config_files=files)
    validate_values(conf)
    setup_from_conf(conf)
    return create_app(conf)


class LazyApplication:
    """Builds the real application at its first call, once, thread-safely."""

    def __init__(self) -> None:
        self._app: Callable[..., Any] | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = build(config_files(environ, os.environ))
        return self._app(environ, start_response)


application = LazyApplication()
