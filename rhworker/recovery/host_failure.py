"""The built-in driver: host-failure recovery as in docs/design.md §3.

gate → mark the failed host → fence it (the ``[fencing]`` driver: Nova only, or
power off through the BMC / a script) and then in Nova (force down, then disable) → choose
instances and record their moves → choose a target by recovery method (reserved
host under a tooz lock + an atomic claim, or Nova's scheduler) → evacuate with
bounded parallelism → judge the outcome on the moves as they stand.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from rhworker.compute.base import Server, Service
from rhworker.errors import ComputeNotFound, FencingError, NotFound
from rhworker.fencing.base import (
    FenceRequest,
    FencingDriver,
    FencingOptions,
    load_fencing_driver,
)
from rhworker.fencing.nova import force_down
from rhworker.models import (
    Host,
    Move,
    MoveState,
    Notification,
    NotificationStatus,
    RecoveryMethod,
    Segment,
)
from rhworker.recovery import correlated
from rhworker.recovery.base import RecoveryContext, RecoveryDriver, RecoveryResult
from rhworker.recovery.evacuation import Evacuation
from rhworker.recovery.host_restore import restore_host
from rhworker.recovery.targets import ReservedHostTarget, claim_reserved_host, resume_claim

LOG = logging.getLogger(__name__)

# Nova's answer when a target cannot take a server; another reserved host may.
NO_VALID_HOST = "No valid host"
# Metadata values read as true, as oslo's strutils.bool_from_string (Masakari) does.
TRUE_STRINGS = frozenset({"1", "t", "true", "on", "y", "yes"})


def is_ha_enabled(server: Server, key: str) -> bool:
    """The server's ``key`` metadata (``HA_Enabled``) says true."""
    return str(server.metadata.get(key, "")).strip().lower() in TRUE_STRINGS


def ha_first(moves: list[Move]) -> list[Move]:
    """HA-enabled instances before the others, each group in its recorded order —
    Masakari's order (its PrepareHAEnabledInstancesTask lists them first)."""
    return sorted(moves, key=lambda m: not m.ha_enabled)


class HostFailureDriver(RecoveryDriver):
    def __init__(self) -> None:
        self._fencers: dict[FencingOptions, FencingDriver] = {}
        self._fencers_lock = threading.Lock()

    def execute_host_failure(
        self, ctx: RecoveryContext, notification: Notification
    ) -> RecoveryResult:
        gate = self._gate(ctx, notification)
        if isinstance(gate, RecoveryResult):
            return gate
        host, segment = gate
        self._mark_failed_host(ctx, host)
        unfenced = self._fence(ctx, notification, host)
        if unfenced is not None:
            return unfenced
        # every reported host forced down before any evacuation (docs/design.md)
        correlated.settle(ctx, notification, ctx.options.correlation_window)
        moves = self._record_moves(ctx, notification, host.name)
        self._release_leftovers(ctx, moves, host.name)
        todo = [m for m in moves if not m.state.done]
        if not todo:
            ctx.step("instances", "no instance to evacuate")
            return self._outcome(ctx, notification, [])
        method = segment.recovery_method
        ctx.step("method", f"{method.value}: {len(todo)} instance(s) to evacuate")
        targets: list[str] = []
        exhausted = False
        if method == RecoveryMethod.AUTO:
            self._evacuate(ctx, host.name, todo, None)
        elif method == RecoveryMethod.RESERVED_HOST:
            targets, exhausted = self._via_reserved_hosts(ctx, notification, host, todo)
        elif method == RecoveryMethod.RH_PRIORITY:
            targets, exhausted = self._via_reserved_hosts(ctx, notification, host, todo)
            self._fallback_auto(ctx, notification, host.name)
        elif method == RecoveryMethod.AUTO_PRIORITY:
            self._evacuate(ctx, host.name, todo, None)
            rest = self._undone(ctx, notification)
            if rest:
                ctx.step(
                    "fallback", f"scheduler left {len(rest)} instance(s); trying reserved hosts"
                )
                targets, exhausted = self._via_reserved_hosts(ctx, notification, host, rest)
        return self._outcome(ctx, notification, targets, exhausted)

    # -- 1. gate ---------------------------------------------------------------------
    def _gate(self, ctx: RecoveryContext, n: Notification) -> RecoveryResult | tuple[Host, Segment]:
        """The outcome when there is nothing to recover, else the host and its segment."""
        try:
            host = ctx.store.get_host(n.hostname)
        except NotFound:
            return self._ignore(ctx, f"host {n.hostname} is not in the inventory")
        segment = ctx.store.get_segment(host.segment)
        if not segment.enabled:
            return self._ignore(ctx, f"segment {segment.name} is disabled")
        event = str(n.payload.get("event", "")).upper()
        if event == "STARTED":
            return restore_host(ctx, n, host)
        if event != "STOPPED":
            return self._ignore(ctx, f"event {event or '(none)'} is not handled")
        host_status = str(n.payload.get("host_status") or "").upper()
        note = ""
        if host_status == "UNKNOWN" and self._recovers_unknown(ctx):
            note = (
                f"; host_status UNKNOWN, recovered once fenced by {ctx.options.fencing.driver} "
                "(recover_unknown_host_status)"
            )
        elif host_status != "NORMAL":
            return self._ignore(
                ctx,
                f"host_status is {host_status or 'missing'}, not NORMAL: the host is not known "
                "to be fenced and evacuating could run an instance twice",
            )
        ctx.step("gate", f"host {host.name} stopped; segment {segment.name}{note}")
        return host, segment

    def _ignore(self, ctx: RecoveryContext, reason: str) -> RecoveryResult:
        ctx.step("ignored", reason)
        return RecoveryResult(NotificationStatus.IGNORED, reason)

    # -- 2, 3. mark and fence -----------------------------------------------------------
    def _mark_failed_host(self, ctx: RecoveryContext, host: Host) -> None:
        if host.on_maintenance and not host.reserved:
            return
        ctx.guard()
        ctx.store.update_host(host.name, on_maintenance=True, reserved=False)
        ctx.step(
            "maintenance",
            f"{host.name} on maintenance" + (", no longer reserved" if host.reserved else ""),
        )

    def _fencer(self, options: FencingOptions) -> FencingDriver:
        """The fencing driver for these options, loaded once per configuration."""
        with self._fencers_lock:
            driver = self._fencers.get(options)
            if driver is None:
                driver = self._fencers[options] = load_fencing_driver(options.driver, options)
            return driver

    def _recovers_unknown(self, ctx: RecoveryContext) -> bool:
        """host_status UNKNOWN is recovered only when asked to and the fence
        confirms power off."""
        opts = ctx.options.fencing
        return opts.recover_unknown_host_status and self._fencer(opts).confirms_power_off

    def _fence(self, ctx: RecoveryContext, n: Notification, host: Host) -> RecoveryResult | None:
        """Fence the host (the ``[fencing]`` driver), then force its compute service
        down and disable it in Nova. A failed fence ends the attempt in ``error``:
        nothing is evacuated from a host that may still run its instances."""
        hostname = host.name
        try:
            service: Service | None = ctx.compute.get_service(hostname)
        except ComputeNotFound:
            service = None
        try:
            fencer = self._fencer(ctx.options.fencing)
            result = fencer.fence(
                FenceRequest(host, ctx.compute, service, ctx.guard, ctx.sleep, time.monotonic)
            )
        except FencingError as e:
            driver = ctx.options.fencing.driver
            reason = f"fencing {hostname} ({driver}) failed, nothing evacuated: {e}"
            ctx.step("fence", reason, driver=driver, result="failed")
            return RecoveryResult(NotificationStatus.ERROR, reason)
        fenced = f"{hostname}: {result.message} ({fencer.name})"
        if service is None:
            ctx.step(
                "fence",
                f"Nova has no compute service on {hostname}"
                if fencer.name == "nova"
                else f"{fenced}; Nova has no compute service on {hostname}",
                driver=fencer.name,
                result="fenced",
                powered_off=result.powered_off,
            )
            return None
        if not result.forced_down:
            force_down(ctx.compute, hostname, service, ctx.guard)
        if service.status != "disabled":
            reason = f"{ctx.options.service_disable_reason} notification {n.id}"[:255]
            ctx.guard()
            ctx.compute.disable_service(hostname, reason, service=service)
        message = (
            f"{hostname}: compute service forced down and disabled"
            if fencer.name == "nova"
            else f"{fenced}; compute service forced down and disabled"
        )
        ctx.step(
            "fence", message, driver=fencer.name, result="fenced", powered_off=result.powered_off
        )
        return None

    # -- 4. instances --------------------------------------------------------------------
    def _record_moves(self, ctx: RecoveryContext, n: Notification, hostname: str) -> list[Move]:
        existing = {m.instance_id: m for m in ctx.store.list_moves(n.id)}
        key = ctx.options.ha_enabled_instance_metadata_key
        servers = ctx.compute.list_servers_on_host(hostname)
        # HA-enabled first, as Masakari does (the recorded order is the evacuation order)
        servers = sorted(servers, key=lambda s: not is_ha_enabled(s, key))
        added = skipped = 0
        for server in servers:
            if server.id in existing:
                continue
            why_not = self._why_not_evacuate(ctx, server)
            move = Move(
                notification_id=n.id,
                instance_id=server.id,
                instance_name=server.name,
                source=hostname,
                state=MoveState.SKIPPED if why_not else MoveState.PENDING,
                message=why_not or "",
                original_status=server.status,
                ha_enabled=is_ha_enabled(server, key),
            )
            ctx.guard()
            ctx.store.upsert_move(move, token=ctx.token)
            existing[server.id] = move
            skipped += bool(why_not)
            added += not why_not
        ctx.step(
            "instances",
            f"{len(servers)} on {hostname}: {added} new to evacuate, {skipped} skipped, "
            f"{len(existing) - added - skipped} known from earlier attempts",
        )
        return list(existing.values())

    def _why_not_evacuate(self, ctx: RecoveryContext, server: Server) -> str | None:
        opts = ctx.options
        if not opts.evacuate_all_instances and not is_ha_enabled(
            server, opts.ha_enabled_instance_metadata_key
        ):
            return f"not HA-enabled (metadata {opts.ha_enabled_instance_metadata_key})"
        if opts.ignore_instances_in_error_state and server.status == "ERROR":
            return "in error state (ignore_instances_in_error_state)"
        return None

    def _release_leftovers(self, ctx: RecoveryContext, moves: list[Move], failed_host: str) -> None:
        """Ended moves whose server rhworker still holds locked (an earlier owner lost
        its lease before unlocking): unlock them now that this worker owns them."""
        for move in moves:
            if move.state.done and move.locked_by_rhworker:
                Evacuation(ctx, move, failed_host, move.target).release_leftover()

    def _undone(self, ctx: RecoveryContext, n: Notification) -> list[Move]:
        return [m for m in ctx.store.list_moves(n.id) if not m.state.done]

    # -- 5. targets ------------------------------------------------------------------------
    def _via_reserved_hosts(
        self, ctx: RecoveryContext, n: Notification, failed: Host, todo: list[Move]
    ) -> tuple[list[str], bool]:
        """Evacuate ``todo`` onto claimed reserved hosts, claiming another one only
        while the current one lacks room. Returns the hosts used and whether the
        segment ran out of reserved hosts."""
        used: list[str] = []
        exhausted = False
        target: ReservedHostTarget | None = resume_claim(ctx, n)
        tried: set[str] = {c.host for c in n.progress.claims}
        while todo:
            if target is None:
                target = claim_reserved_host(ctx, n, failed, exclude=tried)
                if target is None:
                    ctx.step("no_reserved_host", f"no reserved host available in {failed.segment}")
                    exhausted = True
                    break
            tried.add(target.host)
            try:
                target.prepare(ctx, failed.name)
                used.append(target.host)
                self._evacuate(ctx, failed.name, todo, target.host, target.verify)
            finally:
                target.release(ctx)
            rest = self._undone(ctx, n)
            if not any(NO_VALID_HOST in m.message for m in rest):
                break
            ctx.step(
                "full", f"{target.host} could not take {len(rest)} instance(s); next reserved host"
            )
            todo, target = rest, None
        return used, exhausted

    def _fallback_auto(self, ctx: RecoveryContext, n: Notification, failed_host: str) -> None:
        rest = self._undone(ctx, n)
        if rest:
            ctx.step(
                "fallback", f"{len(rest)} instance(s) left: letting Nova's scheduler place them"
            )
            self._evacuate(ctx, failed_host, rest, None)

    # -- 6. evacuate -------------------------------------------------------------------------
    def _evacuate(
        self,
        ctx: RecoveryContext,
        failed_host: str,
        moves: list[Move],
        target: str | None,
        before_evacuate: Callable[[], None] | None = None,
    ) -> None:
        correlated.fence_reported(ctx, ctx.store.get_notification(ctx.delivery.notification_id))
        threads = max(1, min(ctx.options.host_failure_recovery_threads, len(moves)))
        # The pool starts its tasks in submission order: HA-enabled instances first.
        moves = ha_first(moves)
        with ThreadPoolExecutor(threads, thread_name_prefix="evacuate") as pool:
            futures = [
                pool.submit(Evacuation(ctx, m, failed_host, target, before_evacuate).run)
                for m in moves
            ]
            errors = []
            for future in futures:
                try:
                    future.result()
                except Exception as e:  # LeaseLost/Cancelled included: re-raised below
                    errors.append(e)
        if errors:
            raise errors[0]

    # -- 7. outcome ---------------------------------------------------------------------------
    def _outcome(
        self,
        ctx: RecoveryContext,
        n: Notification,
        targets: list[str],
        exhausted: bool = False,
    ) -> RecoveryResult:
        moves = ctx.store.list_moves(n.id)
        moved = sum(m.state == MoveState.SUCCEEDED for m in moves)
        skipped = sum(m.state == MoveState.SKIPPED for m in moves)
        gone = sum(m.state == MoveState.GONE for m in moves)
        failed = [m for m in moves if not m.state.done]
        if failed and correlated.explain_stranded(ctx, n, n.hostname):
            moves = ctx.store.list_moves(n.id)
            failed = [m for m in moves if not m.state.done]
        if not failed:
            return RecoveryResult(
                NotificationStatus.FINISHED,
                f"{moved} evacuated, {skipped} skipped" + (f", {gone} gone" if gone else ""),
                moved=moved,
                skipped=skipped,
                target_hosts=targets,
            )
        reasons = "; ".join(
            f"{m.instance_name or m.instance_id}: {m.message or m.state.value}" for m in failed[:5]
        )
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        prefix = "no reserved host available; " if exhausted else ""
        return RecoveryResult(
            NotificationStatus.ERROR,
            f"{prefix}{len(failed)} instance(s) not evacuated: {reasons}{more}",
            moved=moved,
            failed=len(failed),
            skipped=skipped,
            target_hosts=targets,
        )
