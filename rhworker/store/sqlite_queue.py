"""The delivery queue of the SQLite store: lease columns on the notification row."""

from __future__ import annotations

import logging
import sqlite3
import time

from rhworker import validation
from rhworker.brake import BrakeLimits
from rhworker.errors import LeaseLost, StoreUnavailable
from rhworker.models import DeadLetter, Delivery, InFlight, NotificationStatus, QueueStats
from rhworker.store import sqlite_brake
from rhworker.store import sqlite_schema as schema
from rhworker.store.base import DEFAULT_LEASE_TIMEOUT, DEFAULT_MAX_ATTEMPTS, now_or
from rhworker.store.sqlite_base import SqliteBase, next_token

LOG = logging.getLogger(__name__)

# Seconds between polls while ``consume(block=...)`` waits for work.
POLL_INTERVAL = 0.05


class SqliteQueue(SqliteBase):
    """consume / renew / ack / retry_later / dead_letter / queue_stats."""

    def consume(
        self,
        worker_id: str,
        *,
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        block: float = 0.0,
        now: float | None = None,
        brake: BrakeLimits | None = None,
    ) -> Delivery | None:
        deadline = time.monotonic() + max(block, 0.0)
        while True:
            delivery = self._hand_out(worker_id, lease_timeout, max_attempts, now_or(now), brake)
            if delivery is not None or time.monotonic() >= deadline:
                return delivery
            time.sleep(min(POLL_INTERVAL, max(deadline - time.monotonic(), 0.0)))

    def _hand_out(
        self,
        worker_id: str,
        lease_timeout: float,
        max_attempts: int,
        at: float,
        brake: BrakeLimits | None = None,
    ) -> Delivery | None:
        # Look first without the write lock: an idle worker polling an empty queue
        # must not hold SQLite's single writer lock (a paused process holding it
        # would block every other worker on the machine).
        try:
            ready = (
                self._conn()
                .execute(
                    f"SELECT 1 FROM notifications WHERE {schema.READY} AND NOT {schema.PAUSED} "
                    "LIMIT 1",
                    (at, at),
                )
                .fetchall()
            )
        except sqlite3.Error as e:
            raise StoreUnavailable(f"sqlite store {self.path}: {e}") from e
        if not ready:
            return None
        with self._tx() as conn:
            while True:
                row = conn.execute(
                    f"SELECT * FROM notifications WHERE {schema.READY} AND NOT {schema.PAUSED} "
                    "ORDER BY seq LIMIT 1",
                    (at, at),
                ).fetchone()
                if row is None:
                    return None
                if brake is not None and sqlite_brake.trip_if_passed(conn, row, brake, at):
                    LOG.warning("mass-failure brake tripped at %s", row["id"])
                    continue  # its scope is paused now: the next candidate, if any
                attempts = row["attempts"] + 1
                if attempts > max_attempts:
                    reason = validation.gave_up_reason(row["attempts"], row["reason"])
                    self._bury(conn, row["id"], reason, at)
                    LOG.warning("notification %s dead-lettered: %s", row["id"], reason)
                    continue
                token, until = next_token(row["lease_token"]), at + lease_timeout
                conn.execute(
                    "UPDATE notifications SET attempts = ?, lease_token = ?, lease_owner = ?, "
                    "lease_until = ? WHERE id = ?",
                    (attempts, token, worker_id, until, row["id"]),
                )
                return Delivery(
                    notification_id=row["id"],
                    worker_id=worker_id,
                    token=token,
                    attempts=attempts,
                    lease_until=until,
                    backend_ref=str(row["seq"]),
                )

    def _bury(self, conn: sqlite3.Connection, notification_id: str, reason: str, at: float) -> None:
        conn.execute(
            "UPDATE notifications SET status = 'failed', reason = ?, acked = 1, "
            "lease_owner = NULL, lease_until = NULL, next_attempt_at = NULL, updated_at = ? "
            "WHERE id = ?",
            (reason, at, notification_id),
        )
        conn.execute(
            "INSERT OR REPLACE INTO dead_letters VALUES (?, ?, ?)", (notification_id, reason, at)
        )

    def renew(
        self, delivery: Delivery, *, lease_timeout: float, now: float | None = None
    ) -> Delivery:
        until = now_or(now) + lease_timeout
        with self._tx() as conn:
            row = self._guard(conn, delivery.notification_id, delivery.token)
            if row["acked"]:
                raise LeaseLost(f"notification {delivery.notification_id} is already acked")
            conn.execute(
                "UPDATE notifications SET lease_owner = ?, lease_until = ? WHERE id = ?",
                (delivery.worker_id, until, delivery.notification_id),
            )
        return Delivery(
            notification_id=delivery.notification_id,
            worker_id=delivery.worker_id,
            token=delivery.token,
            attempts=delivery.attempts,
            lease_until=until,
            backend_ref=delivery.backend_ref,
        )

    def ack(self, delivery: Delivery) -> None:
        with self._tx() as conn:
            self._guard(conn, delivery.notification_id, delivery.token)
            conn.execute(
                "UPDATE notifications SET acked = 1, lease_owner = NULL, lease_until = NULL "
                "WHERE id = ?",
                (delivery.notification_id,),
            )

    def retry_later(
        self, delivery: Delivery, delay: float, *, reason: str = "", now: float | None = None
    ) -> None:
        at = now_or(now)
        with self._tx() as conn:
            row = self._guard(conn, delivery.notification_id, delivery.token)
            status = NotificationStatus(row["status"])
            if not status.terminal:
                status = NotificationStatus.ERROR
            conn.execute(
                "UPDATE notifications SET status = ?, next_attempt_at = ?, lease_owner = NULL, "
                "lease_until = NULL, reason = COALESCE(?, reason), updated_at = ? WHERE id = ?",
                (status.value, at + delay, reason or None, at, delivery.notification_id),
            )

    def dead_letter(self, delivery: Delivery, reason: str, *, now: float | None = None) -> None:
        with self._tx() as conn:
            self._guard(conn, delivery.notification_id, delivery.token)
            self._bury(conn, delivery.notification_id, reason, now_or(now))

    # -- read models ------------------------------------------------------------------
    def queue_stats(self, *, now: float | None = None) -> QueueStats:
        at = now_or(now)
        with self._tx(immediate=False) as conn:
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
