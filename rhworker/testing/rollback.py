"""Store rollback for tests and the chaos runner: the store loses its last writes.

:func:`snapshot` copies a store's whole content now; :meth:`Snapshot.restore` puts it
back while workers keep running, as a store that lost acknowledged writes would look
to them: Redis after a crash with ``appendfsync everysec``, a promoted replica that
lagged, or an older SQLite file restored after a power cut.

* Redis: ``DUMP`` of every key of the deployment's prefix; the restore deletes the
  prefix's current keys and ``RESTORE``\\ s the dumped ones in one ``MULTI``/``EXEC``
  (streams keep their consumer group and pending entries as they were).
* SQLite: SQLite's online backup into a file; the restore backs that file up *into*
  the live database through a normal connection (a write under SQLite's own locks,
  so that open connections see the older content at their next transaction).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import tempfile
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from rhworker.store.redis import DEFAULT_PREFIX


@dataclasses.dataclass
class Snapshot:
    url: str
    keys: dict[bytes, bytes] | None = None  # Redis: key → DUMP payload
    ttls: dict[bytes, int] | None = None  # Redis: key → PTTL (ms), 0 = none
    path: str | None = None  # SQLite: the backup file

    def restore(self) -> int:
        """Put the snapshot back; returns how many keys (Redis) or pages (SQLite)."""
        if self.path is not None:
            return _sqlite_restore(self.url, self.path)
        return _redis_restore(self.url, self.keys or {}, self.ttls or {})

    def discard(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def snapshot(url: str) -> Snapshot:
    """The store at ``url`` as it is now."""
    if urlsplit(url).scheme == "sqlite":
        return Snapshot(url, path=_sqlite_snapshot(url))
    keys, ttls = _redis_snapshot(url)
    return Snapshot(url, keys=keys, ttls=ttls)


# -- SQLite ------------------------------------------------------------------------------


def _sqlite_path(url: str) -> str:
    from rhworker.store.sqlite import sqlite_path

    return sqlite_path(url)[0]


def _sqlite_snapshot(url: str) -> str:
    fd, path = tempfile.mkstemp(prefix="rhworker-snapshot-", suffix=".db")
    os.close(fd)
    live = sqlite3.connect(_sqlite_path(url), timeout=30)
    copy = sqlite3.connect(path)
    try:
        live.backup(copy)
    finally:
        copy.close()
        live.close()
    return path


def _sqlite_restore(url: str, path: str) -> int:
    copy = sqlite3.connect(path)
    live = sqlite3.connect(_sqlite_path(url), timeout=30)
    try:
        copy.backup(live)
        return int(live.execute("PRAGMA page_count").fetchone()[0])
    finally:
        live.close()
        copy.close()


# -- Redis -------------------------------------------------------------------------------


def _redis_client(url: str) -> tuple[Any, str]:
    import redis

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    prefix = query.get("prefix", DEFAULT_PREFIX)
    bare = parts._replace(query="").geturl()
    return redis.Redis.from_url(bare), prefix


def _redis_snapshot(url: str) -> tuple[dict[bytes, bytes], dict[bytes, int]]:
    client, prefix = _redis_client(url)
    try:
        names = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        with client.pipeline(transaction=True) as pipe:
            for name in names:
                pipe.dump(name)
                pipe.pttl(name)
            out = pipe.execute()
    finally:
        client.close()
    keys: dict[bytes, bytes] = {}
    ttls: dict[bytes, int] = {}
    for i, name in enumerate(names):
        payload, ttl = out[2 * i], out[2 * i + 1]
        if payload is not None:
            keys[name] = payload
            ttls[name] = max(int(ttl), 0)
    return keys, ttls


def _redis_restore(url: str, keys: dict[bytes, bytes], ttls: dict[bytes, int]) -> int:
    client, prefix = _redis_client(url)
    try:
        current = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        with client.pipeline(transaction=True) as pipe:
            if current:
                pipe.delete(*current)
            for name, payload in keys.items():
                pipe.restore(name, ttls.get(name, 0), payload, replace=True)
            pipe.execute()
    finally:
        client.close()
    return len(keys)


__all__ = ["Snapshot", "snapshot"]
