"""Connection plumbing of the Redis store: URL parsing, version check, error translation."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.exceptions

from rhworker.errors import (
    AlreadyExists,
    ClaimLost,
    ConfigError,
    Conflict,
    DuplicateNotification,
    HostOnMaintenance,
    InUse,
    LeaseLost,
    NotFound,
    StoreError,
    StoreUnavailable,
)
from rhworker.masking import mask_text, mask_url

LOG = logging.getLogger(__name__)

# Key prefix when the URL has no ?prefix=.
DEFAULT_PREFIX = "rhworker"
# Oldest Redis with the stream commands the store uses (exclusive XRANGE bounds, XCLAIM).
MIN_REDIS_VERSION = (6, 2)
# Socket timeouts (seconds); blocking reads are kept well below them.
DEFAULT_SOCKET_TIMEOUT = 5.0
# Seconds between PINGs on an idle pooled connection before it is reused.
HEALTH_CHECK_INTERVAL = 30

# Error codes returned by the Lua scripts ("CODE message") → rhworker errors.
SCRIPT_ERRORS: dict[str, type[StoreError]] = {
    "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": AlreadyExists,
    "CONFLICT": Conflict,
    "LEASE_LOST": LeaseLost,
    "CLAIM_LOST": ClaimLost,
    "IN_USE": InUse,
    "ON_MAINTENANCE": HostOnMaintenance,
}


def parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_version(info: dict[str, Any], where: str) -> None:
    """Refuse a server older than :data:`MIN_REDIS_VERSION` with a clear message."""
    version = str(info.get("redis_version", "0"))
    if parse_version(version) < MIN_REDIS_VERSION:
        need = ".".join(map(str, MIN_REDIS_VERSION))
        raise StoreError(
            f"redis store {where}: Redis {version} is too old; rhworker needs Redis >= {need} "
            "(stream consumer groups with XCLAIM and exclusive XRANGE bounds)"
        )


def check_server(client: redis.Redis, where: str) -> None:
    """Refuse a server too old (:func:`check_version`); warn when it may evict keys."""
    check_version(cast(dict[str, Any], client.info("server")), where)
    memory = cast(dict[str, Any], client.info("memory"))
    policy = memory.get("maxmemory_policy", "noeviction")
    if policy != "noeviction" and memory.get("maxmemory"):
        LOG.warning(
            "redis store %s: maxmemory-policy is %s; evicted keys lose notifications and "
            "claims (use noeviction)",
            where,
            policy,
        )


def connect(url: str) -> tuple[redis.Redis, str, str]:
    """``redis://[:password@]host:port/db?prefix=NAME`` (``rediss://`` for TLS) →
    (client, prefix, where). Other query options are passed on to redis-py."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigError(f"not a redis URL: {mask_url(url)!r}")
    prefix = DEFAULT_PREFIX
    rest = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "prefix":
            prefix = value
        else:
            rest.append((key, value))
    if not prefix or any(ch in prefix for ch in " {}\n"):
        raise ConfigError(f"bad prefix {prefix!r} in the store URL")
    bare = urlunsplit(parts._replace(query=urlencode(rest)))
    try:
        client = redis.Redis.from_url(
            bare,
            decode_responses=True,
            socket_timeout=DEFAULT_SOCKET_TIMEOUT,
            socket_connect_timeout=DEFAULT_SOCKET_TIMEOUT,
            health_check_interval=HEALTH_CHECK_INTERVAL,
            retry_on_timeout=True,
        )
    except (ValueError, TypeError) as e:
        raise ConfigError(f"bad redis URL {mask_url(url)!r}: {mask_text(str(e))}") from e
    where = f"{parts.hostname}:{parts.port or 6379}/{parts.path.lstrip('/') or 0}"
    return client, prefix, where


@contextlib.contextmanager
def translated(where: str) -> Iterator[None]:
    """redis-py exceptions raised inside become rhworker store errors."""
    try:
        yield
    except redis.exceptions.ResponseError as e:
        code, _, message = str(e).partition(" ")
        if code == "DUPLICATE":
            raise DuplicateNotification(message, existing_id=message) from e
        error = SCRIPT_ERRORS.get(code)
        if error is not None:
            raise error(message) from e
        raise StoreError(f"redis store {where}: {e}") from e
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
        raise StoreUnavailable(f"redis store {where} unreachable: {e}") from e
    except redis.exceptions.RedisError as e:
        raise StoreError(f"redis store {where}: {e}") from e
    except UnicodeDecodeError as e:  # e.g. a non-UTF-8 field pushed into the stream
        raise StoreError(f"redis store {where}: undecodable data: {e}") from e
