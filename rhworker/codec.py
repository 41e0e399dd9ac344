"""JSON-able round trip of every domain type, shared by the store backends.

``to_dict(obj)`` turns any model (nested dataclasses, enums as their values) into plain
dicts/lists; the ``*_from_dict`` functions rebuild them. Unknown keys are ignored so
that older code can read records written by newer code.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any, TypeVar

from rhworker.models import (
    Claim,
    ClaimRecord,
    DeadLetter,
    Delivery,
    Host,
    InFlight,
    Move,
    MoveState,
    Notification,
    NotificationStatus,
    NotificationType,
    Progress,
    QueueStats,
    RecoveryMethod,
    Segment,
    Step,
    StepName,
)

T = TypeVar("T")


def to_dict(obj: Any) -> Any:
    """Plain JSON-able data: dataclasses → dict, enums → value, tuples → lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    """Compact JSON of :func:`to_dict` (UTF-8 safe, keys sorted)."""
    return json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return json.loads(text)


def _known(cls: type[T], data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in data.items() if k in names}


def segment_from_dict(data: dict[str, Any]) -> Segment:
    fields = _known(Segment, data)
    fields["recovery_method"] = RecoveryMethod(fields.get("recovery_method", "auto"))
    return Segment(**fields)


def host_from_dict(data: dict[str, Any]) -> Host:
    return Host(**_known(Host, data))


def step_from_dict(data: dict[str, Any]) -> Step:
    fields = _known(Step, data)
    fields["detail"] = dict(fields.get("detail") or {})
    fields["name"] = step_name(fields["name"])
    return Step(**fields)


def step_name(name: str) -> str:
    """``name`` as a :class:`StepName` when this version knows it, else as it was stored."""
    try:
        return StepName(name)
    except ValueError:
        return name


def claim_record_from_dict(data: dict[str, Any]) -> ClaimRecord:
    return ClaimRecord(**_known(ClaimRecord, data))


def progress_from_dict(data: dict[str, Any] | None) -> Progress:
    data = data or {}
    return Progress(
        steps=[step_from_dict(s) for s in data.get("steps") or []],
        claims=[claim_record_from_dict(c) for c in data.get("claims") or []],
        reason=data.get("reason"),
    )


def notification_from_dict(data: dict[str, Any]) -> Notification:
    fields = _known(Notification, data)
    fields["type"] = NotificationType(fields["type"])
    fields["status"] = NotificationStatus(fields.get("status", "new"))
    fields["payload"] = dict(fields.get("payload") or {})
    fields["progress"] = progress_from_dict(fields.get("progress"))
    return Notification(**fields)


def move_from_dict(data: dict[str, Any]) -> Move:
    fields = _known(Move, data)
    fields["state"] = MoveState(fields.get("state", "pending"))
    return Move(**fields)


def delivery_from_dict(data: dict[str, Any]) -> Delivery:
    return Delivery(**_known(Delivery, data))


def claim_from_dict(data: dict[str, Any]) -> Claim:
    return Claim(**_known(Claim, data))


def in_flight_from_dict(data: dict[str, Any]) -> InFlight:
    return InFlight(**_known(InFlight, data))


def dead_letter_from_dict(data: dict[str, Any]) -> DeadLetter:
    return DeadLetter(**_known(DeadLetter, data))


def queue_stats_from_dict(data: dict[str, Any]) -> QueueStats:
    return QueueStats(
        depth=data["depth"],
        delayed=data["delayed"],
        in_flight=[in_flight_from_dict(i) for i in data.get("in_flight") or []],
        dead_letters=[dead_letter_from_dict(d) for d in data.get("dead_letters") or []],
    )
