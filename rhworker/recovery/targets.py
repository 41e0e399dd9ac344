"""Taking a reserved host: tooz lock (cuts contention) + store claim (authoritative).

docs/design.md §4: the lock is a lease and can be lost silently, so it is not what keeps a
spare from being used twice — the claim is: one compare-and-set in the store that
exactly one notification wins. The lock lets racing workers skip each other at once
instead of queuing on the store.

So a host whose lock is *held by another worker* is skipped, but a host whose lock
*cannot be asked* (the lock service is down or does not answer in time) is tried on
the claim alone, and the history says so (step ``lock_unavailable``): a ZooKeeper or
Redis outage slows recovery down a little, it does not stop it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import zlib
from collections.abc import Callable, Iterator

from rhworker.coordination import HeldLock, LockState
from rhworker.errors import ClaimLost, CoordinationError, NotFound, RecoveryError
from rhworker.models import Host, Notification, NotificationStatus, NotificationType, StepName
from rhworker.recovery.base import RecoveryContext
from rhworker.recovery.spares import serving_other_host

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class ReservedHostTarget:
    host: str
    epoch: int
    lock: HeldLock | None
    ctx: RecoveryContext
    # verify() runs in every evacuation thread of the notification at once.
    _lock_mutex: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def verify(self) -> None:
        """Before each evacuate: our claim still stands (fencing) and, where we hold
        it, our lock; a lost lock is re-taken if free, since the claim decides."""
        self.ctx.guard()
        holder = self.ctx.delivery.notification_id
        if not self.ctx.store.check_claim(self.host, self.epoch, holder):
            raise RecoveryError(
                f"claim on {self.host} by {holder} (epoch {self.epoch}) is no longer current"
            )
        with self._lock_mutex:
            if self.lock is not None and not _still_owner(self.ctx, self.lock):
                LOG.warning(
                    "lock on %s lost; the claim (epoch %s) still holds", self.host, self.epoch
                )
                self.lock = _try_lock(self.ctx, self.host)

    def prepare(self, ctx: RecoveryContext, failed_host: str) -> None:
        """Optional aggregates, then enable the target's compute service."""
        if ctx.options.add_reserved_host_to_aggregate:
            for aggregate in ctx.compute.list_aggregates():
                if failed_host in aggregate.hosts and self.host not in aggregate.hosts:
                    self.verify()
                    ctx.compute.add_host_to_aggregate(aggregate.id, self.host)
                    ctx.step(StepName.AGGREGATE, f"{self.host} added to aggregate {aggregate.name}")
        service = ctx.compute.get_service(self.host)
        if service.status != "enabled":
            self.verify()
            ctx.compute.enable_service(self.host, service=service)
        ctx.step(StepName.ENABLED, f"compute service of {self.host} enabled", host=self.host)

    def release(self, ctx: RecoveryContext) -> None:
        with self._lock_mutex:
            lock, self.lock = self.lock, None
        if lock is not None:
            try:
                ctx.coordinator.release(lock)
            except CoordinationError as e:
                LOG.warning("releasing lock on %s: %s", self.host, e)


def _try_lock(ctx: RecoveryContext, host: str) -> HeldLock | None:
    """The lock if free; None if held elsewhere or if the service cannot be asked."""
    answer = ctx.coordinator.ask_lock(host)
    if answer.state is LockState.UNAVAILABLE:
        LOG.warning("lock of %s cannot be asked: %s", host, answer.reason)
    return answer.lock


def _still_owner(ctx: RecoveryContext, lock: HeldLock) -> bool:
    try:
        return ctx.coordinator.still_owner(lock)
    except CoordinationError:
        return False


def resume_claim(ctx: RecoveryContext, n: Notification) -> ReservedHostTarget | None:
    """A claim recorded by an earlier attempt (maybe another worker's) that is still
    current: resume on the same reserved host."""
    for claim in reversed(n.progress.claims):
        if ctx.store.check_claim(claim.host, claim.epoch, n.id):
            answer = ctx.coordinator.ask_lock(claim.host)
            note = {
                LockState.TAKEN: "",
                LockState.HELD: "; its lock is still held by the previous owner",
                LockState.UNAVAILABLE: "; lock service unavailable, going on with the claim",
            }[answer.state]
            ctx.step(
                StepName.RESUMED,
                f"resuming on claimed {claim.host} (epoch {claim.epoch}){note}",
                host=claim.host,
                epoch=claim.epoch,
            )
            return ReservedHostTarget(claim.host, claim.epoch, answer.lock, ctx)
    return None


def spread_index(key: str, misses: int, count: int) -> int:
    """Where a walk that missed ``misses`` times goes on among ``count`` free hosts:
    a position derived from ``key`` (the notification id) and the miss count, the same
    on every worker (crc32, not Python's salted ``hash``)."""
    return zlib.crc32(f"{key}/{misses}".encode()) % count


class SpareWalk:
    """The segment's reserved hosts a claim tries, one at a time.

    Segment order, starting at this notification's *rank*: the number of other
    failures of the segment being recovered now (``running``), reported before this
    one, that hold no claim yet — the claimers it races with. Alone, the rank is 0:
    the first free spare (per the store) first, then the next. With K failures at
    once, each starts at its own one of the first K free spares instead of all racing
    for the first (a failure that claims leaves both the count and the free list, so
    the others' starts stay apart as they go).

    A *miss* — the host was claimed meanwhile (a fresh read shows it), its lock is
    held, or its claim was lost — means the views disagreed; after one the walk reads
    the store again (hosts claimed since are dropped without trying their lock) and
    goes on at :func:`spread_index` among the hosts left, which differs per
    notification. A host the caller refuses (``accept``) or that Nova shows in use is
    not a miss: the walk goes on in order.
    """

    def __init__(self, ctx: RecoveryContext, n: Notification, failed: Host, exclude: set[str]):
        self.ctx = ctx
        self.key = n.id
        self.notification = n
        self.segment = failed.segment
        self.passed = set(exclude) | {failed.name}  # tried, refused or excluded
        self.misses = 0

    def rank(self) -> int:
        """Other failures of the segment recovered now, reported before this one, with
        no claim yet (two store reads)."""
        n = self.notification
        hosts = {h.name for h in self.ctx.store.list_hosts(segment=self.segment)}
        running = self.ctx.store.list_notifications(
            status=NotificationStatus.RUNNING, type=NotificationType.COMPUTE_HOST.value
        )
        return sum(
            1
            for other in running
            if other.id != n.id
            and other.hostname in hosts
            and not other.progress.claims
            and (other.created_at, other.id) < (n.created_at, n.id)
        )

    def missed(self) -> None:
        """The host just yielded was taken by another claimer."""
        self.misses += 1

    def _free(self) -> list[Host]:
        return [h for h in self.ctx.store.reserved_hosts(self.segment) if h.name not in self.passed]

    def __iter__(self) -> Iterator[Host]:
        hosts = self._free()
        if not hosts:
            return
        start = self.rank() if len(hosts) > 1 else 0
        if start >= len(hosts):  # more claimers than free spares: spread them
            start = spread_index(self.key, 0, len(hosts))
        hosts = hosts[start:] + hosts[:start]
        while hosts:
            misses = self.misses
            host = hosts.pop(spread_index(self.key, misses, len(hosts)) if misses else 0)
            self.passed.add(host.name)
            yield host
            if self.misses != misses:
                hosts = self._free()


def _still_free(ctx: RecoveryContext, name: str) -> bool:
    """The store's word now (one read): the host is a spare nobody has claimed."""
    try:
        host = ctx.store.get_host(name)
    except NotFound:
        return False
    return host.reserved and not host.on_maintenance and host.claimed_by is None


def claim_reserved_host(
    ctx: RecoveryContext,
    n: Notification,
    failed: Host,
    exclude: set[str],
    accept: Callable[[str], bool] | None = None,
) -> ReservedHostTarget | None:
    """Walk the segment's reserved hosts (:class:`SpareWalk`): skip a host ``accept``
    refuses (e.g. too small; it records why) or that Nova shows serving another
    failure; skip, without trying its lock, one the store shows claimed by now; lock
    (skip if another worker holds it; go on without it if the lock service cannot be
    asked), claim (skip if lost). Returns the claimed host, with its lock when one
    was taken, or None.

    Nova is asked before the lock, not under it: the lock then covers only the
    store's claim (one write), so a concurrent claimer that read the store a moment
    earlier seldom finds it held. The claim, not the lock, decides (module doc)."""
    walk = SpareWalk(ctx, n, failed, exclude)
    for host in walk:
        if accept is not None and not accept(host.name):
            continue
        if _in_use_by_other(ctx, host.name, failed.name):
            continue
        if not _still_free(ctx, host.name):
            walk.missed()
            continue
        target = _lock_and_claim(ctx, n, host.name)
        if target is None:
            walk.missed()
            continue
        return target
    return None


def _in_use_by_other(ctx: RecoveryContext, host: str, failed_host: str) -> bool:
    """Nova shows servers evacuated onto ``host`` from another failed host (the
    store may have lost the claim that took it): recorded, and the host skipped."""
    other = serving_other_host(ctx, host, failed_host)
    if other is None:
        return False
    ctx.step(
        StepName.SPARE_IN_USE,
        f"{host} is reserved in the store but Nova shows servers evacuated there from "
        f"{other}; skipped (the store may have lost writes)",
        host=host,
    )
    return True


def _lock_and_claim(ctx: RecoveryContext, n: Notification, host: str) -> ReservedHostTarget | None:
    """Lock ``host`` (if the lock service answers) and claim it; None when another
    worker holds its lock or the claim is lost (each recorded as a step)."""
    answer = ctx.coordinator.ask_lock(host)
    if answer.state is LockState.HELD:
        ctx.step(StepName.LOCK_SKIPPED, f"{host} is locked by another worker", host=host)
        return None
    lock = answer.lock
    if answer.state is LockState.UNAVAILABLE:
        ctx.step(
            StepName.LOCK_UNAVAILABLE,
            f"lock service unavailable ({answer.reason}): trying {host} on its claim alone",
            host=host,
        )
    try:
        ctx.guard()
        claim = ctx.store.claim_reserved_host(n.id, host, token=ctx.token)
    except ClaimLost as e:
        _release(ctx, lock)
        ctx.step(StepName.CLAIM_LOST, f"{host}: {e}", host=host)
        return None
    except BaseException:
        _release(ctx, lock)
        raise
    ctx.step(
        StepName.CLAIMED,
        f"reserved host {host} (epoch {claim.epoch})" + ("" if lock else " without its lock"),
        host=host,
        epoch=claim.epoch,
    )
    return ReservedHostTarget(host, claim.epoch, lock, ctx)


def _release(ctx: RecoveryContext, lock: HeldLock | None) -> None:
    if lock is not None:
        ctx.coordinator.release(lock)


__all__ = [
    "ReservedHostTarget",
    "SpareWalk",
    "claim_reserved_host",
    "resume_claim",
    "spread_index",
]
