"""The embedded store: one SQLite file shared by many processes on one machine.

WAL mode, a busy timeout, and ``BEGIN IMMEDIATE`` for every read-modify-write, so two
processes never interleave a check and its write (claims, hand-outs, intake with
duplicate refusal, guarded status changes). Each thread of each process gets its own
connection. Deliveries are lease columns on the notification row: nothing is deleted
on dequeue; an acknowledged notification keeps its row with ``acked = 1``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, unquote

from rhworker import validation
from rhworker.errors import (
    AlreadyExists,
    ClaimLost,
    ConfigError,
    Conflict,
    DuplicateNotification,
    NotFound,
    StoreMissing,
    StoreUnavailable,
)
from rhworker.models import (
    Claim,
    Host,
    Move,
    Notification,
    NotificationStatus,
    Segment,
    Step,
)
from rhworker.store import inuse, sqlite_brake
from rhworker.store import sqlite_guards as guards
from rhworker.store import sqlite_schema as schema
from rhworker.store.base import DEFAULT_DUPLICATE_INTERVAL, DurabilityRisk, Store, now_or
from rhworker.store.sqlite_base import DEFAULT_BUSY_TIMEOUT, clock_micros
from rhworker.store.sqlite_controls import SqliteControls
from rhworker.store.sqlite_queue import SqliteQueue
from rhworker.store.sqlite_retention import SqliteRetention

LOG = logging.getLogger(__name__)

__all__ = ["DEFAULT_BUSY_TIMEOUT", "SqliteStore"]


SQLITE_PREFIX = "sqlite:///"


def sqlite_path(url: str) -> tuple[str, str]:
    """``(absolute path, query)`` of a SQLite store URL, with SQLAlchemy's meaning:
    ``sqlite:///relative/path`` is relative to the current directory,
    ``sqlite:////absolute/path`` is absolute."""
    if not url.startswith(SQLITE_PREFIX):
        raise ConfigError(
            f"not a sqlite store URL: {url!r} (use sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db)"
        )
    rest, _, query = url[len(SQLITE_PREFIX) :].partition("?")
    rest = unquote(rest)
    if not rest or rest.endswith("/"):
        raise ConfigError(f"not a sqlite URL with a file path: {url!r}")
    return os.path.abspath(rest), query


class SqliteStore(SqliteControls, SqliteQueue, SqliteRetention, Store):
    """Store on one SQLite file.

    URL: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``, with
    ``?busy_timeout=SECONDS&synchronous=full|normal``; the file's directory must
    exist (only the CLI creates the state directory of the embedded mode).
    """

    @classmethod
    def from_url(cls, url: str, *, create: bool = True) -> SqliteStore:
        """Open the store of ``url`` (SQLAlchemy's form, see :func:`sqlite_path`).

        The file's directory must exist. ``create=False`` (read-only commands) refuses
        a file that does not exist yet with :class:`StoreMissing` instead of creating
        an empty store."""
        path, query = sqlite_path(url)
        options = parse_qs(query)
        kwargs: dict[str, Any] = {}
        if "busy_timeout" in options:
            try:
                kwargs["busy_timeout"] = float(options["busy_timeout"][0])
            except ValueError as e:
                raise ConfigError(f"bad busy_timeout in {url!r}") from e
        if "synchronous" in options:
            kwargs["synchronous"] = options["synchronous"][0]
        if not os.path.exists(path):
            directory = os.path.dirname(path)
            if not create:
                raise StoreMissing(path)
            if not os.path.isdir(directory):
                raise StoreUnavailable(
                    f"cannot create the sqlite store {path}: directory {directory} does not exist"
                )
            try:
                _create_private(path)
            except OSError as e:
                raise StoreUnavailable(f"cannot create the sqlite store {path}: {e}") from e
        return cls(path, **kwargs)

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
            return self._write_segment(conn, name, clean)

    def update_segment_if_idle(self, name: str, **changes: Any) -> Segment:
        clean = validation.validate_changes("segment", changes)
        with self._tx() as conn:
            self._segment(conn, name)
            guards.refuse_if_in_use(conn, "segment", name, "updated")
            return self._write_segment(conn, name, clean)

    def _write_segment(self, conn: sqlite3.Connection, name: str, clean: dict) -> Segment:
        self._segment(conn, name)
        for field, value in clean.items():
            value = value.value if field == "recovery_method" else value
            value = int(value) if isinstance(value, bool) else value
            conn.execute(f"UPDATE segments SET {field} = ? WHERE name = ?", (value, name))
        return self._segment(conn, name)

    def delete_segment(self, name: str) -> None:
        with self._tx() as conn:
            self._drop_segment(conn, name)

    def delete_segment_if_idle(self, name: str) -> None:
        with self._tx() as conn:
            self._segment(conn, name)
            guards.refuse_if_in_use(conn, "segment", name, "deleted")
            self._drop_segment(conn, name)

    def _drop_segment(self, conn: sqlite3.Connection, name: str) -> None:
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
            return self._write_host(conn, name, clean)

    def update_host_if_idle(self, name: str, **changes: Any) -> Host:
        clean = validation.validate_changes("host", changes)
        with self._tx() as conn:
            self._host(conn, name)
            guards.refuse_if_in_use(conn, "host", name, "updated")
            return self._write_host(conn, name, clean)

    def _write_host(self, conn: sqlite3.Connection, name: str, clean: dict) -> Host:
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

    def delete_host_if_idle(self, name: str) -> None:
        with self._tx() as conn:
            self._host(conn, name)
            guards.refuse_if_in_use(conn, "host", name, "deleted")
            conn.execute("DELETE FROM hosts WHERE name = ?", (name,))

    def list_hosts(
        self,
        segment: str | None = None,
        reserved: bool | None = None,
        on_maintenance: bool | None = None,
    ) -> list[Host]:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
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
        notification = validation.prepare_notification(
            type, hostname, payload, generated_time, now=at
        )
        key = validation.dedup_key(notification.type, notification.hostname, notification.payload)
        with self._tx() as conn:
            host = self._host(conn, notification.hostname)
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
            if (
                host.on_maintenance
                and inuse.refused_on_maintenance(notification)
                and not guards.coming_back(conn, notification.hostname)
            ):
                raise inuse.on_maintenance(notification.hostname, notification.type.value)
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
            sqlite_brake.note_if_held(conn, notification.id, host.segment, at)
        return notification

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
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
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
                (new.value, now_or(now), reason, notification_id),
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
            epoch = self._next_epoch(conn)
            conn.execute(
                "UPDATE hosts SET reserved = 0, claimed_by = ?, claim_epoch = ? WHERE name = ?",
                (notification_id, epoch, host),
            )
            claims = json.loads(row["claims"]) + [{"host": host, "epoch": epoch}]
            conn.execute(
                "UPDATE notifications SET claims = ?, updated_at = ? WHERE id = ?",
                (schema.claims_data(claims), now_or(now), notification_id),
            )
        return Claim(host=host, notification_id=notification_id, epoch=epoch)

    def release_claim(
        self, notification_id: str, host: str, epoch: int, *, token: int, now: float | None = None
    ) -> None:
        with self._tx() as conn:
            self._guard(conn, notification_id, token)
            spare = self._host(conn, host)
            if spare.claimed_by != notification_id or spare.claim_epoch != epoch:
                raise ClaimLost(
                    f"claim on {host} (epoch {epoch}) is not current: held by "
                    f"{spare.claimed_by or 'nobody'} at epoch {spare.claim_epoch}"
                )
            if spare.on_maintenance:
                raise ClaimLost(f"{host} is on maintenance: not given back as a spare")
            conn.execute(
                "UPDATE hosts SET reserved = 1, claimed_by = NULL, claim_epoch = NULL "
                "WHERE name = ?",
                (host,),
            )
            conn.execute(
                "UPDATE notifications SET updated_at = ? WHERE id = ?",
                (now_or(now), notification_id),
            )

    @staticmethod
    def _next_epoch(conn: sqlite3.Connection) -> int:
        """The next claim epoch, inside the claim's transaction: the largest of the
        last one + 1 and the machine's clock in microseconds. The counter alone would
        go backwards if the file lost its last commits (a power cut with
        ``synchronous=normal``, a disk that lies about fsync, an older copy restored);
        the clock has moved on since (docs/safety.md, "Claims and epochs")."""
        last = conn.execute("SELECT value FROM counters WHERE name = 'claim_epoch'").fetchone()
        epoch = max((last[0] if last else 0) + 1, clock_micros())
        conn.execute(
            "INSERT INTO counters (name, value) VALUES ('claim_epoch', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (epoch,),
        )
        return epoch

    def check_claim(self, host: str, epoch: int, holder: str) -> bool:
        with self._tx(immediate=False) as conn:
            row = conn.execute(
                "SELECT claimed_by, claim_epoch FROM hosts WHERE name = ?", (host,)
            ).fetchone()
        return row is not None and row[1] is not None and row[1] == epoch and row[0] == holder


def _create_private(path: str) -> None:
    """Create the database file readable by its owner only (0600), whatever the umask;
    SQLite gives its -wal and -shm files the same mode. An existing file is left as is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
