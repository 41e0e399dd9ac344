"""Correlated failures: fence every reported host first, never evacuate onto one.

Failures come together (a rack's power, a top-of-rack switch). A dead compute counts
as up in Nova until ``service_down_time`` has passed, and Nova's scheduler places
onto it: an evacuation sent there is lost with its host (the migration stays
``accepted``/``pre-migrating``, the server ``REBUILD``), and Nova offers no way to end
it — evacuating it again while that migration is in progress would run two rebuilds
of one server. So the only safe course is not to get there:

* :func:`fence_reported` — before any evacuation, every host with an open ``STOPPED``
  notification (accepted, neither ignored nor ended) is forced down in Nova (the
  scheduler skips a forced-down service) and taken out of the reserved hosts in the
  inventory, whatever the queue order of the recoveries; whichever worker sees it
  first does it, through its lease-fenced ``ctx.compute``; every notification it
  concerns gets a ``fence_first`` step;
* :func:`settle` — a recovery waits until its notification is ``correlation_window``
  seconds old, so that hosts that failed with it are reported (monitors send them a
  few seconds apart) and fenced before the scheduler may choose one of them;
* :func:`explain_stranded` — an evacuation that did not settle because its target
  failed meanwhile is named as such on the move and in the history; the server is
  reset and evacuated again elsewhere once Nova's view shows that evacuation cannot
  end (rhworker/recovery/stranded.py), in the same attempt or the next.
"""

from __future__ import annotations

import logging

from rhworker.compute.base import is_rebuilding
from rhworker.errors import ComputeError, ComputeNotFound, NotFound
from rhworker.fencing.nova import force_down
from rhworker.models import (
    MoveState,
    Notification,
    NotificationStatus,
    NotificationType,
    Step,
    StepName,
)
from rhworker.recovery.base import RecoveryContext

LOG = logging.getLogger(__name__)

# Accepted, not ended: a failure still being (or to be) recovered.
OPEN_STATUSES = (NotificationStatus.NEW, NotificationStatus.RUNNING, NotificationStatus.ERROR)


def is_open_failure(n: Notification) -> bool:
    """A host-failure report that rhworker acts on: ``STOPPED``, host status
    ``NORMAL`` (others are ignored by the gate), not ended."""
    return (
        n.type == NotificationType.COMPUTE_HOST
        and n.status in OPEN_STATUSES
        and str(n.payload.get("event", "")).upper() == "STOPPED"
        and str(n.payload.get("host_status") or "").upper() == "NORMAL"
    )


def open_failures(ctx: RecoveryContext) -> dict[str, list[Notification]]:
    """Hosts with open failure reports, and those reports."""
    out: dict[str, list[Notification]] = {}
    for status in OPEN_STATUSES:
        for n in ctx.store.list_notifications(status=status, type=NotificationType.COMPUTE_HOST):
            if is_open_failure(n):
                out.setdefault(n.hostname, []).append(n)
    return out


def failed_hosts(ctx: RecoveryContext) -> set[str]:
    return set(open_failures(ctx))


def fence_reported(
    ctx: RecoveryContext, current: Notification, done: set[str] | None = None
) -> list[str]:
    """Force down in Nova, and take out of the reserved hosts, every host with an
    open failure report that is not yet; returns the hosts this call fenced.

    A host whose newest open report's history says it was fenced (its own ``fence``
    step, or a ``fence_first`` by another report's worker) is not asked about: in a storm, every
    recovery would otherwise read every reported host's service from Nova again.

    ``done``: the ids of the reports whose host this attempt already handled (filled
    in here). A host all of whose open reports are in it is not looked at again — no
    store or Nova read per batch for hosts fenced by the first one; a new report of
    the same host (it came back and failed again) makes it looked at again."""
    reported = open_failures(ctx)
    fenced: list[str] = []
    for hostname in sorted(reported):
        reports = reported[hostname]
        if done is not None and all(n.id in done for n in reports):
            continue
        if _history_says_fenced(reports):
            if done is not None:
                done.update(n.id for n in reports)
            continue
        called = _fence_host(ctx, hostname)
        if done is not None:
            done.update(n.id for n in reports)
        if not called:
            continue
        fenced.append(hostname)
        _record_fence_first(ctx, current, hostname, reports)
    if fenced:
        ctx.step(
            StepName.FENCE_FIRST,
            f"forced down {len(fenced)} reported host(s) before evacuating: {', '.join(fenced)}",
            hosts=fenced,
        )
    return fenced


def _history_says_fenced(reports: list[Notification]) -> bool:
    """The newest open report of a host records that the host was forced down (an
    older one does not count: the host may have come back and failed again since)."""
    newest = max(reports, key=lambda n: (n.created_at, n.id))
    return any(
        step.name == StepName.FENCE_FIRST
        or (step.name == StepName.FENCE and step.detail.get("result") == "fenced")
        for step in newest.progress.steps
    )


def _fence_host(ctx: RecoveryContext, hostname: str) -> bool:
    """Take ``hostname`` out of the spares and force it down in Nova. True: forced
    down now; False: nothing to do (already down, not in the inventory, segment
    disabled, no compute service). A Nova error propagates (nothing is remembered)."""
    try:
        host = ctx.store.get_host(hostname)
    except NotFound:
        return False  # not in the inventory: its own gate ignores it
    if not ctx.store.get_segment(host.segment).enabled:
        return False
    if host.reserved or not host.on_maintenance:
        ctx.guard()
        ctx.store.update_host(hostname, on_maintenance=True, reserved=False)
    try:
        service = ctx.compute.get_service(hostname)
    except ComputeNotFound:
        return False
    return force_down(ctx.compute, hostname, service, ctx.guard)


def _record_fence_first(
    ctx: RecoveryContext, current: Notification, hostname: str, reports: list[Notification]
) -> None:
    message = f"{hostname} forced down in Nova before any evacuation (by {current.id})"
    for n in reports:
        if n.id == current.id:
            continue
        step = Step(
            at=ctx.clock(), name=StepName.FENCE_FIRST, worker=ctx.worker_id, message=message
        )
        try:
            ctx.store.add_step(n.id, step)
        except Exception as e:  # the fence holds; the record is best effort
            LOG.warning("could not record fence_first on %s: %s", n.id, e)


def settle(
    ctx: RecoveryContext, n: Notification, window: float, done: set[str] | None = None
) -> None:
    """Wait until ``n`` is ``window`` seconds old (hosts that failed with its host
    get reported meanwhile), then fence every reported host (``done``: as for
    :func:`fence_reported`)."""
    # never more than ``window``, even if the store's clock and ours disagree
    left = min(window, n.created_at + window - ctx.clock())
    if left > 0:
        ctx.step(StepName.CORRELATION_WINDOW, f"waiting {left:.1f}s for correlated failure reports")
        until = ctx.clock() + left
        while left > 0:
            ctx.guard()
            ctx.sleep(min(left, 1.0))
            left = until - ctx.clock()
    fence_reported(ctx, n, done)


def explain_stranded(ctx: RecoveryContext, n: Notification, failed_host: str) -> int:
    """Failed moves whose evacuation Nova still runs toward a host that failed:
    say so (move message and a ``stranded`` step). Returns how many."""
    broken = failed_hosts(ctx)
    count = 0
    for move in ctx.store.list_moves(n.id):
        if move.state != MoveState.FAILED or move.message.startswith("stranded"):
            continue  # stranded.py already said (and did) what it could
        try:
            server = ctx.compute.get_server(move.instance_id)
            migrations = [
                m
                for m in ctx.compute.list_migrations(
                    instance_id=move.instance_id, migration_type="evacuation"
                )
                if m.source_host == failed_host and m.in_progress
            ]
        except ComputeError as e:
            LOG.warning("reading %s: %s", move.instance_id, e)
            continue
        dest = next((m.dest_host for m in migrations if m.dest_host), None)
        if not (migrations or is_rebuilding(server)) or dest not in broken:
            continue
        count += 1
        note = (
            f"stranded: Nova's evacuation to {dest} (a failed host) is still in progress; "
            "evacuated again once that host is forced down"
        )
        if note not in move.message:
            move.message = f"{move.message}; {note}" if move.message else note
            ctx.guard()
            ctx.store.upsert_move(move, token=ctx.token)
        ctx.step(
            StepName.STRANDED, f"{move.instance_name or move.instance_id}: {note}", target=dest
        )
    return count
