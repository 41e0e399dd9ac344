"""``/v1/segments``: failover segments (Masakari's ``ha/segments.py``)."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Rule

from rhworker import inventory_changes, validation
from rhworker.api import listing, schemas, views
from rhworker.api.auth import SEGMENTS
from rhworker.api.call import Call, Reply, find_segment
from rhworker.api.errors import bad_request, conflict
from rhworker.errors import AlreadyExists, ValidationError
from rhworker.models import Segment

# Valid sort keys: the fields of a segment's view.
SORT_KEYS = frozenset(views.segment(Segment(name="x")))
FILTERS = ("recovery_method", "service_type", "enabled")


def rules() -> list[Rule]:
    return [
        Rule("/v1/segments", methods=["GET"], endpoint=index),
        Rule("/v1/segments", methods=["POST"], endpoint=create),
        Rule("/v1/segments/<segment_id>", methods=["GET"], endpoint=show),
        Rule("/v1/segments/<segment_id>", methods=["PUT"], endpoint=update),
        Rule("/v1/segments/<segment_id>", methods=["DELETE"], endpoint=delete),
    ]


def _bool_filter(name: str, value: str) -> bool:
    try:
        return validation.check_bool(name, value)
    except ValidationError:
        raise bad_request(f"Invalid value for {name}: {value[:64]!r}") from None


def index(call: Call) -> Reply:
    call.authorize(SEGMENTS % "index")
    args = call.args()
    items = [views.segment(s) for s in call.store.list_segments()]
    for name in FILTERS:
        if name in args:
            wanted: Any = args[name]
            if name == "enabled":
                wanted = _bool_filter(name, wanted)
            items = [item for item in items if item[name] == wanted]
    return 200, {"segments": listing.page(items, args, fields=SORT_KEYS)}


def show(call: Call, segment_id: str) -> Reply:
    call.authorize(SEGMENTS % "detail")
    return 200, {"segment": views.segment(find_segment(call.store, segment_id))}


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    """Body fields → store fields (null description → empty, booleans checked)."""
    out = {k: v for k, v in data.items() if k != "name"}
    if "description" in out and out["description"] is None:
        out["description"] = ""
    if "enabled" in out:
        out["enabled"] = validation.check_bool("enabled", out["enabled"])
    return out


def create(call: Call) -> Reply:
    data = schemas.segment_create(call.body(), call.version)
    call.authorize(SEGMENTS % "create")
    segment = Segment(name=data["name"], **_fields(data))
    try:
        created = inventory_changes.create_segment(call.store, segment)
    except AlreadyExists:
        raise conflict(f"Failover segment with name {segment.name} already exists.") from None
    return 201, {"segment": views.segment(created)}


def update(call: Call, segment_id: str) -> Reply:
    data = schemas.segment_update(call.body(), call.version)
    call.authorize(SEGMENTS % "update")
    segment = find_segment(call.store, segment_id)
    if "name" in data and data["name"] != segment.name:
        raise bad_request(
            f"name: rhworker does not rename segments ({segment.name!r}); create a new "
            "segment and move the hosts"
        )
    changes = _fields(data)
    updated = (
        inventory_changes.update_segment(call.store, segment.name, changes) if changes else segment
    )
    return 200, {"segment": views.segment(updated)}


def delete(call: Call, segment_id: str) -> Reply:
    call.authorize(SEGMENTS % "delete")
    segment = find_segment(call.store, segment_id)
    inventory_changes.delete_segment(call.store, segment.name)
    return 204, None
