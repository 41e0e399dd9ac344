"""The host coming back: a STARTED COMPUTE_HOST notification restores a failed host.

One code path for both ways in: a monitor's STARTED notification, and ``rhworker host
restore HOST`` (which enqueues a STARTED notification carrying ``restore_policy`` and
waits for it). Either way a worker runs it under the delivery's lease, like every
other change it makes in Nova, and every change is a step of the notification.

Only the latest notification about a host acts: a STARTED one that a later
notification of the host (a new failure, another restore request) has overtaken
finishes with nothing done — so a refused request retried later never undoes a newer
one.

Refused (status ``error``, retried after the back-off) while:

* a recovery of the host is still open in rhworker (a STOPPED notification of it that
  is new, running or waiting for a retry);
* Nova still works on evacuations from the host (migrations in progress);
* the host's nova-compute has not restarted yet: its evacuations are ``done`` but not
  ``completed`` (nova-compute cleans up the evacuated guests when it starts, and until
  then Nova refuses to force its service up);
* Nova does not count the service as up once it is no longer forced down.

Then, by policy (``[host_failure] host_restore_policy``, or the notification's
``restore_policy``):

* ``ordinary``: service un-forced, then enabled; host off maintenance, not reserved;
* ``reserved``: service disabled with a reason naming the notification (while still
  forced down, so no RPC blocks and the scheduler never sees it enabled), then
  un-forced; host off maintenance and ``reserved`` — a spare of its segment again.
"""

from __future__ import annotations

import enum
import logging

from rhworker.compute.base import ComputeClient, Service
from rhworker.errors import ComputeBadRequest, ComputeNotFound
from rhworker.models import Host, Notification, NotificationStatus, NotificationType, StepName
from rhworker.recovery.base import RecoveryContext, RecoveryResult
from rhworker.store.base import Store

LOG = logging.getLogger(__name__)

# The payload key ``rhworker host restore`` sets: restore with this policy, whatever
# ``restore_on_started`` says.
PAYLOAD_POLICY = "restore_policy"
# The disabled reason of a host restored as a spare (the notification id is appended).
RESERVED_REASON = "rhworker: reserved host, restored by notification"
# Statuses of a STOPPED notification that still has work to do (or a retry pending).
OPEN_STATUSES = (NotificationStatus.NEW, NotificationStatus.RUNNING, NotificationStatus.ERROR)


class RestorePolicy(str, enum.Enum):
    ORDINARY = "ordinary"  # service enabled, not reserved
    RESERVED = "reserved"  # service disabled, reserved: a spare of its segment


def requested_policy(n: Notification, *, default: str, on_started: bool) -> RestorePolicy | None:
    """The policy a STARTED notification asks for; None when it asks for nothing."""
    explicit = n.payload.get(PAYLOAD_POLICY)
    if explicit:
        return RestorePolicy(str(explicit).lower())
    return RestorePolicy(default) if on_started else None


def open_recoveries(store: Store, hostname: str) -> list[Notification]:
    """STOPPED notifications of ``hostname`` that rhworker has not finished with."""
    found: list[Notification] = []
    for status in OPEN_STATUSES:
        for n in store.list_notifications(
            status=status, hostname=hostname, type=NotificationType.COMPUTE_HOST.value
        ):
            if str(n.payload.get("event", "")).upper() == "STOPPED":
                found.append(n)
    return found


def superseded_by(store: Store, n: Notification) -> Notification | None:
    """A later notification about the same host that makes ``n`` stale, or None.

    Only the latest word about a host counts: a restore reported before the host
    failed again, or before another restore request (perhaps with another policy),
    must not act when it is retried. Ignored and failed notifications say nothing.
    """
    newest_first = store.list_notifications(
        hostname=n.hostname, type=NotificationType.COMPUTE_HOST.value
    )
    for other in newest_first:
        if other.id == n.id:
            return None
        if other.status not in (NotificationStatus.IGNORED, NotificationStatus.FAILED):
            return other
    return None


def refusal(store: Store, compute: ComputeClient, hostname: str) -> str | None:
    """Why ``hostname`` cannot be restored now (rhworker's and Nova's view), or None."""
    running = open_recoveries(store, hostname)
    if running:
        listed = ", ".join(f"{n.id} ({n.status.value})" for n in running[:3])
        return (
            f"a recovery of {hostname} is still open in rhworker: notification {listed}; "
            "wait for it to finish (or close it with 'rhworker notification resolve ID')"
        )
    migrations = compute.list_migrations(source_host=hostname)
    unfinished = [m for m in migrations if m.in_progress]
    if unfinished:
        statuses = ", ".join(sorted({m.status for m in unfinished}))
        return (
            f"Nova still has {len(unfinished)} unfinished evacuation(s) from {hostname} "
            f"({statuses}); try again when they are done"
        )
    not_cleaned = [m for m in migrations if m.status == "done"]
    if not_cleaned:
        return (
            f"nova-compute on {hostname} has not restarted yet: {len(not_cleaned)} "
            "evacuation(s) from it are 'done', not 'completed' (nova-compute cleans up the "
            "evacuated instances when it starts; until then Nova refuses to force its "
            "service up)"
        )
    return None


def restore_host(ctx: RecoveryContext, n: Notification, host: Host) -> RecoveryResult:
    """Bring ``host`` back after a STARTED notification (see the module doc)."""
    policy = requested_policy(
        n,
        default=ctx.options.host_restore_policy,
        on_started=ctx.options.restore_on_started,
    )
    if policy is None:
        reason = (
            f"host {host.name} started; restore_on_started is off: nothing done "
            f"('rhworker host restore {host.name}' brings it back)"
        )
        ctx.step(StepName.GATE, reason)
        return RecoveryResult(NotificationStatus.FINISHED, reason)
    newer = superseded_by(ctx.store, n)
    if newer is not None:
        event = str(newer.payload.get("event", "")).upper() or "(none)"
        reason = f"superseded by the later notification {newer.id} ({event}): nothing done"
        ctx.step(StepName.GATE, f"host {host.name} started; {reason}")
        return RecoveryResult(NotificationStatus.FINISHED, reason)
    ctx.step(StepName.GATE, f"host {host.name} started; restoring it as {policy.value} host")
    why_not = refusal(ctx.store, ctx.compute, host.name)
    if why_not is None:
        why_not = _restore_service(ctx, n, host.name, policy)
    if why_not is not None:
        ctx.step(StepName.RESTORE_REFUSED, why_not)
        return RecoveryResult(NotificationStatus.ERROR, f"restore refused: {why_not}")
    late = open_recoveries(ctx.store, host.name)
    if late:
        # The host failed again while we restored its service: leave the inventory
        # to that recovery (it fences the service again).
        why_not = f"a recovery of {host.name} began meanwhile: notification {late[0].id}"
        ctx.step(StepName.RESTORE_REFUSED, why_not)
        return RecoveryResult(NotificationStatus.ERROR, f"restore refused: {why_not}")
    reserved = policy == RestorePolicy.RESERVED
    now = ctx.store.get_host(host.name)
    if now.on_maintenance or now.reserved != reserved:
        ctx.guard()
        ctx.store.update_host(host.name, on_maintenance=False, reserved=reserved)
    ctx.step(
        StepName.INVENTORY,
        f"{host.name} off maintenance, " + ("reserved" if reserved else "not reserved"),
        host=host.name,
        reserved=reserved,
    )
    return RecoveryResult(
        NotificationStatus.FINISHED, f"{host.name} restored as {policy.value} host"
    )


def _restore_service(
    ctx: RecoveryContext, n: Notification, hostname: str, policy: RestorePolicy
) -> str | None:
    """Put the nova-compute service of ``hostname`` in shape; a refusal reason or None."""
    try:
        service = ctx.compute.get_service(hostname)
    except ComputeNotFound:
        return f"Nova has no nova-compute service on {hostname}"
    if policy == RestorePolicy.RESERVED:
        _disable_as_spare(ctx, n, service)
    if service.forced_down:
        ctx.guard()
        try:
            ctx.compute.force_down_service(hostname, False, service=service)
        except ComputeBadRequest as e:
            return f"Nova refuses to force the compute service of {hostname} up: {e}"
        ctx.step(StepName.FORCE_UP, f"{hostname}: compute service no longer forced down")
        service = ctx.compute.get_service(hostname)
    if service.state != "up":
        return (
            f"Nova does not count the compute service of {hostname} as up (state "
            f"{service.state}): its nova-compute is not reporting yet"
        )
    if policy == RestorePolicy.ORDINARY and service.status != "enabled":
        ctx.guard()
        ctx.compute.enable_service(hostname, service=service)
        ctx.step(StepName.ENABLED, f"compute service of {hostname} enabled", host=hostname)
    return None


def _disable_as_spare(ctx: RecoveryContext, n: Notification, service: Service) -> None:
    """Disable the service with the spare's reason (unless it already carries it)."""
    reason = f"{RESERVED_REASON} {n.id}"
    if service.status == "disabled" and (service.disabled_reason or "").startswith(RESERVED_REASON):
        return
    ctx.guard()
    ctx.compute.disable_service(service.host, reason, service=service)
    ctx.step(
        StepName.DISABLED,
        f"compute service of {service.host} disabled: {reason}",
        host=service.host,
    )
