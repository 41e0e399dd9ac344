"""Notifications of the SQLite store — intake with duplicate refusal, listing, guarded
status changes, history steps and moves — as functions of a connection inside the
caller's transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from rhworker.errors import Conflict, DuplicateNotification
from rhworker.models import Move, Notification, NotificationStatus, Step
from rhworker.store import inuse
from rhworker.store.sqlite import brake, guards, inventory, schema
from rhworker.store.sqlite.connection import guard, notification, notification_by_id, row


def intake(
    conn: sqlite3.Connection, n: Notification, key: str, dedup_interval: float, at: float
) -> None:
    """Insert the prepared notification ``n`` (dedup fingerprint ``key``) unless the
    same one came within ``dedup_interval`` or its host refuses it (maintenance)."""
    host = inventory.host(conn, n.hostname)
    duplicate = conn.execute(
        "SELECT id FROM notifications WHERE dedup_key = ? AND created_at >= ? "
        "ORDER BY seq DESC LIMIT 1",
        (key, at - dedup_interval),
    ).fetchone()
    if duplicate is not None:
        raise DuplicateNotification(
            f"the same {n.type.value} notification for host {n.hostname} was received "
            f"within {dedup_interval:g} s: {duplicate[0]}",
            existing_id=duplicate[0],
        )
    if (
        host.on_maintenance
        and inuse.refused_on_maintenance(n)
        and not guards.coming_back(conn, n.hostname)
    ):
        raise inuse.on_maintenance(n.hostname, n.type.value)
    inserted = conn.execute(
        "INSERT INTO notifications (id, type, hostname, payload, dedup_key, "
        "generated_time, status, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            n.id,
            n.type.value,
            n.hostname,
            json.dumps(n.payload, sort_keys=True),
            key,
            n.generated_time,
            n.status.value,
            at,
            at,
        ),
    )
    n.seq = int(inserted.lastrowid or 0)
    brake.note_if_held(conn, n.id, host.segment, at)


def listed(
    conn: sqlite3.Connection,
    status: NotificationStatus | None,
    hostname: str | None,
    type: str | None,
    since: float | None,
    limit: int | None,
    marker: str | None,
) -> list[Notification]:
    """Newest first, filtered; ``marker`` is the last id of the previous page."""
    conditions: list[tuple[str, Any]] = [
        ("status = ?", None if status is None else NotificationStatus(status).value),
        ("hostname = ?", hostname),
        ("type = ?", None if type is None else str(getattr(type, "value", type))),
        ("generated_time >= ?", since),
    ]
    clause, args = schema.where(conditions)
    if marker is not None:
        mark = row(conn, marker)
        clause += " AND (created_at < ? OR (created_at = ? AND seq < ?))"
        args += [mark["created_at"], mark["created_at"], mark["seq"]]
    query = f"SELECT * FROM notifications WHERE {clause} ORDER BY created_at DESC, seq DESC"
    if limit is not None:
        query += " LIMIT ?"
        args.append(int(limit))
    return [notification(conn, r) for r in conn.execute(query, args).fetchall()]


def set_status(
    conn: sqlite3.Connection,
    notification_id: str,
    new: NotificationStatus,
    expected: Iterable[NotificationStatus],
    token: int | None,
    reason: str | None,
    at: float,
) -> Notification:
    allowed = {NotificationStatus(s) for s in expected}
    current = NotificationStatus(guard(conn, notification_id, token)["status"])
    if current not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise Conflict(
            f"notification {notification_id} is {current.value}, expected one of {names}"
        )
    conn.execute(
        "UPDATE notifications SET status = ?, updated_at = ?, "
        "reason = COALESCE(?, reason) WHERE id = ?",
        (NotificationStatus(new).value, at, reason, notification_id),
    )
    return notification_by_id(conn, notification_id)


def add_step(conn: sqlite3.Connection, notification_id: str, step: Step, token: int | None) -> None:
    guard(conn, notification_id, token)
    conn.execute(
        "INSERT INTO steps (notification_id, data) VALUES (?, ?)",
        (notification_id, schema.step_data(step)),
    )


def upsert_move(conn: sqlite3.Connection, move: Move, token: int | None) -> None:
    guard(conn, move.notification_id, token)
    conn.execute(
        "INSERT INTO moves (notification_id, instance_id, data) VALUES (?, ?, ?) "
        "ON CONFLICT (notification_id, instance_id) DO UPDATE SET data = excluded.data",
        (move.notification_id, move.instance_id, schema.move_data(move)),
    )


def list_moves(conn: sqlite3.Connection, notification_id: str) -> list[Move]:
    rows = conn.execute(
        "SELECT data FROM moves WHERE notification_id = ? ORDER BY rowid", (notification_id,)
    ).fetchall()
    return [schema.move_of(r[0]) for r in rows]
