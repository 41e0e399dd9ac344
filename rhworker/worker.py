"""The consume loop: one worker process, many notifications at once.

Shutdown order (SIGTERM): stop taking new deliveries → let the ones in hand finish
for up to ``shutdown_timeout`` → cancel what is still running (its guards raise) and
give those deliveries back for immediate retry → stop the lease renewer → leave the
coordination group → close store and compute.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from rhworker.compute.base import ComputeClient
from rhworker.coordination import Coordinator
from rhworker.errors import LeaseLost, RhworkerError, StoreError
from rhworker.models import Delivery, Notification, NotificationStatus, NotificationType, Step
from rhworker.recovery.base import (
    HostFailureOptions,
    LeaseGuard,
    RecoveryContext,
    RecoveryDriver,
    RecoveryResult,
)
from rhworker.recovery.options import InstanceFailureOptions, ProcessFailureOptions
from rhworker.store.base import Store

if TYPE_CHECKING:
    from rhworker.metrics import WorkerMetrics

LOG = logging.getLogger(__name__)

RUNNABLE = (NotificationStatus.NEW, NotificationStatus.RUNNING, NotificationStatus.ERROR)


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    """``[worker]`` options."""

    concurrency: int = 4
    lease_timeout: float = 30.0
    max_attempts: int = 5
    retry_interval: float = 10.0
    retry_max_interval: float = 300.0
    poll_interval: float = 0.5
    shutdown_timeout: float = 30.0

    @classmethod
    def from_conf(cls, conf: Any) -> WorkerOptions:
        w = conf.worker
        return cls(
            concurrency=w.concurrency,
            lease_timeout=w.lease_timeout,
            max_attempts=w.max_attempts,
            retry_interval=w.retry_interval,
            retry_max_interval=w.retry_max_interval,
            poll_interval=w.poll_interval,
            shutdown_timeout=w.shutdown_timeout,
        )

    def backoff(self, attempts: int) -> float:
        return float(min(self.retry_interval * 2 ** max(attempts - 1, 0), self.retry_max_interval))


@dataclasses.dataclass
class _InHand:
    delivery: Delivery
    guard: LeaseGuard


class Worker:
    def __init__(
        self,
        *,
        store: Store,
        coordinator: Coordinator,
        compute: ComputeClient,
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
        self._in_hand: dict[str, _InHand] = {}
        self._handed_out_at: dict[str, float] = {}
        self.processed = 0
        self.started_at = clock()
        self.metrics = metrics
        # "host:port" of this worker's metrics endpoint, shown in its capabilities.
        self.metrics_address: str | None = None

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
        renewer = threading.Thread(target=self._renew_loop, name="lease-renewer", daemon=True)
        renewer.start()
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
            try:
                delivery = self.store.consume(
                    self.worker_id,
                    lease_timeout=self.options.lease_timeout,
                    max_attempts=self.options.max_attempts,
                    block=0.0 if burst else self.options.poll_interval,
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
            guard = LeaseGuard(
                renew=functools.partial(self._renew_one, delivery),
                lease_timeout=self.options.lease_timeout,
            )
            with self._changed:
                self._in_hand[delivery.notification_id] = _InHand(delivery, guard)
            pool.submit(self._process, delivery, guard)

    def _process(self, delivery: Delivery, guard: LeaseGuard) -> None:
        nid = delivery.notification_id
        self._handed_out_at[nid] = time.monotonic()
        try:
            result = self._recover(delivery, guard)
            if result is not None:
                self._conclude(delivery, result)
        except LeaseLost as e:
            LOG.warning("notification %s: %s; leaving it to its new owner", nid, e)
        except Exception as e:
            LOG.exception("notification %s: unexpected failure", nid)
            try:
                self._conclude(
                    delivery, RecoveryResult(NotificationStatus.ERROR, f"{type(e).__name__}: {e}")
                )
            except Exception:
                LOG.exception("notification %s: could not store the failure", nid)
        finally:
            self._handed_out_at.pop(nid, None)
            with self._changed:
                self._in_hand.pop(nid, None)
                self.processed += 1
                self._changed.notify_all()

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
            compute=self.compute,
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
        ctx.step("delivered", f"attempt {delivery.attempts} by {self.worker_id}")
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

    def _conclude(self, delivery: Delivery, result: RecoveryResult) -> None:
        nid = delivery.notification_id
        outcome = self._store_outcome(delivery, result)
        if self.metrics is not None:
            started = self._handed_out_at.get(nid, time.monotonic())
            self.metrics.concluded(outcome.value, time.monotonic() - started)

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
        if result.status in (NotificationStatus.FINISHED, NotificationStatus.IGNORED):
            self.store.set_status(
                nid, result.status, expected=RUNNABLE, token=token, reason=result.reason
            )
            self.store.ack(delivery)
            return result.status
        if delivery.attempts >= self.options.max_attempts:
            self.store.dead_letter(
                delivery, f"gave up after {delivery.attempts} attempts: {result.reason}"
            )
            return NotificationStatus.FAILED
        self.store.set_status(
            nid, NotificationStatus.ERROR, expected=RUNNABLE, token=token, reason=result.reason
        )
        self.store.retry_later(
            delivery, self.options.backoff(delivery.attempts), reason=result.reason
        )
        return NotificationStatus.ERROR

    # -- leases ----------------------------------------------------------------------
    def _renew_one(self, delivery: Delivery) -> None:
        renewed = self.store.renew(delivery, lease_timeout=self.options.lease_timeout)
        delivery.lease_until = renewed.lease_until

    def _renew_loop(self) -> None:
        interval = max(self.options.lease_timeout / 3, 0.05)
        last_caps: dict[str, Any] = {}
        while not self._stop.wait(interval) or self._in_hand:
            with self._changed:
                in_hand = list(self._in_hand.values())
            for item in in_hand:
                if item.guard.is_lost:
                    continue
                started = time.monotonic()
                try:
                    self._renew_one(item.delivery)
                    item.guard.renewed(started)
                except LeaseLost as e:
                    item.guard.lost(f"lease lost: {e}")
                except RhworkerError as e:
                    LOG.warning("renewing %s failed: %s", item.delivery.notification_id, e)
            caps = self._capabilities()
            if caps["in_hand"] != last_caps.get("in_hand"):
                try:
                    self.coordinator.update_capabilities(caps)
                    last_caps = caps
                except RhworkerError as e:
                    LOG.debug("capabilities update failed: %s", e)
            if self._stop.is_set() and not self._in_hand:
                return

    def _capabilities(self) -> dict[str, Any]:
        caps: dict[str, Any] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": self.started_at,
            "in_hand": sorted(self._in_hand),
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
            item.guard.lost("worker shutting down")
            try:
                self.store.retry_later(item.delivery, 0.0, reason="worker shut down; given back")
                LOG.info("gave back %s", item.delivery.notification_id)
            except RhworkerError as e:
                LOG.warning("could not give back %s: %s", item.delivery.notification_id, e)
        pool.shutdown(wait=True, cancel_futures=True)
        try:
            self.coordinator.leave()
        except RhworkerError as e:
            LOG.debug("leaving the group failed: %s", e)
        LOG.info("worker %s stopped after %d deliveries", self.worker_id, self.processed)
