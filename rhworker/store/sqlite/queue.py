"""The delivery queue of the SQLite store: lease columns on the notification row.
Functions of a connection inside the caller's transaction (except :func:`ready`, the
look without the write lock)."""

from __future__ import annotations

import logging
import sqlite3

from rhworker.brake import BrakeLimits
from rhworker.errors import LeaseLost, StoreUnavailable
from rhworker.models import DeadLetter, Delivery, InFlight, NotificationStatus, QueueStats
from rhworker.store import attempts
from rhworker.store.sqlite import brake, schema
from rhworker.store.sqlite.connection import guard, next_token

LOG = logging.getLogger(__name__)

# Seconds between polls while ``consume(block=...)`` waits for work.
POLL_INTERVAL = 0.05


def ready(conn: sqlite3.Connection, path: str, at: float) -> bool:
    """Whether anything can be handed out, looked at without the write lock: an idle
    worker polling an empty queue must not hold SQLite's single writer lock (a paused
    process holding it would block every other worker on the machine)."""
    try:
        found = conn.execute(
            f"SELECT 1 FROM notifications WHERE {schema.READY} AND NOT {schema.PAUSED} LIMIT 1",
            (at, at),
        ).fetchall()
    except sqlite3.Error as e:
        raise StoreUnavailable(f"sqlite store {path}: {e}") from e
    return bool(found)


def hand_out(
    conn: sqlite3.Connection,
    worker_id: str,
    lease_timeout: float,
    max_attempts: int,
    at: float,
    limits: BrakeLimits | None = None,
) -> Delivery | None:
    """Lease the oldest ready notification to ``worker_id``, dead-lettering on the way
    those that have used up their attempts; with ``limits``, the mass-failure brake
    checks a first hand-out of a failure report (a trip pauses its scope)."""
    while True:
        row = conn.execute(
            f"SELECT * FROM notifications WHERE {schema.READY} AND NOT {schema.PAUSED} "
            "ORDER BY seq LIMIT 1",
            (at, at),
        ).fetchone()
        if row is None:
            return None
        if limits is not None and brake.trip_if_passed(conn, row, limits, at):
            LOG.warning("mass-failure brake tripped at %s", row["id"])
            continue  # its scope is paused now: the next candidate, if any
        if attempts.exhausted(row["attempts"], max_attempts):
            reason = attempts.gave_up_reason(row["attempts"], row["reason"])
            bury(conn, row["id"], reason, at)
            LOG.warning("notification %s dead-lettered: %s", row["id"], reason)
            continue
        token, until = next_token(row["lease_token"]), at + lease_timeout
        conn.execute(
            "UPDATE notifications SET attempts = ?, lease_token = ?, lease_owner = ?, "
            "lease_until = ? WHERE id = ?",
            (row["attempts"] + 1, token, worker_id, until, row["id"]),
        )
        return Delivery(
            notification_id=row["id"],
            worker_id=worker_id,
            token=token,
            attempts=row["attempts"] + 1,
            lease_until=until,
            backend_ref=str(row["seq"]),
        )


def bury(conn: sqlite3.Connection, notification_id: str, reason: str, at: float) -> None:
    """Dead-letter: failed, acknowledged, listed in ``dead_letters``."""
    conn.execute(
        "UPDATE notifications SET status = 'failed', reason = ?, acked = 1, "
        "lease_owner = NULL, lease_until = NULL, next_attempt_at = NULL, updated_at = ? "
        "WHERE id = ?",
        (reason, at, notification_id),
    )
    conn.execute(
        "INSERT OR REPLACE INTO dead_letters VALUES (?, ?, ?)", (notification_id, reason, at)
    )


def renew(conn: sqlite3.Connection, delivery: Delivery, until: float) -> None:
    if guard(conn, delivery.notification_id, delivery.token)["acked"]:
        raise LeaseLost(f"notification {delivery.notification_id} is already acked")
    conn.execute(
        "UPDATE notifications SET lease_owner = ?, lease_until = ? WHERE id = ?",
        (delivery.worker_id, until, delivery.notification_id),
    )


def ack(conn: sqlite3.Connection, delivery: Delivery) -> None:
    guard(conn, delivery.notification_id, delivery.token)
    conn.execute(
        "UPDATE notifications SET acked = 1, lease_owner = NULL, lease_until = NULL WHERE id = ?",
        (delivery.notification_id,),
    )


def retry_later(
    conn: sqlite3.Connection, delivery: Delivery, due: float, reason: str, at: float
) -> None:
    status = NotificationStatus(guard(conn, delivery.notification_id, delivery.token)["status"])
    if not status.terminal:
        status = NotificationStatus.ERROR
    conn.execute(
        "UPDATE notifications SET status = ?, next_attempt_at = ?, lease_owner = NULL, "
        "lease_until = NULL, reason = COALESCE(?, reason), updated_at = ? WHERE id = ?",
        (status.value, due, reason or None, at, delivery.notification_id),
    )


def dead_letter(conn: sqlite3.Connection, delivery: Delivery, reason: str, at: float) -> None:
    guard(conn, delivery.notification_id, delivery.token)
    bury(conn, delivery.notification_id, reason, at)


def stats(conn: sqlite3.Connection, at: float) -> QueueStats:
    depth = conn.execute(
        f"SELECT COUNT(*) FROM notifications WHERE {schema.READY}", (at, at)
    ).fetchone()[0]
    delayed = conn.execute(
        "SELECT COUNT(*) FROM notifications WHERE acked = 0 AND status = 'error' "
        "AND next_attempt_at > ? AND (lease_owner IS NULL OR lease_until <= ?)",
        (at, at),
    ).fetchone()[0]
    flying = conn.execute(
        "SELECT id, hostname, lease_owner, lease_until, attempts FROM notifications "
        "WHERE acked = 0 AND lease_owner IS NOT NULL AND lease_until > ? ORDER BY seq",
        (at,),
    ).fetchall()
    dead = conn.execute("SELECT * FROM dead_letters ORDER BY at, rowid").fetchall()
    return QueueStats(
        depth=depth,
        delayed=delayed,
        in_flight=[
            InFlight(
                notification_id=r["id"],
                hostname=r["hostname"],
                owner=r["lease_owner"],
                lease_until=r["lease_until"],
                attempts=r["attempts"],
            )
            for r in flying
        ],
        dead_letters=[
            DeadLetter(notification_id=r["notification_id"], reason=r["reason"], at=r["at"])
            for r in dead
        ],
    )
