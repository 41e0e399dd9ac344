"""History retention of the SQLite store: terminal notifications past the retention
are deleted with their steps, moves and dead letters, in bounded transactions. The
selection and the deletes are one ``BEGIN IMMEDIATE`` transaction per batch, so a
notification cannot change status or be claimed for between the check and the delete.
Deleting is idempotent: two processes pruning at once only do the same work twice."""

from __future__ import annotations

from rhworker.store import sqlite_schema as schema
from rhworker.store.base import now_or
from rhworker.store.sqlite_base import SqliteBase

# Notifications deleted per transaction (keeps the write lock short).
PRUNE_BATCH = 500

_SELECT = f"""
    SELECT id FROM notifications
    WHERE status IN ({", ".join("?" for _ in schema.TERMINAL)}) AND updated_at < ?
    AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until <= ?)
    AND NOT EXISTS (SELECT 1 FROM hosts WHERE hosts.claimed_by = notifications.id)
    ORDER BY updated_at LIMIT ?
"""


class SqliteRetention(SqliteBase):
    """prune_history."""

    def prune_history(
        self, older_than: float, *, limit: int | None = None, now: float | None = None
    ) -> int:
        at = now_or(now)
        pruned = 0
        while limit is None or pruned < limit:
            size = PRUNE_BATCH if limit is None else min(PRUNE_BATCH, limit - pruned)
            with self._tx() as conn:
                ids = [
                    r[0]
                    for r in conn.execute(
                        _SELECT, (*schema.TERMINAL, at - older_than, at, size)
                    ).fetchall()
                ]
                if not ids:
                    break
                marks = ", ".join("?" for _ in ids)
                for table, column in (
                    ("steps", "notification_id"),
                    ("moves", "notification_id"),
                    ("dead_letters", "notification_id"),
                    ("notifications", "id"),
                ):
                    conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", ids)
            pruned += len(ids)
        return pruned
