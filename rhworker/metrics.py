"""Prometheus metrics of one worker (``[metrics] port``; 0 = off).

Every worker owns a :class:`WorkerMetrics` with its own ``CollectorRegistry`` (never
the client's global default: tests run several workers in one process). The worker
counts outcomes; the recovery driver's steps reach it through the
``RecoveryContext.on_step`` hook, so nothing under ``rhworker.recovery`` imports
prometheus. Gauges read from the store (queue depth, reserved hosts left per segment,
dead letters, pauses and the mass-failure brake) are refreshed by a background thread
every ``refresh_interval`` seconds.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from rhworker import brake
from rhworker.errors import RhworkerError
from rhworker.models import PauseInfo, Step, StepName

LOG = logging.getLogger(__name__)

# Seconds between refreshes of the store-backed gauges.
DEFAULT_REFRESH_INTERVAL = 5.0
# Recovery of one notification (one attempt), seconds: quick gate-outs to slow evacuations.
RECOVERY_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
# Time from a step to the next one of the same delivery, seconds.
STEP_BUCKETS = (0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.notifications = Counter(
            "rhworker_notifications",
            "Deliveries concluded by this worker, by outcome (finished, ignored, error "
            "= retried later, failed = dead-lettered)",
            ["status"],
            registry=r,
        )
        self.recovery_seconds = Histogram(
            "rhworker_recovery_duration_seconds",
            "Seconds from hand-out to outcome of one delivery, by outcome",
            ["status"],
            buckets=RECOVERY_BUCKETS,
            registry=r,
        )
        self.step_seconds = Histogram(
            "rhworker_step_duration_seconds",
            "Seconds from the previous step of the same delivery to this one, by step",
            ["step"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.lock_skips = Counter(
            "rhworker_lock_skips",
            "Reserved hosts skipped because another worker held the lock",
            registry=r,
        )
        self.claims_lost = Counter(
            "rhworker_claims_lost",
            "Reserved hosts whose claim another notification won",
            registry=r,
        )
        self.takeovers = Counter(
            "rhworker_takeovers",
            "Deliveries taken over from another worker (attempt > 1, still running, "
            "previous steps by another worker)",
            registry=r,
        )
        self.retries = Counter(
            "rhworker_retries", "Deliveries given back for a retry after an error", registry=r
        )
        self.dead_letters = Counter(
            "rhworker_dead_letters",
            "Deliveries this worker gave up on (dead letters)",
            registry=r,
        )
        self.reserved_available = Gauge(
            "rhworker_reserved_hosts_available",
            "Usable reserved hosts left, per segment (store-wide)",
            ["segment"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "rhworker_queue_depth",
            "Notifications ready to be handed out (store-wide)",
            registry=r,
        )
        self.queue_delayed = Gauge(
            "rhworker_queue_delayed",
            "Notifications waiting for a retry (store-wide)",
            registry=r,
        )
        self.in_flight = Gauge(
            "rhworker_in_flight", "Notifications under a live lease (store-wide)", registry=r
        )
        self.dead_letters_stored = Gauge(
            "rhworker_dead_letters_stored", "Dead letters in the store (store-wide)", registry=r
        )
        self.brake_engaged = Gauge(
            "rhworker_brake_engaged",
            "1 while the mass-failure brake holds a scope (a segment, or 'all'), by the "
            "threshold that tripped (store-wide; 'rhworker resume' releases it)",
            ["scope", "threshold"],
            registry=r,
        )
        self.paused = Gauge(
            "rhworker_paused",
            "1 while a pause holds a scope (a segment, or 'all'), by who set it: "
            "'brake' or 'operator' (store-wide)",
            ["scope", "by"],
            registry=r,
        )
        self._server: Any = None
        self._refresher: threading.Thread | None = None
        self._stop = threading.Event()

    # -- events ---------------------------------------------------------------------
    def step(self, step: Step, seconds: float | None) -> None:
        if seconds is not None:
            self.step_seconds.labels(step.name).observe(max(seconds, 0.0))
        if step.name == StepName.LOCK_SKIPPED:
            self.lock_skips.inc()
        elif step.name == StepName.CLAIM_LOST:
            self.claims_lost.inc()

    def concluded(self, status: str, seconds: float) -> None:
        self.notifications.labels(status).inc()
        self.recovery_seconds.labels(status).observe(max(seconds, 0.0))
        if status == "error":
            self.retries.inc()
        elif status == "failed":
            self.dead_letters.inc()

    # -- store-backed gauges --------------------------------------------------------
    def refresh(self, store: Any) -> None:
        """Read queue stats and reserved hosts left from the store (one snapshot)."""
        stats = store.queue_stats()
        self.queue_depth.set(stats.depth)
        self.queue_delayed.set(stats.delayed)
        self.in_flight.set(len(stats.in_flight))
        self.dead_letters_stored.set(len(stats.dead_letters))
        for segment, left in store.reserved_left().items():
            self.reserved_available.labels(segment).set(left)
        self._pauses(store.pauses())

    def _pauses(self, pauses: dict[str | None, PauseInfo]) -> None:
        self.brake_engaged.clear()
        self.paused.clear()
        for segment, pause in pauses.items():
            scope = segment if segment is not None else "all"
            threshold = brake.threshold_of(pause)
            self.paused.labels(scope, "brake" if threshold else "operator").set(1)
            if threshold is not None:
                self.brake_engaged.labels(scope, threshold).set(1)

    def start(
        self,
        store: Any,
        *,
        port: int,
        host: str = "127.0.0.1",
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
    ) -> int:
        """Serve ``/metrics`` on ``host:port`` (0 = any free port) and refresh the
        store gauges in the background. Returns the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        self._stop.clear()
        self._refresher = threading.Thread(
            target=self._refresh_loop,
            args=(store, refresh_interval),
            name="metrics-refresh",
            daemon=True,
        )
        self._refresher.start()
        bound = int(server.server_port)
        LOG.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._refresher is not None:
            self._refresher.join(timeout=5)
            self._refresher = None

    def _refresh_loop(self, store: Any, interval: float) -> None:
        while True:
            try:
                self.refresh(store)
            except RhworkerError as e:
                LOG.debug("metrics refresh failed: %s", e)
            except Exception:
                LOG.exception("metrics refresh failed")
            if self._stop.wait(interval):
                return
