"""``/v1/segments/{segment_id}/hosts``: the hosts of a segment (Masakari's ``ha/hosts.py``)."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Rule

from rhworker import inventory_changes, validation
from rhworker.api import listing, schemas, views
from rhworker.api.auth import HOSTS
from rhworker.api.call import Call, Reply, find_host, find_segment
from rhworker.api.errors import bad_request, conflict
from rhworker.errors import AlreadyExists, ValidationError
from rhworker.models import Host, Segment

# Valid sort keys: the fields of a host's view.
SORT_KEYS = frozenset(views.host(Host(name="x", segment="s"), Segment(name="s")))
TEXT_FILTERS = ("name", "type", "control_attributes")
BOOL_FILTERS = ("on_maintenance", "reserved")


def rules() -> list[Rule]:
    base = "/v1/segments/<segment_id>/hosts"
    return [
        Rule(base, methods=["GET"], endpoint=index),
        Rule(base, methods=["POST"], endpoint=create),
        Rule(f"{base}/<host_id>", methods=["GET"], endpoint=show),
        Rule(f"{base}/<host_id>", methods=["PUT"], endpoint=update),
        Rule(f"{base}/<host_id>", methods=["DELETE"], endpoint=delete),
    ]


def _strict_bool(name: str, value: str) -> bool:
    """oslo's ``bool_from_string(strict=True)``, as Masakari parses these filters."""
    try:
        return validation.check_bool(name, value)
    except ValidationError:
        raise bad_request(
            f"Invalid value for {name}: Unrecognized value '{value[:64]}', acceptable values "
            "are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
        ) from None


def index(call: Call, segment_id: str) -> Reply:
    call.authorize(HOSTS % "index")
    args = call.args()
    segment = find_segment(call.store, segment_id)
    filters: dict[str, Any] = {name: args[name] for name in TEXT_FILTERS if name in args}
    for name in BOOL_FILTERS:
        if name in args:
            filters[name] = _strict_bool(name, args[name])
    hosts = call.store.list_hosts(segment=segment.name)
    items = [views.host(h, segment) for h in hosts]
    items = [i for i in items if all(i[k] == v for k, v in filters.items())]
    return 200, {"hosts": listing.page(items, args, fields=SORT_KEYS)}


def show(call: Call, segment_id: str, host_id: str) -> Reply:
    call.authorize(HOSTS % "detail")
    segment = find_segment(call.store, segment_id)
    return 200, {"host": views.host(find_host(call.store, segment, host_id), segment)}


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    """Body fields → store fields (null text → empty, Masakari's booleans)."""
    out = {k: v for k, v in data.items() if k != "name"}
    if "control_attributes" in out and out["control_attributes"] is None:
        out["control_attributes"] = ""
    for name in ("reserved", "on_maintenance"):
        if name in out:
            out[name] = validation.check_bool(name, out[name])
    return out


def create(call: Call, segment_id: str) -> Reply:
    data = schemas.host_create(call.body())
    call.authorize(HOSTS % "create")
    segment = find_segment(call.store, segment_id)
    host = Host(name=data["name"], segment=segment.name, **_fields(data))
    try:
        created = inventory_changes.create_host(call.store, host)
    except AlreadyExists:
        raise conflict(f"Host with name {host.name} already exists.") from None
    return 201, {"host": views.host(created, segment)}


def update(call: Call, segment_id: str, host_id: str) -> Reply:
    data = schemas.host_update(call.body())
    call.authorize(HOSTS % "update")
    segment = find_segment(call.store, segment_id)
    host = find_host(call.store, segment, host_id)
    if "name" in data and data["name"] != host.name:
        raise bad_request(
            f"name: rhworker does not rename hosts ({host.name!r}): the name is the "
            "nova-compute service host; delete it and create the new one"
        )
    changes = _fields(data)
    updated = inventory_changes.update_host(call.store, host.name, changes) if changes else host
    return 200, {"host": views.host(updated, segment)}


def delete(call: Call, segment_id: str, host_id: str) -> Reply:
    call.authorize(HOSTS % "delete")
    segment = find_segment(call.store, segment_id)
    host = find_host(call.store, segment, host_id)
    inventory_changes.delete_host(call.store, host.name)
    return 204, None
