"""The Masakari reference tier: masakari-api 22 and Masakari's own clients, on loopback.

    with running_simulator() as sim, running_masakari_api(nova_auth_url=sim.identity_url) as m:
        openstack_cli(m.endpoint, "segment", "create", "seg1", "reserved_host", "COMPUTE")
        run = run_host_monitor(m.endpoint, "compute-1")    # masakari-monitors' code
        assert run.statuses == [202]

Everything runs from one cached virtualenv (:mod:`rhworker.testing.masakari.venv`);
``masakari_available()`` says whether it can (building it on first use).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rhworker.testing.masakari.clients import (
    CliResult,
    MonitorRun,
    openstack_cli,
    run_host_monitor,
    sdk_connection,
)
from rhworker.testing.masakari.server import MasakariApi, MasakariError
from rhworker.testing.masakari.venv import masakari_available

__all__ = [
    "CliResult",
    "MasakariApi",
    "MasakariError",
    "MonitorRun",
    "masakari_available",
    "openstack_cli",
    "run_host_monitor",
    "running_masakari_api",
    "sdk_connection",
]


@contextlib.contextmanager
def running_masakari_api(**options: Any) -> Iterator[MasakariApi]:
    """A started masakari-api, stopped on exit (``options``: :class:`MasakariApi`'s)."""
    api = MasakariApi(**options)
    api.start()
    try:
        yield api
    finally:
        api.close()
