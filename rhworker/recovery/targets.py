"""Taking a reserved host: tooz lock (cuts contention) + store claim (authoritative).

DESIGN §4: the lock is a lease and can be lost silently, so it is not what keeps a
spare from being used twice — the claim is: one compare-and-set in the store that
exactly one notification wins. The lock lets racing workers skip each other at once
instead of queuing on the store.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator

from rhworker.coordination import HeldLock
from rhworker.errors import ClaimLost, CoordinationError, RecoveryError
from rhworker.models import Host, Notification
from rhworker.recovery.base import RecoveryContext

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class ReservedHostTarget:
    host: str
    epoch: int
    lock: HeldLock | None
    ctx: RecoveryContext

    def verify(self) -> None:
        """Before each evacuate: our claim still stands (fencing) and, where we hold
        it, our lock; a lost lock is re-taken if free, since the claim decides."""
        self.ctx.guard()
        if not self.ctx.store.check_claim(self.host, self.epoch):
            raise RecoveryError(f"claim on {self.host} (epoch {self.epoch}) is no longer current")
        if self.lock is not None and not _still_owner(self.ctx, self.lock):
            LOG.warning("lock on %s lost; the claim (epoch %s) still holds", self.host, self.epoch)
            self.lock = _try_lock(self.ctx, self.host)

    def prepare(self, ctx: RecoveryContext, failed_host: str) -> None:
        """Optional aggregates, then enable the target's compute service."""
        if ctx.options.add_reserved_host_to_aggregate:
            for aggregate in ctx.compute.list_aggregates():
                if failed_host in aggregate.hosts and self.host not in aggregate.hosts:
                    self.verify()
                    ctx.compute.add_host_to_aggregate(aggregate.id, self.host)
                    ctx.step("aggregate", f"{self.host} added to aggregate {aggregate.name}")
        service = ctx.compute.get_service(self.host)
        if service.status != "enabled":
            self.verify()
            ctx.compute.enable_service(self.host, service=service)
        ctx.step("enabled", f"compute service of {self.host} enabled", host=self.host)

    def release(self, ctx: RecoveryContext) -> None:
        if self.lock is not None:
            try:
                ctx.coordinator.release(self.lock)
            except CoordinationError as e:
                LOG.warning("releasing lock on %s: %s", self.host, e)
            self.lock = None


def _try_lock(ctx: RecoveryContext, host: str) -> HeldLock | None:
    try:
        return ctx.coordinator.try_lock(host)
    except CoordinationError as e:
        LOG.warning("lock backend error on %s: %s", host, e)
        return None


def _still_owner(ctx: RecoveryContext, lock: HeldLock) -> bool:
    try:
        return ctx.coordinator.still_owner(lock)
    except CoordinationError:
        return False


def resume_claim(ctx: RecoveryContext, n: Notification) -> ReservedHostTarget | None:
    """A claim recorded by an earlier attempt (maybe another worker's) that is still
    current: resume on the same reserved host."""
    for claim in reversed(n.progress.claims):
        if ctx.store.check_claim(claim.host, claim.epoch):
            lock = _try_lock(ctx, claim.host)
            ctx.step(
                "resumed",
                f"resuming on claimed {claim.host} (epoch {claim.epoch})"
                + ("" if lock else "; its lock is still held by the previous owner"),
                host=claim.host,
                epoch=claim.epoch,
            )
            return ReservedHostTarget(claim.host, claim.epoch, lock, ctx)
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
    ctx: RecoveryContext, n: Notification, failed: Host, exclude: set[str]
) -> ReservedHostTarget | None:
    """Walk the segment's reserved hosts in order: lock (skip if taken), claim (skip
    if lost). Returns the claimed host with its lock held, or None."""
    for host in _walk(ctx, failed, exclude):
        lock = _try_lock(ctx, host.name)
        if lock is None:
            ctx.step("lock_skipped", f"{host.name} is locked by another worker", host=host.name)
            continue
        try:
            ctx.guard()
            claim = ctx.store.claim_reserved_host(n.id, host.name, token=ctx.token)
        except ClaimLost as e:
            ctx.coordinator.release(lock)
            ctx.step("claim_lost", f"{host.name}: {e}", host=host.name)
            continue
        except BaseException:
            ctx.coordinator.release(lock)
            raise
        ctx.step(
            "claimed",
            f"reserved host {host.name} (epoch {claim.epoch})",
            host=host.name,
            epoch=claim.epoch,
        )
        return ReservedHostTarget(host.name, claim.epoch, lock, ctx)
    return None


__all__ = ["ReservedHostTarget", "claim_reserved_host", "resume_claim"]
