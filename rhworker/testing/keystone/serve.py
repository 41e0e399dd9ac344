"""Keystone's WSGI application served on a loopback port (run by the Keystone venv).

This script runs under the Keystone virtualenv's python and must not import rhworker.
It loads Keystone's own public application (``keystone.server.wsgi``, what
``keystone.wsgi.api:application`` gives uwsgi or mod_wsgi) with the configuration file
given, and serves it with the standard library's threaded WSGI server. When it listens
it prints one line ``RHWORKER-KEYSTONE-READY {"port": ...}`` on stdout.

    python serve.py --config-file keystone.conf --port 35357
"""

from __future__ import annotations

import argparse
import json
import os
import socketserver
import sys
from wsgiref import simple_server

READY = "RHWORKER-KEYSTONE-READY"


class ThreadingServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True


class QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # Keystone logs each request itself


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = args.config_file
    sys.argv = sys.argv[:1]  # Keystone parses the command line again for oslo.config

    from keystone.server import wsgi

    app = wsgi.initialize_public_application()
    server = simple_server.make_server(
        "127.0.0.1", args.port, app, server_class=ThreadingServer, handler_class=QuietHandler
    )
    print(READY, json.dumps({"port": server.server_port}), flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
