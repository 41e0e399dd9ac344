"""Evacuation as Nova 34 does it: API checks, then scheduling and rebuild after the 200.

Request-time errors come from the API (unknown target 404, same target 400, source
service still up 400...). Once accepted (200), the lifecycle is Nova's:

============================  ====================  ==============  =================
phase (option)                task_state            migration       server's host
============================  ====================  ==============  =================
``schedule_time``             rebuilding            accepted        source
``rebuilding_time``           rebuilding            pre-migrating   source
``block_device_mapping_time`` rebuild_block_device  pre-migrating   source
                              _mapping
``spawning_time``             rebuild_spawning      pre-migrating   source
end                           None                  done            target
============================  ====================  ==============  =================

Placement is decided atomically at acceptance (capacity held on the target, as
Placement's allocation would) and shows at the end of ``schedule_time``: a rejected
target or no host leaves the server ERROR *on the source* with Nova's "No valid host
was found. ..." and the migration ``error``. A rebuild cast to a dead target is lost:
the server stays REBUILD and the migration ``accepted``.

Each phase change is Nova's compare-and-swap on the task state
(``instance.save(expected_task_state=[...])``); the API's evacuate sets ``rebuilding``
without any expectation. So a second evacuate while one runs is accepted, and the two
rebuilds trip over each other's task states: the loser fails with Nova's
``UnexpectedTaskStateError`` text ("Conflict updating instance <uuid>. Expected:
{'task_state': ['rebuild_spawning']}. Actual: {'task_state': None}"), the server ends
ERROR, its migration ``failed``. The simulator records the second evacuate as the
violation ``evacuated_twice_concurrently``. (Simplified: a failed rebuild always
leaves the task state None.)

Phases are work on the cloud's :class:`~rhworker.sim.capacity.SharedCapacity`: many
evacuations (and API requests) at once make each one slower.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rhworker.sim.model import (
    POWER_RUNNING,
    POWER_SHUTDOWN,
    ApiError,
    Caller,
    Fault,
    Migration,
    Server,
    bad_request,
    conflict,
    new_uuid,
    not_found,
)
from rhworker.sim.state import IN_FLIGHT, REBUILD_TASK_STATES, Cloud

LOG = logging.getLogger(__name__)

#: the scheduler's host filters left no host (e.g. the target's service is down)
NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
#: Placement had no allocation candidate (target disabled, full, or no room anywhere)
NO_VALID_HOST_PLACEMENT = "No valid host was found. "
_NO_ROOM = ""  # NoValidHost reason of Placement
_FILTERED = "There are not enough hosts available."


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
        server = cloud.server(caller, server_id)
        if host is not None:
            try:
                cloud.compute_service(host)
            except ApiError:
                raise not_found(f"Compute host {host} not found.") from None
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
    # A rebuild cast to a host that died since is lost with it (Nova keeps its
    # migration in progress for ever): only one on a live host can collide with this.
    in_flight = [m for m in cloud.migrations_for(server.id, IN_FLIGHT) if not _dest_dead(cloud, m)]
    if server.task_state in REBUILD_TASK_STATES or in_flight:
        cloud.violation(
            "evacuated_twice_concurrently",
            server=server.id,
            task_state=server.task_state,
            migrations=len(in_flight) + 1,
            message=f"server {server.id} evacuated while an evacuation of it runs "
            f"(task_state {server.task_state})",
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
    server.task_state = "rebuilding"  # Nova: save(expected_task_state=None), no check
    server.updated = now
    if force:
        dest, reason = host, None
    else:
        dest, reason = _place(cloud, server, host)
    if dest is not None:
        mig.placed = dest
        mig.holds_capacity = True
    generation = cloud.generation
    cloud.event(
        "evacuation_accepted", server=server.id, source=server.host, target=host, forced=force
    )
    _later(cloud, "schedule_time", lambda: _scheduled(cloud, mig, generation, reason))


def _dest_dead(cloud: Cloud, mig: Migration) -> bool:
    dest = mig.placed or mig.dest_compute
    host = cloud.hosts.get(dest) if dest else None
    return host is not None and not host.alive


def _later(cloud: Cloud, phase: str, fn: Callable[[], None]) -> None:
    cloud.capacity.submit(cloud.options.phase_time(phase), fn)


def _place(cloud: Cloud, server: Server, host: str | None) -> tuple[str | None, str | None]:
    """The scheduler: the host it picks, or None and NoValidHost's reason.

    Placement first (a disabled compute carries COMPUTE_STATUS_DISABLED, a full one has
    no room: reason ""), then the host filters (a service that is down)."""
    names = [host] if host is not None else [n for n in cloud.hosts if n != server.host]
    candidates = [
        n
        for n in names
        if not cloud.compute_service(n).disabled and cloud.has_room(n, server.flavor)
    ]
    if not candidates:
        return None, _NO_ROOM
    candidates = [n for n in candidates if cloud.service_is_up(cloud.compute_service(n))]
    if not candidates:
        return None, _FILTERED
    # Nova's default weighers prefer the host with the most free RAM.
    best = max(candidates, key=lambda n: (cloud.hosts[n].memory_mb - cloud.usage(n)[1], n))
    return best, None


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


def _stale(cloud: Cloud, mig: Migration, generation: int) -> bool:
    return generation != cloud.generation or mig.status not in IN_FLIGHT


def _save(cloud: Cloud, server: Server, mig: Migration, expected: str, new: str | None) -> bool:
    """Nova's ``instance.save(expected_task_state=[expected])``: on a mismatch the
    rebuild fails with UnexpectedTaskStateError, the server ERROR, the migration failed."""
    if server.task_state == expected:
        server.task_state = new
        server.updated = cloud.wall()
        return True
    message = (
        f"Conflict updating instance {server.id}. "
        f"Expected: { ({'task_state': [expected]}) }. "
        f"Actual: { ({'task_state': server.task_state}) }"
    )
    _finish(cloud, mig, "failed")
    _error(cloud, server, message)
    cloud.event(
        "evacuation_failed",
        server=server.id,
        target=mig.dest_compute,
        reason="UnexpectedTaskStateError",
        message=message,
    )
    return False


def _lost(cloud: Cloud, mig: Migration) -> bool:
    """The target died: what was cast to it is lost, the server stays REBUILD."""
    dest = mig.placed or ""
    if cloud.hosts[dest].alive:
        return False
    cloud.event("evacuation_stuck", server=mig.instance_uuid, target=dest, status=mig.status)
    return True


def _scheduled(cloud: Cloud, mig: Migration, generation: int, reason: str | None) -> None:
    """The conductor's answer: NoValidHost, or the rebuild cast to the target."""
    with cloud.lock:
        if _stale(cloud, mig, generation):
            return
        server = cloud.servers.get(mig.instance_uuid)
        if server is None:
            _finish(cloud, mig, "failed")
            return
        if mig.placed is None:
            _finish(cloud, mig, "error")
            _error(cloud, server, f"No valid host was found. {reason or ''}")
            cloud.event(
                "evacuation_failed",
                server=mig.instance_uuid,
                source=mig.source_compute,
                target=mig.dest_compute,
                reason="NoValidHost",
            )
            return
        if _lost(cloud, mig):
            return
        # the target's rebuild claim
        mig.dest_compute = mig.placed
        mig.status = "pre-migrating"
        mig.updated = cloud.wall()
        if not _save(cloud, server, mig, "rebuilding", "rebuilding"):
            return
        cloud.event("evacuation_phase", server=server.id, task_state="rebuilding")
    _later(
        cloud,
        "rebuilding_time",
        lambda: _step(cloud, mig, generation, "rebuilding", "rebuild_block_device_mapping"),
    )


_NEXT_PHASE = {
    "rebuild_block_device_mapping": "block_device_mapping_time",
    "rebuild_spawning": "spawning_time",
}


def _step(cloud: Cloud, mig: Migration, generation: int, expected: str, new: str) -> None:
    with cloud.lock:
        if _stale(cloud, mig, generation):
            return
        server = cloud.servers.get(mig.instance_uuid)
        if server is None:
            _finish(cloud, mig, "failed")
            return
        if _lost(cloud, mig) or not _save(cloud, server, mig, expected, new):
            return
        cloud.event("evacuation_phase", server=server.id, task_state=new)
    if new == "rebuild_block_device_mapping":
        after: Callable[[], None] = lambda: _step(  # noqa: E731
            cloud, mig, generation, "rebuild_block_device_mapping", "rebuild_spawning"
        )
    else:
        after = lambda: _complete(cloud, mig, generation)  # noqa: E731
    _later(cloud, _NEXT_PHASE[new], after)


def _complete(cloud: Cloud, mig: Migration, generation: int) -> None:
    """The spawn is over: task state None, then the server moves to the target."""
    with cloud.lock:
        if _stale(cloud, mig, generation):
            return
        server = cloud.servers.get(mig.instance_uuid)
        if server is None:
            _finish(cloud, mig, "failed")
            return
        if _lost(cloud, mig):
            return
        dest = mig.dest_compute or ""
        if server.id in cloud.fail_evacuation_servers or dest in cloud.fail_evacuation_targets:
            _finish(cloud, mig, "failed")
            _error(cloud, server, f"Evacuation of {server.id} to {dest} failed (injected fault)")
            cloud.event("evacuation_failed", server=server.id, target=dest, reason="injected")
            return
        if not _save(cloud, server, mig, "rebuild_spawning", None):
            return
        # resource tracker's finish_evacuation: the host changes, then the migration is done
        _finish(cloud, mig, "done")
        server.host = dest
        server.vm_state = mig.target_vm_state
        server.power_state = POWER_SHUTDOWN if mig.target_vm_state == "stopped" else POWER_RUNNING
        server.fault = None
        server.updated = cloud.wall()
        cloud.event("evacuation_done", server=server.id, source=mig.source_compute, target=dest)
