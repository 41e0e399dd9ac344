"""Reading notifications back from the Redis store: by id (hash, steps and claims in
one round trip) and listed newest first from ``P:notifs`` or, for one status, from
``P:bystatus:STATUS`` (see :mod:`rhworker.store.redis.retention`). Called inside the
store's error translation."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import redis

from rhworker.errors import NotFound
from rhworker.models import Notification
from rhworker.store.redis import records as rec

# Notifications read per round trip while listing.
LIST_CHUNK = 200


def fetch(
    client: redis.Redis, key: Callable[..., str], ids: list[str]
) -> list[Notification | None]:
    """Notifications by id (None for missing ones), in one round trip."""
    if not ids:
        return []
    with client.pipeline(transaction=True) as pipe:
        for i in ids:
            pipe.hgetall(key("notif", i))
            pipe.lrange(key("steps", i), 0, -1)
            pipe.lrange(key("claims", i), 0, -1)
        out = pipe.execute()
    result: list[Notification | None] = []
    for k in range(len(ids)):
        data, steps, claims = out[3 * k : 3 * k + 3]
        result.append(rec.notification_of(data, steps, claims) if data else None)
    return result


def start_after(client: redis.Redis, key: Callable[..., str], index: str, marker: str) -> int:
    """The rank in ``index`` (newest first) just past the notification ``marker``."""
    seq = client.hget(key("notif", marker), "seq")
    rank = None
    if seq is not None:
        rank = cast(int | None, client.zrevrank(index, f"{int(cast(str, seq)):012d}:{marker}"))
    if rank is None:
        raise NotFound(f"notification {marker!r} not found")
    return int(rank) + 1


def listed(
    client: redis.Redis,
    key: Callable[..., str],
    index: str,
    start: int,
    limit: int | None,
    keep: Callable[[Notification], bool],
    only_index: bool,
) -> list[Notification]:
    """Notifications of ``index`` from rank ``start``, newest first, that ``keep``
    accepts, at most ``limit``. ``only_index``: (nearly) every member of the index
    matches, so read no more than the limit asks for."""
    found: list[Notification] = []
    while limit is None or len(found) < limit:
        chunk = LIST_CHUNK
        if limit is not None and only_index:
            chunk = max(min(LIST_CHUNK, int(limit) - len(found)), 1)
        members = cast(list[str], client.zrevrange(index, start, start + chunk - 1))
        if not members:
            break
        start += len(members)
        for n in fetch(client, key, [m.partition(":")[2] for m in members]):
            if n is not None and keep(n):
                found.append(n)
    return found if limit is None else found[: int(limit)]


def matcher(
    status: str | None, hostname: str | None, type: str | None, since: float | None
) -> Callable[[Notification], bool]:
    """The filter of ``list_notifications`` (``None``: any)."""

    def keep(n: Notification) -> bool:
        return (
            (status is None or n.status.value == status)
            and (hostname is None or n.hostname == hostname)
            and (type is None or n.type.value == type)
            and (since is None or n.generated_time >= since)
        )

    return keep


__all__ = ["LIST_CHUNK", "fetch", "listed", "matcher", "start_after"]
