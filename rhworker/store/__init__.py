"""Store backends, chosen by URL scheme."""

from __future__ import annotations

from urllib.parse import urlsplit

from rhworker.errors import ConfigError
from rhworker.masking import mask_url
from rhworker.store.base import Store

__all__ = ["Store", "from_url"]


def from_url(url: str) -> Store:
    """``sqlite:///path/to.db`` or ``redis://[:password@]host:port/db?prefix=...``
    (``rediss://`` for TLS)."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from rhworker.store.sqlite import SqliteStore

        return SqliteStore.from_url(url)
    if scheme in ("redis", "rediss"):
        from rhworker.store.redis import RedisStore

        return RedisStore.from_url(url)
    raise ConfigError(
        f"unsupported store URL scheme {scheme!r} in {mask_url(url)!r} (use sqlite:// or redis://)"
    )
