"""Segments and hosts of the SQLite store: functions of a connection inside the
caller's transaction (values already validated)."""

from __future__ import annotations

import sqlite3
import uuid

from rhworker.errors import AlreadyExists, Conflict, NotFound
from rhworker.models import Host, Segment
from rhworker.store.sqlite import schema


def create_segment(conn: sqlite3.Connection, segment: Segment) -> None:
    if conn.execute("SELECT 1 FROM segments WHERE name = ?", (segment.name,)).fetchone():
        raise AlreadyExists(f"segment {segment.name!r} already exists")
    segment.uuid = segment.uuid or str(uuid.uuid4())
    segment.id = schema.next_id(conn, "segments")
    conn.execute(
        "INSERT INTO segments (name, recovery_method, enabled, service_type, description, "
        "uuid, id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            segment.name,
            segment.recovery_method.value,
            int(segment.enabled),
            segment.service_type,
            segment.description,
            segment.uuid,
            segment.id,
        ),
    )


def segment(conn: sqlite3.Connection, name: str) -> Segment:
    row = conn.execute("SELECT * FROM segments WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"segment {name!r} not found")
    return schema.segment_row(row)


def write_segment(conn: sqlite3.Connection, name: str, clean: dict) -> Segment:
    segment(conn, name)
    for field, value in clean.items():
        value = value.value if field == "recovery_method" else value
        value = int(value) if isinstance(value, bool) else value
        conn.execute(f"UPDATE segments SET {field} = ? WHERE name = ?", (value, name))
    return segment(conn, name)


def drop_segment(conn: sqlite3.Connection, name: str) -> None:
    segment(conn, name)
    hosts = conn.execute("SELECT COUNT(*) FROM hosts WHERE segment = ?", (name,)).fetchone()[0]
    if hosts:
        raise Conflict(f"segment {name!r} still has {hosts} host(s)")
    conn.execute("DELETE FROM segments WHERE name = ?", (name,))


def list_segments(conn: sqlite3.Connection) -> list[Segment]:
    rows = conn.execute("SELECT * FROM segments ORDER BY name").fetchall()
    return [schema.segment_row(r) for r in rows]


def create_host(conn: sqlite3.Connection, new: Host) -> Host:
    """Insert ``new``; a position of 0 appends it to its segment."""
    segment(conn, new.segment)
    existing = conn.execute("SELECT segment FROM hosts WHERE name = ?", (new.name,)).fetchone()
    if existing is not None:
        raise AlreadyExists(f"host {new.name!r} already exists in segment {existing[0]!r}")
    if new.position == 0:
        last = conn.execute(
            "SELECT COALESCE(MAX(position), 0) FROM hosts WHERE segment = ?", (new.segment,)
        ).fetchone()[0]
        new.position = last + 1
    new.uuid = new.uuid or str(uuid.uuid4())
    new.id = schema.next_id(conn, "hosts")
    conn.execute(
        "INSERT INTO hosts (name, segment, type, control_attributes, reserved, "
        "on_maintenance, position, claimed_by, claim_epoch, uuid, id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new.name,
            new.segment,
            new.type,
            new.control_attributes,
            int(new.reserved),
            int(new.on_maintenance),
            new.position,
            new.claimed_by,
            new.claim_epoch,
            new.uuid,
            new.id,
        ),
    )
    return new


def host(conn: sqlite3.Connection, name: str) -> Host:
    row = conn.execute("SELECT * FROM hosts WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"host {name!r} not found")
    return schema.host_row(row)


def write_host(conn: sqlite3.Connection, name: str, clean: dict) -> Host:
    host(conn, name)
    for field, value in clean.items():
        value = int(value) if isinstance(value, bool) else value
        conn.execute(f"UPDATE hosts SET {field} = ? WHERE name = ?", (value, name))
    if clean.get("reserved") is True:
        conn.execute(
            "UPDATE hosts SET claimed_by = NULL, claim_epoch = NULL WHERE name = ?", (name,)
        )
    return host(conn, name)


def drop_host(conn: sqlite3.Connection, name: str) -> None:
    host(conn, name)
    conn.execute("DELETE FROM hosts WHERE name = ?", (name,))


def list_hosts(
    conn: sqlite3.Connection,
    segment: str | None,
    reserved: bool | None,
    on_maintenance: bool | None,
) -> list[Host]:
    clause, args = schema.where(
        [
            ("segment = ?", segment),
            ("reserved = ?", reserved),
            ("on_maintenance = ?", on_maintenance),
        ]
    )
    query = f"SELECT * FROM hosts WHERE {clause} ORDER BY segment, position, name"
    return [schema.host_row(r) for r in conn.execute(query, args).fetchall()]
