"""SQLite schema of the embedded store and row ↔ model conversions."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable
from typing import Any

from rhworker import codec
from rhworker.models import (
    ClaimRecord,
    Host,
    Move,
    Notification,
    NotificationStatus,
    NotificationType,
    Progress,
    RecoveryMethod,
    Segment,
    Step,
)

# Bumped when the schema changes; stored in PRAGMA user_version.
SCHEMA_VERSION = 4  # 4: uuid and id of segments and hosts (Masakari's identifiers)

SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    name TEXT PRIMARY KEY,
    recovery_method TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    service_type TEXT NOT NULL,
    description TEXT NOT NULL,
    uuid TEXT,
    id INTEGER
);
CREATE TABLE IF NOT EXISTS hosts (
    name TEXT PRIMARY KEY,
    segment TEXT NOT NULL REFERENCES segments(name),
    type TEXT NOT NULL,
    control_attributes TEXT NOT NULL,
    reserved INTEGER NOT NULL,
    on_maintenance INTEGER NOT NULL,
    position INTEGER NOT NULL,
    claimed_by TEXT,
    claim_epoch INTEGER,
    uuid TEXT,
    id INTEGER
);
CREATE INDEX IF NOT EXISTS hosts_by_segment ON hosts(segment, position, name);
CREATE TABLE IF NOT EXISTS notifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    hostname TEXT NOT NULL,
    payload TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    generated_time REAL NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    lease_token INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    acked INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    claims TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS notifications_dedup ON notifications(dedup_key, created_at);
CREATE INDEX IF NOT EXISTS notifications_queue ON notifications(acked, status, seq);
CREATE INDEX IF NOT EXISTS notifications_created ON notifications(created_at, seq);
CREATE INDEX IF NOT EXISTS notifications_by_host ON notifications(hostname, status);
CREATE INDEX IF NOT EXISTS notifications_by_status ON notifications(status, created_at, seq);
CREATE INDEX IF NOT EXISTS notifications_finished ON notifications(status, updated_at);
CREATE TABLE IF NOT EXISTS steps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS steps_by_notification ON steps(notification_id, seq);
CREATE TABLE IF NOT EXISTS moves (
    notification_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (notification_id, instance_id)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    notification_id TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('claim_epoch', 0);
INSERT OR IGNORE INTO counters (name, value) VALUES ('segment_id', 0);
INSERT OR IGNORE INTO counters (name, value) VALUES ('host_id', 0);
CREATE TABLE IF NOT EXISTS pauses (
    segment TEXT PRIMARY KEY,
    paused_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
"""

TERMINAL = tuple(s.value for s in NotificationStatus if s.terminal)

# A notification that can be handed out now (parameters: now, now).
READY = """
    acked = 0
    AND status NOT IN ('finished', 'ignored', 'failed')
    AND (lease_owner IS NULL OR lease_until <= ?)
    AND (status != 'error' OR next_attempt_at IS NULL OR next_attempt_at <= ?)
"""

# Global pause row key in ``pauses`` (a segment name is never empty).
GLOBAL_PAUSE = ""

# Not to be handed out: a global pause, or the host's segment is paused.
PAUSED = f"""
    (EXISTS (SELECT 1 FROM pauses WHERE segment = '{GLOBAL_PAUSE}')
     OR hostname IN (SELECT h.name FROM hosts h JOIN pauses p ON p.segment = h.segment))
"""


def where(conditions: Iterable[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """A WHERE clause of the ``(condition, value)`` pairs whose value is not None, and
    its arguments (booleans as 0/1): ``[("status = ?", "new"), ("type = ?", None)]`` →
    ``("1 = 1 AND status = ?", ["new"])``."""
    clauses, args = ["1 = 1"], []
    for clause, value in conditions:
        if value is not None:
            clauses.append(clause)
            args.append(int(value) if isinstance(value, bool) else value)
    return " AND ".join(clauses), args


def segment_row(row: sqlite3.Row) -> Segment:
    return Segment(
        name=row["name"],
        recovery_method=RecoveryMethod(row["recovery_method"]),
        enabled=bool(row["enabled"]),
        service_type=row["service_type"],
        description=row["description"],
        uuid=row["uuid"] or "",
        id=row["id"] or 0,
    )


def host_row(row: sqlite3.Row) -> Host:
    return Host(
        name=row["name"],
        segment=row["segment"],
        type=row["type"],
        control_attributes=row["control_attributes"],
        reserved=bool(row["reserved"]),
        on_maintenance=bool(row["on_maintenance"]),
        position=row["position"],
        claimed_by=row["claimed_by"],
        claim_epoch=row["claim_epoch"],
        uuid=row["uuid"] or "",
        id=row["id"] or 0,
    )


def notification_row(row: sqlite3.Row, steps: list[Step]) -> Notification:
    claims = [ClaimRecord(host=c["host"], epoch=c["epoch"]) for c in json.loads(row["claims"])]
    return Notification(
        id=row["id"],
        type=NotificationType(row["type"]),
        hostname=row["hostname"],
        payload=json.loads(row["payload"]),
        generated_time=row["generated_time"],
        status=NotificationStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        attempts=row["attempts"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        lease_token=row["lease_token"],
        next_attempt_at=row["next_attempt_at"],
        progress=Progress(steps=steps, claims=claims, reason=row["reason"]),
        seq=row["seq"],
    )


def step_data(step: Step) -> str:
    return codec.dumps(step)


def step_of(data: str) -> Step:
    return codec.step_from_dict(json.loads(data))


def move_data(move: Move) -> str:
    return codec.dumps(move)


def move_of(data: str) -> Move:
    return codec.move_from_dict(json.loads(data))


def claims_data(claims: list[dict[str, Any]]) -> str:
    return json.dumps(claims, separators=(",", ":"))


# Tables whose rows carry Masakari's identifiers, with the counter of their ``id``.
IDENTIFIED = {"segments": "segment_id", "hosts": "host_id"}


def next_id(conn: sqlite3.Connection, table: str) -> int:
    """The next integer ``id`` of ``table`` (never reused, like an autoincrement)."""
    counter = IDENTIFIED[table]
    conn.execute("UPDATE counters SET value = value + 1 WHERE name = ?", (counter,))
    return int(conn.execute("SELECT value FROM counters WHERE name = ?", (counter,)).fetchone()[0])


def add_identifiers(conn: sqlite3.Connection) -> None:
    """Schema 4: give segments and hosts of an older store their ``uuid`` and ``id``
    (inside the caller's transaction; a no-op once done)."""
    for table in IDENTIFIED:
        columns = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
        for column, kind in (("uuid", "TEXT"), ("id", "INTEGER")):
            if column not in columns:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        missing = conn.execute(f"SELECT name FROM {table} WHERE uuid IS NULL ORDER BY name")
        for (name,) in missing.fetchall():
            conn.execute(
                f"UPDATE {table} SET uuid = ?, id = ? WHERE name = ?",
                (str(uuid.uuid4()), next_id(conn, table), name),
            )
        conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_uuid ON {table}(uuid)")
