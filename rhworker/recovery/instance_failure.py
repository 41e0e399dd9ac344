"""VM notifications: Masakari's instance-failure workflow, fenced and serialised.

gate (host, segment, event) → the instance's lock (``coordination.LOCK_INSTANCE``,
never blocking: a busy lock means another notification is recovering the instance,
so this one is retried later) → re-read the instance in Nova and decide (not
HA-enabled, error state with ``ignore_instances_in_error_state``, paused/rescued,
moved elsewhere → ignored with the reason) → stop it (Nova may still call a crashed
instance ACTIVE) and wait for ``stopped`` → start it → confirm ``active`` within a
deadline.

Only the events Masakari acts on are recovered (``masakari/engine/instance_events.py``):
``LIFECYCLE``/``STOPPED_FAILED`` and ``IO_ERROR``/``IO_ERROR_REPORT``; every other
event (a clean shutdown, a reboot, a start...) needs no action and ends ignored.

Every change in Nova is preceded by ``ctx.guard()`` (the delivery's lease) and a check
that this worker still owns the instance's lock, and is recorded as a step.
"""

from __future__ import annotations

import logging

from rhworker.compute.base import Server
from rhworker.coordination import LOCK_INSTANCE, HeldLock
from rhworker.errors import ComputeBadRequest, ComputeNotFound, CoordinationError
from rhworker.models import Notification, NotificationStatus, NotificationType, StepName
from rhworker.recovery.base import RecoveryContext, RecoveryResult, host_in_enabled_segment, ignored
from rhworker.recovery.host_failure import is_ha_enabled

LOG = logging.getLogger(__name__)

# The (event, vir_domain_event) pairs Masakari recovers; anything else needs no action.
RECOVERED_EVENTS: dict[str, tuple[str, ...]] = {
    "LIFECYCLE": ("STOPPED_FAILED",),
    "IO_ERROR": ("IO_ERROR_REPORT",),
}
# Nova's power_state of a running guest.
POWER_RUNNING = 1
# vm_states Masakari leaves alone (an operator's doing, not a failure).
LEFT_ALONE_VM_STATES = ("paused", "rescued")


class _Failed(Exception):
    """The recovery cannot go on now: the notification ends ``error`` (retried)."""


def needs_recovery(event: str, vir_domain_event: str) -> bool:
    """Masakari's ``is_valid_event``: does this libvirt event call for a restart?"""
    return vir_domain_event.upper() in RECOVERED_EVENTS.get(event.upper(), ())


def execute_instance_failure(ctx: RecoveryContext, n: Notification) -> RecoveryResult:
    """Recover the instance a VM notification names (see the module doc)."""
    instance_id = str(n.payload.get("instance_uuid", ""))
    event = str(n.payload.get("event", "")).upper()
    vir_event = str(n.payload.get("vir_domain_event", "")).upper()
    found = host_in_enabled_segment(ctx, n)
    if isinstance(found, RecoveryResult):
        return found
    if not needs_recovery(event, vir_event):
        return ignored(
            ctx,
            f"event {event or '(none)'}/{vir_event or '(none)'} of instance {instance_id} "
            "needs no action (recovered: LIFECYCLE/STOPPED_FAILED, IO_ERROR/IO_ERROR_REPORT)",
        )
    try:
        lock = ctx.coordinator.try_lock(instance_id, kind=LOCK_INSTANCE)
    except CoordinationError as e:
        return _retry(ctx, f"cannot take the lock of instance {instance_id}: {e}")
    if lock is None:
        ctx.step(
            StepName.LOCK_BUSY,
            f"instance {instance_id} is being recovered by another notification",
            instance=instance_id,
        )
        return RecoveryResult(
            NotificationStatus.ERROR,
            f"instance {instance_id} is being recovered by another notification; retried later",
        )
    try:
        ctx.step(StepName.LOCKED, f"lock of instance {instance_id} taken", instance=instance_id)
        return _InstanceRecovery(ctx, n, instance_id, lock).run()
    except _Failed as e:
        return _retry(ctx, str(e))
    finally:
        ctx.coordinator.release(lock)


def _retry(ctx: RecoveryContext, reason: str) -> RecoveryResult:
    ctx.step(StepName.FAILED, reason)
    return RecoveryResult(NotificationStatus.ERROR, reason)


class _InstanceRecovery:
    """Stop → start → confirm ACTIVE for one instance, under its lock."""

    def __init__(
        self, ctx: RecoveryContext, n: Notification, instance_id: str, lock: HeldLock
    ) -> None:
        self.ctx = ctx
        self.n = n
        self.instance_id = instance_id
        self.lock = lock
        self.options = ctx.instance_failure

    def run(self) -> RecoveryResult:
        try:
            server = self.ctx.compute.get_server(self.instance_id)
        except ComputeNotFound:
            return ignored(self.ctx, f"instance {self.instance_id} does not exist in Nova")
        why_not = self._why_not(server)
        if why_not:
            return ignored(self.ctx, why_not)
        earlier = self._recovered_since(server)
        if earlier is not None:
            reason = (
                f"instance {self.instance_id} already recovered after this report, by "
                f"notification {earlier.id}: nothing done"
            )
            self.ctx.step(StepName.ALREADY_RECOVERED, reason, instance=self.instance_id)
            return RecoveryResult(NotificationStatus.FINISHED, reason)
        if self._started_by_this_notification():
            self.ctx.step(StepName.RESUMED, "instance already started by an earlier attempt")
        else:
            self._stop(server)
            self._start()
        self._wait_for("active", self.options.wait_period_after_power_on, "start")
        reason = f"instance {self.instance_id} restarted on {self.n.hostname}: ACTIVE"
        self.ctx.step(StepName.CONFIRMED, reason, instance=self.instance_id)
        return RecoveryResult(NotificationStatus.FINISHED, reason)

    # -- decide ------------------------------------------------------------------------
    def _why_not(self, server: Server) -> str | None:
        opts = self.options
        name = f"instance {self.instance_id}"
        if not opts.process_all_instances and not is_ha_enabled(
            server, opts.ha_enabled_instance_metadata_key
        ):
            return (
                f"{name} is not HA-enabled (metadata {opts.ha_enabled_instance_metadata_key}) "
                "and process_all_instances is off"
            )
        if opts.ignore_instances_in_error_state and server.vm_state == "error":
            return f"{name} is in error state (ignore_instances_in_error_state)"
        if server.vm_state in LEFT_ALONE_VM_STATES:
            return f"{name} is {server.vm_state}: left alone"
        if server.host != self.n.hostname:
            return (
                f"{name} runs on {server.host or '(no host)'}, not on {self.n.hostname}: "
                "the report is stale"
            )
        return None

    def _recovered_since(self, server: Server) -> Notification | None:
        """Another VM notification that confirmed this instance ACTIVE after this one
        was generated, while the instance still runs: this report is already answered
        (two reports of one crash restart it once)."""
        running = (
            server.vm_state == "active"
            and server.power_state == POWER_RUNNING
            and server.task_state is None
        )
        if not running:
            return None
        finished = self.ctx.store.list_notifications(
            status=NotificationStatus.FINISHED,
            hostname=self.n.hostname,
            type=NotificationType.VM.value,
        )
        for other in finished:
            if other.id == self.n.id or other.payload.get("instance_uuid") != self.instance_id:
                continue
            if any(
                s.name == StepName.CONFIRMED and s.at >= self.n.generated_time
                for s in other.progress.steps
            ):
                return other
        return None

    def _started_by_this_notification(self) -> bool:
        """An earlier attempt of this notification already started the instance (a
        takeover after the start): only the confirmation is left."""
        current = self.ctx.store.get_notification(self.n.id)
        return any(s.name == StepName.START for s in current.progress.steps)

    # -- act ------------------------------------------------------------------------------
    def _fence(self) -> None:
        """Before every change in Nova: the delivery's lease and the instance's lock."""
        self.ctx.guard()
        if not self.ctx.coordinator.still_owner(self.lock):
            raise _Failed(f"lost the lock of instance {self.instance_id}; retried later")

    def _stop(self, server: Server) -> None:
        if server.vm_state == "stopped":
            self.ctx.step(StepName.STOP, "instance already stopped", instance=self.instance_id)
            return
        if server.vm_state == "resized":
            self._fence()
            self.ctx.compute.reset_state(self.instance_id, "active")
            self.ctx.step(StepName.RESET_STATE, "resized instance reset to active")
        self._fence()
        try:
            self.ctx.compute.stop_server(self.instance_id)
        except ComputeBadRequest as e:
            # Masakari: a conflict is fine if the instance is stopped (or stopping) anyway.
            again = self.ctx.compute.get_server(self.instance_id)
            if again.vm_state != "stopped" and again.task_state != "powering-off":
                raise _Failed(f"Nova refused to stop instance {self.instance_id}: {e}") from e
        self.ctx.step(
            StepName.STOP,
            f"stop requested (vm_state {server.vm_state}, power_state {server.power_state})",
            instance=self.instance_id,
        )
        self._wait_for("stopped", self.options.wait_period_after_power_off, "stop")

    def _start(self) -> None:
        server = self.ctx.compute.get_server(self.instance_id)
        if server.vm_state != "stopped":
            raise _Failed(
                f"invalid state for instance {self.instance_id}: expected stopped, "
                f"found {server.vm_state}"
            )
        self._fence()
        self.ctx.compute.start_server(self.instance_id)
        self.ctx.step(StepName.START, "start requested", instance=self.instance_id)

    def _wait_for(self, vm_state: str, period: float, action: str) -> None:
        deadline = self.ctx.clock() + period
        while True:
            self.ctx.guard()
            server = self.ctx.compute.get_server(self.instance_id)
            if server.vm_state == vm_state and server.task_state is None:
                return
            if self.ctx.clock() >= deadline:
                raise _Failed(
                    f"failed to {action} instance {self.instance_id}: still "
                    f"{server.vm_state}/{server.task_state or '-'} after {period:g} s"
                )
            self.ctx.sleep(self.options.verify_interval)
