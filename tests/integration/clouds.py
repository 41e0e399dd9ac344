"""Cloud specs for the recovery tests (simulator + inventory in one document), and
the scenes they set in them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rhworker.coordination import Coordinator
from rhworker.models import Notification

FLAVORS = [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}]


def segment_cloud(
    *,
    method: str = "reserved_host",
    computes: int = 2,
    spares: int = 1,
    servers_per_host: int = 3,
    spare_vcpus: int = 16,
    extra_servers: list[dict[str, Any]] | None = None,
    enabled: bool = True,
) -> dict[str, Any]:
    hosts = [
        {"name": f"compute-{i}", "vcpus": 16, "memory_mb": 32768} for i in range(1, computes + 1)
    ]
    hosts += [
        {"name": f"spare-{i}", "vcpus": spare_vcpus, "memory_mb": 32768, "reserved": True}
        for i in range(1, spares + 1)
    ]
    servers: list[dict[str, Any]] = [
        {"name": f"vm-{i}", "count": servers_per_host, "host": f"compute-{i}", "flavor": "small"}
        for i in range(1, computes + 1)
    ]
    servers += extra_servers or []
    return {
        "segments": [
            {"name": "seg1", "recovery_method": method, "enabled": enabled, "hosts": hosts}
        ],
        "flavors": FLAVORS,
        "servers": servers,
    }


@contextlib.contextmanager
def outsider_holding(deployment: Any, host: str) -> Iterator[None]:
    """Another member of the deployment's lock service holds ``host``'s lock while
    the block runs (released at its end)."""
    outsider = Coordinator(deployment.coordination_url, "outsider")
    outsider.start()
    try:
        lock = outsider.try_lock(host)
        assert lock is not None
        yield
        outsider.release(lock)
    finally:
        outsider.stop()


def fail_and_recover(deployment: Any, sim: Any, host: str) -> Notification:
    """Kill ``host`` in the simulator, report it and run the workers until the queue
    is empty; the notification as it ended."""
    sim.kill_host(host)
    nid = deployment.notify(host)
    deployment.run_burst()
    return deployment.store.get_notification(nid)
