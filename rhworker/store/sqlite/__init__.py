"""The embedded store: one SQLite file shared by many processes on one machine.

WAL mode, a busy timeout, and ``BEGIN IMMEDIATE`` for every read-modify-write, so two
processes never interleave a check and its write (claims, hand-outs, intake with
duplicate refusal, guarded status changes). Each thread of each process gets its own
connection. Deliveries are lease columns on the notification row: nothing is deleted
on dequeue; an acknowledged notification keeps its row with ``acked = 1``.

Layout — the same for every backend (see also :mod:`rhworker.store.redis`), as tooz
drivers and dramatiq brokers keep one backend in one place: one Store class in
``store.py`` that owns the connections and opens one transaction per operation, and
hands the work to plain functions, one module per concern, that take the open
connection: ``inventory`` (segments, hosts), ``notifications`` (intake, listing,
status, steps, moves), ``claims``, ``queue`` (hand-out, leases, dead letters, stats),
``controls`` (pauses, retry, resolve), ``guards`` (in-use refusals), ``retention``;
``schema`` (tables, rows ↔ models) and ``connection`` (files, connections,
transactions) underneath. Functions rather than mixins: each concern can be read and
tested alone, and nothing depends on a method resolution order.
"""

from __future__ import annotations

from rhworker.store.sqlite.connection import DEFAULT_BUSY_TIMEOUT, sqlite_path
from rhworker.store.sqlite.store import SqliteStore

__all__ = ["DEFAULT_BUSY_TIMEOUT", "SqliteStore", "sqlite_path"]
