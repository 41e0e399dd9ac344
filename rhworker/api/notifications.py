"""``/v1/notifications`` and their vmoves (Masakari's ``ha/notifications.py``,
``ha/vmoves.py``).

A notification posted here goes through :func:`rhworker.intake.submit`, the same
intake as ``rhworker notify``: validation, duplicate detection, the maintenance
refusal, store and enqueue in one step.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Rule

from rhworker import intake, validation
from rhworker.api import listing, schemas, views
from rhworker.api.auth import NOTIFICATIONS, VMOVES
from rhworker.api.call import Call, Reply
from rhworker.api.errors import bad_request, not_found
from rhworker.errors import NotFound, ValidationError
from rhworker.models import (
    Host,
    Move,
    Notification,
    NotificationStatus,
    NotificationType,
    Segment,
)
from rhworker.recovery import external

SORT_KEYS = frozenset(
    views.notification(
        Notification(id="x", type=NotificationType.VM, hostname="h", payload={}, generated_time=0),
        {},
        {},
    )
)
VMOVE_SORT_KEYS = frozenset(views.vmove(Move(notification_id="n", instance_id="i"), 1))


def rules() -> list[Rule]:
    return [
        Rule("/v1/notifications", methods=["GET"], endpoint=index),
        Rule("/v1/notifications", methods=["POST"], endpoint=create),
        Rule("/v1/notifications/<notification_id>", methods=["GET"], endpoint=show),
        Rule("/v1/notifications/<notification_id>", methods=["PUT"], endpoint=update),
        Rule("/v1/notifications/<notification_id>/vmoves", methods=["GET"], endpoint=vmoves),
        Rule(
            "/v1/notifications/<notification_id>/vmoves/<vmove_id>",
            methods=["GET"],
            endpoint=vmove,
        ),
    ]


def _inventory(call: Call) -> tuple[dict[str, Host], dict[str, Segment]]:
    hosts = {h.name: h for h in call.store.list_hosts()}
    segments = {s.name: s for s in call.store.list_segments()}
    return hosts, segments


def create(call: Call) -> Reply:
    data = schemas.notification_create(call.body())
    call.authorize(NOTIFICATIONS % "create")
    try:
        n = intake.submit(
            call.store,
            data["type"],
            data["hostname"],
            data["payload"],
            data["generated_time"],
            dedup_interval=call.dedup_interval,
        )
    except intake.UnknownHost:
        raise bad_request(f"Host with name {data['hostname']} could not be found.") from None
    hosts, segments = _inventory(call)
    return 202, {"notification": views.notification(n, hosts, segments)}


def _filters(call: Call, hosts: dict[str, Host]) -> dict[str, Any] | None:
    """Store filters from the query string; None when no notification can match."""
    args = call.args()
    out: dict[str, Any] = {}
    if "status" in args:
        try:
            out["status"] = NotificationStatus(args["status"])
        except ValueError:
            return None
    if "type" in args:
        if args["type"] not in {t.value for t in NotificationType}:
            return None
        out["type"] = args["type"]
    if "source_host_uuid" in args:
        names = [h.name for h in hosts.values() if h.uuid == args["source_host_uuid"]]
        if not names:
            return None
        out["hostname"] = names[0]
    if "generated-since" in args:
        try:
            out["since"] = validation.to_epoch("generated-since", args["generated-since"], now=0)
        except ValidationError:
            raise bad_request("Invalid generated-since value") from None
    return out


def index(call: Call) -> Reply:
    call.authorize(NOTIFICATIONS % "index")
    hosts, segments = _inventory(call)
    filters = _filters(call, hosts)
    found = call.store.list_notifications(**filters) if filters is not None else []
    items = [views.notification(n, hosts, segments) for n in found]
    return 200, {"notifications": listing.page(items, call.args(), fields=SORT_KEYS)}


def _get(call: Call, notification_id: str) -> Notification:
    try:
        return call.store.get_notification(notification_id)
    except NotFound:
        raise not_found(f"No notification with id {notification_id[:64]}.") from None


def show(call: Call, notification_id: str) -> Reply:
    call.authorize(NOTIFICATIONS % "detail")
    n = _get(call, notification_id)
    hosts, segments = _inventory(call)
    body = views.notification(n, hosts, segments)
    if call.version >= (1, 1):
        body["recovery_workflow_details"] = views.workflow_details(n)
    return 200, {"notification": body}


def update(call: Call, notification_id: str) -> Reply:
    """The external workflow's callback (Masakari's reserved-host spec): set the status
    of a notification handed off by the ``external`` driver and claim the reserved
    hosts the workflow used. 400 for a bad body or a host outside the segment, 404 for
    an unknown notification, 409 when it is not waiting for a workflow or a host is
    not a free reserved host (claimed by another notification)."""
    data = schemas.notification_callback(call.body())
    call.authorize(NOTIFICATIONS % "update")
    _get(call, notification_id)
    n = external.apply_callback(
        call.store,
        notification_id,
        status=data["status"],
        used_reserved_hosts=data.get("used_reserved_hosts", []),
        now=call.store.now(),
        retry_delay=call.callback_retry_delay,
    )
    hosts, segments = _inventory(call)
    body = views.notification(n, hosts, segments)
    if call.version >= (1, 1):
        body["recovery_workflow_details"] = views.workflow_details(n)
    return 200, {"notification": body}


def _moves(call: Call, notification_id: str) -> list[dict[str, Any]]:
    """The notification's moves as vmoves; 400 for a notification that has none by
    nature (not COMPUTE_HOST), as Masakari."""
    n = _get(call, notification_id)
    if n.type != NotificationType.COMPUTE_HOST:
        raise bad_request(f"This notification {notification_id[:64]} without vm moves.")
    moves = call.store.list_moves(notification_id)
    return [views.vmove(m, number) for number, m in enumerate(moves, start=1)]


def vmoves(call: Call, notification_id: str) -> Reply:
    call.authorize(VMOVES % "index")
    args = call.args()
    items = _moves(call, notification_id)
    for name in ("status", "type"):
        if name in args:
            items = [i for i in items if i[name] == args[name]]
    return 200, {"vmoves": listing.page(items, args, fields=VMOVE_SORT_KEYS)}


def vmove(call: Call, notification_id: str, vmove_id: str) -> Reply:
    call.authorize(VMOVES % "detail")
    for item in _moves(call, notification_id):
        if item["uuid"] == vmove_id:
            return 200, {"vmove": item}
    raise not_found(f"No vm move with id {vmove_id[:64]}.")
