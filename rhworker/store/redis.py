"""The distributed store: Redis >= 6.2, one Stream with one consumer group as the queue.

Everything that must be atomic is one Lua script (``redis_scripts``): intake with
duplicate refusal and enqueue, hand-out, renew, ack, retries, dead letters, guarded
status changes, token-checked writes and reserved-host claims. Reads are pipelined
``MULTI``/``EXEC`` blocks. Scripts are loaded by SHA; after a restart redis-py reloads
them on ``NOSCRIPT``.

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
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any, cast

import redis

from rhworker import codec, validation
from rhworker.brake import BrakeLimits, held_step, holding
from rhworker.errors import DuplicateNotification, HostOnMaintenance, NotFound, StoreError
from rhworker.models import (
    Claim,
    Delivery,
    Host,
    Move,
    Notification,
    NotificationStatus,
    PauseInfo,
    QueueStats,
    Segment,
    Step,
)
from rhworker.store import inuse, redis_controls, redis_guards, redis_retention, redis_stats
from rhworker.store import redis_records as rec
from rhworker.store.base import (
    DEFAULT_DUPLICATE_INTERVAL,
    DEFAULT_LEASE_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DurabilityRisk,
    Store,
    now_or,
)
from rhworker.store.redis_brake import brake_arg
from rhworker.store.redis_conn import DEFAULT_PREFIX, check_version, connect, translated
from rhworker.store.redis_guards import RedisGuards
from rhworker.store.redis_scripts import SCRIPTS

LOG = logging.getLogger(__name__)

# Longest single XREAD BLOCK while consume(block=...) waits (seconds).
MAX_WAIT = 1.0
# Candidates a single hand-out script examines before giving up for this call.
HANDOUT_BATCH = 50
# Seconds a notification of a paused segment is set aside before it is looked at
# again (a resume brings every set-aside one back at once).
PAUSE_RECHECK = 5.0
# Notifications read per round trip while listing.
LIST_CHUNK = 200
# Milliseconds a claim waits for a replica to acknowledge it (WAIT) when the server
# has replicas; past it the claim stands but a failover could lose it (logged).
CLAIM_WAIT_MS = 1000


def _at(now: float | None) -> str:
    """A script's time argument: '' (the server's clock) unless a test moves time."""
    return "" if now is None else rec.flt(now)


class RedisStore(RedisGuards, Store):
    """Store on one Redis database (``redis://[:password@]host:port/db?prefix=NAME``)."""

    def __init__(
        self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX, where: str = ""
    ) -> None:
        self.prefix = prefix
        self.where = where or prefix
        self._redis = client
        self._checked = False
        self._closed = False
        # Replicas the server had at the durability check: claims WAIT for one.
        self.replicas = 0
        self._scripts = {
            name: client.register_script(src)
            for name, src in {
                **SCRIPTS,
                **redis_controls.SCRIPTS,
                **redis_guards.SCRIPTS,
                **redis_retention.SCRIPTS,
            }.items()
        }

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        client, prefix, where = connect(url)
        return cls(client, prefix=prefix, where=where)

    # -- plumbing -------------------------------------------------------------------
    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Run Redis calls; their exceptions become rhworker store errors."""
        if self._closed:
            raise StoreError("store is closed")
        with translated(self.where):
            if not self._checked:
                check_version(cast(dict[str, Any], self._redis.info("server")), self.where)
                memory = cast(dict[str, Any], self._redis.info("memory"))
                policy = memory.get("maxmemory_policy", "noeviction")
                if policy != "noeviction" and memory.get("maxmemory"):
                    LOG.warning(
                        "redis store %s: maxmemory-policy is %s; evicted keys lose "
                        "notifications and claims (use noeviction)",
                        self.where,
                        policy,
                    )
                self._checked = True
            yield

    def _run(self, script: str, *args: Any) -> Any:
        """Run one Lua script (the prefix goes first); errors translated."""
        with self._translated():
            return self._scripts[script](args=[self.prefix, *args])

    def _read(self, build: Any) -> list[Any]:
        """One MULTI/EXEC read: ``build(pipe)`` queues the commands."""
        with self._translated():
            with self._redis.pipeline(transaction=True) as pipe:
                build(pipe)
                return list(pipe.execute())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(redis.exceptions.RedisError):
            self._redis.close()

    # -- inventory: segments ----------------------------------------------------------
    def create_segment(self, segment: Segment) -> Segment:
        segment = validation.validate_segment(segment)
        self._run("create_segment", segment.name, *rec.flatten(rec.segment_fields(segment)))
        return segment

    def get_segment(self, name: str) -> Segment:
        data = self._read(lambda p: p.hgetall(self.key("segment", name)))[0]
        if not data:
            raise NotFound(f"segment {name!r} not found")
        return rec.segment_of(data)

    def update_segment(self, name: str, **changes: Any) -> Segment:
        clean = validation.validate_changes("segment", changes)
        flat = self._run("update_hash", f"segment:{name}", f"segment {name!r}", *rec.flatten(clean))
        return rec.segment_of(dict(zip(flat[::2], flat[1::2], strict=True)))

    def delete_segment(self, name: str) -> None:
        self._run("delete_segment", name)

    def list_segments(self) -> list[Segment]:
        with self._translated():
            names = cast(list[str], self._redis.zrange(self.key("segments"), 0, -1))
        rows = self._read(lambda p: [p.hgetall(self.key("segment", n)) for n in names])
        return [rec.segment_of(row) for row in rows if row]

    # -- inventory: hosts -------------------------------------------------------------
    def create_host(self, host: Host) -> Host:
        host = validation.validate_host(host)
        fields = rec.flatten(rec.host_fields(host))
        position = self._run("create_host", host.name, host.segment, host.position, *fields)
        host.position = int(position)
        return host

    def get_host(self, name: str) -> Host:
        data = self._read(lambda p: p.hgetall(self.key("host", name)))[0]
        if not data:
            raise NotFound(f"host {name!r} not found")
        return rec.host_of(data)

    def update_host(self, name: str, **changes: Any) -> Host:
        clean = validation.validate_changes("host", changes)
        flat = self._run("update_host", name, *rec.flatten(clean))
        return rec.host_of(dict(zip(flat[::2], flat[1::2], strict=True)))

    def delete_host(self, name: str) -> None:
        self._run("delete_host", name)

    def list_hosts(
        self,
        segment: str | None = None,
        reserved: bool | None = None,
        on_maintenance: bool | None = None,
    ) -> list[Host]:
        with self._translated():
            segments = cast(
                list[str],
                [segment]
                if segment is not None
                else self._redis.zrange(self.key("segments"), 0, -1),
            )
        names_per_segment = self._read(
            lambda p: [p.zrange(self.key("seghosts", s), 0, -1) for s in segments]
        )
        names = [n for group in names_per_segment for n in group]
        rows = self._read(lambda p: [p.hgetall(self.key("host", n)) for n in names])
        hosts = [rec.host_of(row) for row in rows if row]
        return [
            h
            for h in hosts
            if (reserved is None or h.reserved == reserved)
            and (on_maintenance is None or h.on_maintenance == on_maintenance)
        ]

    # -- notifications ----------------------------------------------------------------
    def create_notification(
        self,
        type: str,
        hostname: str,
        payload: Any,
        generated_time: str | float | None = None,
        *,
        dedup_interval: float = DEFAULT_DUPLICATE_INTERVAL,
        now: float | None = None,
    ) -> Notification:
        at = now_or(now)
        n = validation.prepare_notification(type, hostname, payload, generated_time, now=at)
        fingerprint = validation.dedup_key(n.type, n.hostname, n.payload)
        try:
            _, created = self._run(
                "intake",
                n.id,
                n.type.value,
                n.hostname,
                json.dumps(n.payload, sort_keys=True),
                rec.flt(n.generated_time),
                _at(now),
                rec.flt(dedup_interval),
                "",
                fingerprint,
                int(max(dedup_interval, 0)) + 60,
                "1" if inuse.refused_on_maintenance(n) else "0",
            )
        except DuplicateNotification as e:
            if e.existing_id == n.id:  # a retried call (after a timeout) found its own write
                return n
            raise DuplicateNotification(
                f"the same {n.type.value} notification for host {n.hostname} was received "
                f"within {dedup_interval:g} s: {e.existing_id}",
                existing_id=e.existing_id,
            ) from e
        except HostOnMaintenance as e:
            raise inuse.on_maintenance(n.hostname, n.type.value) from e
        n.created_at = n.updated_at = float(created)
        self._note_if_held(n)
        return n

    def _note_if_held(self, n: Notification) -> None:
        """When a pause holds the new notification, say so in its history. Right after
        the intake script, not in it: a brake trip in between also writes its step into
        the new notification (then it is said twice)."""
        pauses = self.pauses()
        if not pauses:
            return
        segment = None if None in pauses else self.get_host(n.hostname).segment
        pause = holding(pauses, segment)
        if pause is not None:
            self.add_step(n.id, held_step(pause, n.created_at))

    def _fetch(self, ids: list[str]) -> list[Notification | None]:
        """Notifications by id (None for missing ones), in one round trip."""

        def build(p: Any) -> None:
            for i in ids:
                p.hgetall(self.key("notif", i))
                p.lrange(self.key("steps", i), 0, -1)
                p.lrange(self.key("claims", i), 0, -1)

        out = self._read(build) if ids else []
        result: list[Notification | None] = []
        for k in range(len(ids)):
            data, steps, claims = out[3 * k : 3 * k + 3]
            result.append(rec.notification_of(data, steps, claims) if data else None)
        return result

    def get_notification(self, notification_id: str) -> Notification:
        found = self._fetch([notification_id])[0]
        if found is None:
            raise NotFound(f"notification {notification_id!r} not found")
        return found

    def list_notifications(
        self,
        status: NotificationStatus | None = None,
        hostname: str | None = None,
        type: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        marker: str | None = None,
    ) -> list[Notification]:
        want_status = NotificationStatus(status).value if status is not None else None
        want_type = str(getattr(type, "value", type)) if type is not None else None
        index = self.key("notifs")
        if want_status is not None:  # only that status's notifications, not the history
            if not getattr(self, "_status_indexed", False):
                with self._translated():
                    redis_retention.ensure_index(self._redis, self.key, self._run)
                self._status_indexed = True
            index = self.key("bystatus", want_status)
        start = 0
        if marker is not None:
            seq = self._read(lambda p: p.hget(self.key("notif", marker), "seq"))[0]
            rank = None
            if seq is not None:
                with self._translated():
                    rank = cast(
                        int | None, self._redis.zrevrank(index, f"{int(seq):012d}:{marker}")
                    )
            if rank is None:
                raise NotFound(f"notification {marker!r} not found")
            start = int(rank) + 1
        found: list[Notification] = []
        # with only the status asked for, (nearly) every member matches: read no more
        only_status = hostname is None and want_type is None and since is None
        while limit is None or len(found) < limit:
            chunk = LIST_CHUNK
            if limit is not None and want_status is not None and only_status:
                chunk = max(min(LIST_CHUNK, int(limit) - len(found)), 1)
            with self._translated():
                members = cast(list[str], self._redis.zrevrange(index, start, start + chunk - 1))
            if not members:
                break
            start += len(members)
            for n in self._fetch([m.partition(":")[2] for m in members]):
                if n is None:
                    continue
                if (
                    (want_status is None or n.status.value == want_status)
                    and (hostname is None or n.hostname == hostname)
                    and (want_type is None or n.type.value == want_type)
                    and (since is None or n.generated_time >= since)
                ):
                    found.append(n)
        return found if limit is None else found[: int(limit)]

    def set_status(
        self,
        notification_id: str,
        new: NotificationStatus,
        *,
        expected: Iterable[NotificationStatus],
        token: int | None = None,
        reason: str | None = None,
        now: float | None = None,
    ) -> Notification:
        new = NotificationStatus(new)
        allowed = sorted({NotificationStatus(s).value for s in expected})
        self._run(
            "set_status",
            notification_id,
            "" if token is None else str(token),
            new.value,
            _at(now),
            "0" if reason is None else "1",
            reason or "",
            *allowed,
        )
        return self.get_notification(notification_id)

    def add_step(self, notification_id: str, step: Step, *, token: int | None = None) -> None:
        self._run(
            "add_step", notification_id, "" if token is None else str(token), codec.dumps(step)
        )

    # -- moves ------------------------------------------------------------------------
    def upsert_move(self, move: Move, *, token: int | None = None) -> None:
        self._run(
            "upsert_move",
            move.notification_id,
            "" if token is None else str(token),
            move.instance_id,
            codec.dumps(move),
        )

    def list_moves(self, notification_id: str) -> list[Move]:
        order, data = self._read(
            lambda p: (
                p.lrange(self.key("moveorder", notification_id), 0, -1),
                p.hgetall(self.key("moves", notification_id)),
            )
        )
        return [codec.move_from_dict(json.loads(data[i])) for i in order if i in data]

    # -- claims -----------------------------------------------------------------------
    def claim_reserved_host(
        self, notification_id: str, host: str, *, token: int, now: float | None = None
    ) -> Claim:
        epoch = self._run("claim", notification_id, host, str(token))
        if self.replicas:
            self._wait_for_replica(host)
        return Claim(host=host, notification_id=notification_id, epoch=int(epoch))

    def release_claim(
        self, notification_id: str, host: str, epoch: int, *, token: int, now: float | None = None
    ) -> None:
        self._run("release_claim", notification_id, host, str(token), str(epoch))

    def _wait_for_replica(self, host: str) -> None:
        """WAIT until a replica has the claim, so that a failover keeps it. Not a
        guarantee (Redis replication is asynchronous; a replica can still be promoted
        without it), hence only a warning when it does not come."""
        with self._translated():
            acked = int(cast(int, self._redis.execute_command("WAIT", 1, CLAIM_WAIT_MS)))
        if acked < 1:
            LOG.warning(
                "redis store %s: no replica acknowledged the claim on %s within %d ms; a "
                "failover now could lose it",
                self.where,
                host,
                CLAIM_WAIT_MS,
            )

    def check_claim(self, host: str, epoch: int, holder: str) -> bool:
        holder_now, epoch_now = self._read(
            lambda p: p.hmget(self.key("host", host), "claimed_by", "claim_epoch")
        )[0]
        return bool(epoch_now) and int(epoch_now) == epoch and holder_now == holder

    # -- delivery queue ---------------------------------------------------------------
    def consume(
        self,
        worker_id: str,
        *,
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        block: float = 0.0,
        now: float | None = None,
        brake: BrakeLimits | None = None,
    ) -> Delivery | None:
        deadline = time.monotonic() + max(block, 0.0)
        while True:
            result = self._run(
                "consume",
                worker_id,
                _at(now),
                rec.flt(lease_timeout),
                int(max_attempts),
                HANDOUT_BATCH,
                rec.flt(PAUSE_RECHECK),
                brake_arg(brake),
            )
            if result[0]:
                nid, token, attempts, lease_until, entry = result
                return Delivery(
                    notification_id=nid,
                    worker_id=worker_id,
                    token=int(token),
                    attempts=int(attempts),
                    lease_until=float(lease_until),
                    backend_ref=entry,
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            at = float(result[4])  # the server's clock (or now=)
            self._wait(result[1], min(remaining, MAX_WAIT, *self._due_in(result[2:4], at)))

    @staticmethod
    def _due_in(times: list[str], at: float) -> list[float]:
        return [max(float(t) - at, 0.001) for t in times if t]

    def _wait(self, cursor: str, seconds: float) -> None:
        """Block until the stream grows past ``cursor`` or ``seconds`` pass."""
        with self._translated():
            self._redis.xread(
                {self.key("stream"): cursor}, count=1, block=max(1, int(seconds * 1000))
            )

    def renew(
        self, delivery: Delivery, *, lease_timeout: float, now: float | None = None
    ) -> Delivery:
        until = float(
            self._run(
                "renew",
                delivery.notification_id,
                str(delivery.token),
                delivery.worker_id,
                rec.flt(lease_timeout),
                _at(now),
            )
        )
        return Delivery(
            notification_id=delivery.notification_id,
            worker_id=delivery.worker_id,
            token=delivery.token,
            attempts=delivery.attempts,
            lease_until=until,
            backend_ref=delivery.backend_ref,
        )

    def ack(self, delivery: Delivery) -> None:
        self._run("ack", delivery.notification_id, str(delivery.token), "")

    def retry_later(
        self, delivery: Delivery, delay: float, *, reason: str = "", now: float | None = None
    ) -> None:
        self._run(
            "retry_later",
            delivery.notification_id,
            str(delivery.token),
            _at(now),
            rec.flt(delay),
            reason or "",
        )

    def dead_letter(self, delivery: Delivery, reason: str, *, now: float | None = None) -> None:
        self._run(
            "dead_letter",
            delivery.notification_id,
            str(delivery.token),
            _at(now),
            reason,
        )

    # -- operator controls ------------------------------------------------------------
    def set_pause(
        self,
        segment: str | None,
        paused: bool,
        *,
        by: str,
        reason: str = "",
        now: float | None = None,
    ) -> None:
        args = redis_controls.pause_args(segment, paused, by, reason, now_or(now), now)
        self._run("set_pause", *args)

    def pauses(self) -> dict[str | None, PauseInfo]:
        raw = self._read(lambda p: p.hgetall(self.key("pauses")))[0]
        return redis_controls.pauses_of(raw)

    def requeue(
        self, notification_id: str, *, reason: str = "", now: float | None = None
    ) -> Notification:
        self._run("requeue", notification_id, _at(now), reason)
        return self.get_notification(notification_id)

    def resolve(
        self, notification_id: str, *, reason: str, now: float | None = None
    ) -> Notification:
        self._run("resolve", notification_id, _at(now), reason)
        return self.get_notification(notification_id)

    # -- read models ------------------------------------------------------------------
    def prune_history(
        self, older_than: float, *, limit: int | None = None, now: float | None = None
    ) -> int:
        with self._translated():
            at = self.now() if now is None else now
            return redis_retention.prune(
                self._redis,
                self.key,
                self._run,
                cutoff=at - older_than,
                now=_at(now),
                limit=limit,
                batch=LIST_CHUNK,
            )

    def queue_stats(self, *, now: float | None = None) -> QueueStats:
        at = self.now() if now is None else now
        with self._translated():
            return redis_stats.queue_stats(self._redis, self.key, at)

    def durability_risks(self) -> list[DurabilityRisk]:
        """Read the server's persistence and replication settings (docs/safety.md).

        ``CONFIG GET`` when allowed; where it is disabled (managed Redis, renamed
        command, ACL), ``INFO`` tells whether AOF is on and how many replicas there
        are but not ``appendfsync`` nor ``min-replicas-to-write``: those become
        "unknown" risks (warned, never refused)."""
        with self._translated():
            info = cast(dict[str, Any], self._redis.info())
            try:
                config = cast(dict[str, str], self._redis.config_get("*"))
            except redis.exceptions.RedisError as e:
                LOG.info("redis store %s: CONFIG GET unavailable (%s); using INFO", self.where, e)
                config = {}
        self.replicas = int(info.get("connected_slaves", 0) or 0)
        return durability_risks_of(config, info, self.where)

    def now(self) -> float:
        """The Redis server's clock: the one leases and due times are judged by."""
        with self._translated():
            seconds, micros = cast(tuple[int, int], self._redis.time())
        return seconds + micros / 1e6


def durability_risks_of(
    config: dict[str, str], info: dict[str, Any], where: str
) -> list[DurabilityRisk]:
    """The risks of a server from its ``CONFIG GET *`` (may be empty) and ``INFO``."""
    risks: list[DurabilityRisk] = []
    aof = config.get("appendonly", "yes" if info.get("aof_enabled") else "no")
    if aof != "yes":
        risks.append(
            DurabilityRisk(
                f"redis store {where}: appendonly is off; a crash loses every write since "
                "the last RDB snapshot (set appendonly yes, appendfsync always)"
            )
        )
    else:
        fsync = config.get("appendfsync")
        if fsync is None:
            risks.append(
                DurabilityRisk(
                    f"redis store {where}: appendfsync unknown (CONFIG GET disabled); "
                    "with anything but 'always' a crash of the machine loses the last "
                    "acknowledged writes",
                    known=False,
                )
            )
        elif fsync != "always":
            lost = "about 1 s" if fsync == "everysec" else "up to 30 s"
            risks.append(
                DurabilityRisk(
                    f"redis store {where}: appendfsync {fsync}; a crash of the machine loses "
                    f"{lost} of acknowledged writes (claims, hand-outs, progress). Claims stay "
                    "fenced by holder and epoch, but work may be redone (appendfsync always "
                    "to avoid it)"
                )
            )
    replicas = int(info.get("connected_slaves", 0) or 0)
    if replicas:
        min_replicas = config.get("min-replicas-to-write", config.get("min-slaves-to-write"))
        if min_replicas is None:
            risks.append(
                DurabilityRisk(
                    f"redis store {where}: {replicas} replica(s), min-replicas-to-write "
                    "unknown (CONFIG GET disabled); a failover may lose acknowledged writes",
                    known=False,
                )
            )
        elif int(min_replicas) < 1:
            risks.append(
                DurabilityRisk(
                    f"redis store {where}: {replicas} replica(s) but min-replicas-to-write "
                    "0; a failover to a replica loses the writes it had not received (set "
                    "min-replicas-to-write 1; claims also WAIT for a replica)"
                )
            )
    policy = config.get("maxmemory-policy", str(info.get("maxmemory_policy", "noeviction")))
    maxmemory = config.get("maxmemory", str(info.get("maxmemory", 0)))
    if policy != "noeviction" and maxmemory not in ("0", ""):
        risks.append(
            DurabilityRisk(
                f"redis store {where}: maxmemory-policy {policy}; evicted keys lose "
                "notifications and claims (use noeviction)"
            )
        )
    return risks
