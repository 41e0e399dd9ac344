"""Redis hash fields ↔ domain types for the Redis store.

Hashes hold strings only: booleans are ``"1"``/``"0"``, ``None`` is ``""``, floats are
``repr(float)`` (round-trips exactly), payloads, steps and moves are JSON.
"""

from __future__ import annotations

import json
from typing import Any

from rhworker import codec
from rhworker.models import (
    ClaimRecord,
    Host,
    Notification,
    NotificationStatus,
    NotificationType,
    Progress,
    RecoveryMethod,
    Segment,
)


def flt(value: float) -> str:
    """A float as a string that Redis and Python read back exactly."""
    return repr(float(value))


def opt_float(text: str | None) -> float | None:
    return float(text) if text else None


def opt_int(text: str | None) -> int | None:
    return int(text) if text else None


def field_value(value: Any) -> str:
    """One hash value: bool → '1'/'0', None → '', enum → value, float → repr."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    if isinstance(value, RecoveryMethod):
        return value.value
    if isinstance(value, float):
        return flt(value)
    return str(value)


def flatten(fields: dict[str, Any]) -> list[str]:
    """``{a: 1, b: True}`` → ``["a", "1", "b", "1"]`` for HSET argument lists."""
    out: list[str] = []
    for name, value in fields.items():
        out += [name, field_value(value)]
    return out


def segment_fields(segment: Segment) -> dict[str, Any]:
    return {
        "name": segment.name,
        "recovery_method": segment.recovery_method,
        "enabled": segment.enabled,
        "service_type": segment.service_type,
        "description": segment.description,
        "uuid": segment.uuid,
    }


def segment_of(data: dict[str, str]) -> Segment:
    return Segment(
        name=data["name"],
        recovery_method=RecoveryMethod(data["recovery_method"]),
        enabled=data["enabled"] == "1",
        service_type=data["service_type"],
        description=data["description"],
        uuid=data.get("uuid", ""),
        id=int(data.get("id") or 0),
    )


def host_fields(host: Host) -> dict[str, Any]:
    """Fields of a new host, except name, segment and position (set by the script)."""
    return {
        "type": host.type,
        "control_attributes": host.control_attributes,
        "reserved": host.reserved,
        "on_maintenance": host.on_maintenance,
        "claimed_by": host.claimed_by,
        "claim_epoch": host.claim_epoch,
        "uuid": host.uuid,
    }


def host_of(data: dict[str, str]) -> Host:
    return Host(
        name=data["name"],
        segment=data["segment"],
        type=data["type"],
        control_attributes=data["control_attributes"],
        reserved=data["reserved"] == "1",
        on_maintenance=data["on_maintenance"] == "1",
        position=int(data["position"]),
        claimed_by=data.get("claimed_by") or None,
        claim_epoch=opt_int(data.get("claim_epoch")),
        uuid=data.get("uuid", ""),
        id=int(data.get("id") or 0),
    )


def notification_of(data: dict[str, str], steps: list[str], claims: list[str]) -> Notification:
    claim_records = []
    for text in claims:
        claim = json.loads(text)
        claim_records.append(ClaimRecord(host=claim["host"], epoch=int(claim["epoch"])))
    return Notification(
        id=data["id"],
        type=NotificationType(data["type"]),
        hostname=data["hostname"],
        payload=json.loads(data["payload"]),
        generated_time=float(data["generated_time"]),
        status=NotificationStatus(data["status"]),
        created_at=float(data["created_at"]),
        updated_at=float(data["updated_at"]),
        attempts=int(data["attempts"]),
        lease_owner=data.get("lease_owner") or None,
        lease_until=opt_float(data.get("lease_until")),
        lease_token=int(data["lease_token"]),
        next_attempt_at=opt_float(data.get("next_attempt_at")),
        progress=Progress(
            steps=[codec.step_from_dict(json.loads(s)) for s in steps],
            claims=claim_records,
            reason=data.get("reason") or None,
        ),
        seq=int(data.get("seq") or 0),
    )
