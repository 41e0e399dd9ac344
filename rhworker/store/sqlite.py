"""The embedded store: one SQLite file shared by many processes on one machine.

WAL mode, a busy timeout, and ``BEGIN IMMEDIATE`` for every read-modify-write, so two
processes never interleave a check and its write (claims, hand-outs, intake with
duplicate refusal, guarded status changes). Each thread of each process gets its own
connection. Deliveries are lease columns on the notification row: nothing is deleted
on dequeue; an acknowledged notification keeps its row with ``acked = 1``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rhworker import validation
from rhworker.errors import (
    AlreadyExists,
    ClaimLost,
    Conflict,
    ConfigError,
    DuplicateNotification,
    LeaseLost,
    NotFound,
    StoreError,
    StoreUnavailable,
)
from rhworker.models import (
    Claim,
    DeadLetter,
    Delivery,
    Host,
    InFlight,
    Move,
    Notification,
    NotificationStatus,
    QueueStats,
    Segment,
    Step,
)
from rhworker.store import sqlite_schema as schema
from rhworker.store.base import (
    DEFAULT_DUPLICATE_INTERVAL,
    DEFAULT_LEASE_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    Store,
)

LOG = logging.getLogger(__name__)

# Seconds a write waits for another process's transaction before giving up.
DEFAULT_BUSY_TIMEOUT = 15.0
# Seconds between polls while ``consume(block=...)`` waits for work.
POLL_INTERVAL = 0.05


def _now(now: float | None) -> float:
    return time.time() if now is None else float(now)


class SqliteStore(Store):
    """Store on one SQLite file (``sqlite:///abs/path.db``)."""

    def __init__(self, path: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        with self._tx() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > schema.SCHEMA_VERSION:
                raise StoreError(
                    f"{path}: schema version {version} is newer than this rhworker "
                    f"({schema.SCHEMA_VERSION})"
                )
            for statement in schema.SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        parts = urlsplit(url)
        if parts.scheme != "sqlite" or not parts.path or parts.path == "/":
            raise ConfigError(f"not a sqlite URL with a file path: {url!r}")
        path = "/" + parts.path.lstrip("/")
        options = parse_qs(parts.query)
        kwargs: dict[str, Any] = {}
        if "busy_timeout" in options:
            try:
                kwargs["busy_timeout"] = float(options["busy_timeout"][0])
            except ValueError as e:
                raise ConfigError(f"bad busy_timeout in {url!r}") from e
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        except OSError as e:
            raise StoreUnavailable(f"cannot create the directory of {path}: {e}") from e
        return cls(path, **kwargs)

    # -- connections and transactions ----------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        pid = getattr(self._local, "pid", None)
        if conn is not None and pid == os.getpid():
            return conn
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None,
                check_same_thread=False,
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as e:
            raise StoreUnavailable(f"cannot open {self.path}: {e}") from e
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._all_lock:
            self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _tx(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; sqlite3 errors become StoreError / StoreUnavailable."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as e:
            text = str(e).lower()
            if "locked" in text or "busy" in text or "unable to open" in text:
                raise StoreUnavailable(f"sqlite store {self.path}: {e}") from e
            raise StoreError(f"sqlite store {self.path}: {e}") from e
        except sqlite3.Error as e:
            raise StoreError(f"sqlite store {self.path}: {e}") from e

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
            self._closed = True
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # -- inventory: segments -------------------------------------------------------
    def create_segment(self, segment: Segment) -> Segment:
        segment = validation.validate_segment(segment)
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM segments WHERE name = ?", (segment.name,)).fetchone():
                raise AlreadyExists(f"segment {segment.name!r} already exists")
            conn.execute(
                "INSERT INTO segments VALUES (?, ?, ?, ?, ?)",
                (
                    segment.name,
                    segment.recovery_method.value,
                    int(segment.enabled),
                    segment.service_type,
                    segment.description,
                ),
            )
        return segment

    def _segment(self, conn: sqlite3.Connection, name: str) -> Segment:
        row = conn.execute("SELECT * FROM segments WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"segment {name!r} not found")
        return schema.segment_row(row)

    def get_segment(self, name: str) -> Segment:
        with self._tx(immediate=False) as conn:
            return self._segment(conn, name)

    def update_segment(self, name: str, **changes: Any) -> Segment:
        clean = validation.validate_changes("segment", changes)
        with self._tx() as conn:
            self._segment(conn, name)
            for field, value in clean.items():
                value = value.value if field == "recovery_method" else value
                value = int(value) if isinstance(value, bool) else value
                conn.execute(f"UPDATE segments SET {field} = ? WHERE name = ?", (value, name))
            return self._segment(conn, name)

    def delete_segment(self, name: str) -> None:
        with self._tx() as conn:
            self._segment(conn, name)
            count = conn.execute("SELECT COUNT(*) FROM hosts WHERE segment = ?", (name,))
            hosts = count.fetchone()[0]
            if hosts:
                raise Conflict(f"segment {name!r} still has {hosts} host(s)")
            conn.execute("DELETE FROM segments WHERE name = ?", (name,))

    def list_segments(self) -> list[Segment]:
        with self._tx(immediate=False) as conn:
            rows = conn.execute("SELECT * FROM segments ORDER BY name").fetchall()
        return [schema.segment_row(r) for r in rows]

    # -- inventory: hosts ----------------------------------------------------------
    def create_host(self, host: Host) -> Host:
        host = validation.validate_host(host)
        with self._tx() as conn:
            self._segment(conn, host.segment)
            existing = conn.execute("SELECT segment FROM hosts WHERE name = ?", (host.name,))
            row = existing.fetchone()
            if row is not None:
                raise AlreadyExists(f"host {host.name!r} already exists in segment {row[0]!r}")
            if host.position == 0:
                last = conn.execute(
                    "SELECT COALESCE(MAX(position), 0) FROM hosts WHERE segment = ?",
                    (host.segment,),
                ).fetchone()[0]
                host.position = last + 1
            conn.execute(
                "INSERT INTO hosts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    host.name,
                    host.segment,
                    host.type,
                    host.control_attributes,
                    int(host.reserved),
                    int(host.on_maintenance),
                    host.position,
                    host.claimed_by,
                    host.claim_epoch,
                ),
            )
        return host

    def _host(self, conn: sqlite3.Connection, name: str) -> Host:
        row = conn.execute("SELECT * FROM hosts WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"host {name!r} not found")
        return schema.host_row(row)

    def get_host(self, name: str) -> Host:
        with self._tx(immediate=False) as conn:
            return self._host(conn, name)

    def update_host(self, name: str, **changes: Any) -> Host:
        clean = validation.validate_changes("host", changes)
        with self._tx() as conn:
            self._host(conn, name)
            for field, value in clean.items():
                value = int(value) if isinstance(value, bool) else value
                conn.execute(f"UPDATE hosts SET {field} = ? WHERE name = ?", (value, name))
            if clean.get("reserved") is True:
                conn.execute(
                    "UPDATE hosts SET claimed_by = NULL, claim_epoch = NULL WHERE name = ?",
                    (name,),
                )
            return self._host(conn, name)

    def delete_host(self, name: str) -> None:
        with self._tx() as conn:
            self._host(conn, name)
            conn.execute("DELETE FROM hosts WHERE name = ?", (name,))

    def list_hosts(
        self,
        segment: str | None = None,
        reserved: bool | None = None,
        on_maintenance: bool | None = None,
    ) -> list[Host]:
        where, args = ["1 = 1"], []
        for field, value in (
            ("segment", segment),
            ("reserved", reserved),
            ("on_maintenance", on_maintenance),
        ):
            if value is not None:
                where.append(f"{field} = ?")
                args.append(int(value) if isinstance(value, bool) else value)
        query = f"SELECT * FROM hosts WHERE {' AND '.join(where)} ORDER BY segment, position, name"
        with self._tx(immediate=False) as conn:
            rows = conn.execute(query, args).fetchall()
        return [schema.host_row(r) for r in rows]

    def reserved_hosts(self, segment: str) -> list[Host]:
        return self.list_hosts(segment=segment, reserved=True, on_maintenance=False)

    # -- notifications --------------------------------------------------------------
    def create_notification(
        self,
        type: str,
        hostname: str,
        payload: Any,
        generated_time: str | float | None = None,
        *,
        dedup_interval: float = DEFAULT_DUPLICATE_INTERVAL,
        now: float | None = None,
    ) -> Notification:
        at = _now(now)
        notification = validation.prepare_notification(
            type, hostname, payload, generated_time, now=at
        )
        key = validation.dedup_key(notification.type, notification.hostname, notification.payload)
        with self._tx() as conn:
            self._host(conn, notification.hostname)
            duplicate = conn.execute(
                "SELECT id FROM notifications WHERE dedup_key = ? AND created_at >= ? "
                "ORDER BY seq DESC LIMIT 1",
                (key, at - dedup_interval),
            ).fetchone()
            if duplicate is not None:
                raise DuplicateNotification(
                    f"the same {notification.type.value} notification for host "
                    f"{notification.hostname} was received within {dedup_interval:g} s: "
                    f"{duplicate[0]}",
                    existing_id=duplicate[0],
                )
            conn.execute(
                "INSERT INTO notifications (id, type, hostname, payload, dedup_key, "
                "generated_time, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    notification.id,
                    notification.type.value,
                    notification.hostname,
                    json.dumps(notification.payload, sort_keys=True),
                    key,
                    notification.generated_time,
                    notification.status.value,
                    at,
                    at,
                ),
            )
        return notification

    def _row(self, conn: sqlite3.Connection, notification_id: str) -> sqlite3.Row:
        row = conn.execute(
            "SELECT * FROM notifications WHERE id = ?", (notification_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"notification {notification_id!r} not found")
        return row

    def _guard(
        self, conn: sqlite3.Connection, notification_id: str, token: int | None
    ) -> sqlite3.Row:
        """The row, after checking that ``token`` (if any) is the current lease token."""
        row = self._row(conn, notification_id)
        if token is not None and token != row["lease_token"]:
            raise LeaseLost(
                f"notification {notification_id}: lease token {token} is stale "
                f"(now {row['lease_token']}, held by {row['lease_owner']})"
            )
        return row

    def _notification(self, conn: sqlite3.Connection, row: sqlite3.Row) -> Notification:
        steps = conn.execute(
            "SELECT data FROM steps WHERE notification_id = ? ORDER BY seq", (row["id"],)
        ).fetchall()
        return schema.notification_row(row, [schema.step_of(s[0]) for s in steps])

    def get_notification(self, notification_id: str) -> Notification:
        with self._tx(immediate=False) as conn:
            return self._notification(conn, self._row(conn, notification_id))

    def list_notifications(
        self,
        status: NotificationStatus | None = None,
        hostname: str | None = None,
        type: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        marker: str | None = None,
    ) -> list[Notification]:
        where, args = ["1 = 1"], []
        if status is not None:
            where.append("status = ?")
            args.append(NotificationStatus(status).value)
        if hostname is not None:
            where.append("hostname = ?")
            args.append(hostname)
        if type is not None:
            where.append("type = ?")
            args.append(str(getattr(type, "value", type)))
        if since is not None:
            where.append("generated_time >= ?")
            args.append(since)
        with self._tx(immediate=False) as conn:
            if marker is not None:
                mark = self._row(conn, marker)
                where.append("(created_at < ? OR (created_at = ? AND seq < ?))")
                args += [mark["created_at"], mark["created_at"], mark["seq"]]
            query = f"SELECT * FROM notifications WHERE {' AND '.join(where)} "
            query += "ORDER BY created_at DESC, seq DESC"
            if limit is not None:
                query += " LIMIT ?"
                args.append(int(limit))
            rows = conn.execute(query, args).fetchall()
            return [self._notification(conn, r) for r in rows]

    def set_status(
        self,
        notification_id: str,
        new: NotificationStatus,
        *,
        expected: Iterable[NotificationStatus],
        token: int | None = None,
        reason: str | None = None,
        now: float | None = None,
    ) -> Notification:
        new = NotificationStatus(new)
        allowed = {NotificationStatus(s) for s in expected}
        with self._tx() as conn:
            row = self._guard(conn, notification_id, token)
            current = NotificationStatus(row["status"])
            if current not in allowed:
                names = ", ".join(sorted(s.value for s in allowed))
                raise Conflict(
                    f"notification {notification_id} is {current.value}, expected one of {names}"
                )
            conn.execute(
                "UPDATE notifications SET status = ?, updated_at = ?, "
                "reason = COALESCE(?, reason) WHERE id = ?",
                (new.value, _now(now), reason, notification_id),
            )
            return self._notification(conn, self._row(conn, notification_id))

    def add_step(self, notification_id: str, step: Step, *, token: int | None = None) -> None:
        data = schema.step_data(step)
        with self._tx() as conn:
            self._guard(conn, notification_id, token)
            conn.execute(
                "INSERT INTO steps (notification_id, data) VALUES (?, ?)", (notification_id, data)
            )

    # -- moves ----------------------------------------------------------------------
    def upsert_move(self, move: Move, *, token: int | None = None) -> None:
        data = schema.move_data(move)
        with self._tx() as conn:
            self._guard(conn, move.notification_id, token)
            conn.execute(
                "INSERT INTO moves (notification_id, instance_id, data) VALUES (?, ?, ?) "
                "ON CONFLICT (notification_id, instance_id) DO UPDATE SET data = excluded.data",
                (move.notification_id, move.instance_id, data),
            )

    def list_moves(self, notification_id: str) -> list[Move]:
        with self._tx(immediate=False) as conn:
            rows = conn.execute(
                "SELECT data FROM moves WHERE notification_id = ? ORDER BY rowid",
                (notification_id,),
            ).fetchall()
        return [schema.move_of(r[0]) for r in rows]

    # -- claims ---------------------------------------------------------------------
    def claim_reserved_host(
        self, notification_id: str, host: str, *, token: int, now: float | None = None
    ) -> Claim:
        with self._tx() as conn:
            row = self._guard(conn, notification_id, token)
            spare = self._host(conn, host)
            if spare.claimed_by == notification_id and spare.claim_epoch is not None:
                return Claim(host=host, notification_id=notification_id, epoch=spare.claim_epoch)
            if not spare.reserved or spare.on_maintenance or spare.claimed_by is not None:
                why = "on maintenance" if spare.on_maintenance else "not reserved"
                if spare.claimed_by is not None:
                    why = f"claimed by {spare.claimed_by}"
                raise ClaimLost(f"reserved host {host} cannot be claimed: {why}")
            conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'claim_epoch'")
            epoch = conn.execute(
                "SELECT value FROM counters WHERE name = 'claim_epoch'"
            ).fetchone()[0]
            conn.execute(
                "UPDATE hosts SET reserved = 0, claimed_by = ?, claim_epoch = ? WHERE name = ?",
                (notification_id, epoch, host),
            )
            claims = json.loads(row["claims"]) + [{"host": host, "epoch": epoch}]
            conn.execute(
                "UPDATE notifications SET claims = ?, updated_at = ? WHERE id = ?",
                (schema.claims_data(claims), _now(now), notification_id),
            )
        return Claim(host=host, notification_id=notification_id, epoch=epoch)

    def check_claim(self, host: str, epoch: int) -> bool:
        with self._tx(immediate=False) as conn:
            row = conn.execute("SELECT claim_epoch FROM hosts WHERE name = ?", (host,)).fetchone()
        return row is not None and row[0] is not None and row[0] == epoch

    # -- delivery queue ---------------------------------------------------------------
    def consume(
        self,
        worker_id: str,
        *,
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        block: float = 0.0,
        now: float | None = None,
    ) -> Delivery | None:
        deadline = time.monotonic() + max(block, 0.0)
        while True:
            delivery = self._hand_out(worker_id, lease_timeout, max_attempts, _now(now))
            if delivery is not None or time.monotonic() >= deadline:
                return delivery
            time.sleep(min(POLL_INTERVAL, max(deadline - time.monotonic(), 0.0)))

    def _hand_out(
        self, worker_id: str, lease_timeout: float, max_attempts: int, at: float
    ) -> Delivery | None:
        with self._tx() as conn:
            while True:
                row = conn.execute(
                    f"SELECT * FROM notifications WHERE {schema.READY} ORDER BY seq LIMIT 1",
                    (at, at),
                ).fetchone()
                if row is None:
                    return None
                attempts = row["attempts"] + 1
                if attempts > max_attempts:
                    reason = validation.gave_up_reason(row["attempts"], row["reason"])
                    self._bury(conn, row["id"], reason, at)
                    LOG.warning("notification %s dead-lettered: %s", row["id"], reason)
                    continue
                token, until = row["lease_token"] + 1, at + lease_timeout
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
        until = _now(now) + lease_timeout
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
        at = _now(now)
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
            self._bury(conn, delivery.notification_id, reason, _now(now))

    # -- read models ------------------------------------------------------------------
    def queue_stats(self, *, now: float | None = None) -> QueueStats:
        at = _now(now)
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
