"""The mass-failure brake in the SQLite store's hand-out (see :mod:`rhworker.brake`).

Runs inside the hand-out's ``BEGIN IMMEDIATE`` transaction: counting, deciding,
pausing and writing the history steps are one atomic step with the hand-out itself.
An operator's resume of a scope is kept in ``counters`` as ``brake_resumed:<segment>``
(``''`` = all) in microseconds: reports accepted before it are not checked again.
"""

from __future__ import annotations

import json
import sqlite3

from rhworker import brake
from rhworker.models import PauseInfo, Step
from rhworker.store.sqlite import schema

RESUMED = "brake_resumed:"

_OPEN = "('new', 'running', 'error')"
_STOPPED = "n.type = 'COMPUTE_HOST' AND json_extract(n.payload, '$.event') = 'STOPPED'"


def record_resume(conn: sqlite3.Connection, segment: str, at: float) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)",
        (RESUMED + segment, int(at * 1_000_000)),
    )


def _resumed(conn: sqlite3.Connection, segment: str) -> float:
    row = conn.execute("SELECT value FROM counters WHERE name = ?", (RESUMED + segment,))
    found = row.fetchone()
    return found[0] / 1_000_000 if found else float("-inf")


def trip_if_passed(
    conn: sqlite3.Connection, row: sqlite3.Row, limits: brake.BrakeLimits, at: float
) -> bool:
    """Check the first hand-out of ``row``; on a trip, pause and record (True)."""
    if not limits.enabled or row["attempts"] != 0:
        return False
    if not brake.is_failure_report(row["type"], json.loads(row["payload"])):
        return False
    found = conn.execute("SELECT segment FROM hosts WHERE name = ?", (row["hostname"],))
    segment_row = found.fetchone()
    segment = segment_row[0] if segment_row else None
    released_all = row["created_at"] <= _resumed(conn, schema.GLOBAL_PAUSE)
    failed, hosts = _segment_counts(conn, segment)
    recent = conn.execute(
        f"SELECT COUNT(DISTINCT n.hostname) FROM notifications n WHERE {_STOPPED} "
        "AND n.created_at > ?",
        (at - limits.window,),
    ).fetchone()[0]
    trip = brake.decide(
        limits,
        segment=segment,
        failed=failed,
        hosts=hosts,
        recent=recent,
        check_segment=not released_all
        and segment is not None
        and row["created_at"] > _resumed(conn, segment),
        check_cloud=not released_all,
    )
    if trip is None:
        return False
    _pause(conn, trip, at)
    return True


def _segment_counts(conn: sqlite3.Connection, segment: str | None) -> tuple[int, int]:
    """(hosts with open failure reports, hosts) of ``segment``."""
    if segment is None:
        return 0, 0
    hosts = conn.execute("SELECT COUNT(*) FROM hosts WHERE segment = ?", (segment,))
    total = int(hosts.fetchone()[0])
    failed = conn.execute(
        "SELECT COUNT(DISTINCT n.hostname) FROM notifications n JOIN hosts h "
        f"ON h.name = n.hostname WHERE h.segment = ? AND n.status IN {_OPEN} AND {_STOPPED}",
        (segment,),
    )
    return int(failed.fetchone()[0]), total


def _pause(conn: sqlite3.Connection, trip: brake.Trip, at: float) -> None:
    key = schema.GLOBAL_PAUSE if trip.scope is None else trip.scope
    conn.execute(
        "INSERT OR REPLACE INTO pauses (segment, paused_by, reason, at) VALUES (?, ?, ?, ?)",
        (key, trip.by, trip.reason, at),
    )
    step = Step(
        at=at,
        name=brake.STEP,
        worker=trip.by,
        message=brake.step_message(trip),
        detail={"threshold": trip.threshold, "segment": trip.scope},
    )
    scope = (
        "" if trip.scope is None else "AND hostname IN (SELECT name FROM hosts WHERE segment = ?)"
    )
    params: tuple[object, ...] = (schema.step_data(step),)
    if trip.scope is not None:
        params += (trip.scope,)
    conn.execute(
        "INSERT INTO steps (notification_id, data) SELECT id, ? FROM notifications "
        f"WHERE acked = 0 AND status IN ('new', 'error') {scope} ORDER BY seq",
        params,
    )


def note_if_held(conn: sqlite3.Connection, notification_id: str, segment: str, at: float) -> None:
    """At intake: when a pause holds the new notification, say so in its history."""
    rows = conn.execute(
        "SELECT * FROM pauses WHERE segment IN (?, ?)", (schema.GLOBAL_PAUSE, segment)
    ).fetchall()
    pauses = {
        (None if r["segment"] == schema.GLOBAL_PAUSE else r["segment"]): PauseInfo(
            segment=None if r["segment"] == schema.GLOBAL_PAUSE else r["segment"],
            by=r["paused_by"],
            reason=r["reason"],
            at=r["at"],
        )
        for r in rows
    }
    pause = brake.holding(pauses, segment)
    if pause is not None:
        conn.execute(
            "INSERT INTO steps (notification_id, data) VALUES (?, ?)",
            (notification_id, schema.step_data(brake.held_step(pause, at))),
        )
