"""Files, connections and transactions of the SQLite store, and the row look-ups that
every concern shares (a notification by id, with its history, behind its lease token)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from urllib.parse import unquote

from rhworker.errors import ConfigError, LeaseLost, NotFound, StoreError, StoreUnavailable
from rhworker.models import Notification
from rhworker.store.sqlite import schema

# Seconds a write waits for another process's transaction before giving up.
DEFAULT_BUSY_TIMEOUT = 15.0
# fsync every commit: a claim survives a power cut (NORMAL is ~3x faster, not as safe).
DEFAULT_SYNCHRONOUS = "full"
SYNCHRONOUS_MODES = ("full", "normal")

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


def create_private(path: str) -> None:
    """Create the database file readable by its owner only (0600), whatever the umask;
    SQLite gives its -wal and -shm files the same mode. An existing file is left as is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def clock_micros() -> int:
    """The machine's clock in microseconds: the floor of new claim epochs and lease
    tokens, so that they keep growing even if the file lost its last commits (a
    power cut, an older copy restored). See docs/safety.md, "Claims and epochs"."""
    return int(time.time() * 1_000_000)


def next_token(current: int) -> int:
    """The lease token after ``current``: never one handed out before, even by a
    version of the file that was lost."""
    return max(int(current) + 1, clock_micros())


def check_synchronous(synchronous: str) -> str:
    """``synchronous`` as the PRAGMA wants it (upper case), or ConfigError."""
    if synchronous.lower() not in SYNCHRONOUS_MODES:
        raise ConfigError(f"synchronous must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}")
    return synchronous.upper()


def connect(path: str, busy_timeout: float, synchronous: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, rows by name."""
    try:
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as e:
        raise StoreUnavailable(f"cannot open {path}: {e}") from e
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, path: str, immediate: bool) -> Iterator[None]:
    """One transaction on ``conn``; sqlite3 errors become StoreError / StoreUnavailable."""
    try:
        conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as e:
        text = str(e).lower()
        if "locked" in text or "busy" in text or "unable to open" in text:
            raise StoreUnavailable(f"sqlite store {path}: {e}") from e
        raise StoreError(f"sqlite store {path}: {e}") from e
    except sqlite3.Error as e:
        raise StoreError(f"sqlite store {path}: {e}") from e


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Create the tables (inside the caller's transaction); refuse a newer schema."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > schema.SCHEMA_VERSION:
        raise StoreError(
            f"{path}: schema version {version} is newer than this rhworker "
            f"({schema.SCHEMA_VERSION})"
        )
    for statement in schema.SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    schema.add_identifiers(conn)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")


def row(conn: sqlite3.Connection, notification_id: str) -> sqlite3.Row:
    found = conn.execute("SELECT * FROM notifications WHERE id = ?", (notification_id,))
    result: sqlite3.Row | None = found.fetchone()
    if result is None:
        raise NotFound(f"notification {notification_id!r} not found")
    return result


def notification(conn: sqlite3.Connection, of: sqlite3.Row) -> Notification:
    """The notification of the row ``of``, with its history."""
    steps = conn.execute(
        "SELECT data FROM steps WHERE notification_id = ? ORDER BY seq", (of["id"],)
    ).fetchall()
    return schema.notification_row(of, [schema.step_of(s[0]) for s in steps])


def notification_by_id(conn: sqlite3.Connection, notification_id: str) -> Notification:
    return notification(conn, row(conn, notification_id))


def guard(conn: sqlite3.Connection, notification_id: str, token: int | None) -> sqlite3.Row:
    """The row, after checking that ``token`` (if any) is the current lease token."""
    found = row(conn, notification_id)
    if token is not None and token != found["lease_token"]:
        raise LeaseLost(
            f"notification {notification_id}: lease token {token} is stale "
            f"(now {found['lease_token']}, held by {found['lease_owner']})"
        )
    return found
