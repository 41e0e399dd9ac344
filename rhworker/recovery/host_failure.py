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
from rhworker.errors import ComputeNotFound, FencingError
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
    StepName,
)
from rhworker.recovery import correlated, stranded
from rhworker.recovery.base import (
    RecoveryContext,
    RecoveryDriver,
    RecoveryResult,
    host_in_enabled_segment,
    ignored,
)
from rhworker.recovery.capacity import CapacityPlanner
from rhworker.recovery.evacuation import Evacuation, PostingGate, ServerWatch
from rhworker.recovery.giveback import return_if_unused
from rhworker.recovery.host_restore import restore_host
from rhworker.recovery.targets import ReservedHostTarget, claim_reserved_host, resume_claim
from rhworker.validation import parse_bool

LOG = logging.getLogger(__name__)

# Nova's answer when a target cannot take a server; another reserved host may.
NO_VALID_HOST = "No valid host"


def is_ha_enabled(server: Server, key: str) -> bool:
    """The server's ``key`` metadata (``HA_Enabled``) says true."""
    return parse_bool(str(server.metadata.get(key, ""))) is True


def evacuation_priority(server: Server, key: str) -> float:
    """The server's ``key`` metadata as a number; missing or not a number: 0."""
    try:
        value = float(str(server.metadata.get(key, "0")).strip())
    except ValueError:
        return 0.0
    return value if value == value else 0.0  # NaN counts as 0


def evacuation_order(servers: list[Server], ha_key: str, priority_key: str) -> list[Server]:
    """The order instances are recorded, hence evacuated, in: HA-enabled first (as
    Masakari does), then by the ``priority_key`` metadata, highest first; ties keep
    Nova's order."""
    return sorted(
        servers,
        key=lambda s: (not is_ha_enabled(s, ha_key), -evacuation_priority(s, priority_key)),
    )


def ha_first(moves: list[Move]) -> list[Move]:
    """HA-enabled instances before the others, each group in its recorded order —
    Masakari's order (its PrepareHAEnabledInstancesTask lists them first)."""
    return sorted(moves, key=lambda m: not m.ha_enabled)


class HostFailureDriver(RecoveryDriver):
    def __init__(self) -> None:
        # The servers this attempt listed when it recorded the moves, by notification:
        # the first evacuation batch of the attempt takes its pending moves' first read
        # from there instead of listing again (one Nova call less on the critical path).
        self._listed: dict[str, dict[str, Server]] = {}
        self._listed_lock = threading.Lock()
        # The open reports whose host this attempt already fenced, by notification:
        # each evacuation batch fences only the hosts reported since (correlated.py).
        self._fenced: dict[str, set[str]] = {}
        self._fencers: dict[FencingOptions, FencingDriver] = {}
        self._fencers_lock = threading.Lock()

    # VM and PROCESS notifications live in their own modules (imported here, not at the
    # top: they use this module's helpers).
    def execute_instance_failure(
        self, ctx: RecoveryContext, notification: Notification
    ) -> RecoveryResult:
        from rhworker.recovery.instance_failure import execute_instance_failure

        return execute_instance_failure(ctx, notification)

    def execute_process_failure(
        self, ctx: RecoveryContext, notification: Notification
    ) -> RecoveryResult:
        from rhworker.recovery.process_failure import execute_process_failure

        return execute_process_failure(ctx, notification)

    def execute_host_failure(
        self, ctx: RecoveryContext, notification: Notification
    ) -> RecoveryResult:
        ready = self._gate_mark_and_fence(ctx, notification)
        if isinstance(ready, RecoveryResult):
            return ready
        host, segment = ready
        # Every reported host forced down before any evacuation (docs/design.md). The
        # correlation window only where Nova's scheduler places: a reserved_host
        # segment evacuates onto its spares only, which the scheduler never chooses
        # and a failed spare cannot be claimed, so it need not wait for other reports.
        window = (
            0.0
            if segment.recovery_method == RecoveryMethod.RESERVED_HOST
            else ctx.options.correlation_window
        )
        with self._listed_lock:
            fenced = self._fenced[notification.id] = set()
        try:
            correlated.settle(ctx, notification, window, fenced)
            moves = self._record_moves(ctx, notification, host.name)
            return self._recover(ctx, notification, host, segment, moves)
        finally:
            with self._listed_lock:
                self._listed.pop(notification.id, None)
                self._fenced.pop(notification.id, None)

    def _recover(
        self,
        ctx: RecoveryContext,
        notification: Notification,
        host: Host,
        segment: Segment,
        moves: list[Move],
    ) -> RecoveryResult:
        self._release_leftovers(ctx, moves, host.name)
        todo = [m for m in moves if not m.state.done]
        if not todo:
            ctx.step(StepName.INSTANCES, "no instance to evacuate")
            return self._outcome(ctx, notification, [])
        method = segment.recovery_method
        ctx.step(StepName.METHOD, f"{method.value}: {len(todo)} instance(s) to evacuate")
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
                    StepName.FALLBACK,
                    f"scheduler left {len(rest)} instance(s); trying reserved hosts",
                )
                targets, exhausted = self._via_reserved_hosts(ctx, notification, host, rest)
        return self._outcome(ctx, notification, targets, exhausted)

    def _gate_mark_and_fence(
        self, ctx: RecoveryContext, notification: Notification
    ) -> RecoveryResult | tuple[Host, Segment]:
        """Steps 1–3 (docs/design.md §3): the outcome when there is nothing to recover
        or the fence failed, else the failed host — marked and fenced — and its
        segment. Shared with the ``external`` driver."""
        gate = self._gate(ctx, notification)
        if isinstance(gate, RecoveryResult):
            return gate
        host, segment = gate
        self._mark_failed_host(ctx, host)
        unfenced = self._fence(ctx, notification, host)
        if unfenced is not None:
            return unfenced
        return host, segment

    # -- 1. gate ---------------------------------------------------------------------
    def _gate(self, ctx: RecoveryContext, n: Notification) -> RecoveryResult | tuple[Host, Segment]:
        """The outcome when there is nothing to recover, else the host and its segment."""
        found = host_in_enabled_segment(ctx, n)
        if isinstance(found, RecoveryResult):
            return found
        host, segment = found
        event = str(n.payload.get("event", "")).upper()
        if event == "STARTED":
            return restore_host(ctx, n, host)
        if event != "STOPPED":
            return ignored(ctx, f"event {event or '(none)'} is not handled")
        host_status = str(n.payload.get("host_status") or "").upper()
        note = ""
        if host_status == "UNKNOWN" and self._recovers_unknown(ctx):
            note = (
                f"; host_status UNKNOWN, recovered once fenced by {ctx.options.fencing.driver} "
                "(recover_unknown_host_status)"
            )
        elif host_status != "NORMAL":
            return ignored(
                ctx,
                f"host_status is {host_status or 'missing'}, not NORMAL: the host is not known "
                "to be fenced and evacuating could run an instance twice",
            )
        ctx.step(StepName.GATE, f"host {host.name} stopped; segment {segment.name}{note}")
        return host, segment

    # -- 2, 3. mark and fence -----------------------------------------------------------
    def _mark_failed_host(self, ctx: RecoveryContext, host: Host) -> None:
        if host.on_maintenance and not host.reserved:
            return
        ctx.guard()
        ctx.store.update_host(host.name, on_maintenance=True, reserved=False)
        ctx.step(
            StepName.MAINTENANCE,
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
            ctx.step(StepName.FENCE, reason, driver=driver, result="failed")
            return RecoveryResult(NotificationStatus.ERROR, reason)
        fenced = f"{hostname}: {result.message} ({fencer.name})"
        if service is None:
            ctx.step(
                StepName.FENCE,
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
            StepName.FENCE,
            message,
            driver=fencer.name,
            result="fenced",
            powered_off=result.powered_off,
        )
        return None

    # -- 4. instances --------------------------------------------------------------------
    def _record_moves(self, ctx: RecoveryContext, n: Notification, hostname: str) -> list[Move]:
        existing = {m.instance_id: m for m in ctx.store.list_moves(n.id)}
        key = ctx.options.ha_enabled_instance_metadata_key
        servers = ctx.compute.list_servers_on_host(hostname)
        with self._listed_lock:
            self._listed[n.id] = {s.id: s for s in servers}
        # HA-enabled first, then by priority (the recorded order is the evacuation order)
        servers = evacuation_order(servers, key, ctx.options.evacuation_priority_metadata_key)
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
            StepName.INSTANCES,
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
        """Evacuate ``todo`` onto claimed reserved hosts, claiming another one while
        the current one lacks room (capacity from Placement, or Nova's "No valid
        host"), then give back a claimed spare nothing was moved onto. Returns the
        hosts used and whether the segment ran out of reserved hosts."""
        used: list[str] = []
        claimed: dict[str, int] = {}  # host -> epoch, of the spares this attempt took
        exhausted = False
        with self._listed_lock:
            listed = self._listed.get(n.id)
        # the listing that recorded the moves, not a second one (none after a first batch)
        planner = CapacityPlanner(ctx, failed.name, list(listed.values()) if listed else None)
        target = stranded.unless_failed(ctx, resume_claim(ctx, n))
        tried: set[str] = {c.host for c in n.progress.claims}
        while todo:
            if target is None:
                target = self._claim_with_room(ctx, n, failed, todo, tried, planner)
                if target is None:
                    ctx.step(
                        StepName.NO_RESERVED_HOST, f"no reserved host available in {failed.segment}"
                    )
                    exhausted = True
                    break
            tried.add(target.host)
            claimed[target.host] = target.epoch
            share = self._share(planner, target.host, todo)
            try:
                target.prepare(ctx, failed.name)
                used.append(target.host)
                self._evacuate(ctx, failed.name, share, target.host, target.verify)
            finally:
                target.release(ctx)
            sent = {m.instance_id for m in share}
            rest = [
                m
                for m in self._undone(ctx, n)
                if m.instance_id not in sent
                or NO_VALID_HOST in m.message
                or stranded.was_reset(m.message)
            ]
            if not rest:
                break
            if any(stranded.was_reset(m.message) for m in rest):
                ctx.step(
                    StepName.NEXT_SHARE,
                    f"{target.host} failed during its evacuations; {len(rest)} instance(s) "
                    "left for the next reserved host",
                )
            elif any(NO_VALID_HOST in m.message for m in rest):
                ctx.step(
                    StepName.FULL,
                    f"{target.host} could not take {len(rest)} instance(s); next reserved host",
                )
            else:
                ctx.step(
                    StepName.NEXT_SHARE,
                    f"{target.host} took its share; {len(rest)} instance(s) left for the next "
                    "reserved host",
                )
            todo, target = rest, None
        for host, epoch in claimed.items():
            if return_if_unused(ctx, n, host, epoch, failed.name) and host in used:
                used.remove(host)
        return used, exhausted

    @staticmethod
    def _share(planner: CapacityPlanner, host: str, todo: list[Move]) -> list[Move]:
        """The moves ``host`` takes now. Moves an earlier attempt already started
        towards it stay with it: their room is already counted in its usage (Placement
        holds it for an evacuation under way), so they are not weighed again."""
        started = {m.instance_id for m in todo if m.state == MoveState.ONGOING and m.target == host}
        fresh = [m for m in todo if m.instance_id not in started]
        chosen = {m.instance_id for m in planner.share(host, fresh)} if fresh else set()
        return [m for m in todo if m.instance_id in started or m.instance_id in chosen]

    def _claim_with_room(
        self,
        ctx: RecoveryContext,
        n: Notification,
        failed: Host,
        todo: list[Move],
        tried: set[str],
        planner: CapacityPlanner,
    ) -> ReservedHostTarget | None:
        """The first spare (segment order) that can take all of ``todo``, if one can;
        else the first that can take some of them (docs: rhworker/recovery/capacity.py)."""
        candidates = [
            h.name
            for h in ctx.store.reserved_hosts(failed.segment)
            if h.name != failed.name and h.name not in tried
        ]
        if planner.prefer_whole(todo, candidates):
            target = claim_reserved_host(
                ctx, n, failed, tried, accept=lambda h: planner.accepts(h, todo, whole=True)
            )
            if target is not None:
                return target
        return claim_reserved_host(
            ctx, n, failed, tried, accept=lambda h: planner.accepts(h, todo, whole=False)
        )

    def _fallback_auto(self, ctx: RecoveryContext, n: Notification, failed_host: str) -> None:
        rest = self._undone(ctx, n)
        if rest:
            ctx.step(
                StepName.FALLBACK,
                f"{len(rest)} instance(s) left: letting Nova's scheduler place them",
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
        rounds: int = 0,
    ) -> None:
        nid = ctx.delivery.notification_id
        with self._listed_lock:
            fenced = self._fenced.get(nid)
        correlated.fence_reported(ctx, ctx.store.get_notification(nid), fenced)
        # Posting and watching apart: the gate lets moves post in their order (HA-enabled
        # first), host_failure_recovery_threads at a time; a posted move waits on the
        # shared watch (one listing per poll for all) in its own thread, so up to
        # max_inflight_evacuations evacuations run at once and each one that settles
        # restores its power state and unlocks without waiting for the others.
        moves = ha_first(moves)
        inflight = max(1, min(ctx.options.max_inflight_evacuations, len(moves)))
        gate = PostingGate(min(ctx.options.host_failure_recovery_threads, inflight))
        watch = ServerWatch(ctx, failed_host, target)
        failed_hosts = stranded.FailedHosts(ctx)
        # Every move re-reads its server before posting: the pending moves of this
        # attempt's first batch use the listing it just made; the others are read in
        # one listing here (a server not found on these hosts is read alone by its move).
        with self._listed_lock:
            listed = self._listed.pop(ctx.delivery.notification_id, {})
        fresh = {
            m.instance_id: listed[m.instance_id]
            for m in moves
            if m.state == MoveState.PENDING and m.instance_id in listed
        }
        rest = [m.instance_id for m in moves if m.instance_id not in fresh]
        if rest:
            hosts = [failed_host] + ([target] if target else [])
            fresh.update(ctx.compute.read_servers(rest, hosts))
        with ThreadPoolExecutor(inflight, thread_name_prefix="evacuate") as pool:
            futures = [
                pool.submit(
                    Evacuation(
                        ctx,
                        m,
                        failed_host,
                        target,
                        before_evacuate,
                        watch=watch,
                        gate=gate,
                        index=i,
                        first=fresh.get(m.instance_id),
                        failed_hosts=failed_hosts,
                    ).run
                )
                for i, m in enumerate(moves)
            ]
            errors = []
            for future in futures:
                try:
                    future.result()
                except Exception as e:  # LeaseLost/Cancelled included: re-raised below
                    errors.append(e)
        if errors:
            raise errors[0]
        again = [m for m in moves if stranded.was_reset(m.message)]
        if again and target is None and rounds < stranded.MAX_ROUNDS:
            # Nova's scheduler chose a host that failed meanwhile (now forced down):
            # it places them elsewhere (a reserved target: the caller claims another)
            ctx.step(StepName.RE_EVACUATE, f"{len(again)} stranded instance(s): evacuating again")
            self._evacuate(ctx, failed_host, again, None, rounds=rounds + 1)

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
