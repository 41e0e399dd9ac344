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

from rhworker.conf import host_failure as hf
from rhworker.conf import worker as worker_conf
from rhworker.conf.mirror import from_group
from rhworker.errors import DriverNotFound, LeaseLost, NotFound, RhworkerError
from rhworker.fencing.base import FencingOptions
from rhworker.models import (
    Delivery,
    Host,
    Notification,
    NotificationStatus,
    Segment,
    Step,
    StepName,
)
from rhworker.recovery.options import (
    ExternalOptions,
    InstanceFailureOptions,
    ProcessFailureOptions,
)

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

    evacuate_all_instances: bool = hf.DEFAULT_EVACUATE_ALL_INSTANCES
    ha_enabled_instance_metadata_key: str = hf.DEFAULT_HA_ENABLED_INSTANCE_METADATA_KEY
    evacuation_priority_metadata_key: str = hf.DEFAULT_EVACUATION_PRIORITY_METADATA_KEY
    ignore_instances_in_error_state: bool = hf.DEFAULT_IGNORE_INSTANCES_IN_ERROR_STATE
    add_reserved_host_to_aggregate: bool = hf.DEFAULT_ADD_RESERVED_HOST_TO_AGGREGATE
    host_failure_recovery_threads: int = hf.DEFAULT_HOST_FAILURE_RECOVERY_THREADS
    max_inflight_evacuations: int = hf.DEFAULT_MAX_INFLIGHT_EVACUATIONS
    wait_period_after_evacuation: float = hf.DEFAULT_WAIT_PERIOD_AFTER_EVACUATION
    verify_interval: float = hf.DEFAULT_VERIFY_INTERVAL
    service_disable_reason: str = hf.DEFAULT_SERVICE_DISABLE_REASON
    host_restore_policy: str = hf.DEFAULT_HOST_RESTORE_POLICY
    restore_on_started: bool = hf.DEFAULT_RESTORE_ON_STARTED
    # Off unless configured (not the option's default): built without a configuration
    # (tests, embedders), a failure is not held back for correlated reports.
    correlation_window: float = 0.0
    evacuation_stall_timeout: float = hf.DEFAULT_EVACUATION_STALL_TIMEOUT
    fencing: FencingOptions = dataclasses.field(default_factory=FencingOptions)
    external: ExternalOptions = dataclasses.field(default_factory=ExternalOptions)

    @classmethod
    def from_conf(cls, conf: Any) -> HostFailureOptions:
        return from_group(
            cls,
            conf.host_failure,
            fencing=FencingOptions.from_conf(conf),
            external=ExternalOptions.from_conf(conf),
        )


class Cancelled(LeaseLost):
    """The worker is shutting down or lost the delivery: stop acting now."""


@dataclasses.dataclass
class RecoveryContext:
    """Everything a driver may use for one delivery.

    ``guard()`` must be called before every call that changes something (in the
    store or in Nova): it raises ``LeaseLost`` when this worker no longer owns the
    delivery (another worker took it over, or the worker is shutting down).

    ``compute`` is the worker's compute client bound to this delivery's lease (a
    :class:`~rhworker.compute.fence.FencedCompute` over ``lease``): every call that
    changes something in Nova, and every retry of it, proves ownership first and is
    bounded by what is left of the lease (DESIGN §4, "Fencing reaches Nova"). A
    driver cannot reach Nova around the fence: it is handed no other client.
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
    # ``[instance_failure]`` (VM notifications) and ``[process_failure]`` (PROCESS).
    instance_failure: InstanceFailureOptions = dataclasses.field(
        default_factory=InstanceFailureOptions
    )
    process_failure: ProcessFailureOptions = dataclasses.field(
        default_factory=ProcessFailureOptions
    )

    @property
    def token(self) -> int:
        return self.delivery.token

    def guard(self) -> None:
        self.lease.check()

    def step(self, name: StepName, message: str = "", **detail: Any) -> None:
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


# Share of the lease kept in hand by the fence (DESIGN §4, "Fencing reaches Nova"):
# a Nova call may only be started while more than this is left of the lease, and no
# attempt may be allowed to run into it. It covers what the worker cannot see: the
# time Nova takes to act on a request it received, and the renewal that is slower to
# reach the store than to come back.
FENCE_MARGIN_FRACTION = 0.1


class LeaseGuard:
    """Local knowledge of whether a delivery's lease is still ours — the fence.

    The delivery's renewer calls :meth:`renewed` after each successful renewal and
    :meth:`lost` when the store says the lease is gone. The lease is *known valid*
    until the start of the last successful renewal plus ``lease_timeout`` (on this
    process's monotonic clock: the store counts its lease from a later instant, so the
    local view ends first).

    :meth:`check` proves ownership: cheap while the last renewal is fresh; once less
    than a third of the lease is known to be left, it renews synchronously — a renewal
    that fails with ``LeaseLost`` means another worker owns the notification now, and
    a renewal that cannot reach the store leaves only what is still known to be left.
    A worker that cannot prove ownership (lost, or less than ``margin`` left) stops
    acting: :class:`Cancelled`.

    :meth:`window` is :meth:`check` plus the seconds one Nova call may take: what is
    left of the lease minus ``margin``. The compute adapter bounds each attempt (its
    HTTP timeout, and the retry deadline) by it, and calls it again before every
    retry (see :mod:`rhworker.compute.fence`).
    """

    def __init__(
        self,
        renew: Callable[[], None],
        lease_timeout: float,
        monotonic: Callable[[], float] = time.monotonic,
        margin: float | None = None,
        start: float | None = None,
    ) -> None:
        """``start``: when (monotonic) the hand-out was asked for — the lease is known
        from then, not from when the answer came back (default: now)."""
        self._renew = renew
        self._lease_timeout = lease_timeout
        self._monotonic = monotonic
        self.margin = lease_timeout * FENCE_MARGIN_FRACTION if margin is None else margin
        self._lock = threading.Lock()
        self._valid_until = (monotonic() if start is None else start) + lease_timeout
        self._lost: str | None = None
        self._lost_event = threading.Event()

    def renewed(self, at: float | None = None) -> None:
        """A renewal that started at ``at`` (monotonic) succeeded. Never moves the
        end of the lease backwards (a slow renewal may finish after a newer one)."""
        until = (at if at is not None else self._monotonic()) + self._lease_timeout
        with self._lock:
            self._valid_until = max(self._valid_until, until)

    def lost(self, reason: str) -> None:
        with self._lock:
            if self._lost is None:
                self._lost = reason
        self._lost_event.set()

    @property
    def is_lost(self) -> bool:
        return self._lost is not None

    @property
    def reason(self) -> str | None:
        """Why the lease is lost (None while it is not)."""
        return self._lost

    def remaining(self) -> float:
        """Seconds the lease is still known to be ours (0 once lost or expired)."""
        if self._lost is not None:
            return 0.0
        with self._lock:
            until = self._valid_until
        return max(0.0, until - self._monotonic())

    def _cancelled(self) -> Cancelled:
        return Cancelled(self._lost or "lease lost")

    def check(self) -> None:
        """Prove ownership now, or raise :class:`Cancelled` (a ``LeaseLost``)."""
        if self._lost is not None:
            raise self._cancelled()
        # Keep a margin: act only while comfortably inside the lease.
        left = self.remaining()
        if left > worker_conf.renewal_interval(self._lease_timeout):
            return
        started = self._monotonic()
        # Wait for the store no longer than the lease is known to last (at least one
        # margin): a store that hangs must not keep a worker believing it owns.
        error = self._renew_within(max(left - self.margin, self.margin))
        if error is None:
            self.renewed(started)
            return
        if isinstance(error, LeaseLost):
            self.lost(f"lease lost: {error}")
            raise self._cancelled() from error
        if not isinstance(error, (RhworkerError, TimeoutError)):
            raise error
        # The store did not answer: what is left of the lease still counts, but no
        # more than that.
        left = self.remaining()
        if left <= self.margin:
            self.lost(
                f"cannot prove ownership: the store did not answer ({error}) and only "
                f"{left:.2f}s of the lease is known to be left"
            )
            raise self._cancelled() from error
        LOG.warning("renewal failed (%s); %.2fs of the lease left", error, left)

    def _renew_within(self, seconds: float) -> BaseException | None:
        """Renew, waiting at most ``seconds``: None when renewed, else the error
        (``TimeoutError`` when the store did not answer in time)."""
        outcome: list[BaseException | None] = []
        answered = threading.Event()

        def renew() -> None:
            try:
                self._renew()
                outcome.append(None)
            except BaseException as e:
                outcome.append(e)
            finally:
                answered.set()

        threading.Thread(target=renew, name="lease-check", daemon=True).start()
        if not answered.wait(seconds):
            return TimeoutError(f"no answer from the store within {seconds:.2f}s")
        return outcome[0]

    def window(self) -> float:
        """Prove ownership and return the seconds one call may still take: what is
        left of the lease minus the margin (always > 0), else :class:`Cancelled`."""
        self.check()
        left = self.remaining() - self.margin
        if left <= 0.0:
            self.lost(f"cannot prove ownership: only {left + self.margin:.2f}s of the lease left")
            raise self._cancelled()
        return left

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``; :class:`Cancelled` at once if the lease is lost
        meanwhile (a retry's back-off never outlives the lease)."""
        if self._lost_event.wait(max(0.0, seconds)):
            raise self._cancelled()


@dataclasses.dataclass
class RecoveryResult:
    # finished, ignored or error; running: handed off to an outside workflow (driver
    # 'external') until ``handed_off_until`` — the worker stretches the lease to then
    # and lets go without ending the notification.
    status: NotificationStatus
    reason: str = ""
    moved: int = 0
    failed: int = 0
    skipped: int = 0
    target_hosts: list[str] = dataclasses.field(default_factory=list)
    handed_off_until: float | None = None


class RecoveryDriver(abc.ABC):
    """One driver instance serves many notifications, possibly concurrently."""

    @abc.abstractmethod
    def execute_host_failure(
        self, ctx: RecoveryContext, notification: Notification
    ) -> RecoveryResult:
        """Recover from a COMPUTE_HOST failure. Must be idempotent: a delivery can be
        processed more than once and resumed by another worker from its progress."""

    # VM and PROCESS notifications: not abstract, so that a third-party driver written
    # for host failures only keeps working (its VM/PROCESS notifications end ignored).
    def execute_instance_failure(
        self, ctx: RecoveryContext, notification: Notification
    ) -> RecoveryResult:
        """Recover from a VM notification (an instance stopped or crashed)."""
        return _not_supported(ctx, self, notification)

    def execute_process_failure(
        self, ctx: RecoveryContext, notification: Notification
    ) -> RecoveryResult:
        """Recover from a PROCESS notification (e.g. nova-compute stopped)."""
        return _not_supported(ctx, self, notification)


def _not_supported(
    ctx: RecoveryContext, driver: RecoveryDriver, notification: Notification
) -> RecoveryResult:
    reason = (
        f"{notification.type.value} notifications are not supported by this driver "
        f"({type(driver).__name__})"
    )
    return ignored(ctx, reason)


def ignored(ctx: RecoveryContext, reason: str) -> RecoveryResult:
    """Say in the history why the notification is ignored; its outcome."""
    ctx.step(StepName.IGNORED, reason)
    return RecoveryResult(NotificationStatus.IGNORED, reason)


def host_in_enabled_segment(
    ctx: RecoveryContext, n: Notification
) -> RecoveryResult | tuple[Host, Segment]:
    """The notification's host and its segment, the first gate of every workflow:
    ignored when the host is not in the inventory or its segment is disabled."""
    try:
        host = ctx.store.get_host(n.hostname)
    except NotFound:
        return ignored(ctx, f"host {n.hostname} is not in the inventory")
    segment = ctx.store.get_segment(host.segment)
    if not segment.enabled:
        return ignored(ctx, f"segment {segment.name} is disabled")
    return host, segment


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
