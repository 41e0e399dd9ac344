"""``rhworker api``: serve the Masakari-compatible REST API until SIGTERM/SIGINT.

A development server (Werkzeug, threaded), like ``rhworker sim serve``; production
runs ``rhworker.api.wsgi:application`` under a WSGI server.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from rhworker.cli import EXIT_OK, load_conf
from rhworker.cli._common import port
from rhworker.wiring import configured_store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "api",
        help="serve the Masakari-compatible REST API (prints its URL when ready)",
        description="Serve Masakari's v1 API (instance-ha, microversions 1.0-1.3) on the "
        "configured store, for masakari-monitors, `openstack segment|host|notification` "
        "and openstacksdk. Options: [api] (auth_strategy, host, port), "
        "[keystone_authtoken], [oslo_policy].",
    )
    p.add_argument("--host", help="address to listen on (default [api] host, 127.0.0.1)")
    p.add_argument("--port", type=port, help="port (default [api] port, 15868; 0: a free one)")
    p.add_argument(
        "--auth-strategy",
        choices=["keystone", "noauth"],
        help="override [api] auth_strategy (noauth: loopback only, for demos and tests)",
    )
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from rhworker.api.app import create_app
    from rhworker.api.server import ApiServer, check_noauth_bind

    conf = load_conf(args)
    if args.auth_strategy:
        conf.set_override("auth_strategy", args.auth_strategy, group="api")
    host = args.host or conf.api.host
    listen_port = conf.api.port if args.port is None else args.port
    check_noauth_bind(host, conf.api.auth_strategy, conf.api.allow_noauth_on_non_loopback)
    store = configured_store(conf, create=True)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server = ApiServer(create_app(conf, store=store), host=host, port=listen_port).start()
        try:
            print(f"{server.url}/v1", flush=True)
            print(f"auth_strategy: {conf.api.auth_strategy}", file=sys.stderr, flush=True)
            while not stop.wait(1.0):
                pass
        finally:
            server.stop()
    finally:
        store.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return EXIT_OK
