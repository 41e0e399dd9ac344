"""Connections and transactions of the SQLite store (see ``rhworker.store.sqlite``)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator

from rhworker.errors import ConfigError, LeaseLost, NotFound, StoreError, StoreUnavailable
from rhworker.models import Notification
from rhworker.store import sqlite_schema as schema

# Seconds a write waits for another process's transaction before giving up.
DEFAULT_BUSY_TIMEOUT = 15.0
# fsync every commit: a claim survives a power cut (NORMAL is ~3x faster, not as safe).
DEFAULT_SYNCHRONOUS = "full"
SYNCHRONOUS_MODES = ("full", "normal")


def clock_micros() -> int:
    """The machine's clock in microseconds: the floor of new claim epochs and lease
    tokens, so that they keep growing even if the file lost its last commits (a
    power cut, an older copy restored). See docs/safety.md, "Claims and epochs"."""
    return int(time.time() * 1_000_000)


def next_token(current: int) -> int:
    """The lease token after ``current``: never one handed out before, even by a
    version of the file that was lost."""
    return max(int(current) + 1, clock_micros())


class SqliteBase:
    """One connection per thread (and per process after a fork); ``_tx`` runs one
    transaction, ``BEGIN IMMEDIATE`` by default, translating sqlite3 errors."""

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        synchronous: str = DEFAULT_SYNCHRONOUS,
    ) -> None:
        if synchronous.lower() not in SYNCHRONOUS_MODES:
            raise ConfigError(
                f"synchronous must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}"
            )
        self.path = path
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous.upper()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        if self._schema_version() == schema.SCHEMA_VERSION:
            return  # up to date: no write lock needed (others may hold it)
        with self._tx() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > schema.SCHEMA_VERSION:
                raise StoreError(
                    f"{path}: schema version {version} is newer than this rhworker "
                    f"({schema.SCHEMA_VERSION})"
                )
            for statement in schema.SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")

    def _schema_version(self) -> int:
        try:
            return int(self._conn().execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error as e:
            raise StoreUnavailable(f"sqlite store {self.path}: {e}") from e

    # -- connections and transactions ----------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        pid = getattr(self._local, "pid", None)
        if conn is not None and pid == os.getpid():
            return conn
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as e:
            raise StoreUnavailable(f"cannot open {self.path}: {e}") from e
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._all_lock:
            self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _tx(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; sqlite3 errors become StoreError / StoreUnavailable."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as e:
            text = str(e).lower()
            if "locked" in text or "busy" in text or "unable to open" in text:
                raise StoreUnavailable(f"sqlite store {self.path}: {e}") from e
            raise StoreError(f"sqlite store {self.path}: {e}") from e
        except sqlite3.Error as e:
            raise StoreError(f"sqlite store {self.path}: {e}") from e

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
            self._closed = True
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _row(self, conn: sqlite3.Connection, notification_id: str) -> sqlite3.Row:
        row = conn.execute(
            "SELECT * FROM notifications WHERE id = ?", (notification_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"notification {notification_id!r} not found")
        return row

    def _notification(self, conn: sqlite3.Connection, row: sqlite3.Row) -> Notification:
        """The notification of ``row``, with its history."""
        steps = conn.execute(
            "SELECT data FROM steps WHERE notification_id = ? ORDER BY seq", (row["id"],)
        ).fetchall()
        return schema.notification_row(row, [schema.step_of(s[0]) for s in steps])

    def _guard(
        self, conn: sqlite3.Connection, notification_id: str, token: int | None
    ) -> sqlite3.Row:
        """The row, after checking that ``token`` (if any) is the current lease token."""
        row = self._row(conn, notification_id)
        if token is not None and token != row["lease_token"]:
            raise LeaseLost(
                f"notification {notification_id}: lease token {token} is stale "
                f"(now {row['lease_token']}, held by {row['lease_owner']})"
            )
        return row
