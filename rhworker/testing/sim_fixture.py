"""Start an in-process simulator for tests, the demo and benchmarks.

``running_simulator(**options)`` is a context manager yielding a started
:class:`~rhworker.sim.Simulator`; ``sdk_connection(sim)`` gives an openstacksdk
connection to it (``auth_type: none``, compute microversion pinned).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rhworker import deployment
from rhworker.sim import Simulator

#: fast and free: short evacuation phases (a share each of evacuation_time), no cost
#: per request, no shared-capacity limit (the simulator's defaults mimic real Nova)
DEFAULT_TEST_OPTIONS: dict[str, Any] = {
    "evacuation_time": 0.05,
    "service_down_time": 60.0,
    "disable_rpc_delay": 0.5,
    "request_cost": 0.0,
    "write_request_cost": 0.0,
    "shared_capacity": 0.0,
}

SMALL_CLOUD: dict[str, Any] = {
    "segments": [
        {
            "name": "seg1",
            "recovery_method": "reserved_host",
            "hosts": [
                {"name": "compute-1", "vcpus": 8, "memory_mb": 16384},
                {"name": "compute-2", "vcpus": 8, "memory_mb": 16384},
                {"name": "spare-1", "vcpus": 8, "memory_mb": 16384, "reserved": True},
            ],
            "aggregates": ["agg1"],
        }
    ],
    "flavors": [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}],
    "servers": [
        {
            "name": "vm",
            "count": 3,
            "host": "compute-1",
            "flavor": "small",
            "metadata": {"HA_Enabled": "True"},
        },
        {"name": "vm-off", "host": "compute-1", "flavor": "small", "power": "off"},
        {"name": "vm-other", "host": "compute-2", "flavor": "small"},
    ],
}


@contextlib.contextmanager
def running_simulator(spec: dict[str, Any] | None = None, **options: Any) -> Iterator[Simulator]:
    """A started simulator on a free loopback port, stopped on exit."""
    admin_token = options.pop("admin_token", None)
    anonymous_admin = options.pop("anonymous_admin", True)
    merged = {**DEFAULT_TEST_OPTIONS, **options}
    sim = Simulator(
        spec if spec is not None else SMALL_CLOUD,
        admin_token=admin_token,
        anonymous_admin=anonymous_admin,
        **merged,
    )
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def sdk_connection(sim: Any, microversion: str | None = "2.94", **kwargs: Any) -> Any:
    """An openstacksdk connection to ``sim`` (a Simulator or anything with ``compute_url``)."""
    import openstack

    args: dict[str, Any] = {
        "auth_type": "none",
        "compute_endpoint_override": sim.compute_url,
        "placement_endpoint_override": sim.compute_url.rstrip("/").removesuffix("/v2.1")
        + "/placement",
    }
    if microversion:
        args["compute_api_version"] = microversion
    args.update(kwargs)
    return openstack.connect(**args)


def password_connection(sim: Any, user: str, password: str, project: str, **kwargs: Any) -> Any:
    """An openstacksdk connection through the simulator's Keystone (password auth)."""
    import openstack

    return openstack.connect(
        auth_type="password",
        auth={
            "auth_url": sim.identity_url,
            "username": user,
            "password": password,
            "project_name": project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        region_name="RegionOne",
        **kwargs,
    )


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``
    (:func:`rhworker.deployment.wait_until` with the simulator tests' defaults)."""
    return deployment.wait_until(predicate, timeout, interval=interval)
