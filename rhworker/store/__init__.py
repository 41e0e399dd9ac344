"""Store backends, chosen by URL scheme."""

from __future__ import annotations

from urllib.parse import urlsplit

from rhworker.errors import ConfigError
from rhworker.masking import mask_url
from rhworker.store.base import Store

__all__ = ["Store", "from_url"]


def from_url(url: str, *, create: bool = True) -> Store:
    """``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (SQLAlchemy's
    meaning) or ``redis://[:password@]host:port/db?prefix=...`` (``rediss://`` for
    TLS). ``create=False`` (commands that only read) raises
    :class:`~rhworker.errors.StoreMissing` rather than create an empty SQLite store;
    a Redis store always exists once the server answers."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from rhworker.store.sqlite import SqliteStore

        return SqliteStore.from_url(url, create=create)
    if scheme in ("redis", "rediss"):
        from rhworker.store.redis import RedisStore

        return RedisStore.from_url(url)
    raise ConfigError(
        f"unsupported store URL scheme {scheme!r} in {mask_url(url)!r} (use sqlite:// or redis://)"
    )
