"""History retention of the SQLite store: terminal notifications past the retention
are deleted with their steps, moves and dead letters, in bounded transactions. The
selection and the deletes are one ``BEGIN IMMEDIATE`` transaction per batch (the
store runs :func:`prune_batch` in one), so a notification cannot change status or be
claimed for between the check and the delete. Deleting is idempotent: two processes
pruning at once only do the same work twice."""

from __future__ import annotations

import sqlite3

from rhworker.store.sqlite import schema

# Notifications deleted per transaction (keeps the write lock short).
PRUNE_BATCH = 500

_SELECT = f"""
    SELECT id FROM notifications
    WHERE status IN ({", ".join("?" for _ in schema.TERMINAL)}) AND updated_at < ?
    AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until <= ?)
    AND NOT EXISTS (SELECT 1 FROM hosts WHERE hosts.claimed_by = notifications.id)
    ORDER BY updated_at LIMIT ?
"""


def prune_batch(conn: sqlite3.Connection, cutoff: float, at: float, size: int) -> int:
    """Delete up to ``size`` terminal notifications last updated before ``cutoff``
    (and without a live lease or a claimed host); how many were deleted."""
    ids = [r[0] for r in conn.execute(_SELECT, (*schema.TERMINAL, cutoff, at, size)).fetchall()]
    if ids:
        marks = ", ".join("?" for _ in ids)
        for table, column in (
            ("steps", "notification_id"),
            ("moves", "notification_id"),
            ("dead_letters", "notification_id"),
            ("notifications", "id"),
        ):
            conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", ids)
    return len(ids)
