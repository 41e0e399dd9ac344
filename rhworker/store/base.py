"""The store seam: everything durable rhworker keeps.

One abstract base, one file per backend (``sqlite.py``, ``redis.py``), selected by URL
through :func:`rhworker.store.from_url`. The contract suite in ``tests/contract``
runs against every backend.

Semantics every backend must keep (docs/design.md §4, §6):

* **Intake** (:meth:`Store.create_notification`) validates, refuses duplicates and
  enqueues in one atomic step: an accepted notification is always deliverable.
* **Deliveries** are at least once. :meth:`consume` hands a notification out under a
  lease and bumps its ``lease_token``; every later write about that notification
  (status, steps, moves, claims, ack) carries the token and raises
  :class:`~rhworker.errors.LeaseLost` once another consumer has taken the notification
  over. A lease that expires without a takeover still lets its owner write.
* **Claims** are one compare-and-set: reserved → not reserved, ``claimed_by``,
  ``claim_epoch`` that only grows — even across lost writes: the largest of the last
  epoch + 1 and the store's clock in microseconds — and the claim recorded in the
  notification's progress, all at once. A claim by the same notification is
  idempotent (returns the existing claim). A claim is checked by holder *and* epoch
  (:meth:`Store.check_claim`), never by epoch alone.
* **One clock.** Leases, retry due times and the duplicate window are judged by one
  clock per store: the Redis server's ``TIME`` for Redis, the machine's clock for
  SQLite (one machine). ``now=`` lets tests move it per call.
* Backend exceptions never escape: they become :class:`~rhworker.errors.StoreError`
  subclasses (``StoreUnavailable`` for connection problems).
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import time
from collections.abc import Iterable
from typing import Any

from rhworker.brake import BrakeLimits
from rhworker.conf import notification as notification_conf
from rhworker.conf import worker as worker_conf
from rhworker.errors import ConfigError, StoreError
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

LOG = logging.getLogger(__name__)

# Masakari's default: the same failure reported again within 180 s is a duplicate.
DEFAULT_DUPLICATE_INTERVAL = float(
    notification_conf.DEFAULT_DUPLICATE_NOTIFICATION_DETECTION_INTERVAL
)
# How long a delivery stays with a worker that stops renewing it.
DEFAULT_LEASE_TIMEOUT = worker_conf.DEFAULT_LEASE_TIMEOUT
# Deliveries of one notification before it goes to the dead letters.
DEFAULT_MAX_ATTEMPTS = worker_conf.DEFAULT_MAX_ATTEMPTS


@dataclasses.dataclass(frozen=True)
class DurabilityRisk:
    """One way the store's configuration can lose acknowledged writes."""

    message: str
    # False: the setting could not be read (e.g. CONFIG disabled on a managed Redis),
    # so the risk is possible, not known. Only known risks are refused.
    known: bool = True
    # Whether ``[store] redis_durability = refuse`` refuses it (SQLite's are warnings).
    refusable: bool = True


def check_durability(store: Store, policy: str = "warn") -> list[DurabilityRisk]:
    """Log each durability risk of ``store``; with ``policy="refuse"``, raise
    :class:`ConfigError` listing the known ones instead (``[store] redis_durability``)."""
    try:
        risks = store.durability_risks()
    except StoreError as e:
        if policy == "refuse":
            raise ConfigError(f"cannot check the store's durability: {e}") from e
        LOG.warning("store durability not checked: %s", e)
        return []
    refused = [r for r in risks if r.known and r.refusable]
    if policy == "refuse" and refused:
        raise ConfigError(
            "the store may lose acknowledged writes ([store] redis_durability = refuse): "
            + "; ".join(r.message for r in refused)
        )
    for risk in risks:
        LOG.warning("store durability: %s", risk.message)
    return risks


def now_or(now: float | None) -> float:
    """``now`` as given (tests move time), else the wall clock."""
    return time.time() if now is None else float(now)


class Store(abc.ABC):
    """Abstract store. All times are UTC epoch seconds; ``now`` defaults to time.time()."""

    # -- lifecycle ------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. Idempotent."""

    # -- inventory: segments --------------------------------------------------------
    @abc.abstractmethod
    def create_segment(self, segment: Segment) -> Segment:
        """Create; ``AlreadyExists`` on a duplicate name, ``ValidationError`` on bad fields."""

    @abc.abstractmethod
    def get_segment(self, name: str) -> Segment:
        """``NotFound`` if absent."""

    @abc.abstractmethod
    def update_segment(self, name: str, **changes: Any) -> Segment:
        """Change recovery_method, enabled, service_type, description. ``NotFound``."""

    @abc.abstractmethod
    def delete_segment(self, name: str) -> None:
        """Delete a segment with no hosts; ``Conflict`` while it still has hosts."""

    @abc.abstractmethod
    def list_segments(self) -> list[Segment]:
        """All segments, by name."""

    # -- inventory: hosts -----------------------------------------------------------
    @abc.abstractmethod
    def create_host(self, host: Host) -> Host:
        """Create in ``host.segment`` (``NotFound`` if the segment is missing).

        Host names are unique across the deployment (``AlreadyExists``). When
        ``host.position`` is 0 the host is appended at the end of its segment.
        """

    @abc.abstractmethod
    def get_host(self, name: str) -> Host:
        """``NotFound`` if absent."""

    @abc.abstractmethod
    def update_host(self, name: str, **changes: Any) -> Host:
        """Change type, control_attributes, reserved, on_maintenance, position.

        Setting ``reserved=True`` clears ``claimed_by``/``claim_epoch`` (the host is
        a spare again; the old claim's epoch becomes stale).
        """

    @abc.abstractmethod
    def delete_host(self, name: str) -> None:
        """``NotFound`` if absent."""

    @abc.abstractmethod
    def list_hosts(
        self,
        segment: str | None = None,
        reserved: bool | None = None,
        on_maintenance: bool | None = None,
    ) -> list[Host]:
        """Hosts matching every given filter, ordered by (segment, position, name)."""

    def reserved_hosts(self, segment: str) -> list[Host]:
        """Spares of a segment still usable: reserved, not on maintenance, in order."""
        return self.list_hosts(segment=segment, reserved=True, on_maintenance=False)

    # -- operator changes, refused while a recovery uses the host (Masakari's 409) ----
    # A host is *in use* while a notification about it is new, running or error (to be
    # retried), or while it holds the claim of such a notification. The check and the
    # write are one transaction / one script: no recovery can start in between.
    @abc.abstractmethod
    def update_host_if_idle(self, name: str, **changes: Any) -> Host:
        """:meth:`update_host`, or ``InUse`` while the host is in use."""

    @abc.abstractmethod
    def delete_host_if_idle(self, name: str) -> None:
        """:meth:`delete_host`, or ``InUse`` while the host is in use."""

    @abc.abstractmethod
    def update_segment_if_idle(self, name: str, **changes: Any) -> Segment:
        """:meth:`update_segment`, or ``InUse`` while one of its hosts is in use."""

    @abc.abstractmethod
    def delete_segment_if_idle(self, name: str) -> None:
        """:meth:`delete_segment`, or ``InUse`` while one of its hosts is in use."""

    # -- notifications ----------------------------------------------------------------
    @abc.abstractmethod
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
        """Validate, refuse duplicates, store and enqueue — atomically.

        ``ValidationError`` for malformed input (see ``rhworker.validation``),
        ``NotFound`` for a host that is not in the inventory,
        ``DuplicateNotification`` (carrying the existing id) when a notification with
        the same type, hostname and payload was created within ``dedup_interval``
        seconds, whatever its status, and ``HostOnMaintenance`` when the host is on
        maintenance (as Masakari refuses it) — except while the host is coming back: a
        COMPUTE_HOST ``STARTED``, or anything after one (see :mod:`rhworker.store.inuse`).
        Duplicates are checked first, so that a retried intake finds its own write
        even after a worker marked the host. A notification accepted while a pause holds
        its host's segment (or all) gets a step saying so: ``brake`` for a pause of the
        mass-failure brake, ``held`` for an operator's (:func:`rhworker.brake.held_step`).
        """

    @abc.abstractmethod
    def get_notification(self, notification_id: str) -> Notification:
        """``NotFound`` if absent."""

    @abc.abstractmethod
    def list_notifications(
        self,
        status: NotificationStatus | None = None,
        hostname: str | None = None,
        type: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        marker: str | None = None,
    ) -> list[Notification]:
        """Newest first; ``marker`` is the id of the last item of the previous page."""

    @abc.abstractmethod
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
        """Guarded transition. ``Conflict`` if the status is not in ``expected``;
        ``LeaseLost`` if ``token`` is given and is not the current lease token.
        ``reason`` is stored in ``progress.reason`` (None leaves it unchanged)."""

    @abc.abstractmethod
    def add_step(self, notification_id: str, step: Step, *, token: int | None = None) -> None:
        """Append to the notification's history (``LeaseLost`` on a stale token)."""

    # -- moves ----------------------------------------------------------------------
    @abc.abstractmethod
    def upsert_move(self, move: Move, *, token: int | None = None) -> None:
        """Insert or replace the move of (notification_id, instance_id)."""

    @abc.abstractmethod
    def list_moves(self, notification_id: str) -> list[Move]:
        """The notification's moves, in creation order."""

    # -- claims ---------------------------------------------------------------------
    @abc.abstractmethod
    def claim_reserved_host(
        self, notification_id: str, host: str, *, token: int, now: float | None = None
    ) -> Claim:
        """Atomically consume a reserved host for a notification (see module doc).

        ``ClaimLost`` if the host is not reserved, on maintenance or claimed by
        another notification; ``LeaseLost`` on a stale token; ``NotFound`` for an
        unknown host. Idempotent for the notification that already holds it.
        """

    @abc.abstractmethod
    def check_claim(self, host: str, epoch: int, holder: str) -> bool:
        """Fencing check: True while ``host`` is claimed by notification ``holder`` at
        exactly ``epoch``. Both are compared: after a store lost writes, another
        notification could hold the host again, and only the holder tells them apart."""

    @abc.abstractmethod
    def release_claim(
        self, notification_id: str, host: str, epoch: int, *, token: int, now: float | None = None
    ) -> None:
        """Give back an unused claimed host, atomically with the checks: the host is a
        spare again (``reserved``, no ``claimed_by``/``claim_epoch``; the epoch counter
        keeps growing, so ``epoch`` stays stale for good).

        ``ClaimLost`` unless ``notification_id`` holds the host's claim at ``epoch`` and
        the host is not on maintenance; ``LeaseLost`` on a stale token; ``NotFound``
        for an unknown host. The notification's recorded claims are kept (history).
        """

    # -- delivery queue ---------------------------------------------------------------
    @abc.abstractmethod
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
        """Hand out one notification under a lease, or None when nothing is due.

        Candidates, oldest first: new ones; ``error`` ones whose back-off is over;
        ones whose lease expired (a takeover). The hand-out bumps ``attempts`` and
        ``lease_token`` and sets ``lease_owner``/``lease_until``; it does not change
        the status (the worker does). A candidate that would exceed ``max_attempts``
        is dead-lettered instead (status ``failed``, reason recorded) and the next
        one is tried. ``block`` is how long the call may wait for work (seconds).

        ``brake``: the mass-failure brake (:mod:`rhworker.brake`), checked on the first
        hand-out of a host-failure report in the same atomic step as the hand-out; a
        trip pauses its scope (``by`` ``brake:<threshold>``), writes a ``brake`` step
        into every open notification of the scope and does not hand the candidate out.
        """

    @abc.abstractmethod
    def renew(
        self, delivery: Delivery, *, lease_timeout: float, now: float | None = None
    ) -> Delivery:
        """Extend the lease; ``LeaseLost`` if another consumer took it over."""

    @abc.abstractmethod
    def ack(self, delivery: Delivery) -> None:
        """Done with it: it will never be handed out again. ``LeaseLost`` if stale.

        Call only after the outcome (a terminal status) is stored."""

    @abc.abstractmethod
    def retry_later(
        self, delivery: Delivery, delay: float, *, reason: str = "", now: float | None = None
    ) -> None:
        """Give it back, to be handed out again not before ``now + delay``."""

    @abc.abstractmethod
    def dead_letter(self, delivery: Delivery, reason: str, *, now: float | None = None) -> None:
        """Give up: status ``failed`` with ``reason``, listed in the dead letters."""

    # -- operator controls ------------------------------------------------------------
    @abc.abstractmethod
    def set_pause(
        self,
        segment: str | None,
        paused: bool,
        *,
        by: str,
        reason: str = "",
        now: float | None = None,
    ) -> None:
        """Pause (or resume) automatic recovery of one segment, or of all (``None``).

        While paused, :meth:`consume` hands out no notification whose host is in a
        paused segment (none at all under a global pause): they stay queued and keep
        their ``attempts``. Deliveries already in hand are not interrupted. ``NotFound``
        for an unknown segment. Resuming what is not paused is a no-op.
        """

    @abc.abstractmethod
    def pauses(self) -> dict[str | None, PauseInfo]:
        """Current pauses, keyed by segment name (``None`` = the global pause)."""

    @abc.abstractmethod
    def requeue(
        self, notification_id: str, *, reason: str = "", now: float | None = None
    ) -> Notification:
        """Operator retry: an ``error`` or ``failed`` notification goes back to the queue
        now as ``new`` with ``attempts`` reset to 0 (and out of the dead letters); the
        lease token is bumped so no stale holder can write. ``Conflict`` for another
        status or while a live lease holds it; ``NotFound``."""

    @abc.abstractmethod
    def resolve(
        self, notification_id: str, *, reason: str, now: float | None = None
    ) -> Notification:
        """Operator close: status ``failed`` with ``reason``, never handed out again;
        the lease token is bumped so a worker still holding it gets ``LeaseLost`` at its
        next write. ``Conflict`` for ``finished``/``ignored``; ``NotFound``."""

    # -- clock ------------------------------------------------------------------------
    def now(self) -> float:
        """The store's clock (UTC epoch seconds): the one leases, retry due times and
        the duplicate window are judged by. The machine's clock by default; the Redis
        store reads the server's."""
        return time.time()

    def durability_risks(self) -> list[DurabilityRisk]:
        """What this store's configuration risks losing on a crash (empty: nothing
        known). Checked once by workers at start-up (:func:`check_durability`)."""
        return []

    # -- read models ------------------------------------------------------------------
    @abc.abstractmethod
    def queue_stats(self, *, now: float | None = None) -> QueueStats:
        """Queue depth, delayed retries, in-flight deliveries and dead letters."""

    @abc.abstractmethod
    def prune_history(
        self, older_than: float, *, limit: int | None = None, now: float | None = None
    ) -> int:
        """Delete terminal (finished, ignored, failed) notifications last updated more
        than ``older_than`` seconds ago, with their steps, moves, claims, dead letters
        and index entries; at most ``limit`` of them (None: all). Never one with a live
        lease or a reserved host still claimed by it. Idempotent. Returns how many went."""

    def reserved_left(self) -> dict[str, int]:
        """Per segment, how many usable reserved hosts remain (0 included)."""
        left = {segment.name: 0 for segment in self.list_segments()}
        for host in self.list_hosts(reserved=True, on_maintenance=False):
            left[host.segment] = left.get(host.segment, 0) + 1
        return left
