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
from collections.abc import Callable, Iterator

from rhworker.coordination import HeldLock, LockState
from rhworker.errors import ClaimLost, CoordinationError, RecoveryError
from rhworker.models import Host, Notification, StepName
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


def _walk(ctx: RecoveryContext, failed: Host, exclude: set[str]) -> Iterator[Host]:
    """The segment's reserved hosts in segment order. Coming back for the next one
    means the last was missed (locked or claimed by another): the store is read
    again (one read) and the hosts claimed since are skipped without trying their
    lock — under concurrency they are most of the misses."""
    hosts = [
        h
        for h in ctx.store.reserved_hosts(failed.segment)
        if h.name != failed.name and h.name not in exclude
    ]
    while hosts:
        yield hosts.pop(0)
        if hosts:
            still = {h.name for h in ctx.store.reserved_hosts(failed.segment)}
            hosts = [h for h in hosts if h.name in still]


def claim_reserved_host(
    ctx: RecoveryContext,
    n: Notification,
    failed: Host,
    exclude: set[str],
    accept: Callable[[str], bool] | None = None,
) -> ReservedHostTarget | None:
    """Walk the segment's reserved hosts in order: lock (skip if another worker holds
    it; go on without it if the lock service cannot be asked), claim (skip if lost).
    ``accept``: asked first, skips a host it refuses (e.g. too small; it records why).
    Returns the claimed host, with its lock when one was taken, or None."""
    for host in _walk(ctx, failed, exclude):
        if accept is not None and not accept(host.name):
            continue
        answer = ctx.coordinator.ask_lock(host.name)
        if answer.state is LockState.HELD:
            ctx.step(
                StepName.LOCK_SKIPPED, f"{host.name} is locked by another worker", host=host.name
            )
            continue
        lock = answer.lock
        if answer.state is LockState.UNAVAILABLE:
            ctx.step(
                StepName.LOCK_UNAVAILABLE,
                f"lock service unavailable ({answer.reason}): trying {host.name} on its "
                "claim alone",
                host=host.name,
            )
        try:
            other = serving_other_host(ctx, host.name, failed.name)
            if other is not None:  # the store forgot a claim that Nova remembers
                _release(ctx, lock)
                ctx.step(
                    StepName.SPARE_IN_USE,
                    f"{host.name} is reserved in the store but Nova shows servers evacuated "
                    f"there from {other}; skipped (the store may have lost writes)",
                    host=host.name,
                )
                continue
            ctx.guard()
            claim = ctx.store.claim_reserved_host(n.id, host.name, token=ctx.token)
        except ClaimLost as e:
            _release(ctx, lock)
            ctx.step(StepName.CLAIM_LOST, f"{host.name}: {e}", host=host.name)
            continue
        except BaseException:
            _release(ctx, lock)
            raise
        ctx.step(
            StepName.CLAIMED,
            f"reserved host {host.name} (epoch {claim.epoch})"
            + ("" if lock else " without its lock"),
            host=host.name,
            epoch=claim.epoch,
        )
        return ReservedHostTarget(host.name, claim.epoch, lock, ctx)
    return None


def _release(ctx: RecoveryContext, lock: HeldLock | None) -> None:
    if lock is not None:
        ctx.coordinator.release(lock)


__all__ = ["ReservedHostTarget", "claim_reserved_host", "resume_claim"]
