"""Evacuation as Nova 34 does it: API checks, then scheduling and rebuild after the 200.

Request-time errors come from the API (unknown target 404, same target 400, source
service still up 400...). Once accepted, the server is ``REBUILD`` (task_state
``rebuilding``); placement is decided atomically at acceptance (capacity held on the
target) and the outcome shows later: a rejected target or no host leaves the server
ERROR *on the source* with "No valid host was found"; success moves it to the target.
"""

from __future__ import annotations

import logging
from typing import Any

from rhworker.sim.model import (
    POWER_RUNNING,
    POWER_SHUTDOWN,
    Caller,
    Fault,
    Migration,
    Server,
    bad_request,
    conflict,
    new_uuid,
    not_found,
)
from rhworker.sim.state import IN_FLIGHT, Cloud

LOG = logging.getLogger(__name__)

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


def evacuate(
    cloud: Cloud,
    caller: Caller,
    server_id: str,
    body: dict[str, Any],
    microversion: tuple[int, int],
) -> None:
    """Validate and accept an ``evacuate`` action, or raise the ApiError Nova would."""
    host, force = _parse_body(body, microversion)
    with cloud.lock:
        if not caller.is_admin:
            raise not_found(f"Instance {server_id} could not be found.")
        if host is not None:
            cloud.compute_service(host)  # 404 for an unknown host
        server = cloud.server(caller, server_id)
        if server.host == host:
            raise bad_request("The target host can't be the same one.")
        if server.vm_state not in ("active", "stopped", "error"):
            raise conflict(
                f"Cannot 'evacuate' instance {server.id} while it is in vm_state {server.vm_state}"
            )
        source = cloud.compute_service(server.host)
        if cloud.service_is_up(source):
            raise bad_request(f"Compute service of {server.host} is still in use.")
        _accept(cloud, server, host, force, microversion)


def _parse_body(body: dict[str, Any], microversion: tuple[int, int]) -> tuple[str | None, bool]:
    args = body.get("evacuate")
    if not isinstance(args, dict):
        args = {}
    allowed = {"host", "adminPass"}
    if microversion < (2, 14):
        allowed.add("onSharedStorage")
    if (2, 29) <= microversion < (2, 68):
        allowed.add("force")
    if microversion >= (2, 95):
        allowed.discard("adminPass")
    unexpected = sorted(set(args) - allowed)
    if unexpected:
        raise bad_request(
            f"Invalid input for field/attribute evacuate. Value: {args}. "
            f"Additional properties are not allowed ({unexpected[0]!r} was unexpected)"
        )
    host = args.get("host")
    if host is not None and (not isinstance(host, str) or not host or len(host) > 255):
        raise bad_request(f"Invalid input for field/attribute host. Value: {host!r}.")
    force = args.get("force", False)
    if not isinstance(force, bool):
        raise bad_request(f"Invalid input for field/attribute force. Value: {force!r}.")
    if force and host is None:
        raise bad_request("Can't force to a non-provided destination")
    return host, force


def _accept(
    cloud: Cloud, server: Server, host: str | None, force: bool, microversion: tuple[int, int]
) -> None:
    now = cloud.wall()
    in_flight = cloud.migrations_for(server.id, IN_FLIGHT)
    if server.task_state == "rebuilding" or in_flight:
        cloud.violation(
            "evacuated_twice_concurrently",
            server=server.id,
            message=f"server {server.id} evacuated twice concurrently",
        )
    stopped = server.vm_state == "stopped" or microversion >= (2, 95)
    mig = Migration(
        id=cloud.next_id(),
        uuid=new_uuid(),
        instance_uuid=server.id,
        source_compute=server.host,
        dest_compute=host,
        status="accepted",
        created=now,
        updated=now,
        flavor_id=server.flavor.id,
        project_id=server.tenant_id,
        user_id=server.user_id,
        forced=force,
        target_vm_state="stopped" if stopped else "active",
    )
    cloud.migrations.append(mig)
    server.task_state = "rebuilding"
    server.updated = now
    dest = host if force else _place(cloud, server, host)
    generation = cloud.generation
    cloud.event(
        "evacuation_accepted", server=server.id, source=server.host, target=host, forced=force
    )
    if dest is None:
        cloud.timers.call_later(
            cloud.options.schedule_time, lambda: _no_valid_host(cloud, mig, generation)
        )
        return
    mig.dest_compute = dest
    mig.holds_capacity = True
    mig.status = "pre-migrating"
    cloud.timers.call_later(
        cloud.options.evacuation_time, lambda: _complete(cloud, mig, generation)
    )


def _place(cloud: Cloud, server: Server, host: str | None) -> str | None:
    """The scheduler: validate the requested host, or pick one; None if none fits."""
    if host is not None:
        return host if _fits(cloud, host, server) else None
    candidates = [
        name for name in cloud.hosts if name != server.host and _fits(cloud, name, server)
    ]
    if not candidates:
        return None
    # Nova's default weighers prefer the host with the most free RAM.
    return max(candidates, key=lambda n: (cloud.hosts[n].memory_mb - cloud.usage(n)[1], n))


def _fits(cloud: Cloud, host: str, server: Server) -> bool:
    svc = cloud.compute_service(host)
    return not svc.disabled and cloud.service_is_up(svc) and cloud.has_room(host, server.flavor)


def _error(cloud: Cloud, server: Server, message: str, code: int = 500) -> None:
    now = cloud.wall()
    server.vm_state = "error"
    server.task_state = None
    server.fault = Fault(code, message, now)
    server.updated = now


def _finish(cloud: Cloud, mig: Migration, status: str) -> None:
    mig.status = status
    mig.holds_capacity = False
    mig.updated = cloud.wall()


def _no_valid_host(cloud: Cloud, mig: Migration, generation: int) -> None:
    with cloud.lock:
        if generation != cloud.generation or mig.status not in IN_FLIGHT:
            return
        _finish(cloud, mig, "error")
        server = cloud.servers.get(mig.instance_uuid)
        if server is not None:
            _error(cloud, server, NO_VALID_HOST)
        cloud.event(
            "evacuation_failed",
            server=mig.instance_uuid,
            source=mig.source_compute,
            target=mig.dest_compute,
            reason="NoValidHost",
        )


def _complete(cloud: Cloud, mig: Migration, generation: int) -> None:
    with cloud.lock:
        if generation != cloud.generation or mig.status not in IN_FLIGHT:
            return
        server = cloud.servers.get(mig.instance_uuid)
        if server is None:
            _finish(cloud, mig, "failed")
            return
        others = [m for m in cloud.migrations_for(server.id, IN_FLIGHT) if m is not mig]
        if others:
            for m in [mig, *others]:
                _finish(cloud, m, "failed")
            _error(cloud, server, "Instance was rebuilt by two concurrent evacuations")
            cloud.event("evacuation_collided", server=server.id, migrations=len(others) + 1)
            return
        dest = mig.dest_compute or ""
        if server.id in cloud.fail_evacuation_servers or dest in cloud.fail_evacuation_targets:
            _finish(cloud, mig, "failed")
            _error(cloud, server, f"Evacuation of {server.id} to {dest} failed (injected fault)")
            cloud.event("evacuation_failed", server=server.id, target=dest, reason="injected")
            return
        if not cloud.hosts[dest].alive:
            # the rebuild was cast to a dead compute: lost, the server stays REBUILD
            cloud.event("evacuation_stuck", server=server.id, target=dest)
            return
        _finish(cloud, mig, "done")
        server.host = dest
        server.vm_state = mig.target_vm_state
        server.power_state = POWER_SHUTDOWN if mig.target_vm_state == "stopped" else POWER_RUNNING
        server.task_state = None
        server.fault = None
        server.updated = cloud.wall()
        cloud.event("evacuation_done", server=server.id, source=mig.source_compute, target=dest)
