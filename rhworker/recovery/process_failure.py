"""PROCESS notifications: Masakari's process-failure workflow, and its undo.

``nova-compute`` STOPPED on host H → H on maintenance in rhworker's inventory, H's
compute service disabled with ``[process_failure] service_disable_reason`` (the
notification id appended), and confirmed disabled within
``wait_period_after_service_update``. The matching STARTED undoes it — service
enabled, H off maintenance — but only if the service is still disabled with that
reason (someone else's disable is left alone), no host recovery owns H (service
forced down, or a COMPUTE_HOST recovery of H still open), and the inventory is not
touched otherwise. Other process names are recorded and ignored (Masakari recovers
only nova-compute). Every change in Nova is preceded by ``ctx.guard()`` and recorded.
"""

from __future__ import annotations

import logging

from rhworker.compute.base import Service
from rhworker.errors import ComputeNotFound
from rhworker.models import Host, Notification, NotificationStatus, StepName
from rhworker.recovery.base import RecoveryContext, RecoveryResult, host_in_enabled_segment, ignored
from rhworker.recovery.host_restore import open_recoveries

LOG = logging.getLogger(__name__)

# The only process Masakari (and rhworker) recovers.
NOVA_COMPUTE = "nova-compute"


def execute_process_failure(ctx: RecoveryContext, n: Notification) -> RecoveryResult:
    """Handle a PROCESS notification (see the module doc)."""
    process = str(n.payload.get("process_name", ""))
    event = str(n.payload.get("event", "")).upper()
    found = host_in_enabled_segment(ctx, n)
    if isinstance(found, RecoveryResult):
        return found
    host = found[0]
    if process != NOVA_COMPUTE:
        return ignored(
            ctx,
            f"process {process!r} {event.lower()} on {host.name}: only nova-compute is recovered",
        )
    try:
        service = ctx.compute.get_service(host.name)
    except ComputeNotFound:
        return ignored(ctx, f"Nova has no nova-compute service on {host.name}")
    if event == "STOPPED":
        return _stopped(ctx, n, host, service)
    if event == "STARTED":
        return _started(ctx, n, host, service)
    return ignored(ctx, f"event {event or '(none)'} is not handled")


def _stopped(ctx: RecoveryContext, n: Notification, host: Host, service: Service) -> RecoveryResult:
    ctx.step(StepName.GATE, f"nova-compute stopped on {host.name}")
    if not host.on_maintenance:
        ctx.guard()
        ctx.store.update_host(host.name, on_maintenance=True)
    ctx.step(StepName.MAINTENANCE, f"{host.name} on maintenance", host=host.name)
    if service.status == "disabled":
        ctx.step(
            StepName.DISABLED,
            f"compute service of {host.name} already disabled "
            f"(reason: {service.disabled_reason or '-'})",
            host=host.name,
        )
        return RecoveryResult(
            NotificationStatus.FINISHED, f"{host.name}: service already disabled, on maintenance"
        )
    reason = f"{ctx.process_failure.service_disable_reason} notification {n.id}"[:255]
    ctx.guard()
    ctx.compute.disable_service(host.name, reason, service=service)
    ctx.step(
        StepName.DISABLED, f"compute service of {host.name} disabled: {reason}", host=host.name
    )
    why_not = _wait_for_status(ctx, host.name, "disabled")
    if why_not:
        ctx.step(StepName.FAILED, why_not)
        return RecoveryResult(NotificationStatus.ERROR, why_not)
    return RecoveryResult(
        NotificationStatus.FINISHED, f"{host.name}: compute service disabled, on maintenance"
    )


def _started(ctx: RecoveryContext, n: Notification, host: Host, service: Service) -> RecoveryResult:
    ctx.step(StepName.GATE, f"nova-compute started on {host.name}")
    ours = ctx.process_failure.service_disable_reason
    enabled_earlier = any(
        s.name == StepName.ENABLED for s in ctx.store.get_notification(n.id).progress.steps
    )
    if not enabled_earlier:
        why_not = _not_ours(ctx, host, service, ours)
        if why_not:
            return ignored(ctx, f"nothing undone: {why_not}")
        ctx.guard()
        ctx.compute.enable_service(host.name, service=service)
        ctx.step(StepName.ENABLED, f"compute service of {host.name} enabled", host=host.name)
        why_not = _wait_for_status(ctx, host.name, "enabled")
        if why_not:
            ctx.step(StepName.FAILED, why_not)
            return RecoveryResult(NotificationStatus.ERROR, why_not)
    now = ctx.store.get_host(host.name)
    if now.on_maintenance:
        ctx.guard()
        ctx.store.update_host(host.name, on_maintenance=False)
    ctx.step(StepName.MAINTENANCE, f"{host.name} off maintenance", host=host.name)
    return RecoveryResult(
        NotificationStatus.FINISHED, f"{host.name}: compute service enabled, off maintenance"
    )


def _not_ours(ctx: RecoveryContext, host: Host, service: Service, ours: str) -> str | None:
    """Why the service's state is not ours to undo, or None."""
    if service.forced_down:
        return f"the compute service of {host.name} is forced down (a host recovery owns it)"
    running = open_recoveries(ctx.store, host.name)
    if running:
        return f"a host recovery of {host.name} is open: notification {running[0].id}"
    if service.status != "disabled":
        return f"the compute service of {host.name} is not disabled"
    if not (service.disabled_reason or "").startswith(ours):
        return (
            f"the compute service of {host.name} was disabled by someone else "
            f"(reason: {service.disabled_reason or '-'})"
        )
    return None


def _wait_for_status(ctx: RecoveryContext, hostname: str, status: str) -> str | None:
    """Poll until Nova shows the service ``status``; a failure reason on timeout."""
    opts = ctx.process_failure
    deadline = ctx.clock() + opts.wait_period_after_service_update
    while True:
        ctx.guard()
        service = ctx.compute.get_service(hostname)
        if service.status == status:
            return None
        if ctx.clock() >= deadline:
            return (
                f"compute service of {hostname} still {service.status} after "
                f"{opts.wait_period_after_service_update:g} s"
            )
        ctx.sleep(opts.verify_interval)
