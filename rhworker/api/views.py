"""rhworker's records in Masakari's field names (``masakari/objects``, serialised).

Times are naive UTC as Masakari prints them (``2026-01-31T12:00:00.000000``).
Segments and hosts carry no creation time in rhworker: ``created_at`` and
``updated_at`` are null. An empty segment description shows as null (Masakari's
value for none given). Records are never soft-deleted: ``deleted`` is always false.
"""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from collections.abc import Mapping
from typing import Any

from rhworker.models import Host, Move, MoveState, Notification, RecoveryMethod, Segment, Step

# Masakari's timestamp format (oslo.serialization's to_primitive of a datetime).
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
# Namespace of the vmove uuids (derived from notification and instance: stable).
VMOVE_NAMESPACE = uuidlib.UUID("0b7c2e53-62a5-4d0e-9a0c-6f8f5d2f7a11")
# rhworker's move states in Masakari's vmove statuses.
VMOVE_STATUS = {
    MoveState.PENDING: "pending",
    MoveState.ONGOING: "ongoing",
    MoveState.SUCCEEDED: "succeeded",
    MoveState.FAILED: "failed",
    MoveState.SKIPPED: "ignored",
    MoveState.GONE: "ignored",
}
# Every instance move rhworker makes is an evacuation.
VMOVE_TYPE = "evacuation"


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    moment = dt.datetime.fromtimestamp(float(seconds), tz=dt.UTC).replace(tzinfo=None)
    return moment.strftime(TIME_FORMAT)


def _soft_delete_fields() -> dict[str, Any]:
    return {"deleted_at": None, "deleted": False}


def segment(s: Segment) -> dict[str, Any]:
    method = s.recovery_method
    return {
        "id": s.id,
        "uuid": s.uuid,
        "name": s.name,
        "service_type": s.service_type,
        "enabled": s.enabled,
        # Masakari's is null unless one was given; rhworker keeps "" for none.
        "description": s.description or None,
        "recovery_method": method.value if isinstance(method, RecoveryMethod) else str(method),
        "created_at": None,
        "updated_at": None,
        **_soft_delete_fields(),
    }


def host(h: Host, seg: Segment) -> dict[str, Any]:
    return {
        "id": h.id,
        "uuid": h.uuid,
        "name": h.name,
        "failover_segment_id": seg.uuid,
        "failover_segment": segment(seg),
        "type": h.type,
        "reserved": h.reserved,
        "control_attributes": h.control_attributes,
        "on_maintenance": h.on_maintenance,
        "created_at": None,
        "updated_at": None,
        **_soft_delete_fields(),
    }


def notification(
    n: Notification, hosts: Mapping[str, Host], segments: Mapping[str, Segment]
) -> dict[str, Any]:
    """``hosts`` and ``segments`` by name: the host's and segment's uuids as they are now
    (null once the host left the inventory)."""
    source = hosts.get(n.hostname)
    seg = segments.get(source.segment) if source is not None else None
    return {
        "id": n.seq,
        "notification_uuid": n.id,
        "generated_time": iso(n.generated_time),
        "source_host_uuid": source.uuid if source is not None else None,
        "type": n.type.value,
        "payload": dict(n.payload),
        "status": n.status.value,
        "failover_segment_uuid": seg.uuid if seg is not None else None,
        "message": n.progress.reason,
        "created_at": iso(n.created_at),
        # null until the notification changes after its intake, as in Masakari
        "updated_at": iso(n.updated_at) if n.updated_at != n.created_at else None,
        **_soft_delete_fields(),
    }


def _detail(step: Step) -> dict[str, str | None]:
    return {"timestamp": iso(step.at), "message": step.message or step.name, "progress": "1.0"}


def workflow_details(n: Notification) -> list[dict[str, Any]]:
    """``recovery_workflow_details`` (1.1): rhworker's history, one task per step name in
    the order they first happened, each with its timestamped messages."""
    tasks: dict[str, list[Step]] = {}
    for step in n.progress.steps:
        tasks.setdefault(step.name, []).append(step)
    return [
        {
            "name": name,
            "progress": 1.0,
            "progress_details": [_detail(step) for step in steps],
            "state": "SUCCESS",
        }
        for name, steps in tasks.items()
    ]


def vmove_uuid(m: Move) -> str:
    return str(uuidlib.uuid5(VMOVE_NAMESPACE, f"{m.notification_id}/{m.instance_id}"))


def vmove(m: Move, number: int) -> dict[str, Any]:
    """``number``: the move's 1-based place in its notification (its integer id)."""
    return {
        "id": number,
        "uuid": vmove_uuid(m),
        "notification_uuid": m.notification_id,
        "instance_uuid": m.instance_id,
        "instance_name": m.instance_name,
        "source_host": m.source or None,
        "dest_host": m.target,
        "start_time": iso(m.started_at),
        "end_time": iso(m.finished_at),
        "type": VMOVE_TYPE,
        "status": VMOVE_STATUS.get(m.state, m.state.value),
        "message": m.message or None,
        "created_at": iso(m.started_at),
        "updated_at": iso(m.finished_at),
        **_soft_delete_fields(),
    }
