"""The Redis store class: the client, error translation and script running, and every
operation of :class:`~rhworker.store.base.Store` as one script call (or one pipelined
read) handed to the module of its concern (see the package docstring)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, cast

import redis

from rhworker import codec, validation
from rhworker.brake import BrakeLimits
from rhworker.errors import DuplicateNotification, HostOnMaintenance, InUse, NotFound, StoreError
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
from rhworker.store import attempts, inuse
from rhworker.store.base import (
    DEFAULT_DUPLICATE_INTERVAL,
    DEFAULT_LEASE_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DurabilityRisk,
    Store,
    now_or,
)
from rhworker.store.redis import (
    controls,
    durability,
    guards,
    notifications,
    queue,
    retention,
    scripts,
)
from rhworker.store.redis import records as rec
from rhworker.store.redis.brake import brake_arg, note_if_held
from rhworker.store.redis.connection import DEFAULT_PREFIX, check_server, connect, translated

T = TypeVar("T")


def _at(now: float | None) -> str:
    """A script's time argument: '' (the server's clock) unless a test moves time."""
    return "" if now is None else rec.flt(now)


class RedisStore(Store):
    """Store on one Redis database (``redis://[:password@]host:port/db?prefix=NAME``)."""

    def __init__(
        self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX, where: str = ""
    ) -> None:
        self.prefix = prefix
        self.where = where or prefix
        self._redis = client
        self._checked = False
        self._closed = False
        # Whether P:bystatus is known to hold every notification (see retention).
        self._status_indexed = False
        # Replicas the server had at the durability check: claims WAIT for one.
        self.replicas = 0
        self._scripts = {name: client.register_script(src) for name, src in scripts.load().items()}

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
                check_server(self._redis, self.where)
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
        segment.uuid = segment.uuid or str(uuid.uuid4())
        fields = rec.flatten(rec.segment_fields(segment))
        segment.id = int(self._run("create_segment", segment.name, *fields))
        return segment

    def get_segment(self, name: str) -> Segment:
        return self._identified("segment", [name], rec.segment_of, f"segment {name!r}")[0]

    def _identified(
        self, kind: str, names: list[str], build: Callable[[dict[str, str]], T], what: str = ""
    ) -> list[T]:
        """The ``kind`` hashes of ``names`` (absent ones skipped; ``NotFound`` naming
        ``what`` if given), after giving records older than identifiers theirs."""
        rows = self._read(lambda p: [p.hgetall(self.key(kind, n)) for n in names])
        older = [row["name"] for row in rows if row and not row.get("uuid")]
        if older:
            for name in older:
                self._run("assign_ids", kind, name, str(uuid.uuid4()))
            rows = self._read(lambda p: [p.hgetall(self.key(kind, n)) for n in names])
        if what and not all(rows):
            raise NotFound(f"{what} not found")
        return [build(row) for row in rows if row]

    def update_segment(self, name: str, **changes: Any) -> Segment:
        clean = validation.validate_changes("segment", changes)
        flat = self._run("update_hash", f"segment:{name}", f"segment {name!r}", *rec.flatten(clean))
        return rec.segment_of(dict(zip(flat[::2], flat[1::2], strict=True)))

    def delete_segment(self, name: str) -> None:
        self._run("delete_segment", name)

    def list_segments(self) -> list[Segment]:
        with self._translated():
            names = cast(list[str], self._redis.zrange(self.key("segments"), 0, -1))
        return self._identified("segment", names, rec.segment_of)

    # -- inventory: hosts -------------------------------------------------------------
    def create_host(self, host: Host) -> Host:
        host = validation.validate_host(host)
        host.uuid = host.uuid or str(uuid.uuid4())
        fields = rec.flatten(rec.host_fields(host))
        position, host_id = self._run(
            "create_host", host.name, host.segment, host.position, *fields
        )
        host.position, host.id = int(position), int(host_id)
        return host

    def get_host(self, name: str) -> Host:
        return self._identified("host", [name], rec.host_of, f"host {name!r}")[0]

    def update_host(self, name: str, **changes: Any) -> Host:
        clean = validation.validate_changes("host", changes)
        flat = self._run("update_host", name, *rec.flatten(clean))
        return rec.host_of(dict(zip(flat[::2], flat[1::2], strict=True)))

    def delete_host(self, name: str) -> None:
        self._run("delete_host", name)

    # -- inventory changes refused while a recovery uses the host ------------------
    def _guarded(self, kind: str, name: str, action: str, script: str, *args: Any) -> Any:
        try:
            return self._run(script, *args)
        except InUse as e:
            raise guards.reworded(e, kind, name, action) from e

    def update_host_if_idle(self, name: str, **changes: Any) -> Host:
        flat = rec.flatten(validation.validate_changes("host", changes))
        flat = self._guarded("host", name, "updated", "update_host_if_idle", name, *flat)
        return rec.host_of(dict(zip(flat[::2], flat[1::2], strict=True)))

    def delete_host_if_idle(self, name: str) -> None:
        self._guarded("host", name, "deleted", "delete_host_if_idle", name)

    def update_segment_if_idle(self, name: str, **changes: Any) -> Segment:
        flat = rec.flatten(validation.validate_changes("segment", changes))
        what = (f"segment:{name}", f"segment {name!r}")
        flat = self._guarded("segment", name, "updated", "update_segment_if_idle", *what, *flat)
        return rec.segment_of(dict(zip(flat[::2], flat[1::2], strict=True)))

    def delete_segment_if_idle(self, name: str) -> None:
        self._guarded("segment", name, "deleted", "delete_segment_if_idle", name)

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
        hosts = self._identified("host", names, rec.host_of)
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
            _, created, seq = self._run(
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
                return self.get_notification(n.id)
            raise DuplicateNotification(
                f"the same {n.type.value} notification for host {n.hostname} was received "
                f"within {dedup_interval:g} s: {e.existing_id}",
                existing_id=e.existing_id,
            ) from e
        except HostOnMaintenance as e:
            raise inuse.on_maintenance(n.hostname, n.type.value) from e
        n.created_at = n.updated_at = float(created)
        n.seq = int(seq)
        note_if_held(self, n)
        return n

    def get_notification(self, notification_id: str) -> Notification:
        with self._translated():
            found = notifications.fetch(self._redis, self.key, [notification_id])[0]
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
        keep = notifications.matcher(want_status, hostname, want_type, since)
        with self._translated():
            index = self.key("notifs")
            if want_status is not None:  # only that status's notifications, not the history
                if not self._status_indexed:
                    retention.ensure_index(self._redis, self.key, self._run)
                    self._status_indexed = True
                index = self.key("bystatus", want_status)
            start = 0
            if marker is not None:
                start = notifications.start_after(self._redis, self.key, index, marker)
            only_index = want_status is not None and (hostname, want_type, since) == (None,) * 3
            return notifications.listed(
                self._redis, self.key, index, start, limit, keep, only_index
            )

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
            with self._translated():
                durability.wait_for_replica(self._redis, self.where, host)
        return Claim(host=host, notification_id=notification_id, epoch=int(epoch))

    def release_claim(
        self, notification_id: str, host: str, epoch: int, *, token: int, now: float | None = None
    ) -> None:
        self._run("release_claim", notification_id, host, str(token), str(epoch))

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
                queue.HANDOUT_BATCH,
                rec.flt(queue.PAUSE_RECHECK),
                attempts.GAVE_UP,
                attempts.NO_REASON,
                brake_arg(brake),
            )
            delivery = queue.delivery_of(result, worker_id)
            remaining = deadline - time.monotonic()
            if delivery is not None or remaining <= 0:
                return delivery
            self._wait(result[1], queue.wait_seconds(result, remaining))

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
        args = controls.pause_args(segment, paused, by, reason, now_or(now), now)
        self._run("set_pause", *args)

    def pauses(self) -> dict[str | None, PauseInfo]:
        raw = self._read(lambda p: p.hgetall(self.key("pauses")))[0]
        return controls.pauses_of(raw)

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
            return retention.prune(
                self._redis,
                self.key,
                self._run,
                cutoff=at - older_than,
                now=_at(now),
                limit=limit,
                batch=notifications.LIST_CHUNK,
            )

    def queue_stats(self, *, now: float | None = None) -> QueueStats:
        at = self.now() if now is None else now
        with self._translated():
            return queue.queue_stats(self._redis, self.key, at)

    def durability_risks(self) -> list[DurabilityRisk]:
        """Read the server's persistence and replication settings (docs/safety.md),
        see :func:`~rhworker.store.redis.durability.settings`."""
        with self._translated():
            config, info = durability.settings(self._redis, self.where)
        self.replicas = int(info.get("connected_slaves", 0) or 0)
        return durability.durability_risks_of(config, info, self.where)

    def now(self) -> float:
        """The Redis server's clock: the one leases and due times are judged by."""
        with self._translated():
            seconds, micros = cast(tuple[int, int], self._redis.time())
        return seconds + micros / 1e6
