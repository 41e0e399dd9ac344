"""The consume loop: one worker process, many notifications at once.

Shutdown order (SIGTERM): stop taking new deliveries → let the ones in hand finish
for up to ``shutdown_timeout`` → cancel what is still running (its guards raise) and
give those deliveries back for immediate retry → stop the lease renewers → leave the
coordination group (:meth:`Worker.run` returns) → :meth:`Worker.close`: metrics
endpoint, coordinator, compute client, store. ``with worker:`` starts the coordinator
and closes the worker on the way out.

Leases (DESIGN §4). Each delivery in hand has its own renewer thread, so one slow
renewal (a store call that hangs) never holds up the others, and its own
:class:`~rhworker.recovery.base.LeaseGuard`, which the driver's compute client is
bound to (:class:`~rhworker.compute.fence.FencedCompute`: no Nova change without a
proved lease). A worker never holds two hand-outs of one notification: when the store
hands a notification back to the worker that still holds it (its renewals stalled
past the lease), the older hand-out is cancelled at once, the newer one waits for it
to stop before it starts, and each hand-out is renewed and released under its own
token. A delivery that stops because its lease is lost says so in the history (a
``fenced`` step, written as soon as the store can be reached).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from rhworker.brake import BrakeLimits
from rhworker.compute.fence import FenceableCompute, FencedCompute
from rhworker.conf import store as store_conf
from rhworker.conf import worker as worker_conf
from rhworker.conf.mirror import from_group
from rhworker.conf.store import parse_duration, retention_of
from rhworker.coordination import Coordinator
from rhworker.errors import Conflict, LeaseLost, RhworkerError, StoreError
from rhworker.models import (
    Delivery,
    Notification,
    NotificationStatus,
    NotificationType,
    Step,
    StepName,
)
from rhworker.recovery.base import (
    HostFailureOptions,
    LeaseGuard,
    RecoveryContext,
    RecoveryDriver,
    RecoveryResult,
)
from rhworker.recovery.options import InstanceFailureOptions, ProcessFailureOptions
from rhworker.store.attempts import exhausted, gave_up_reason
from rhworker.store.base import Store

if TYPE_CHECKING:
    from rhworker.metrics import WorkerMetrics

LOG = logging.getLogger(__name__)

RUNNABLE = (NotificationStatus.NEW, NotificationStatus.RUNNING, NotificationStatus.ERROR)


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    """``[worker]`` options."""

    concurrency: int = worker_conf.DEFAULT_CONCURRENCY
    lease_timeout: float = worker_conf.DEFAULT_LEASE_TIMEOUT
    max_attempts: int = worker_conf.DEFAULT_MAX_ATTEMPTS
    retry_interval: float = worker_conf.DEFAULT_RETRY_INTERVAL
    retry_max_interval: float = worker_conf.DEFAULT_RETRY_MAX_INTERVAL
    poll_interval: float = worker_conf.DEFAULT_POLL_INTERVAL
    shutdown_timeout: float = worker_conf.DEFAULT_SHUTDOWN_TIMEOUT
    # [store] history_retention in seconds (0: keep forever).
    history_retention: float = parse_duration(store_conf.DEFAULT_HISTORY_RETENTION)
    # [brake]: the mass-failure brake checked at hand-out (None: off).
    brake: BrakeLimits | None = None

    @classmethod
    def from_conf(cls, conf: Any) -> WorkerOptions:
        return from_group(
            cls,
            conf.worker,
            history_retention=retention_of(conf),
            brake=BrakeLimits.from_conf(conf),
        )

    def backoff(self, attempts: int) -> float:
        return float(min(self.retry_interval * 2 ** max(attempts - 1, 0), self.retry_max_interval))


@dataclasses.dataclass
class _InHand:
    """One hand-out in hand: keyed by (notification, token) — never by notification
    alone, so that a newer hand-out of the same notification is a separate entry."""

    delivery: Delivery
    guard: LeaseGuard
    started: float = dataclasses.field(default_factory=time.monotonic)
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    renewer: threading.Thread | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.delivery.notification_id, self.delivery.token)


# Seconds between two history prunes of one worker (the first after a random part of
# it, so that workers started together do not prune together; it would only be
# wasted work: pruning is idempotent), and notifications pruned per round.
PRUNE_EVERY = 600.0
PRUNE_BATCH = 1000

# Seconds a "fenced" history note is retried while the store cannot be reached.
NOTE_RETRY_FOR = 300.0
# Shortest interval between renewals (leases of a fraction of a second in tests).
MIN_RENEWAL_INTERVAL = 0.05


class Worker:
    def __init__(
        self,
        *,
        store: Store,
        coordinator: Coordinator,
        compute: FenceableCompute,
        driver: RecoveryDriver,
        worker_id: str,
        options: WorkerOptions,
        host_failure: HostFailureOptions,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        metrics: WorkerMetrics | None = None,
        instance_failure: InstanceFailureOptions | None = None,
        process_failure: ProcessFailureOptions | None = None,
    ) -> None:
        self.store = store
        self.coordinator = coordinator
        self.compute = compute
        self.driver = driver
        self.worker_id = worker_id
        self.options = options
        self.host_failure = host_failure
        self.instance_failure = instance_failure or InstanceFailureOptions()
        self.process_failure = process_failure or ProcessFailureOptions()
        self.clock = clock
        self.sleep = sleep
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._in_hand: dict[tuple[str, int], _InHand] = {}
        # "fenced" history notes not yet written (the store was unreachable).
        self._notes: collections.deque[tuple[float, str, Step]] = collections.deque()
        self.processed = 0
        self.started_at = clock()
        self.metrics = metrics
        # "host:port" of this worker's metrics endpoint, shown in its capabilities.
        self.metrics_address: str | None = None

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> Worker:
        """Connect the coordinator and start its heartbeats; :meth:`close` on the way
        out (and at once when connecting fails)."""
        try:
            self.coordinator.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Let go of everything the worker holds, once :meth:`run` has returned. In
        this order: the metrics endpoint (its refresher reads the store), the
        coordinator (releases any lock still held, leaves the group, disconnects),
        the compute client (its Nova connections), the store last (everything above
        may read it until it stops). A part that fails to close is logged and the
        others are still closed."""
        parts: list[tuple[str, Callable[[], None]]] = [
            ("coordinator", self.coordinator.stop),
            ("compute", self.compute.close),
            ("store", self.store.close),
        ]
        if self.metrics is not None:
            parts.insert(0, ("metrics", self.metrics.stop))
        for name, close in parts:
            try:
                close()
            except Exception:
                LOG.exception("worker %s: closing its %s failed", self.worker_id, name)

    # -- public ----------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to stop (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, burst: bool = False) -> int:
        """Consume until stopped (or, with ``burst``, until nothing is ready and
        nothing is in hand). Returns the number of deliveries processed."""
        self.coordinator.join(self._capabilities())
        renewer = threading.Thread(target=self._member_loop, name="membership", daemon=True)
        renewer.start()
        if self.options.history_retention > 0 and not burst:
            threading.Thread(target=self._prune_loop, name="retention", daemon=True).start()
        pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="recover")
        LOG.info("worker %s started (concurrency %d)", self.worker_id, self.options.concurrency)
        try:
            self._consume_loop(pool, burst)
        finally:
            self._shutdown(pool)
            renewer.join(timeout=5)
        return self.processed

    # -- loop ------------------------------------------------------------------------
    def _consume_loop(self, pool: ThreadPoolExecutor, burst: bool) -> None:
        failures = 0
        while not self._stop.is_set():
            with self._changed:
                if len(self._in_hand) >= self.options.concurrency:
                    self._changed.wait(self.options.poll_interval)
                    continue
            asked = time.monotonic()  # the lease is known from here, not from the answer
            try:
                delivery = self.store.consume(
                    self.worker_id,
                    lease_timeout=self.options.lease_timeout,
                    max_attempts=self.options.max_attempts,
                    block=0.0 if burst else self.options.poll_interval,
                    brake=self.options.brake,
                )
                failures = 0
            except StoreError as e:
                failures += 1
                LOG.warning("store unavailable while consuming (%s); retrying", e)
                self._stop.wait(min(0.2 * 2**failures, 5.0))
                continue
            if delivery is None:
                with self._changed:
                    if burst and not self._in_hand:
                        return
                    if burst:
                        self._changed.wait(self.options.poll_interval)
                continue
            self._take(pool, delivery, asked)

    def _take(
        self, pool: ThreadPoolExecutor, delivery: Delivery, asked: float | None = None
    ) -> None:
        """Put a hand-out in hand: its own guard and renewer; an older hand-out of the
        same notification still in hand is cancelled, and this one starts only once
        that one has stopped (never two at once)."""
        nid = delivery.notification_id
        guard = LeaseGuard(
            renew=functools.partial(self._renew_one, delivery),
            lease_timeout=self.options.lease_timeout,
            start=asked,
        )
        item = _InHand(delivery, guard)
        with self._changed:
            older = [i for k, i in self._in_hand.items() if k[0] == nid]
            self._in_hand[item.key] = item
        for old in older:
            LOG.warning(
                "notification %s handed out again to this worker (token %d); "
                "stopping the older hand-out (token %d)",
                nid,
                delivery.token,
                old.delivery.token,
                extra={"notification": nid, "worker": self.worker_id},
            )
            old.guard.lost(
                f"handed out again to this worker (token {delivery.token}); "
                f"the newer hand-out goes on"
            )
        item.renewer = threading.Thread(
            target=self._renew_loop, args=(item,), name=f"renew-{nid}", daemon=True
        )
        item.renewer.start()
        pool.submit(self._process, item, [old.done for old in older])

    def _process(self, item: _InHand, previous: list[threading.Event] | None = None) -> None:
        delivery, guard = item.delivery, item.guard
        nid = delivery.notification_id
        try:
            for done in previous or []:
                while not done.wait(0.1):
                    guard.check()  # a newer hand-out or a shutdown ends the wait
            result = self._recover(delivery, guard)
            if result is not None:
                self._conclude(item, result)
        except LeaseLost as e:
            LOG.warning("notification %s: %s; leaving it to its new owner", nid, e)
            self._note_fenced(delivery, str(e))
        except Exception as e:
            if guard.is_lost:  # e.g. a store call failed after the fence had stopped us
                LOG.warning("notification %s: %s (%s); leaving it", nid, guard.reason, e)
                self._note_fenced(delivery, guard.reason or str(e))
                return
            LOG.exception("notification %s: unexpected failure", nid)
            try:
                self._conclude(
                    item, RecoveryResult(NotificationStatus.ERROR, f"{type(e).__name__}: {e}")
                )
            except Exception:
                LOG.exception("notification %s: could not store the failure", nid)
        finally:
            item.done.set()  # ends its renewer; lets a newer hand-out start
            with self._changed:
                if self._in_hand.get(item.key) is item:
                    del self._in_hand[item.key]
                self.processed += 1
                self._changed.notify_all()

    def _note_fenced(self, delivery: Delivery, reason: str) -> None:
        """Say in the history that this worker stopped acting on the notification.

        Written without the lease token (the lease is gone; the note changes no
        state), now if the store answers, else later by the membership thread."""
        step = Step(
            at=self.clock(),
            name=StepName.FENCED,
            worker=self.worker_id,
            message=f"stopped acting: {reason}",
            detail={"token": delivery.token, "attempt": delivery.attempts},
        )
        try:
            self.store.add_step(delivery.notification_id, step)
        except RhworkerError as e:
            LOG.info("history note for %s deferred: %s", delivery.notification_id, e)
            with self._changed:
                self._notes.append((time.monotonic(), delivery.notification_id, step))

    def _flush_notes(self) -> None:
        with self._changed:
            pending = list(self._notes)
            self._notes.clear()
        for since, nid, step in pending:
            try:
                self.store.add_step(nid, step)
            except RhworkerError as e:
                if time.monotonic() - since < NOTE_RETRY_FOR and not self._stop.is_set():
                    with self._changed:
                        self._notes.append((since, nid, step))
                else:
                    LOG.warning("history note for %s dropped: %s", nid, e)

    def _recover(self, delivery: Delivery, guard: LeaseGuard) -> RecoveryResult | None:
        nid = delivery.notification_id
        notification = self.store.get_notification(nid)
        if notification.status.terminal:
            self.store.ack(delivery)
            return None
        self._count_takeover(delivery, notification)
        notification = self.store.set_status(
            nid, NotificationStatus.RUNNING, expected=RUNNABLE, token=delivery.token
        )
        ctx = RecoveryContext(
            store=self.store,
            coordinator=self.coordinator,
            compute=FencedCompute(self.compute, guard),
            delivery=delivery,
            worker_id=self.worker_id,
            options=self.host_failure,
            lease=guard,
            clock=self.clock,
            sleep=self.sleep,
            on_step=self._step_hook(),
            instance_failure=self.instance_failure,
            process_failure=self.process_failure,
        )
        ctx.step(StepName.DELIVERED, f"attempt {delivery.attempts} by {self.worker_id}")
        LOG.info(
            "notification %s (%s %s) attempt %d",
            nid,
            notification.type.value,
            notification.hostname,
            delivery.attempts,
            extra={"notification": nid, "worker": self.worker_id},
        )
        if notification.type == NotificationType.VM:
            return self.driver.execute_instance_failure(ctx, notification)
        if notification.type == NotificationType.PROCESS:
            return self.driver.execute_process_failure(ctx, notification)
        return self.driver.execute_host_failure(ctx, notification)

    def _step_hook(self) -> Callable[[Step], None]:
        """Per delivery: step durations (since the previous step) to the metrics."""
        metrics = self.metrics
        if metrics is None:
            return lambda step: None
        last: list[float] = []

        def on_step(step: Step) -> None:
            metrics.step(step, step.at - last[0] if last else None)
            last[:] = [step.at]

        return on_step

    def _count_takeover(self, delivery: Delivery, notification: Notification) -> None:
        """A takeover: a later attempt of a notification left running by another
        worker (its lease expired: crash, kill, partition)."""
        if delivery.attempts <= 1 or notification.status != NotificationStatus.RUNNING:
            return
        previous = next(
            (
                s.worker
                for s in reversed(notification.progress.steps)
                if s.worker and not s.worker.startswith("operator:")
            ),
            None,
        )
        if previous is None or previous == self.worker_id:
            return
        LOG.info(
            "notification %s taken over from %s",
            delivery.notification_id,
            previous,
            extra={"notification": delivery.notification_id, "worker": self.worker_id},
        )
        if self.metrics is not None:
            self.metrics.takeovers.inc()

    def _conclude(self, item: _InHand, result: RecoveryResult) -> None:
        outcome = self._store_outcome(item.delivery, result)
        if self.metrics is not None:
            self.metrics.concluded(outcome.value, time.monotonic() - item.started)

    def _store_outcome(self, delivery: Delivery, result: RecoveryResult) -> NotificationStatus:
        """Store the outcome; returns the status it ends in (FAILED: dead-lettered)."""
        nid = delivery.notification_id
        token = delivery.token
        LOG.info(
            "notification %s → %s: %s",
            nid,
            result.status.value,
            result.reason,
            extra={"notification": nid, "worker": self.worker_id},
        )
        if result.handed_off_until is not None:
            return self._let_go(delivery, result.handed_off_until)
        if result.status in (NotificationStatus.FINISHED, NotificationStatus.IGNORED):
            self.store.set_status(
                nid, result.status, expected=RUNNABLE, token=token, reason=result.reason
            )
            self.store.ack(delivery)
            return result.status
        if exhausted(delivery.attempts, self.options.max_attempts):
            self.store.dead_letter(delivery, gave_up_reason(delivery.attempts, result.reason))
            return NotificationStatus.FAILED
        self.store.set_status(
            nid, NotificationStatus.ERROR, expected=RUNNABLE, token=token, reason=result.reason
        )
        self.store.retry_later(
            delivery, self.options.backoff(delivery.attempts), reason=result.reason
        )
        return NotificationStatus.ERROR

    def _let_go(self, delivery: Delivery, until: float) -> NotificationStatus:
        """Handed off to an outside workflow (driver 'external'): stretch the lease to
        the workflow's deadline so that no worker takes the notification before then,
        and let go without ending it. A callback that came first (the notification is
        no longer ours to stretch) is fine."""
        try:
            self.store.renew(delivery, lease_timeout=max(until - self.store.now(), 0.0))
        except Conflict as e:  # LeaseLost included
            LOG.info(
                "notification %s: ended before its hand-off was stretched (%s)",
                delivery.notification_id,
                e,
            )
        return NotificationStatus.RUNNING

    # -- leases ----------------------------------------------------------------------
    def _renew_one(self, delivery: Delivery) -> None:
        renewed = self.store.renew(delivery, lease_timeout=self.options.lease_timeout)
        delivery.lease_until = renewed.lease_until

    @property
    def _renewal_interval(self) -> float:
        """Seconds between renewals of a hand-out (and between membership updates)."""
        return max(worker_conf.renewal_interval(self.options.lease_timeout), MIN_RENEWAL_INTERVAL)

    def _renew_loop(self, item: _InHand) -> None:
        """Renew one hand-out every third of the lease until it is done or lost.

        One thread per hand-out: a renewal that hangs on the store delays only its
        own delivery (whose guard then sees its lease run out), never the others."""
        while not item.done.wait(self._renewal_interval):
            if item.guard.is_lost:
                return
            started = time.monotonic()
            try:
                self._renew_one(item.delivery)
                item.guard.renewed(started)
            except LeaseLost as e:
                item.guard.lost(f"lease lost: {e}")
                return
            except RhworkerError as e:
                LOG.warning("renewing %s failed: %s", item.delivery.notification_id, e)

    def _member_loop(self) -> None:
        """Keep the group's view of what this worker holds current; write deferred
        history notes."""
        interval = self._renewal_interval
        last_caps: dict[str, Any] = {}
        while True:
            if self._stop.is_set():  # draining: wake on each delivery that ends
                with self._changed:
                    if not self._in_hand:
                        break
                    self._changed.wait(interval)
            else:
                self._stop.wait(interval)
            if self._notes:
                self._flush_notes()
            caps = self._capabilities()
            if caps["in_hand"] != last_caps.get("in_hand"):
                try:
                    self.coordinator.update_capabilities(caps)
                    last_caps = caps
                except RhworkerError as e:
                    LOG.debug("capabilities update failed: %s", e)
        if self._notes:
            self._flush_notes()  # one last try

    def _prune_loop(self) -> None:
        """Delete history past ``[store] history_retention``, a bounded batch at a time."""
        wait = random.uniform(0.1, 1.0) * PRUNE_EVERY
        while not self._stop.wait(wait):
            wait = PRUNE_EVERY
            try:
                gone = self.store.prune_history(self.options.history_retention, limit=PRUNE_BATCH)
            except RhworkerError as e:
                LOG.warning("history prune failed (%s); next try in %.0f s", e, wait)
                continue
            if gone:
                LOG.info("pruned %d notifications older than the history retention", gone)
            if gone >= PRUNE_BATCH:  # more to do: the next batch soon
                wait = min(PRUNE_EVERY, 5.0)

    def _capabilities(self) -> dict[str, Any]:
        caps: dict[str, Any] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": self.started_at,
            "in_hand": sorted({nid for nid, _token in list(self._in_hand)}),
        }
        if self.metrics_address:
            caps["metrics"] = self.metrics_address
        return caps

    # -- shutdown --------------------------------------------------------------------
    def _shutdown(self, pool: ThreadPoolExecutor) -> None:
        self._stop.set()
        deadline = time.monotonic() + self.options.shutdown_timeout
        with self._changed:
            while self._in_hand and time.monotonic() < deadline:
                self._changed.wait(min(0.5, max(deadline - time.monotonic(), 0.01)))
            leftovers = list(self._in_hand.values())
        for item in leftovers:
            if item.guard.is_lost:
                continue  # superseded or taken over: not ours to give back
            item.guard.lost("worker shutting down")
            try:
                self.store.retry_later(item.delivery, 0.0, reason="worker shut down; given back")
                LOG.info("gave back %s", item.delivery.notification_id)
            except RhworkerError as e:
                LOG.warning("could not give back %s: %s", item.delivery.notification_id, e)
        pool.shutdown(wait=True, cancel_futures=True)
        with self._changed:
            renewers = [i.renewer for i in self._in_hand.values() if i.renewer is not None]
        for renewer in renewers:  # each ends after its current renewal
            renewer.join(timeout=max(self.options.lease_timeout, 1.0))
        try:
            self.coordinator.leave()
        except RhworkerError as e:
            LOG.debug("leaving the group failed: %s", e)
        LOG.info("worker %s stopped after %d deliveries", self.worker_id, self.processed)
