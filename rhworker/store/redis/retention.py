"""History retention and the status index of the Redis store.

``P:bystatus:STATUS`` (kept by ``index_status`` in the scripts that write a status)
lets ``list_notifications(status=...)`` — and so ``rhworker status`` — read only the
notifications in that status instead of the whole history. Stores written before the
index existed are indexed once, in chunks, by the first reader (``ensure_index``);
each chunk re-reads the statuses inside a script (``lua/index_status.lua``), so a
status change racing the backfill is never undone by it.

Pruning deletes, per notification and atomically (``lua/prune.lua``), every key it wrote:
its hash, steps, claims, moves and move order, its members of ``P:notifs``,
``P:bystatus:*``, ``P:hostnotifs:HOST``, its duplicate-window zset, ``P:dead``,
``P:leases``, ``P:delayed``, ``P:held`` and its stream entry, if any. The script
re-checks what the caller selected: terminal, last updated before the cut-off, no live
lease, no reserved host still claimed by it. Deleting is idempotent, so two workers
pruning at once only do the same work twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import redis

from rhworker import validation
from rhworker.models import NotificationStatus
from rhworker.store.redis.records import flt

# Notifications indexed per backfill round trip.
INDEX_CHUNK = 500
# Version of the status index; P:bystatus holds it once existing data is indexed.
INDEX_VERSION = "1"
TERMINAL = [s.value for s in NotificationStatus if s.terminal]


def ensure_index(client: redis.Redis, key: Callable[..., str], run: Callable[..., Any]) -> None:
    """Index the statuses of notifications written before the index existed (once)."""
    if client.get(key("bystatus")) == INDEX_VERSION:
        return
    start = 0
    while True:
        members = cast(list[str], client.zrange(key("notifs"), start, start + INDEX_CHUNK - 1))
        if not members:
            break
        start += len(members)
        run("index_status", *[m.partition(":")[2] for m in members])
    client.set(key("bystatus"), INDEX_VERSION)


def prune(
    client: redis.Redis,
    key: Callable[..., str],
    run: Callable[..., Any],
    *,
    cutoff: float,
    now: str,
    limit: int | None,
    batch: int,
) -> int:
    """Delete terminal notifications last updated before ``cutoff`` (at most ``limit``)."""
    pruned = 0
    for status in TERMINAL:
        # Scored by created_at <= updated_at: every candidate is in the range; the
        # ones updated since the cut-off are skipped over (offset), not re-read.
        offset = 0
        while limit is None or pruned < limit:
            size = batch if limit is None else min(batch, limit - pruned)
            members = cast(
                list[str],
                client.zrangebyscore(
                    key("bystatus", status), "-inf", f"({flt(cutoff)}", start=offset, num=size
                ),
            )
            if not members:
                break
            ids = [m.partition(":")[2] for m in members]
            with client.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.hmget(key("notif", i), "type", "hostname", "payload")
                rows = pipe.execute()
            args: list[str] = []
            for i, (kind, host, payload) in zip(ids, rows, strict=True):
                fingerprint = ""
                if kind is not None:
                    fingerprint = validation.dedup_key(kind, host or "", json.loads(payload))
                args += [i, fingerprint]
            gone, kept = cast(tuple[list[str], int], run("prune", flt(cutoff), now, *args))
            pruned += len(gone)
            offset += int(kept)  # the ones kept stay in the range; the others left it
    return pruned
