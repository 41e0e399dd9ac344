"""Validation of everything that enters the store, shared by every backend and the CLI.

Pure functions: no I/O, no clock (``now`` is passed in). Each raises
:class:`rhworker.errors.ValidationError` with a one-line message that names the field.
Notification rules follow Masakari's API schemas (``masakari/api/openstack/ha/schemas``
and ``masakari/api/validation/parameter_types.py``): same enums, hostname pattern and
lengths; event/status values are accepted in any case and stored upper-case.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import re
import unicodedata
import uuid
from typing import Any

from rhworker.errors import ValidationError
from rhworker.models import (
    Host,
    Notification,
    NotificationType,
    RecoveryMethod,
    Segment,
)

# Masakari's limit for names, hostnames, types and payload values.
MAX_NAME = 255
# Longest free text we store (descriptions, control attributes, process names).
MAX_TEXT = 4096
# 9999-12-31T23:59:59Z: later (or pre-1970) times are refused.
MAX_EPOCH = 253402300799.0
# Masakari's hostname pattern (parameter_types.hostname).
HOSTNAME_RE = re.compile(r"^[a-zA-Z0-9\-._]*$")
# Masakari's host/segment ``type`` pattern (parameter_types.type).
TYPE_RE = re.compile(r"^[a-zA-Z0-9]*$")
# A VM payload's event and vir_domain_event (libvirt's names: LIFECYCLE, STOPPED_FAILED).
EVENT_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,255}$")

EVENTS = ("STARTED", "STOPPED")
HOST_STATUSES = ("NORMAL", "UNKNOWN")
CLUSTER_STATUSES = ("ONLINE", "OFFLINE")
# ``restore_policy``: rhworker's own key, set by ``rhworker host restore`` on a STARTED
# notification (rhworker.recovery.host_restore); Masakari payloads never carry it.
RESTORE_POLICIES = ("ordinary", "reserved")

# Spellings of a boolean, in any case. Masakari's API takes these
# (parameter_types.boolean)...
API_TRUE = frozenset({"true", "1", "on", "yes"})
API_FALSE = frozenset({"false", "0", "off", "no"})
# ...and oslo's strutils.bool_from_string, with which Masakari reads metadata such as
# HA_Enabled, also the one-letter ones.
TRUE_STRINGS = API_TRUE | {"t", "y"}
FALSE_STRINGS = API_FALSE | {"f", "n"}

SEGMENT_FIELDS = ("recovery_method", "enabled", "service_type", "description")
HOST_FIELDS = ("type", "control_attributes", "reserved", "on_maintenance", "position")


# -- primitives --------------------------------------------------------------------------


def check_str(field: str, value: Any, *, min_len: int = 0, max_len: int = MAX_NAME) -> str:
    """A real ``str`` (not bytes), valid UTF-8, within the length bounds."""
    if isinstance(value, bytes | bytearray | memoryview):
        raise ValidationError(f"{field}: must be text, not bytes")
    if not isinstance(value, str):
        raise ValidationError(f"{field}: must be a string, not {type(value).__name__}")
    if len(value) > max_len:
        raise ValidationError(f"{field}: longer than {max_len} characters ({len(value)})")
    if len(value) < min_len:
        raise ValidationError(f"{field}: shorter than {min_len} character(s)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValidationError(f"{field}: not valid UTF-8 text") from e
    return value


def check_printable_name(field: str, value: Any) -> str:
    """Masakari's ``name``: 1..255 printable characters, no leading/trailing whitespace."""
    value = check_str(field, value, min_len=1)
    for char in value:
        category = unicodedata.category(char)
        if category.startswith("C") or (category.startswith("Z") and category != "Zs"):
            raise ValidationError(f"{field}: contains a non-printable character {char!r}")
    if value != value.strip():
        raise ValidationError(f"{field}: must not start or end with whitespace")
    return value


def check_hostname(field: str, value: Any) -> str:
    value = check_str(field, value, min_len=1)
    if not HOSTNAME_RE.match(value):
        raise ValidationError(f"{field}: {value!r} may contain only letters, digits, '-', '.', '_'")
    return value


def parse_bool(text: str, *, api: bool = False) -> bool | None:
    """True or False for a spelling of a boolean (any case, spaces around), None for
    anything else. ``api``: only the spellings Masakari's API takes (no 't', 'y'...)."""
    lowered = text.strip().lower()
    if lowered in (API_TRUE if api else TRUE_STRINGS):
        return True
    if lowered in (API_FALSE if api else FALSE_STRINGS):
        return False
    return None


def check_bool(field: str, value: Any) -> bool:
    """A bool, or one of Masakari's string spellings ('true', 'No', '1', ...)."""
    if isinstance(value, bool):
        return value
    parsed = parse_bool(value, api=True) if isinstance(value, str) else None
    if parsed is None:
        raise ValidationError(f"{field}: must be a boolean, not {value!r:.40}")
    return parsed


def check_int(field: str, value: Any, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field}: must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise ValidationError(f"{field}: must be >= {minimum}")
    return value


def check_enum(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    value = check_str(field, value, min_len=1)
    upper = value.upper()
    if upper not in allowed:
        raise ValidationError(f"{field}: {value!r} is not one of {', '.join(allowed)}")
    return upper


def check_recovery_method(value: Any) -> RecoveryMethod:
    if isinstance(value, RecoveryMethod):
        return value
    text = check_str("recovery_method", value, min_len=1)
    try:
        return RecoveryMethod(text.lower())
    except ValueError:
        allowed = ", ".join(m.value for m in RecoveryMethod)
        raise ValidationError(f"recovery_method: {text!r} is not one of {allowed}") from None


def to_epoch(field: str, value: Any, *, now: float) -> float:
    """ISO 8601 string, datetime or epoch number → UTC epoch seconds; None → ``now``.

    A string or datetime without a zone is taken as UTC (Masakari stores naive UTC).
    """
    if value is None:
        return float(now)
    if isinstance(value, bool):
        raise ValidationError(f"{field}: must be an ISO 8601 time, not a boolean")
    if isinstance(value, int | float):
        return _epoch_in_range(field, float(value) if math.isfinite(value) else -1.0, value)
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = check_str(field, value, min_len=1, max_len=64).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"{field}: {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return _epoch_in_range(field, moment.timestamp(), value)


def _epoch_in_range(field: str, seconds: float, original: Any) -> float:
    if not 0 <= seconds <= MAX_EPOCH:
        raise ValidationError(f"{field}: {original!r:.64} is not a time between 1970 and 9999")
    return seconds


# -- notifications ---------------------------------------------------------------------


def _check_payload_keys(payload: Any, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict:
    if not isinstance(payload, dict):
        raise ValidationError(f"payload: must be an object, not {type(payload).__name__}")
    for key in payload:
        if not isinstance(key, str):
            raise ValidationError(f"payload: keys must be strings, not {type(key).__name__}")
        if key not in allowed:
            raise ValidationError(
                f"payload: unexpected key {key[:64]!r} (allowed: {', '.join(allowed)})"
            )
    for key in required:
        if key not in payload:
            raise ValidationError(f"payload.{key}: required")
    return payload


def _compute_host_payload(payload: Any) -> dict[str, str]:
    payload = _check_payload_keys(
        payload,
        ("event", "host_status", "cluster_status", "restore_policy"),
        required=("event",),
    )
    clean = {"event": check_enum("payload.event", payload["event"], EVENTS)}
    if "host_status" in payload:
        clean["host_status"] = check_enum(
            "payload.host_status", payload["host_status"], HOST_STATUSES
        )
    if "cluster_status" in payload:
        clean["cluster_status"] = check_enum(
            "payload.cluster_status", payload["cluster_status"], CLUSTER_STATUSES
        )
    if "restore_policy" in payload:
        if clean["event"] != "STARTED":
            raise ValidationError("payload.restore_policy: only with event STARTED")
        policy = check_str("payload.restore_policy", payload["restore_policy"], min_len=1)
        if policy.lower() not in RESTORE_POLICIES:
            raise ValidationError(
                f"payload.restore_policy: {policy!r} is not one of {', '.join(RESTORE_POLICIES)}"
            )
        clean["restore_policy"] = policy.lower()
    return clean


def _process_payload(payload: Any) -> dict[str, str]:
    payload = _check_payload_keys(
        payload, ("process_name", "event"), required=("process_name", "event")
    )
    return {
        "process_name": check_str(
            "payload.process_name", payload["process_name"], min_len=1, max_len=MAX_TEXT
        ),
        "event": check_enum("payload.event", payload["event"], EVENTS),
    }


def _vm_payload(payload: Any) -> dict[str, str]:
    payload = _check_payload_keys(
        payload,
        ("instance_uuid", "vir_domain_event", "event"),
        required=("instance_uuid", "vir_domain_event", "event"),
    )
    instance = check_str("payload.instance_uuid", payload["instance_uuid"], min_len=1)
    try:
        # Canonical (lower-case, dashed): the same instance dedups and locks the same.
        canonical = str(uuid.UUID(instance))
    except ValueError:
        raise ValidationError(f"payload.instance_uuid: {instance[:64]!r} is not a UUID") from None
    # masakari-monitors' instancemonitor sends libvirt's names (event LIFECYCLE,
    # vir_domain_event STOPPED_FAILED ...): stored upper-case, like every event.
    return {
        "instance_uuid": canonical,
        "vir_domain_event": _event_name("payload.vir_domain_event", payload["vir_domain_event"]),
        "event": _event_name("payload.event", payload["event"]),
    }


def _event_name(field: str, value: Any) -> str:
    """A libvirt event name: letters, digits and '_', stored upper-case."""
    text = check_str(field, value, min_len=1)
    if not EVENT_NAME_RE.match(text):
        raise ValidationError(f"{field}: {text[:64]!r} may contain only letters, digits and '_'")
    return text.upper()


_PAYLOADS = {
    NotificationType.COMPUTE_HOST: _compute_host_payload,
    NotificationType.PROCESS: _process_payload,
    NotificationType.VM: _vm_payload,
}


def check_notification_type(value: Any) -> NotificationType:
    if isinstance(value, NotificationType):
        return value
    text = check_str("type", value, min_len=1)
    try:
        return NotificationType(text.upper())
    except ValueError:
        allowed = ", ".join(t.value for t in NotificationType)
        raise ValidationError(f"type: {text[:64]!r} is not one of {allowed}") from None


def validate_notification(
    type: Any, hostname: Any, payload: Any, generated_time: Any, *, now: float
) -> tuple[NotificationType, str, dict, float]:
    """Check a notification as Masakari's API does; return the normalised fields.

    COMPUTE_HOST, PROCESS and VM payloads have the shapes masakari-monitors sends
    (hostmonitor, processmonitor, instancemonitor).
    """
    kind = check_notification_type(type)
    name = check_hostname("hostname", hostname)
    clean = _PAYLOADS[kind](payload)
    when = to_epoch("generated_time", generated_time, now=now)
    return kind, name, clean, when


def canonical_payload(payload: dict) -> str:
    """The payload as canonical JSON: equal payloads give equal strings."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def dedup_key(type: NotificationType | str, hostname: str, payload: dict) -> str:
    """What makes two notifications the same failure (type, hostname, payload)."""
    kind = type.value if isinstance(type, NotificationType) else str(type)
    text = f"{kind}\n{hostname}\n{canonical_payload(payload)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prepare_notification(
    type: Any, hostname: Any, payload: Any, generated_time: Any, *, now: float
) -> Notification:
    """Validate and build a new notification (fresh id, status new, times = now)."""
    kind, name, clean, when = validate_notification(
        type, hostname, payload, generated_time, now=now
    )
    return Notification(
        id=str(uuid.uuid4()),
        type=kind,
        hostname=name,
        payload=clean,
        generated_time=when,
        created_at=now,
        updated_at=now,
    )


# -- inventory -------------------------------------------------------------------------


def _segment_field(field: str, value: Any) -> Any:
    if field == "recovery_method":
        return check_recovery_method(value)
    if field == "enabled":
        return check_bool(field, value)
    if field == "service_type":
        return check_printable_name(field, value)
    if field == "description":
        return check_str(field, "" if value is None else value, max_len=MAX_TEXT)
    raise ValidationError(
        f"segment: unknown field {field!r} (allowed: {', '.join(SEGMENT_FIELDS)})"
    )


def _host_field(field: str, value: Any) -> Any:
    if field == "type":
        text = check_str(field, value, min_len=1)
        if not TYPE_RE.match(text):
            raise ValidationError(f"type: {text!r} may contain only letters and digits")
        return text
    if field == "control_attributes":
        return check_str(field, "" if value is None else value, max_len=MAX_TEXT)
    if field in ("reserved", "on_maintenance"):
        return check_bool(field, value)
    if field == "position":
        return check_int(field, value)
    raise ValidationError(f"host: unknown field {field!r} (allowed: {', '.join(HOST_FIELDS)})")


def validate_segment(segment: Segment) -> Segment:
    """A copy of ``segment`` with checked, normalised fields."""
    if not isinstance(segment, Segment):
        raise ValidationError(f"segment: expected a Segment, not {type(segment).__name__}")
    name = check_printable_name("name", segment.name)
    changes = {field: _segment_field(field, getattr(segment, field)) for field in SEGMENT_FIELDS}
    return dataclasses.replace(segment, name=name, **changes)


def validate_host(host: Host) -> Host:
    """A copy of ``host`` with checked, normalised fields (claims are not checked here)."""
    if not isinstance(host, Host):
        raise ValidationError(f"host: expected a Host, not {type(host).__name__}")
    name = check_hostname("name", host.name)
    segment = check_printable_name("segment", host.segment)
    changes = {field: _host_field(field, getattr(host, field)) for field in HOST_FIELDS}
    return dataclasses.replace(host, name=name, segment=segment, **changes)


def validate_changes(kind: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Check the fields of an update of a ``"segment"`` or a ``"host"``."""
    if kind == "segment":
        check = _segment_field
    elif kind == "host":
        check = _host_field
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return {field: check(field, value) for field, value in changes.items()}
