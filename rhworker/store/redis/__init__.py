"""The distributed store: Redis >= 6.2, one Stream with one consumer group as the queue.

Everything that must be atomic is one Lua script (:mod:`rhworker.store.redis.scripts`):
intake with duplicate refusal and enqueue, hand-out, renew, ack, retries, dead
letters, guarded status changes, token-checked writes and reserved-host claims. Reads
are pipelined ``MULTI``/``EXEC`` blocks. Scripts are loaded by SHA; after a restart
redis-py reloads them on ``NOSCRIPT``.

Queue: intake ``XADD``s one entry per notification; a hand-out takes, oldest
notification first, either a never-delivered entry (``XREADGROUP >``) or a pending one
whose lease expired or whose retry is due (``XCLAIM`` to the new worker). Leases are
judged by the notification's ``lease_until`` (mirrored in the ``P:leases`` zset), not by
the entry's idle time, so that ``now=`` works and renewals (``XCLAIM`` by the owner,
which also resets the idle time) and takeovers agree. Every such time is on the Redis
server's clock (``TIME`` inside the scripts), never the caller's: workers with skewed
clocks agree on leases, retry due times and the duplicate window. ``now=`` (tests)
overrides it per call. A retry keeps its entry pending (never lost, never doubled)
until it is due; ack and dead letter ``XACK`` + ``XDEL`` it. Notification records are
kept until pruned (``prune_history``, ``[store] history_retention``).

Layout — the same for every backend (see :mod:`rhworker.store.sqlite`), as tooz
drivers and dramatiq brokers keep one backend in one place: one Store class in
``store.py`` that owns the client, translates errors and runs each operation as one
script call or one pipelined read, and hands the rest to plain functions, one module
per concern: ``notifications`` (reading and listing), ``queue`` (hand-out answers,
waiting, stats), ``controls`` (pauses, retry, resolve), ``guards`` (in-use refusals),
``retention`` (pruning, the status index), ``durability``; ``records`` (hash fields ↔
models), ``scripts`` (the Lua) and ``connection`` (URL, version, errors) underneath.
"""

from __future__ import annotations

from rhworker.store.redis.connection import DEFAULT_PREFIX, check_version
from rhworker.store.redis.durability import durability_risks_of
from rhworker.store.redis.store import RedisStore

__all__ = ["DEFAULT_PREFIX", "RedisStore", "check_version", "durability_risks_of"]
