"""The queue read model of the Redis store (``rhworker status``), computed from the
stream, the lease/retry zsets and the notification hashes. Not atomic as a whole: a
snapshot for operators, not a basis for decisions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import redis

from rhworker.models import DeadLetter, InFlight, NotificationStatus, QueueStats
from rhworker.store.redis_records import flt
from rhworker.store.redis_scripts import GROUP

_FIELDS = ("status", "entry", "hostname", "lease_owner", "attempts", "dead_reason", "dead_at")


def _undelivered(client: redis.Redis, stream: str) -> dict[str, str]:
    """Notification id → entry id of the entries the group has not delivered yet."""
    last_delivered = "0-0"
    if client.exists(stream):
        for group in cast(list[dict[str, Any]], client.xinfo_groups(stream)):
            if group["name"] == GROUP:
                last_delivered = str(group["last-delivered-id"])
    items = cast(list[tuple[str, dict[str, str]]], client.xrange(stream, f"({last_delivered}", "+"))
    return {fields.get("nid", ""): entry for entry, fields in items}


def queue_stats(client: redis.Redis, key: Callable[..., str], at: float) -> QueueStats:
    """Depth = never-delivered entries + expired leases + retries due, of live
    (non-terminal) notifications; delayed = retries not yet due; in flight = live leases."""
    entries = _undelivered(client, key("stream"))
    with client.pipeline(transaction=True) as pipe:
        pipe.zrange(key("leases"), 0, -1, withscores=True)
        pipe.zcount(key("delayed"), f"({flt(at)}", "+inf")
        pipe.lrange(key("dead"), 0, -1)
        pipe.zrangebyscore(key("delayed"), "-inf", flt(at))
        leases, delayed, dead, due = pipe.execute()
    ids = list(entries) + [i for i, _ in leases] + list(due) + list(dead)
    with client.pipeline(transaction=True) as pipe:
        for i in ids:
            pipe.hmget(key("notif", i), _FIELDS)
        rows = pipe.execute()
    info = {i: dict(zip(_FIELDS, row, strict=True)) for i, row in zip(ids, rows, strict=True)}

    def live(i: str) -> bool:
        status = info[i]["status"]
        return status is not None and not NotificationStatus(status).terminal

    depth = sum(1 for i, entry in entries.items() if live(i) and info[i]["entry"] == entry)
    depth += sum(1 for i, until in leases if until <= at and live(i))
    depth += sum(1 for i in due if live(i))
    in_flight = [
        InFlight(
            notification_id=i,
            hostname=info[i]["hostname"] or "",
            owner=info[i]["lease_owner"] or "",
            lease_until=float(until),
            attempts=int(info[i]["attempts"] or 0),
        )
        for i, until in leases
        if until > at
    ]
    dead_letters = [
        DeadLetter(
            notification_id=i,
            reason=info[i]["dead_reason"] or "",
            at=float(info[i]["dead_at"] or 0.0),
        )
        for i in dead
    ]
    return QueueStats(
        depth=depth, delayed=int(delayed), in_flight=in_flight, dead_letters=dead_letters
    )
