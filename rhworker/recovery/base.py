"""The recovery driver seam.

A driver turns one delivered notification into an outcome. Drivers are loaded by
name from the ``rhworker.drivers`` entry-point group, so another team can ship its
own (``[host_failure] driver``). The built-in one is
:class:`rhworker.recovery.host_failure.HostFailureDriver`.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from importlib import metadata
from typing import TYPE_CHECKING, Any

from rhworker.errors import DriverNotFound, LeaseLost
from rhworker.models import Delivery, Notification, NotificationStatus, Step

if TYPE_CHECKING:
    from rhworker.compute.base import ComputeClient
    from rhworker.coordination import Coordinator
    from rhworker.store.base import Store

LOG = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "rhworker.drivers"


def _ignore_step(step: Step) -> None:
    """Default ``RecoveryContext.on_step``: nobody listens."""


@dataclasses.dataclass(frozen=True)
class HostFailureOptions:
    """``[host_failure]`` options, parsed once at the edge."""

    evacuate_all_instances: bool = True
    ha_enabled_instance_metadata_key: str = "HA_Enabled"
    ignore_instances_in_error_state: bool = False
    add_reserved_host_to_aggregate: bool = False
    host_failure_recovery_threads: int = 3
    max_inflight_evacuations: int = 32
    wait_period_after_evacuation: float = 90.0
    verify_interval: float = 1.0
    service_disable_reason: str = "Masakari detected host failed."
    host_restore_policy: str = "ordinary"
    restore_on_started: bool = True

    @classmethod
    def from_conf(cls, conf: Any) -> HostFailureOptions:
        group = conf.host_failure
        return cls(
            evacuate_all_instances=group.evacuate_all_instances,
            ha_enabled_instance_metadata_key=group.ha_enabled_instance_metadata_key,
            ignore_instances_in_error_state=group.ignore_instances_in_error_state,
            add_reserved_host_to_aggregate=group.add_reserved_host_to_aggregate,
            host_failure_recovery_threads=group.host_failure_recovery_threads,
            max_inflight_evacuations=group.max_inflight_evacuations,
            wait_period_after_evacuation=float(group.wait_period_after_evacuation),
            verify_interval=group.verify_interval,
            service_disable_reason=group.service_disable_reason,
            host_restore_policy=group.host_restore_policy,
            restore_on_started=group.restore_on_started,
        )


class Cancelled(LeaseLost):
    """The worker is shutting down or lost the delivery: stop acting now."""


@dataclasses.dataclass
class RecoveryContext:
    """Everything a driver may use for one delivery.

    ``guard()`` must be called before every call that changes something (in the
    store or in Nova): it raises ``LeaseLost`` when this worker no longer owns the
    delivery (another worker took it over, or the worker is shutting down).
    """

    store: Store
    coordinator: Coordinator
    compute: ComputeClient
    delivery: Delivery
    worker_id: str
    options: HostFailureOptions
    lease: LeaseGuard
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    # Told of every recorded step (the worker's metrics count lock skips, lost claims
    # and step durations from it); must not raise.
    on_step: Callable[[Step], None] = _ignore_step

    @property
    def token(self) -> int:
        return self.delivery.token

    def guard(self) -> None:
        self.lease.check()

    def step(self, name: str, message: str = "", **detail: Any) -> None:
        """Record one history entry (fenced by the delivery's token)."""
        self.guard()
        nid = self.delivery.notification_id
        step = Step(
            at=self.clock(), name=name, worker=self.worker_id, message=message, detail=detail
        )
        self.store.add_step(nid, step, token=self.token)
        LOG.info(
            "notification %s step %s: %s",
            nid,
            name,
            message,
            extra={"notification": nid, "worker": self.worker_id, "step": name},
        )
        try:
            self.on_step(step)
        except Exception:
            LOG.exception("step hook failed")


class LeaseGuard:
    """Local knowledge of whether a delivery's lease is still ours.

    The worker's renewer thread calls :meth:`renewed` after each successful renewal
    and :meth:`lost` when the store says the lease is gone. :meth:`check` is cheap
    while the last renewal is fresh; once the local view is older than the lease
    (e.g. the process was paused), it asks the store synchronously — a renewal that
    fails with ``LeaseLost`` means another worker owns the notification now.
    """

    def __init__(
        self,
        renew: Callable[[], None],
        lease_timeout: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._renew = renew
        self._lease_timeout = lease_timeout
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._valid_until = monotonic() + lease_timeout
        self._lost: str | None = None

    def renewed(self, at: float | None = None) -> None:
        with self._lock:
            self._valid_until = (at if at is not None else self._monotonic()) + self._lease_timeout

    def lost(self, reason: str) -> None:
        with self._lock:
            if self._lost is None:
                self._lost = reason

    @property
    def is_lost(self) -> bool:
        return self._lost is not None

    def check(self) -> None:
        if self._lost is not None:
            raise Cancelled(self._lost)
        # Keep a margin: act only while comfortably inside the lease.
        if self._monotonic() > self._valid_until - self._lease_timeout / 3:
            started = self._monotonic()
            try:
                self._renew()
            except LeaseLost as e:
                self.lost(f"lease lost: {e}")
                raise Cancelled(self._lost or str(e)) from e
            self.renewed(started)


@dataclasses.dataclass
class RecoveryResult:
    status: NotificationStatus  # finished, ignored or error
    reason: str = ""
    moved: int = 0
    failed: int = 0
    skipped: int = 0
    target_hosts: list[str] = dataclasses.field(default_factory=list)


class RecoveryDriver(abc.ABC):
    """One driver instance serves many notifications, possibly concurrently."""

    @abc.abstractmethod
    def execute_host_failure(
        self, ctx: RecoveryContext, notification: Notification
    ) -> RecoveryResult:
        """Recover from a COMPUTE_HOST failure. Must be idempotent: a delivery can be
        processed more than once and resumed by another worker from its progress."""


def load_driver(name: str) -> RecoveryDriver:
    """Instantiate the driver registered as ``name`` in ``rhworker.drivers``."""
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            cls = entry.load()
            driver = cls()
            if not isinstance(driver, RecoveryDriver):
                raise DriverNotFound(f"{name!r} ({entry.value}) is not a RecoveryDriver")
            return driver
    known = sorted(e.name for e in metadata.entry_points(group=ENTRY_POINT_GROUP))
    raise DriverNotFound(f"no recovery driver named {name!r} (known: {', '.join(known)})")
