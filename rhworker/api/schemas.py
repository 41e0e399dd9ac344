"""Request bodies checked as Masakari's JSON schemas do (``ha/schemas/*.py``).

Only the shape is checked here — the wrapper key, required and unknown keys, JSON
types, Masakari's boolean spellings. The values themselves (names, enums, lengths,
times) are checked by :mod:`rhworker.validation`, the same code the CLI and the YAML
inventory use. Messages name the field, as Masakari's do.
"""

from __future__ import annotations

from typing import Any

from rhworker.api.errors import bad_request
from rhworker.api.versions import Version

# Masakari's parameter_types.boolean: these spellings (and JSON booleans) only.
BOOLEAN_STRINGS = frozenset(
    {"True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes"}
    | {"False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"}
)
SEGMENT_KEYS = ("name", "description", "recovery_method", "service_type")
SEGMENT_REQUIRED = ("name", "recovery_method", "service_type")
HOST_KEYS = ("name", "type", "control_attributes", "reserved", "on_maintenance")
HOST_REQUIRED = ("name", "type", "control_attributes")
NOTIFICATION_KEYS = ("type", "hostname", "generated_time", "payload")
# Masakari's payload: keys of 1-255 of these characters, string values <= 255.
PAYLOAD_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:. ")
PAYLOAD_VALUE_MAX = 255

_JSON_TYPES = {"string": str, "object": dict, "boolean": bool, "array": list}


def _wrapped(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(
            f"Invalid input for field/attribute body. Value: {_short(body)}. "
            f"{_short(body)} is not of type 'object'"
        )
    extra = sorted(set(body) - {key})
    if extra:
        raise bad_request(
            f"Additional properties are not allowed ({', '.join(map(repr, extra))} were unexpected)"
        )
    if key not in body:
        raise bad_request(f"'{key}' is a required property")
    inner = body[key]
    if not isinstance(inner, dict):
        raise bad_request(
            f"Invalid input for field/attribute {key}. Value: {_short(inner)}. "
            f"{_short(inner)} is not of type 'object'"
        )
    return inner


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_keys(
    data: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...], what: str
) -> None:
    extra = sorted(str(k) for k in data if k not in allowed)
    if extra:
        shown = ", ".join(repr(k[:64]) for k in extra[:5])
        verb = "was" if len(extra) == 1 else "were"
        raise bad_request(f"Additional properties are not allowed ({shown} {verb} unexpected)")
    for key in required:
        if key not in data:
            raise bad_request(f"'{key}' is a required property")


def _check_type(data: dict[str, Any], key: str, *types: str) -> None:
    if key not in data:
        return
    value = data[key]
    if value is None and "null" in types:
        return
    if any(isinstance(value, _JSON_TYPES[t]) for t in types if t != "null"):
        return
    wanted = " or ".join(repr(t) for t in types)
    raise bad_request(
        f"Invalid input for field/attribute {key}. Value: {_short(value)}. "
        f"{_short(value)} is not of type {wanted}"
    )


def _check_boolean(data: dict[str, Any], key: str) -> None:
    if key not in data:
        return
    value = data[key]
    if isinstance(value, bool) or (isinstance(value, str) and value in BOOLEAN_STRINGS):
        return
    raise bad_request(
        f"Invalid input for field/attribute {key}. Value: {_short(value)}. "
        f"{_short(value)} is not one of Masakari's boolean values"
    )


def _none_given(data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    if not any(key in data for key in allowed):
        raise bad_request(f"{_short(data)} is not valid under any of the given schemas")


def segment_create(body: Any, version: Version) -> dict[str, Any]:
    data = _wrapped(body, "segment")
    allowed = SEGMENT_KEYS + (("enabled",) if version >= (1, 2) else ())
    _check_keys(data, allowed, SEGMENT_REQUIRED, "segment")
    return _segment_types(data)


def segment_update(body: Any, version: Version) -> dict[str, Any]:
    data = _wrapped(body, "segment")
    allowed = SEGMENT_KEYS + (("enabled",) if version >= (1, 2) else ())
    _check_keys(data, allowed, (), "segment")
    _none_given(data, allowed)
    return _segment_types(data)


def _segment_types(data: dict[str, Any]) -> dict[str, Any]:
    for key in ("name", "recovery_method", "service_type"):
        _check_type(data, key, "string")
    _check_type(data, "description", "string", "null")
    _check_boolean(data, "enabled")
    return data


def host_create(body: Any) -> dict[str, Any]:
    data = _wrapped(body, "host")
    _check_keys(data, HOST_KEYS, HOST_REQUIRED, "host")
    return _host_types(data)


def host_update(body: Any) -> dict[str, Any]:
    data = _wrapped(body, "host")
    _check_keys(data, HOST_KEYS, (), "host")
    _none_given(data, HOST_KEYS)
    return _host_types(data)


def _host_types(data: dict[str, Any]) -> dict[str, Any]:
    _check_type(data, "name", "string")
    for key in ("type", "control_attributes"):
        _check_type(data, key, "string", "null")
    for key in ("reserved", "on_maintenance"):
        _check_boolean(data, key)
    return data


def notification_create(body: Any) -> dict[str, Any]:
    data = _wrapped(body, "notification")
    _check_keys(data, NOTIFICATION_KEYS, NOTIFICATION_KEYS, "notification")
    for key in ("type", "hostname", "generated_time"):
        _check_type(data, key, "string")
    _check_type(data, "payload", "object")
    _payload(data["payload"])
    return data


# Keys of a workflow's callback (``PUT /v1/notifications/{id}``, the external driver).
CALLBACK_KEYS = ("status", "used_reserved_hosts")


def notification_callback(body: Any) -> dict[str, Any]:
    """The external workflow's report; the values are judged by the callback itself
    (:func:`rhworker.recovery.external.apply_callback`)."""
    data = _wrapped(body, "notification")
    _check_keys(data, CALLBACK_KEYS, ("status",), "notification")
    _check_type(data, "status", "string")
    _check_type(data, "used_reserved_hosts", "array")
    return data


def _payload(payload: dict[str, Any]) -> None:
    for key, value in payload.items():
        if not 1 <= len(key) <= 255 or not set(key) <= PAYLOAD_KEY_CHARS:
            raise bad_request(
                f"Additional properties are not allowed ({key[:64]!r} was unexpected)"
            )
        if not isinstance(value, str):
            raise bad_request(
                f"Invalid input for field/attribute {key[:64]}. Value: {_short(value)}. "
                f"{_short(value)} is not of type 'string'"
            )
        if len(value) > PAYLOAD_VALUE_MAX:
            raise bad_request(
                f"Invalid input for field/attribute {key[:64]}. Value: {_short(value)}. "
                f"{_short(value)} is too long"
            )
