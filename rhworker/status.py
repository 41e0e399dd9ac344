"""What an operator sees: one snapshot of a deployment (``rhworker status``).

:func:`collect` reads the store (queue, inventory, pauses, recent failures) and the
live members of the coordination group; :func:`render` turns the snapshot into the
text table. The CLI, the demo and the tests use both. Membership is read through a
short-lived coordinator with its own member id (``status-<random>``) that never joins
the group, so a status call is never mistaken for a worker.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable
from typing import Any

from rhworker import brake
from rhworker.errors import NotFound, RhworkerError
from rhworker.models import Notification, NotificationStatus, PauseInfo, StepName
from rhworker.store.base import Store

LOG = logging.getLogger(__name__)

# Recent failures (failed or error notifications) shown by default.
DEFAULT_FAILURES = 10
# Notifications scanned per status when counting what a pause holds back.
HELD_SCAN_LIMIT = 1000
# Marker of a segment with no usable reserved host left.
NONE_LEFT = "NONE LEFT"


@dataclasses.dataclass
class WorkerInfo:
    id: str
    host: str = ""
    pid: int | None = None
    started: float | None = None
    in_hand: list[str] = dataclasses.field(default_factory=list)
    metrics: str | None = None


@dataclasses.dataclass
class InFlightInfo:
    notification_id: str
    hostname: str
    owner: str
    attempts: int
    lease_age: float | None  # seconds since this delivery was handed out
    lease_left: float  # seconds before the lease expires unless renewed


@dataclasses.dataclass
class SegmentInfo:
    name: str
    recovery_method: str
    enabled: bool
    reserved_left: int
    paused: bool
    waiting: int  # notifications of this segment not yet done and not in flight


@dataclasses.dataclass
class FailureInfo:
    notification_id: str
    hostname: str
    status: str
    attempts: int
    updated_at: float
    reason: str


@dataclasses.dataclass
class StatusSnapshot:
    at: float
    workers: list[WorkerInfo] | None  # None: the coordination backend did not answer
    workers_error: str | None
    depth: int
    delayed: int
    in_flight: list[InFlightInfo]
    dead_letters: int
    paused_all: PauseInfo | None
    pauses: list[PauseInfo]
    segments: list[SegmentInfo]
    failures: list[FailureInfo]


def status_member_id() -> str:
    return f"status-{random.getrandbits(32):08x}"


def read_members(coordinator_factory: Callable[[str], Any]) -> dict[str, dict[str, Any]]:
    """Start a coordinator (``coordinator_factory(member_id)``), read the group's
    members, stop it. Never joins the group."""
    coordinator = coordinator_factory(status_member_id())
    coordinator.start()
    try:
        return dict(coordinator.members())
    finally:
        coordinator.stop()


def workers_of(members: dict[str, dict[str, Any]]) -> list[WorkerInfo]:
    out = []
    for member_id, caps in sorted(members.items()):
        if member_id.startswith("status-"):
            continue
        pid = caps.get("pid")
        started = caps.get("started")
        out.append(
            WorkerInfo(
                id=member_id,
                host=str(caps.get("host", "")),
                pid=int(pid) if pid is not None else None,
                started=float(started) if started is not None else None,
                in_hand=list(caps.get("in_hand") or []),
                metrics=caps.get("metrics"),
            )
        )
    return out


def collect(
    store: Store,
    *,
    members: Callable[[], dict[str, dict[str, Any]]] | None = None,
    failures: int = DEFAULT_FAILURES,
    now: float | None = None,
) -> StatusSnapshot:
    """One snapshot. ``members`` returns the coordination group's live members (see
    :func:`read_members`); when it fails the snapshot says why instead."""
    workers: list[WorkerInfo] | None = None
    workers_error = None
    if members is not None:
        try:
            workers = workers_of(members())
        except RhworkerError as e:
            workers_error = str(e)
    # After the (slow) group read, so lease ages and lease left match the store's view.
    at = store.now() if now is None else now  # the clock the store's leases are on
    stats = store.queue_stats(now=at)
    pauses = store.pauses()
    for w in workers or []:  # the store's leases are the truth (the file driver
        # cannot update capabilities after joining)
        owned = {f.notification_id for f in stats.in_flight if f.owner == w.id}
        w.in_hand = sorted(owned | set(w.in_hand))
    in_flight = [_in_flight(store, f.notification_id, f, at) for f in stats.in_flight]
    flying = {f.notification_id for f in stats.in_flight}
    return StatusSnapshot(
        at=at,
        workers=workers,
        workers_error=workers_error,
        depth=stats.depth,
        delayed=stats.delayed,
        in_flight=in_flight,
        dead_letters=len(stats.dead_letters),
        paused_all=pauses.get(None),
        pauses=[p for _, p in sorted(pauses.items(), key=lambda kv: kv[0] or "")],
        segments=_segments(store, pauses, flying),
        failures=recent_failures(store, failures),
    )


def _in_flight(store: Store, nid: str, f: Any, at: float) -> InFlightInfo:
    age = None
    try:
        n = store.get_notification(nid)
        delivered = [s.at for s in n.progress.steps if s.name == StepName.DELIVERED]
        if delivered:
            age = max(at - delivered[-1], 0.0)
    except NotFound:
        pass
    return InFlightInfo(
        notification_id=nid,
        hostname=f.hostname,
        owner=f.owner,
        attempts=f.attempts,
        lease_age=age,
        lease_left=f.lease_until - at,
    )


def _segments(
    store: Store, pauses: dict[str | None, PauseInfo], flying: set[str]
) -> list[SegmentInfo]:
    left = store.reserved_left()
    segment_of = {h.name: h.segment for h in store.list_hosts()}
    waiting: dict[str, int] = {}
    for status in (NotificationStatus.NEW, NotificationStatus.ERROR, NotificationStatus.RUNNING):
        for n in store.list_notifications(status=status, limit=HELD_SCAN_LIMIT):
            seg = segment_of.get(n.hostname)
            if seg is not None and n.id not in flying:
                waiting[seg] = waiting.get(seg, 0) + 1
    return [
        SegmentInfo(
            name=s.name,
            recovery_method=s.recovery_method.value,
            enabled=s.enabled,
            reserved_left=left.get(s.name, 0),
            paused=None in pauses or s.name in pauses,
            waiting=waiting.get(s.name, 0),
        )
        for s in store.list_segments()
    ]


def recent_failures(store: Store, limit: int = DEFAULT_FAILURES) -> list[FailureInfo]:
    found: list[Notification] = []
    for status in (NotificationStatus.FAILED, NotificationStatus.ERROR):
        found += store.list_notifications(status=status, limit=limit)
    found.sort(key=lambda n: n.updated_at, reverse=True)
    return [
        FailureInfo(
            notification_id=n.id,
            hostname=n.hostname,
            status=n.status.value,
            attempts=n.attempts,
            updated_at=n.updated_at,
            reason=n.progress.reason or "",
        )
        for n in found[:limit]
    ]


# -- rendering -------------------------------------------------------------------------
def _pause_line(p: PauseInfo, since: str) -> str:
    scope = f"segment {p.segment}" if p.segment is not None else "(all segments)"
    reason = f": {p.reason}" if p.reason else ""
    if brake.threshold_of(p) is not None:
        release = "rhworker resume" + (f" --segment {p.segment}" if p.segment else "")
        return (
            f"HELD {scope} by the mass-failure brake since {since}{reason} — new failures "
            f"are kept, not processed, until '{release}'"
        )
    kept = " — notifications are kept, not processed" if p.segment is None else ""
    return f"PAUSED {scope} by {p.by} since {since}{reason}{kept}"


def render(snap: StatusSnapshot) -> str:
    from rhworker.text import format_table, iso

    out: list[str] = [f"rhworker status at {iso(snap.at)}"]
    for p in snap.pauses:
        out.append(_pause_line(p, iso(p.at)))
    out.append("")
    if snap.workers is None:
        out.append(f"workers: unknown ({snap.workers_error or 'not asked'})")
    else:
        out.append(f"workers: {len(snap.workers)}")
        if snap.workers:
            rows: list[tuple[Any, ...]] = [
                (w.id, w.host, w.pid, _ago(snap.at, w.started), len(w.in_hand), w.metrics)
                for w in snap.workers
            ]
            out.append(format_table(("ID", "HOST", "PID", "UP", "IN HAND", "METRICS"), rows))
    out.append("")
    held = sum(s.waiting for s in snap.segments if s.paused)
    out.append(
        f"queue: {snap.depth} ready, {snap.delayed} delayed, {len(snap.in_flight)} in flight, "
        f"{snap.dead_letters} dead letters" + (f"; {held} held by a pause" if held else "")
    )
    if snap.in_flight:
        rows = [
            (
                f.notification_id,
                f.hostname,
                f.owner,
                f.attempts,
                _secs(f.lease_age),
                _secs(f.lease_left),
            )
            for f in snap.in_flight
        ]
        out.append(
            format_table(("IN FLIGHT", "HOST", "OWNER", "ATTEMPT", "AGE", "LEASE LEFT"), rows)
        )
    out.append("")
    rows = [
        (
            s.name,
            s.recovery_method,
            s.enabled,
            NONE_LEFT if s.reserved_left == 0 else s.reserved_left,
            "PAUSED" if s.paused else "-",
            s.waiting,
        )
        for s in snap.segments
    ]
    out.append(
        format_table(("SEGMENT", "METHOD", "ENABLED", "RESERVED LEFT", "PAUSE", "WAITING"), rows)
    )
    out.append("")
    out.append(f"recent failures: {len(snap.failures)}")
    if snap.failures:
        rows = [
            (f.notification_id, f.hostname, f.status, f.attempts, iso(f.updated_at), f.reason)
            for f in snap.failures
        ]
        out.append(format_table(("ID", "HOST", "STATUS", "ATTEMPTS", "AT", "REASON"), rows))
    return "\n".join(out)


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _ago(at: float, started: float | None) -> str:
    if started is None:
        return "-"
    seconds = max(int(at - started), 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


# -- one notification's history ----------------------------------------------------------
# Steps that say what happened to a reserved host (rhworker.recovery.targets).
TRY_OUTCOMES: dict[str, str] = {
    StepName.LOCK_SKIPPED: "skipped: locked by another worker",
    StepName.LOCK_UNAVAILABLE: "lock service unavailable: tried on its claim alone",
    StepName.CLAIM_LOST: "skipped: claim lost to another notification",
    StepName.CLAIMED: "chosen",
    StepName.RESUMED: "resumed (claimed by an earlier attempt)",
    StepName.SPARE_IN_USE: "skipped: Nova shows servers of another failed host on it",
    StepName.TOO_SMALL: "skipped: too small (Placement)",
    StepName.SPARE_RETURNED: "given back unused",
}


@dataclasses.dataclass
class ReservedTry:
    at: float
    host: str
    outcome: str
    worker: str | None
    epoch: int | None = None


def reserved_host_tries(n: Notification) -> list[ReservedTry]:
    """The reserved hosts a notification tried, in order, with what came of each."""
    tries = []
    for s in n.progress.steps:
        if s.name in TRY_OUTCOMES and s.detail.get("host"):
            epoch = s.detail.get("epoch")
            tries.append(
                ReservedTry(
                    at=s.at,
                    host=str(s.detail["host"]),
                    outcome=TRY_OUTCOMES[s.name],
                    worker=s.worker,
                    epoch=int(epoch) if epoch is not None else None,
                )
            )
        elif s.name == StepName.NO_RESERVED_HOST:
            tries.append(ReservedTry(at=s.at, host="-", outcome="none left", worker=s.worker))
    return tries
