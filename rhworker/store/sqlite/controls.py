"""Operator controls of the SQLite store: pauses, retry (requeue) and resolve, as
functions of a connection inside the caller's transaction.

A pause is a row of ``pauses`` (segment ``''`` = every segment); the hand-out query
of :mod:`rhworker.store.sqlite.queue` skips the notifications it covers, so nothing
is handed out (and no attempt is spent) while it stands.
"""

from __future__ import annotations

import sqlite3

from rhworker.errors import Conflict, NotFound
from rhworker.models import Notification, NotificationStatus, PauseInfo
from rhworker.store.sqlite import brake, schema
from rhworker.store.sqlite.connection import clock_micros, notification_by_id, row

_RETRYABLE = (NotificationStatus.ERROR.value, NotificationStatus.FAILED.value)
_UNRESOLVABLE = (NotificationStatus.FINISHED.value, NotificationStatus.IGNORED.value)


def set_pause(
    conn: sqlite3.Connection, segment: str | None, paused: bool, by: str, reason: str, at: float
) -> None:
    key = schema.GLOBAL_PAUSE if segment is None else segment
    if segment is not None:
        found = conn.execute("SELECT 1 FROM segments WHERE name = ?", (segment,))
        if found.fetchone() is None:
            raise NotFound(f"segment {segment!r} not found")
    if paused:
        conn.execute(
            "INSERT OR REPLACE INTO pauses (segment, paused_by, reason, at) VALUES (?, ?, ?, ?)",
            (key, by, reason, at),
        )
    elif conn.execute("DELETE FROM pauses WHERE segment = ?", (key,)).rowcount:
        # the operator has seen what is queued: the brake releases it for good
        brake.record_resume(conn, key, at)


def pauses(conn: sqlite3.Connection) -> dict[str | None, PauseInfo]:
    found: dict[str | None, PauseInfo] = {}
    for r in conn.execute("SELECT * FROM pauses ORDER BY segment").fetchall():
        segment = None if r["segment"] == schema.GLOBAL_PAUSE else r["segment"]
        found[segment] = PauseInfo(
            segment=segment, by=r["paused_by"], reason=r["reason"], at=r["at"]
        )
    return found


def requeue(conn: sqlite3.Connection, notification_id: str, reason: str, at: float) -> Notification:
    current = row(conn, notification_id)
    if current["status"] not in _RETRYABLE:
        raise Conflict(
            f"notification {notification_id} is {current['status']}; only error or "
            "failed ones can be retried"
        )
    if current["lease_owner"] is not None and (current["lease_until"] or 0) > at:
        raise Conflict(f"notification {notification_id} is in flight with {current['lease_owner']}")
    conn.execute(
        "UPDATE notifications SET status = 'new', attempts = 0, acked = 0, "
        "lease_owner = NULL, lease_until = NULL, lease_token = MAX(lease_token + 1, ?), "
        "next_attempt_at = NULL, reason = ?, updated_at = ? WHERE id = ?",
        (clock_micros(), reason or None, at, notification_id),
    )
    conn.execute("DELETE FROM dead_letters WHERE notification_id = ?", (notification_id,))
    return notification_by_id(conn, notification_id)


def resolve(conn: sqlite3.Connection, notification_id: str, reason: str, at: float) -> Notification:
    status = row(conn, notification_id)["status"]
    if status in _UNRESOLVABLE:
        raise Conflict(f"notification {notification_id} is already {status}")
    conn.execute(
        "UPDATE notifications SET status = 'failed', acked = 1, lease_owner = NULL, "
        "lease_until = NULL, lease_token = MAX(lease_token + 1, ?), "
        "next_attempt_at = NULL, reason = ?, updated_at = ? WHERE id = ?",
        (clock_micros(), reason, at, notification_id),
    )
    return notification_by_id(conn, notification_id)
