"""The ``external`` driver: a host failure handed to an outside workflow.

Masakari's reserved-host spec proposed an asynchronous driver whose workflow (Mistral,
an operator's automation) does the recovery and reports back on the notification's
URL; no Masakari shipped it. Here:

1. The worker runs the safe part itself, as the built-in driver does: the gate, the
   failed host marked on maintenance, the fence (``[fencing]``: the host powered off
   and forced down in Nova). Nothing is evacuated by rhworker.
2. It records a ``handoff`` step with the workflow's deadline, then POSTs the failure
   (notification, host, segment, recovery method, the usable reserved hosts in segment
   order, the callback URL and deadline) to ``[external] endpoint``.
3. It lets go of the notification without ending it: the lease is stretched to the
   deadline (no other worker takes it before then), the worker is free. Status stays
   ``running``.
4. The workflow calls back: ``PUT /v1/notifications/{id}`` with
   ``{"notification": {"status": "finished"|"error", "used_reserved_hosts": [...]}}``
   (:func:`apply_callback`). The reserved hosts it used are claimed for the
   notification through the store's atomic claim — a host claimed by another
   notification, or no longer reserved, is refused, so the workflow cannot break the
   "no spare used twice" invariant — then the status is set: ``finished`` ends it,
   ``error`` gives it back to the queue (handed off again after ``retry_delay``).
5. No callback by the deadline: the lease runs out, a worker takes the notification
   back, sees the hand-off expired and ends the attempt ``error`` (retried with the
   usual back-off up to ``max_attempts``; each retry is a fresh hand-off).

The POST is at least once (a worker that dies between the POST and step 3 leaves a
hand-off that the next worker finds recorded and does not repeat; one that dies
between the ``handoff`` step and the POST leaves a hand-off nobody received, which
times out): a workflow should treat a repeated notification id as the same failure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import requests

from rhworker.errors import (
    ClaimLost,
    Conflict,
    LeaseLost,
    NotFound,
    RecoveryError,
    ValidationError,
)
from rhworker.models import (
    Delivery,
    Host,
    Notification,
    NotificationStatus,
    NotificationType,
    Segment,
    Step,
    StepName,
)
from rhworker.recovery.base import RecoveryContext, RecoveryResult
from rhworker.recovery.host_failure import HostFailureDriver
from rhworker.recovery.options import ExternalOptions
from rhworker.store.base import Store

LOG = logging.getLogger(__name__)

# History steps of the hand-off protocol.
HANDOFF_STEP = StepName.HANDOFF
CALLBACK_STEP = StepName.CALLBACK
TIMEOUT_STEP = StepName.HANDOFF_TIMEOUT
_PROTOCOL_STEPS = frozenset({HANDOFF_STEP, CALLBACK_STEP, TIMEOUT_STEP})
# Statuses a callback may set.
CALLBACK_STATUSES = (NotificationStatus.FINISHED.value, NotificationStatus.ERROR.value)
# Who a callback is recorded as in the history.
CALLBACK_WORKER = "external-workflow"
# Most reserved hosts one callback may name (a bound on what one request writes).
MAX_USED_RESERVED_HOSTS = 64


def pending_handoff(notification: Notification) -> Step | None:
    """The hand-off step still waiting for its callback, if any: the latest step of the
    hand-off protocol, when it is a ``handoff``."""
    for step in reversed(notification.progress.steps):
        if step.name in _PROTOCOL_STEPS:
            return step if step.name == HANDOFF_STEP else None
    return None


def handoff_document(
    notification: Notification,
    host: Host,
    segment: Segment,
    reserved: Iterable[Host],
    *,
    callback_url: str,
    deadline: float,
) -> dict[str, Any]:
    """What the workflow receives (JSON)."""
    return {
        "notification": {
            "notification_uuid": notification.id,
            "type": notification.type.value,
            "hostname": notification.hostname,
            "generated_time": notification.generated_time,
            "payload": notification.payload,
        },
        "host": {
            "name": host.name,
            "type": host.type,
            "control_attributes": host.control_attributes,
        },
        "segment": {
            "name": segment.name,
            "recovery_method": segment.recovery_method.value,
            "service_type": segment.service_type,
        },
        "recovery_method": segment.recovery_method.value,
        "reserved_hosts": [h.name for h in reserved],
        "callback": {
            "url": callback_url,
            "method": "PUT",
            "deadline": deadline,
            "body": {"notification": {"status": "finished", "used_reserved_hosts": []}},
        },
    }


class ExternalDriver(HostFailureDriver):
    """Gate, mark and fence as the built-in driver; then hand the evacuation to an
    outside workflow. VM and PROCESS notifications are recovered as the built-in
    driver does."""

    def execute_host_failure(
        self, ctx: RecoveryContext, notification: Notification
    ) -> RecoveryResult:
        options = ctx.options.external
        if not options.endpoint or not options.api_url:
            raise RecoveryError(
                "driver 'external' needs [external] endpoint and [external] api_url"
            )
        waiting = pending_handoff(notification)
        if waiting is not None:
            return self._resume_handoff(ctx, waiting)
        ready = self._gate_mark_and_fence(ctx, notification)
        if isinstance(ready, RecoveryResult):
            return ready
        host, segment = ready
        return self._hand_off(ctx, notification, host, segment)

    def _resume_handoff(self, ctx: RecoveryContext, step: Step) -> RecoveryResult:
        """A hand-out of a notification already handed off: its deadline passed (the
        lease ran out), or its worker died before stretching the lease."""
        deadline = float(step.detail.get("deadline", 0.0))
        now = ctx.clock()
        if now < deadline:
            ctx.step(
                HANDOFF_STEP,
                f"still with the external workflow; waiting for its callback until {deadline:.0f}",
                deadline=deadline,
                endpoint=step.detail.get("endpoint", ""),
                token=ctx.token,
                resumed=True,
            )
            return RecoveryResult(
                NotificationStatus.RUNNING, "handed off", handed_off_until=deadline
            )
        reason = (
            f"the external workflow did not call back within "
            f"{ctx.options.external.workflow_timeout:.0f}s"
        )
        ctx.step(TIMEOUT_STEP, reason, deadline=deadline)
        return RecoveryResult(NotificationStatus.ERROR, reason)

    def _hand_off(
        self, ctx: RecoveryContext, notification: Notification, host: Host, segment: Segment
    ) -> RecoveryResult:
        options = ctx.options.external
        deadline = ctx.clock() + options.workflow_timeout
        reserved = [h for h in ctx.store.reserved_hosts(segment.name) if not h.on_maintenance]
        document = handoff_document(
            notification,
            host,
            segment,
            reserved,
            callback_url=options.callback_url(notification.id),
            deadline=deadline,
        )
        # Recorded before the POST: a callback may arrive before the POST returns.
        ctx.step(
            HANDOFF_STEP,
            f"handed to the external workflow at {options.endpoint}; waiting for its "
            f"callback until {deadline:.0f}",
            deadline=deadline,
            endpoint=options.endpoint,
            token=ctx.token,
            reserved_hosts=document["reserved_hosts"],
        )
        ctx.guard()
        error = post_handoff(options, document)
        if error is not None:
            ctx.step(TIMEOUT_STEP, f"hand-off failed: {error}", deadline=deadline)
            return RecoveryResult(NotificationStatus.ERROR, f"hand-off failed: {error}")
        return RecoveryResult(NotificationStatus.RUNNING, "handed off", handed_off_until=deadline)


def post_handoff(options: ExternalOptions, document: dict[str, Any]) -> str | None:
    """POST the hand-off; None when the workflow took it (2xx), else why not."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if options.auth_token:
        headers["X-Auth-Token"] = options.auth_token
    try:
        answer = requests.post(
            options.endpoint,
            json=document,
            headers=headers,
            timeout=options.post_timeout,
            verify=options.verify_tls,
        )
    except requests.RequestException as e:
        return f"{type(e).__name__}: {e}"
    if not 200 <= answer.status_code < 300:
        return f"{options.endpoint} answered {answer.status_code}: {answer.text[:200]}"
    return None


# -- the callback (PUT /v1/notifications/{id}) -------------------------------------------
def _check_body(status: Any, used: Any) -> tuple[NotificationStatus, list[str]]:
    if status not in CALLBACK_STATUSES:
        raise ValidationError(
            f"status must be one of {', '.join(CALLBACK_STATUSES)}, not {status!r}"
        )
    if not isinstance(used, list) or not all(isinstance(h, str) and h for h in used):
        raise ValidationError("used_reserved_hosts must be a list of host names")
    if len(used) > MAX_USED_RESERVED_HOSTS:
        raise ValidationError(
            f"used_reserved_hosts names {len(used)} hosts; at most "
            f"{MAX_USED_RESERVED_HOSTS} are accepted"
        )
    return NotificationStatus(status), list(dict.fromkeys(used))


def _awaited(store: Store, notification_id: str) -> tuple[Notification, Delivery]:
    notification = store.get_notification(notification_id)
    step = pending_handoff(notification)
    if (
        notification.type != NotificationType.COMPUTE_HOST
        or notification.status != NotificationStatus.RUNNING
        or step is None
    ):
        raise Conflict(
            f"notification {notification_id} is {notification.status.value} and not "
            "waiting for an external workflow"
        )
    # The lease the hand-off stretched: every write below carries its token, so a
    # callback that comes after the deadline (the notification taken back by a
    # worker, with a newer token) is refused.
    delivery = Delivery(
        notification_id=notification.id,
        worker_id=notification.lease_owner or "",
        token=int(step.detail.get("token", -1)),
        attempts=notification.attempts,
        lease_until=notification.lease_until or 0.0,
    )
    return notification, delivery


def _check_hosts(store: Store, notification: Notification, used: list[str]) -> None:
    """Every host named is a reserved host of the failed host's segment, free or
    already claimed by this notification; checked before anything is written."""
    segment = store.get_host(notification.hostname).segment
    for name in used:
        try:
            host = store.get_host(name)
        except NotFound as e:
            raise ValidationError(f"used reserved host {name} is not in the inventory") from e
        if host.segment != segment:
            raise ValidationError(
                f"used reserved host {name} is in segment {host.segment}, not {segment}"
            )
        mine = host.claimed_by == notification.id
        if not mine and (not host.reserved or host.claimed_by or host.on_maintenance):
            owner = f" (claimed by {host.claimed_by})" if host.claimed_by else ""
            if host.on_maintenance:
                owner = " (on maintenance)"
            raise Conflict(f"host {name} is not a free reserved host{owner}")


def _claim_all(store: Store, delivery: Delivery, used: list[str], now: float) -> None:
    """Claim each host for the notification; on a refusal give back the ones this
    call took, so that nothing is half-written."""
    taken = []
    try:
        for name in used:
            before = store.get_host(name)
            claim = store.claim_reserved_host(
                delivery.notification_id, name, token=delivery.token, now=now
            )
            if before.claimed_by != delivery.notification_id:
                taken.append(claim)
    except ClaimLost as e:
        for claim in taken:
            store.release_claim(
                delivery.notification_id, claim.host, claim.epoch, token=delivery.token, now=now
            )
        raise Conflict(f"reserved host refused: {e}") from e


def apply_callback(
    store: Store,
    notification_id: str,
    *,
    status: Any,
    used_reserved_hosts: Any,
    now: float,
    retry_delay: float = 0.0,
    by: str = CALLBACK_WORKER,
) -> Notification:
    """The workflow's report on a handed-off notification.

    ``ValidationError`` for a bad body or a host outside the segment, ``NotFound`` for
    an unknown notification, ``Conflict`` when it is not waiting for a workflow (never
    handed off, already reported, or taken back after its deadline) or a host named
    is not a free reserved host (claimed by another notification)."""
    wanted, used = _check_body(status, used_reserved_hosts)
    notification, delivery = _awaited(store, notification_id)
    _check_hosts(store, notification, used)
    try:
        _claim_all(store, delivery, used, now)
        message = f"external workflow reported {wanted.value}" + (
            f"; used reserved host(s) {', '.join(used)}" if used else ""
        )
        store.add_step(
            notification_id,
            Step(
                at=now,
                name=CALLBACK_STEP,
                worker=by,
                message=message,
                detail={"status": wanted.value, "used_reserved_hosts": used},
            ),
            token=delivery.token,
        )
        store.set_status(
            notification_id,
            wanted,
            expected=(NotificationStatus.RUNNING,),
            token=delivery.token,
            reason=message,
            now=now,
        )
        if wanted == NotificationStatus.FINISHED:
            store.ack(delivery)
        else:
            store.retry_later(delivery, retry_delay, reason=message, now=now)
    except LeaseLost as e:
        raise Conflict(
            f"notification {notification_id} was taken back from the external workflow "
            f"(its deadline passed): {e}"
        ) from e
    LOG.info("notification %s: %s", notification_id, message)
    return store.get_notification(notification_id)
