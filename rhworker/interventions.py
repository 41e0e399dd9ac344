"""The operator's interventions: pause / resume automatic recovery, retry or resolve by
hand (the commands are in ``rhworker.cli.pause`` and ``rhworker.cli.notifications``).

Every control is recorded in the history of the notifications it touches, as a step
named ``control`` whose worker is ``operator:<user>``. A pause or resume is recorded
in every notification it holds back or releases (not done yet, in its scope).

Pause semantics: the store stops handing out notifications of a paused segment (all
of them under a global pause) — they stay queued, keep their attempts and are not
dead-lettered; deliveries already in hand finish. See ``Store.set_pause``.

Retry semantics: an ``error`` or ``failed`` notification goes back to the queue now
as ``new`` with attempts reset to 0 — the operator asked for a fresh start, so it gets
the full retry budget again; its steps, claims and moves are kept, so recovery
resumes from where it stopped (moves already done are not redone).
"""

from __future__ import annotations

import getpass
import time

from rhworker.models import Notification, NotificationStatus, Step, StepName
from rhworker.store.base import Store

# Notification statuses a pause holds back.
OPEN = (NotificationStatus.NEW, NotificationStatus.ERROR, NotificationStatus.RUNNING)
# Notifications per status looked at when recording a pause in their history.
SCAN_LIMIT = 1000


def operator(user: str | None = None) -> str:
    """``operator:<user>``: the ``worker`` of a control step."""
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
    return f"operator:{user}"


def record(store: Store, nid: str, by: str, message: str, **detail: object) -> None:
    store.add_step(
        nid,
        Step(
            at=time.time(), name=StepName.CONTROL, worker=by, message=message, detail=dict(detail)
        ),
    )


def open_in_scope(store: Store, segment: str | None) -> list[str]:
    """Ids of notifications not done yet, of ``segment`` (or all)."""
    segment_of = {h.name: h.segment for h in store.list_hosts(segment=segment)}
    ids = []
    for status in OPEN:
        for n in store.list_notifications(status=status, limit=SCAN_LIMIT):
            if segment is None or n.hostname in segment_of:
                ids.append(n.id)
    return ids


def pause(store: Store, segment: str | None, *, by: str, reason: str = "") -> list[str]:
    """Pause; returns the ids of the notifications it holds back (history updated)."""
    store.set_pause(segment, True, by=by, reason=reason)
    scope = f"segment {segment}" if segment else "all segments"
    ids = open_in_scope(store, segment)
    for nid in ids:
        record(
            store,
            nid,
            by,
            f"pause ({scope})" + (f": {reason}" if reason else ""),
            action="pause",
            segment=segment,
            reason=reason,
        )
    return ids


def resume(store: Store, segment: str | None, *, by: str) -> list[str]:
    store.set_pause(segment, False, by=by)
    scope = f"segment {segment}" if segment else "all segments"
    ids = open_in_scope(store, segment)
    for nid in ids:
        record(store, nid, by, f"resume ({scope})", action="resume", segment=segment)
    return ids


def retry(store: Store, nid: str, *, by: str, reason: str = "") -> Notification:
    before = store.get_notification(nid)
    text = f"retry requested by {by}" + (f": {reason}" if reason else "")
    store.requeue(nid, reason=text)
    record(
        store,
        nid,
        by,
        f"retry: {before.status.value} → new, attempts {before.attempts} → 0"
        + (f" ({reason})" if reason else ""),
        action="retry",
        previous_status=before.status.value,
        previous_attempts=before.attempts,
    )
    return store.get_notification(nid)


def resolve(store: Store, nid: str, *, by: str, reason: str) -> Notification:
    before = store.get_notification(nid)
    store.resolve(nid, reason=f"resolved by {by}: {reason}")
    record(
        store,
        nid,
        by,
        f"resolve: {before.status.value} → failed: {reason}",
        action="resolve",
        previous_status=before.status.value,
        reason=reason,
    )
    return store.get_notification(nid)
