"""Operator controls of the SQLite store: pauses, retry (requeue) and resolve.

A pause is a row of ``pauses`` (segment ``''`` = every segment); the hand-out query
of :mod:`rhworker.store.sqlite_queue` skips the notifications it covers, so nothing
is handed out (and no attempt is spent) while it stands.
"""

from __future__ import annotations

from rhworker.errors import Conflict, NotFound
from rhworker.models import Notification, NotificationStatus, PauseInfo
from rhworker.store import sqlite_brake
from rhworker.store import sqlite_schema as schema
from rhworker.store.base import now_or
from rhworker.store.sqlite_base import SqliteBase, clock_micros

_RETRYABLE = (NotificationStatus.ERROR.value, NotificationStatus.FAILED.value)
_UNRESOLVABLE = (NotificationStatus.FINISHED.value, NotificationStatus.IGNORED.value)


class SqliteControls(SqliteBase):
    """set_pause / pauses / requeue / resolve."""

    def set_pause(
        self,
        segment: str | None,
        paused: bool,
        *,
        by: str,
        reason: str = "",
        now: float | None = None,
    ) -> None:
        key = schema.GLOBAL_PAUSE if segment is None else segment
        with self._tx() as conn:
            if segment is not None:
                found = conn.execute("SELECT 1 FROM segments WHERE name = ?", (segment,))
                if found.fetchone() is None:
                    raise NotFound(f"segment {segment!r} not found")
            if paused:
                conn.execute(
                    "INSERT OR REPLACE INTO pauses (segment, paused_by, reason, at) "
                    "VALUES (?, ?, ?, ?)",
                    (key, by, reason, now_or(now)),
                )
            elif conn.execute("DELETE FROM pauses WHERE segment = ?", (key,)).rowcount:
                # the operator has seen what is queued: the brake releases it for good
                sqlite_brake.record_resume(conn, key, now_or(now))

    def pauses(self) -> dict[str | None, PauseInfo]:
        with self._tx(immediate=False) as conn:
            rows = conn.execute("SELECT * FROM pauses ORDER BY segment").fetchall()
        found: dict[str | None, PauseInfo] = {}
        for r in rows:
            segment = None if r["segment"] == schema.GLOBAL_PAUSE else r["segment"]
            found[segment] = PauseInfo(
                segment=segment, by=r["paused_by"], reason=r["reason"], at=r["at"]
            )
        return found

    def requeue(
        self, notification_id: str, *, reason: str = "", now: float | None = None
    ) -> Notification:
        at = now_or(now)
        with self._tx() as conn:
            row = self._row(conn, notification_id)
            if row["status"] not in _RETRYABLE:
                raise Conflict(
                    f"notification {notification_id} is {row['status']}; only error or "
                    "failed ones can be retried"
                )
            if row["lease_owner"] is not None and (row["lease_until"] or 0) > at:
                raise Conflict(
                    f"notification {notification_id} is in flight with {row['lease_owner']}"
                )
            conn.execute(
                "UPDATE notifications SET status = 'new', attempts = 0, acked = 0, "
                "lease_owner = NULL, lease_until = NULL, lease_token = MAX(lease_token + 1, ?), "
                "next_attempt_at = NULL, reason = ?, updated_at = ? WHERE id = ?",
                (clock_micros(), reason or None, at, notification_id),
            )
            conn.execute("DELETE FROM dead_letters WHERE notification_id = ?", (notification_id,))
            return self._notification(conn, self._row(conn, notification_id))

    def resolve(
        self, notification_id: str, *, reason: str, now: float | None = None
    ) -> Notification:
        with self._tx() as conn:
            row = self._row(conn, notification_id)
            if row["status"] in _UNRESOLVABLE:
                raise Conflict(f"notification {notification_id} is already {row['status']}")
            conn.execute(
                "UPDATE notifications SET status = 'failed', acked = 1, lease_owner = NULL, "
                "lease_until = NULL, lease_token = MAX(lease_token + 1, ?), "
                "next_attempt_at = NULL, reason = ?, updated_at = ? WHERE id = ?",
                (clock_micros(), reason, now_or(now), notification_id),
            )
            return self._notification(conn, self._row(conn, notification_id))
