"""os-services updates: status, disabled_reason, forced_down — Nova's rules and delays.

Changing the status of a compute service that Nova still counts as *up* makes Nova
call that compute over RPC; when the host is dead the call only gives up after
``rpc_response_timeout`` and the API then answers 200. The simulator sleeps
``disable_rpc_delay`` in that case (outside the lock). A service already down
(forced down, or heartbeat older than ``service_down_time``) answers at once.
"""

from __future__ import annotations

import uuid
from typing import Any

from rhworker.sim.model import Caller, Service, bad_request, forbidden, not_found
from rhworker.sim.state import Cloud

MAX_REASON = 255


def find(cloud: Cloud, service_id: str, microversion: tuple[int, int]) -> Service:
    for svc in cloud.services:
        if (microversion >= (2, 53) and svc.uuid == service_id) or str(svc.id) == service_id:
            return svc
    raise not_found(f"Service {service_id} could not be found.")


def _validate_253(body: dict[str, Any]) -> None:
    allowed = {"status", "disabled_reason", "forced_down"}
    unexpected = sorted(set(body) - allowed)
    if unexpected:
        raise bad_request(
            "Invalid input for field/attribute. Additional properties are not allowed "
            f"({unexpected[0]!r} was unexpected)"
        )
    if not body:
        raise bad_request(
            "No updates were requested. Fields 'status' or 'forced_down' should be specified."
        )
    status = body.get("status")
    if "status" in body and status not in ("enabled", "disabled"):
        raise bad_request(f"Invalid input for field/attribute status. Value: {status}.")
    _validate_reason(body.get("disabled_reason"))
    if "disabled_reason" in body and status != "disabled":
        if status == "enabled":
            raise bad_request("Specifying 'disabled_reason' with status 'enabled' is invalid.")
        raise bad_request("Specifying 'disabled_reason' without status 'disabled' is invalid.")
    if "forced_down" in body and not isinstance(body["forced_down"], bool):
        raise bad_request(
            f"Invalid input for field/attribute forced_down. Value: {body['forced_down']}."
        )


def _validate_reason(reason: Any) -> None:
    if reason is None:
        return
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise bad_request(
            "Invalid input for field/attribute disabled_reason. "
            f"Value: {reason!r}. It must be a string of 1 to {MAX_REASON} characters."
        )


def update(
    cloud: Cloud, caller: Caller, service_id: str, body: dict[str, Any], mv: tuple[int, int]
) -> Service:
    """``PUT /os-services/{uuid}`` (microversion >= 2.53)."""
    if not caller.is_admin:
        raise forbidden()
    try:
        uuid.UUID(service_id)
    except ValueError:
        raise bad_request(f"Invalid uuid {service_id}") from None
    with cloud.lock:
        svc = find(cloud, service_id, mv)
        _validate_253(body)
        if svc.binary != "nova-compute":
            raise bad_request(
                f"Updating a {svc.binary} service is not supported. "
                "Only nova-compute services can be updated."
            )
    return apply(cloud, svc, body)


def apply(cloud: Cloud, svc: Service, body: dict[str, Any]) -> Service:
    """Apply a validated update; block like Nova's RPC to a dead, still-up compute."""
    with cloud.lock:
        if body.get("forced_down") is False:
            _check_force_up(cloud, svc)
        delay = 0.0
        if "status" in body and svc.binary == "nova-compute":
            host = cloud.hosts.get(svc.host)
            if cloud.service_is_up(svc) and host is not None and not host.alive:
                delay = cloud.options.disable_rpc_delay
    if delay > 0:
        cloud.event("service_rpc_timeout_wait", host=svc.host, seconds=delay)
        cloud.stopping.wait(delay)
    with cloud.lock:
        if "status" in body:
            svc.disabled = body["status"] == "disabled"
            svc.disabled_reason = body.get("disabled_reason") if svc.disabled else None
        if "forced_down" in body:
            svc.forced_down = bool(body["forced_down"])
        cloud.event(
            "service_updated",
            host=svc.host,
            status="disabled" if svc.disabled else "enabled",
            forced_down=svc.forced_down,
        )
        return svc


def _check_force_up(cloud: Cloud, svc: Service) -> None:
    done = [
        m
        for m in cloud.migrations
        if m.source_compute == svc.host and m.migration_type == "evacuation" and m.status == "done"
    ]
    if done:
        raise bad_request(
            f"Unable to force up host {svc.host} as `done` evacuation migration records "
            "remain associated with the host. Ensure the compute service has been "
            "restarted, allowing these records to move to `completed` before retrying "
            "this request."
        )


def legacy_action(
    cloud: Cloud, caller: Caller, action: str, body: dict[str, Any], mv: tuple[int, int]
) -> tuple[Service, dict[str, Any]]:
    """``PUT /os-services/{enable,disable,disable-log-reason,force-down}`` (< 2.53)."""
    if action not in ("enable", "disable", "disable-log-reason", "force-down") or (
        action == "force-down" and mv < (2, 11)
    ):
        raise not_found("Unknown action")
    if not caller.is_admin:
        raise forbidden()
    host, binary = body.get("host"), body.get("binary")
    if not isinstance(host, str) or not isinstance(binary, str):
        raise bad_request("Invalid input: 'host' and 'binary' are required.")
    with cloud.lock:
        svc = next((s for s in cloud.services if s.host == host and s.binary == binary), None)
        if svc is None:
            raise not_found(f"Host '{host}' is not found.")
    if action == "force-down":
        forced = body.get("forced_down")
        if not isinstance(forced, bool):
            raise bad_request("Invalid input for field/attribute forced_down.")
        apply(cloud, svc, {"forced_down": forced})
        return svc, {"host": host, "binary": binary, "forced_down": forced}
    update: dict[str, Any] = {"status": "enabled" if action == "enable" else "disabled"}
    if action == "disable-log-reason":
        reason = body.get("disabled_reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
            raise bad_request(
                "The string containing the reason for disabling the service contains "
                "invalid characters or is too long."
            )
        update["disabled_reason"] = reason
    apply(cloud, svc, update)
    view = {"host": host, "binary": binary, "status": update["status"]}
    if "disabled_reason" in update:
        view["disabled_reason"] = update["disabled_reason"]
    return svc, view
