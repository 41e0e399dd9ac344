"""The delivery queue of the Redis store, on the Python side: turning the hand-out
script's answer into a delivery or into how long to wait, and the queue read model
(``rhworker status``), computed from the stream, the lease/retry zsets and the
notification hashes — not atomic as a whole: a snapshot for operators, not a basis
for decisions. The atomic parts are the scripts (``consume``, ``renew``, ``ack``,
``retry_later``, ``dead_letter``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import redis

from rhworker.models import DeadLetter, Delivery, InFlight, NotificationStatus, QueueStats
from rhworker.store.redis.records import flt
from rhworker.store.redis.scripts import GROUP

# Longest single XREAD BLOCK while consume(block=...) waits (seconds).
MAX_WAIT = 1.0
# Candidates a single hand-out script examines before giving up for this call.
HANDOUT_BATCH = 50
# Seconds a notification of a paused segment is set aside before it is looked at
# again (a resume brings every set-aside one back at once).
PAUSE_RECHECK = 5.0


def delivery_of(result: list[Any], worker_id: str) -> Delivery | None:
    """The hand-out of the ``consume`` script's answer, None when nothing was due."""
    if not result[0]:
        return None
    nid, token, attempts, lease_until, entry = result
    return Delivery(
        notification_id=nid,
        worker_id=worker_id,
        token=int(token),
        attempts=int(attempts),
        lease_until=float(lease_until),
        backend_ref=entry,
    )


def wait_seconds(result: list[Any], remaining: float) -> float:
    """How long to block on the stream after an empty hand-out: until the next retry
    is due or lease ends (on the server's clock, ``result[4]``), at most
    ``remaining`` and :data:`MAX_WAIT`."""
    at = float(result[4])
    due = [max(float(t) - at, 0.001) for t in result[2:4] if t]
    return min(remaining, MAX_WAIT, *due)


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
