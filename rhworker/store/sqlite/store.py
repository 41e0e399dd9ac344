"""The SQLite store class: connections and transactions, and every operation of
:class:`~rhworker.store.base.Store` opened as one transaction and handed to the
function of its concern (see the package docstring)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

from rhworker import validation
from rhworker.brake import BrakeLimits
from rhworker.errors import ConfigError, StoreError, StoreMissing, StoreUnavailable
from rhworker.models import (
    Claim,
    Delivery,
    Host,
    Move,
    Notification,
    NotificationStatus,
    PauseInfo,
    QueueStats,
    Segment,
    Step,
)
from rhworker.store.base import (
    DEFAULT_DUPLICATE_INTERVAL,
    DEFAULT_LEASE_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DurabilityRisk,
    Store,
    now_or,
)
from rhworker.store.sqlite import (
    claims,
    connection,
    controls,
    guards,
    inventory,
    notifications,
    queue,
    retention,
    schema,
)
from rhworker.store.sqlite.connection import DEFAULT_BUSY_TIMEOUT, DEFAULT_SYNCHRONOUS


class SqliteStore(Store):
    """Store on one SQLite file.

    URL: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``, with
    ``?busy_timeout=SECONDS&synchronous=full|normal``; the file's directory must
    exist (only the CLI creates the state directory of the embedded mode).
    """

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        synchronous: str = DEFAULT_SYNCHRONOUS,
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.synchronous = connection.check_synchronous(synchronous)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        if self._schema_version() == schema.SCHEMA_VERSION:
            return  # up to date: no write lock needed (others may hold it)
        with self._tx() as conn:
            connection.migrate(conn, path)

    @classmethod
    def from_url(cls, url: str, *, create: bool = True) -> SqliteStore:
        """Open the store of ``url`` (SQLAlchemy's form, see
        :func:`~rhworker.store.sqlite.connection.sqlite_path`).

        The file's directory must exist. ``create=False`` (read-only commands) refuses
        a file that does not exist yet with :class:`StoreMissing` instead of creating
        an empty store."""
        path, query = connection.sqlite_path(url)
        options = parse_qs(query)
        kwargs: dict[str, Any] = {}
        if "busy_timeout" in options:
            try:
                kwargs["busy_timeout"] = float(options["busy_timeout"][0])
            except ValueError as e:
                raise ConfigError(f"bad busy_timeout in {url!r}") from e
        if "synchronous" in options:  # checked before a file is created for it
            kwargs["synchronous"] = connection.check_synchronous(options["synchronous"][0])
        if not os.path.exists(path):
            directory = os.path.dirname(path)
            if not create:
                raise StoreMissing(path)
            if not os.path.isdir(directory):
                raise StoreUnavailable(
                    f"cannot create the sqlite store {path}: directory {directory} does not exist"
                )
            try:
                connection.create_private(path)
            except OSError as e:
                raise StoreUnavailable(f"cannot create the sqlite store {path}: {e}") from e
        return cls(path, **kwargs)

    # -- connections and transactions ----------------------------------------------
    def _schema_version(self) -> int:
        try:
            return int(self._conn().execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error as e:
            raise StoreUnavailable(f"sqlite store {self.path}: {e}") from e

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (a new one after a fork)."""
        if self._closed:
            raise StoreError("store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        conn = connection.connect(self.path, self.busy_timeout, self.synchronous)
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._all_lock:
            self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _tx(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction, ``BEGIN IMMEDIATE`` unless only reading."""
        conn = self._conn()
        with connection.transaction(conn, self.path, immediate):
            yield conn

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
            self._closed = True
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def durability_risks(self) -> list[DurabilityRisk]:
        if self.synchronous == "FULL":
            return []
        return [
            DurabilityRisk(
                f"sqlite store {self.path}: synchronous={self.synchronous.lower()}; a power "
                "cut may lose the last commits (claims stay fenced: epochs follow the clock)",
                refusable=False,
            )
        ]

    # -- inventory ------------------------------------------------------------------
    def create_segment(self, segment: Segment) -> Segment:
        segment = validation.validate_segment(segment)
        with self._tx() as conn:
            inventory.create_segment(conn, segment)
        return segment

    def get_segment(self, name: str) -> Segment:
        with self._tx(immediate=False) as conn:
            return inventory.segment(conn, name)

    def update_segment(self, name: str, **changes: Any) -> Segment:
        clean = validation.validate_changes("segment", changes)
        with self._tx() as conn:
            return inventory.write_segment(conn, name, clean)

    def update_segment_if_idle(self, name: str, **changes: Any) -> Segment:
        clean = validation.validate_changes("segment", changes)
        with self._tx() as conn:
            inventory.segment(conn, name)
            guards.refuse_if_in_use(conn, "segment", name, "updated")
            return inventory.write_segment(conn, name, clean)

    def delete_segment(self, name: str) -> None:
        with self._tx() as conn:
            inventory.drop_segment(conn, name)

    def delete_segment_if_idle(self, name: str) -> None:
        with self._tx() as conn:
            inventory.segment(conn, name)
            guards.refuse_if_in_use(conn, "segment", name, "deleted")
            inventory.drop_segment(conn, name)

    def list_segments(self) -> list[Segment]:
        with self._tx(immediate=False) as conn:
            return inventory.list_segments(conn)

    def create_host(self, host: Host) -> Host:
        host = validation.validate_host(host)
        with self._tx() as conn:
            return inventory.create_host(conn, host)

    def get_host(self, name: str) -> Host:
        with self._tx(immediate=False) as conn:
            return inventory.host(conn, name)

    def update_host(self, name: str, **changes: Any) -> Host:
        clean = validation.validate_changes("host", changes)
        with self._tx() as conn:
            return inventory.write_host(conn, name, clean)

    def update_host_if_idle(self, name: str, **changes: Any) -> Host:
        clean = validation.validate_changes("host", changes)
        with self._tx() as conn:
            inventory.host(conn, name)
            guards.refuse_if_in_use(conn, "host", name, "updated")
            return inventory.write_host(conn, name, clean)

    def delete_host(self, name: str) -> None:
        with self._tx() as conn:
            inventory.drop_host(conn, name)

    def delete_host_if_idle(self, name: str) -> None:
        with self._tx() as conn:
            inventory.host(conn, name)
            guards.refuse_if_in_use(conn, "host", name, "deleted")
            inventory.drop_host(conn, name)

    def list_hosts(
        self,
        segment: str | None = None,
        reserved: bool | None = None,
        on_maintenance: bool | None = None,
    ) -> list[Host]:
        with self._tx(immediate=False) as conn:
            return inventory.list_hosts(conn, segment, reserved, on_maintenance)

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
        at = now_or(now)
        n = validation.prepare_notification(type, hostname, payload, generated_time, now=at)
        key = validation.dedup_key(n.type, n.hostname, n.payload)
        with self._tx() as conn:
            notifications.intake(conn, n, key, dedup_interval, at)
        return n

    def get_notification(self, notification_id: str) -> Notification:
        with self._tx(immediate=False) as conn:
            return connection.notification_by_id(conn, notification_id)

    def list_notifications(
        self,
        status: NotificationStatus | None = None,
        hostname: str | None = None,
        type: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        marker: str | None = None,
    ) -> list[Notification]:
        with self._tx(immediate=False) as conn:
            return notifications.listed(conn, status, hostname, type, since, limit, marker)

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
        with self._tx() as conn:
            return notifications.set_status(
                conn, notification_id, new, expected, token, reason, now_or(now)
            )

    def add_step(self, notification_id: str, step: Step, *, token: int | None = None) -> None:
        with self._tx() as conn:
            notifications.add_step(conn, notification_id, step, token)

    def upsert_move(self, move: Move, *, token: int | None = None) -> None:
        with self._tx() as conn:
            notifications.upsert_move(conn, move, token)

    def list_moves(self, notification_id: str) -> list[Move]:
        with self._tx(immediate=False) as conn:
            return notifications.list_moves(conn, notification_id)

    # -- claims ---------------------------------------------------------------------
    def claim_reserved_host(
        self, notification_id: str, host: str, *, token: int, now: float | None = None
    ) -> Claim:
        with self._tx() as conn:
            return claims.claim(conn, notification_id, host, token, now_or(now))

    def release_claim(
        self, notification_id: str, host: str, epoch: int, *, token: int, now: float | None = None
    ) -> None:
        with self._tx() as conn:
            claims.release(conn, notification_id, host, epoch, token, now_or(now))

    def check_claim(self, host: str, epoch: int, holder: str) -> bool:
        with self._tx(immediate=False) as conn:
            return claims.is_current(conn, host, epoch, holder)

    # -- delivery queue -------------------------------------------------------------
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
            at = now_or(now)
            delivery = None
            if queue.ready(self._conn(), self.path, at):
                with self._tx() as conn:
                    delivery = queue.hand_out(
                        conn, worker_id, lease_timeout, max_attempts, at, brake
                    )
            if delivery is not None or time.monotonic() >= deadline:
                return delivery
            time.sleep(min(queue.POLL_INTERVAL, max(deadline - time.monotonic(), 0.0)))

    def renew(
        self, delivery: Delivery, *, lease_timeout: float, now: float | None = None
    ) -> Delivery:
        until = now_or(now) + lease_timeout
        with self._tx() as conn:
            queue.renew(conn, delivery, until)
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
            queue.ack(conn, delivery)

    def retry_later(
        self, delivery: Delivery, delay: float, *, reason: str = "", now: float | None = None
    ) -> None:
        at = now_or(now)
        with self._tx() as conn:
            queue.retry_later(conn, delivery, at + delay, reason, at)

    def dead_letter(self, delivery: Delivery, reason: str, *, now: float | None = None) -> None:
        with self._tx() as conn:
            queue.dead_letter(conn, delivery, reason, now_or(now))

    def queue_stats(self, *, now: float | None = None) -> QueueStats:
        with self._tx(immediate=False) as conn:
            return queue.stats(conn, now_or(now))

    # -- operator controls ----------------------------------------------------------
    def set_pause(
        self,
        segment: str | None,
        paused: bool,
        *,
        by: str,
        reason: str = "",
        now: float | None = None,
    ) -> None:
        with self._tx() as conn:
            controls.set_pause(conn, segment, paused, by, reason, now_or(now))

    def pauses(self) -> dict[str | None, PauseInfo]:
        with self._tx(immediate=False) as conn:
            return controls.pauses(conn)

    def requeue(
        self, notification_id: str, *, reason: str = "", now: float | None = None
    ) -> Notification:
        with self._tx() as conn:
            return controls.requeue(conn, notification_id, reason, now_or(now))

    def resolve(
        self, notification_id: str, *, reason: str, now: float | None = None
    ) -> Notification:
        with self._tx() as conn:
            return controls.resolve(conn, notification_id, reason, now_or(now))

    # -- retention ------------------------------------------------------------------
    def prune_history(
        self, older_than: float, *, limit: int | None = None, now: float | None = None
    ) -> int:
        at = now_or(now)
        pruned = 0
        while limit is None or pruned < limit:
            size = (
                retention.PRUNE_BATCH
                if limit is None
                else min(retention.PRUNE_BATCH, limit - pruned)
            )
            with self._tx() as conn:
                gone = retention.prune_batch(conn, at - older_than, at, size)
            if not gone:
                break
            pruned += gone
        return pruned
