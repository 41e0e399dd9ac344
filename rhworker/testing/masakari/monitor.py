"""masakari-monitors' host monitor sending its notifications (run by the Masakari venv).

This script runs under the Masakari virtualenv's python and must not import rhworker.
It drives the host monitor's own code, not an imitation of it: a
``masakarimonitors.hostmonitor.host_handler.handle_host.HandleHost`` is fed a
sequence of cluster states for one host (what it would read from Pacemaker), and its
status-change logic builds the event (``_make_event``) and sends it through
``masakarimonitors.ha.masakari.SendNotification`` — openstacksdk's ``instance_ha``
proxy with a keystoneauth session built from the ``[api]`` options of the monitors'
configuration file.

Every HTTP request that code makes is recorded (method, URL, status, JSON body) by
wrapping the proxy's ``request``; the monitor itself swallows a 400 or 409 after
logging it, so the record is how a caller learns what the API answered. The record is
printed as one line ``RHWORKER-MONITOR-RESULT {...}`` on stdout.

    python monitor.py --config-file masakarimonitors.conf --host compute-1 \
        --states online,offline
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

RESULT = "RHWORKER-MONITOR-RESULT"


def _record(proxy: Any, calls: list[dict[str, Any]]) -> None:
    """Wrap ``proxy.request`` so that every response is recorded, then returned."""
    original = proxy.request

    def request(url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        response = original(url, method, *args, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        calls.append(
            {"method": method, "url": response.url, "status": response.status_code, "body": body}
        )
        return response

    proxy.request = request


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--states", default="online,offline")
    args = parser.parse_args(argv)

    import masakarimonitors.conf
    from masakarimonitors import config
    from masakarimonitors.hostmonitor.host_handler import handle_host

    conf = masakarimonitors.conf.CONF
    config.parse_args(["monitor", "--config-file", args.config_file])

    handler = handle_host.HandleHost()
    calls: list[dict[str, Any]] = []
    _record(handler.notifier.masakari_client, calls)
    for state in args.states.split(","):
        # One sample per Pacemaker poll, as _check_host_status_by_crm_mon passes them.
        handler._check_if_status_changed([{"uname": args.host, "crmd": state}])
    print(RESULT, json.dumps({"calls": calls, "monitoring_samples": conf.host.monitoring_samples}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
