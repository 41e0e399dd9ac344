"""The SQLite side of :mod:`rhworker.store.inuse`: is a host (or a segment's host) in
use by a recovery? Called inside the caller's ``BEGIN IMMEDIATE`` transaction, so the
answer still holds when the caller writes."""

from __future__ import annotations

import json
import sqlite3

from rhworker.store.inuse import ACTIVE_STATUSES, about, holding, in_use, is_return

_MARKS = ", ".join("?" for _ in ACTIVE_STATUSES)
# (host, notification, status, why) for the hosts selected by {where}: notifications
# about the host that have not ended, then notifications holding its claim.
_IN_USE = f"""
SELECT h.name, n.id, n.status, 'about' FROM hosts h
  JOIN notifications n ON n.hostname = h.name
  WHERE {{where}} AND n.status IN ({_MARKS})
UNION ALL
SELECT h.name, n.id, n.status, 'holding' FROM hosts h
  JOIN notifications n ON n.id = h.claimed_by
  WHERE {{where}} AND n.status IN ({_MARKS})
LIMIT 1
"""
_WHERE = {"host": "h.name = ?", "segment": "h.segment = ?"}


def refuse_if_in_use(conn: sqlite3.Connection, kind: str, name: str, action: str) -> None:
    """Raise ``InUse`` if the host ``name`` (kind 'host') or a host of the segment
    ``name`` (kind 'segment') is in use by a recovery that has not ended."""
    query = _IN_USE.format(where=_WHERE[kind])
    row = conn.execute(query, (name, *ACTIVE_STATUSES, name, *ACTIVE_STATUSES)).fetchone()
    if row is not None:
        host, notification_id, status, why = row
        detail = (about if why == "about" else holding)(host, notification_id, status)
        raise in_use(kind, name, action, detail)


def coming_back(conn: sqlite3.Connection, hostname: str) -> bool:
    """Whether the host's latest notification says it STARTED again (a restore)."""
    row = conn.execute(
        "SELECT type, payload FROM notifications WHERE hostname = ? ORDER BY seq DESC LIMIT 1",
        (hostname,),
    ).fetchone()
    return row is not None and is_return(row[0], json.loads(row[1]))


__all__ = ["coming_back", "refuse_if_in_use"]
