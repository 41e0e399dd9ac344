"""Evacuating one server of a failed host: re-read, lock, evacuate, settle, restore.

Every step is idempotent so that a resumed delivery (another worker, or a retry)
can run it again:

- a server already on another host is done (real Nova changes the host only at the
  very end of an evacuation, together with the migration turning ``done``);
- a server Nova is rebuilding (any of ``rebuilding``, ``rebuild_block_device_mapping``,
  ``rebuild_spawning``, or status ``REBUILD``) is only watched, never evacuated again;
- a resumed move also asks Nova's migration records before posting: an evacuation
  from the failed host still in progress (even with the task state already cleared,
  as Nova does before it moves the host) is only waited for; after one that ended,
  the server is read again: ``done`` (Nova moves the host first) shows it on its new
  host, where the move waits for it to settle; one that ended in ``error``/``failed``
  (or a ``done`` of older history, the server still on the failed host) lets it
  evacuate again;
- a server deleted meanwhile (404) ends its move as ``gone``, not failed.

Locks: rhworker locks a server only if nobody had, records that on the move
(``locked_by_rhworker``, set after the lock call, cleared after the unlock) and
unlocks only what that says — never a lock its owner had set — and only while it
still owns the delivery. A worker that lost its lease leaves the server locked and
says why; the next owner resumes the move (or sweeps an ended one) and unlocks it.
A crash between the lock call and its record leaves our lock in place (the safe
side); one between the unlock and its record leaves a flag that the next owner
checks against the server before unlocking again.

Posting and watching are apart (issue 18): the moves of a notification post their
evacuates in order through a :class:`PostingGate` (``host_failure_recovery_threads``
at once), and every posted move then waits on one shared :class:`ServerWatch`, which
reads all of them with one listing per poll (fast at first, backing off to
``verify_interval``) instead of one GET per server. A move that settles restores its
power state and unlocks at once, in its own thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

from rhworker.compute.base import (
    MIGRATION_DONE,
    Migration,
    Server,
    is_rebuilding,
    migration_age,
)
from rhworker.errors import ComputeError, ComputeNotFound, LeaseLost
from rhworker.models import Move, MoveState, StepName
from rhworker.recovery.base import RecoveryContext
from rhworker.recovery.stranded import FailedHosts, StallCheck, StrandedMove, to_evacuate_again

LOG = logging.getLogger(__name__)

# vm_states Nova evacuates as they are; anything else is reset to error first.
EVACUABLE_VM_STATES = frozenset({"active", "stopped", "error"})
# Statuses of a server that finished rebuilding.
SETTLED_STATUSES = frozenset({"ACTIVE", "SHUTOFF", "ERROR"})
# Move states of a move that ran before (its evacuate may have been posted).
STARTED_STATES = frozenset({MoveState.ONGOING, MoveState.FAILED})
# The watch's first poll comes this soon after a server joins it (capped by
# verify_interval), then the polls back off by BACKOFF each up to verify_interval.
# Not faster: on real Nova every listing slows the evacuations it watches (measured:
# polls 0.2 s apart, reset on every change, took 2 × 10 servers from 7.5 s to 16 s).
FIRST_POLL = 0.5
BACKOFF = 1.5
# A poll reads every watched server (not only those whose evacuation ended) this often,
# seconds: what Nova's migration records cannot say (a server deleted meanwhile).
FULL_READ_EVERY = 10.0


_age_key = migration_age


def _describe(server: Server | None) -> str:
    if server is None:
        return "Nova's evacuation of it still running"
    return f"status {server.status}, task {server.task_state}, host {server.host}"


class MoveFailed(Exception):
    """This server could not be evacuated; the message says why."""


class ServerGone(Exception):
    """Nova answers 404 for this server: it was deleted during recovery."""


class ServerWatch:
    """Reads the servers of the moves in flight together: one poll serves every move
    waiting for a read newer than the one it has.

    A poll (``read_evacuating``) lists Nova's evacuations from the failed host — one
    cheap call — and reads only the servers whose evacuation is not running any more
    (a GET each for a few, a listing of the hosts they are on for more); a server
    whose evacuation Nova is still running is not read (nothing about it can be final
    yet) and its move is told so. Every ``FULL_READ_EVERY`` seconds a poll reads all
    of them (``read_servers``) whatever their migrations say: a server deleted during
    its evacuation, or a migration record that never ends, is seen that way.

    No thread of its own: the first waiting move to find no poll under way makes it
    (sleeping until it is due), the others wait for its result. A poll comes
    ``FIRST_POLL`` after a server joins, then they back off to ``verify_interval``.
    """

    def __init__(self, ctx: RecoveryContext, failed_host: str, target: str | None) -> None:
        self.compute = ctx.compute
        self.clock = ctx.clock
        self.sleep = ctx.sleep
        self.failed_host = failed_host
        self.cap = max(0.0, ctx.options.verify_interval)
        self.first = min(FIRST_POLL, self.cap)
        self.interval = self.first
        self.hosts = [failed_host] + ([target] if target and target != failed_host else [])
        self._cond = threading.Condition()
        self.round = 0
        self._polling = False
        self._readers = 0
        self._due = self.clock() + self.first
        self._full_due = self.clock() + FULL_READ_EVERY
        self._wanted: set[str] = set()
        # id -> (round, the server as last read or None if never/gone, evacuating now)
        self._seen: dict[str, tuple[int, Server | None, bool]] = {}
        self._gone: set[str] = set()

    def read(self, server_id: str, after: int) -> tuple[int, Server | None]:
        """The server as read by a poll later than round ``after``, with that round;
        None when that poll found Nova still evacuating it (not read);
        ``ComputeNotFound`` when it found it gone."""
        with self._cond:
            self._readers += 1
            if server_id not in self._wanted:
                self._wanted.add(server_id)
                self.interval = self.first
                self._due = min(self._due, self.clock() + self.first)
        try:
            while True:
                with self._cond:
                    while True:
                        got = self._seen.get(server_id)
                        if got is not None and got[0] > after:
                            if server_id in self._gone:
                                raise ComputeNotFound(f"server {server_id} is gone (404)")
                            return got[0], None if got[2] else got[1]
                        if not self._polling:
                            self._polling = True
                            break
                        self._cond.wait(1.0)
                try:
                    self._poll()
                finally:
                    with self._cond:
                        self._polling = False
                        self._cond.notify_all()
        finally:
            with self._cond:
                self._readers -= 1

    @property
    def readers(self) -> int:
        """Moves waiting in :meth:`read` now."""
        with self._cond:
            return self._readers

    @property
    def wanted(self) -> frozenset[str]:
        """The servers moves are waiting to read."""
        with self._cond:
            return frozenset(self._wanted)

    def forget(self, server_id: str) -> None:
        with self._cond:
            self._wanted.discard(server_id)
            self._seen.pop(server_id, None)
            self._gone.discard(server_id)

    def _poll(self) -> None:
        delay = self._due - self.clock()
        if delay > 0:
            self.sleep(delay)
        with self._cond:
            ids = set(self._wanted)
            # List first the hosts where most of them were last seen.
            where = [s.host for _, s, _ in self._seen.values() if s is not None and s.host]
            hosts = list(dict.fromkeys(self.hosts + where))
            hosts.sort(key=lambda h: -where.count(h))
            full = self.clock() >= self._full_due
        found: dict[str, Server | None]
        if full:
            found = dict(self.compute.read_servers(ids, hosts))
        else:
            found = self.compute.read_evacuating(ids, self.failed_host, hosts)
        with self._cond:
            self.round += 1
            for sid in ids:
                self._record(sid, sid in found, found.get(sid))
            self.interval = min(self.interval * BACKOFF, self.cap)
            self._due = self.clock() + self.interval
            if full:
                self._full_due = self.clock() + FULL_READ_EVERY

    def _record(self, sid: str, listed: bool, server: Server | None) -> None:
        """This round's word on ``sid``: read (``server``), still evacuating (listed,
        None: the last read is kept) or gone (not listed)."""
        last = self._seen.get(sid)
        if not listed:
            self._gone.add(sid)
            self._seen[sid] = (self.round, None, False)
        elif server is None:
            self._seen[sid] = (self.round, last[1] if last else None, True)
        else:
            self._gone.discard(sid)
            self._seen[sid] = (self.round, server, False)


class PostingGate:
    """Moves post their evacuates in their order, ``lanes`` at a time: move ``i``
    starts its posting part (read, lock, evacuate) once all but ``lanes - 1`` of the
    moves before it have finished theirs."""

    def __init__(self, lanes: int) -> None:
        self.lanes = max(1, lanes)
        self._cond = threading.Condition()
        self._finished = 0

    @contextlib.contextmanager
    def turn(self, index: int) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: index < self._finished + self.lanes)
        try:
            yield
        finally:
            with self._cond:
                self._finished += 1
                self._cond.notify_all()


class Evacuation:
    """Evacuate one server from ``failed_host`` to ``target`` (None: the scheduler)."""

    def __init__(
        self,
        ctx: RecoveryContext,
        move: Move,
        failed_host: str,
        target: str | None,
        before_evacuate: Callable[[], None] | None = None,
        *,
        watch: ServerWatch | None = None,
        gate: PostingGate | None = None,
        index: int = 0,
        first: Server | None = None,
        failed_hosts: FailedHosts | None = None,
    ) -> None:
        self.ctx = ctx
        # the hosts with open failures, shared by the batch (stranded evacuations)
        self.failed_hosts = failed_hosts if failed_hosts is not None else FailedHosts(ctx)
        self.watch = watch if watch is not None else ServerWatch(ctx, failed_host, target)
        self.gate = gate
        self.index = index
        self._after = 0  # the watch's round of the last read of this server
        # The server as just read with the others of its batch (one listing for all),
        # standing in for this move's own first read; None: read it here.
        self._first = first
        self.before_evacuate = before_evacuate
        self.move = move
        self.failed_host = failed_host
        self.target = target
        self.compute = ctx.compute
        self.options = ctx.options

    # -- the whole move --------------------------------------------------------------
    def run(self) -> Move:
        """Run the move to a final state and store it. Raises LeaseLost when fenced."""
        move = self.move
        resumed = move.state in STARTED_STATES or move.started_at is not None
        try:
            state, message, host = self._move(resumed)
            if state == MoveState.GONE:
                move.locked_by_rhworker = False  # nothing left to unlock
            unlock_failed = self._unlock()
            if unlock_failed:
                message = f"{message}; {unlock_failed}" if message else unlock_failed
            self._finish(state, message, host)
        except LeaseLost as e:
            self._leave_locked(e)
            raise
        except BaseException:
            # e.g. the claim on the target was lost: unlock if ours, then stop
            if move.locked_by_rhworker:
                try:
                    self._unlock()
                    self.ctx.store.upsert_move(move, token=self.ctx.token)
                except LeaseLost as e:
                    self._leave_locked(e)
                except Exception as e:  # the original error is what the caller needs
                    LOG.warning("unlocking %s after an error: %s", move.instance_id, e)
            raise
        return move

    def release_leftover(self) -> None:
        """A move that ended while its server stayed locked by rhworker (the worker
        lost its lease before unlocking): unlock it now, while owning."""
        if self.move.locked_by_rhworker:
            try:
                unlock_failed = self._unlock(check_first=True)
            except LeaseLost as e:
                self._leave_locked(e)
                raise
            if unlock_failed:
                message = self.move.message
                self.move.message = f"{message}; {unlock_failed}" if message else unlock_failed
            self.ctx.store.upsert_move(self.move, token=self.ctx.token)

    def _move(self, resumed: bool) -> tuple[MoveState, str, str | None]:
        """The move's final state, message and host (may raise LeaseLost)."""
        try:
            try:
                with self._posting():
                    server = self._first if self._first is not None else self._read()
                    self._first = None
                    if self.move.locked_by_rhworker and not server.locked:
                        self.move.locked_by_rhworker = False  # unlocked by us before a crash
                    away = self._moved_away(server)
                    if not away:
                        self._start(server)
                        to_evacuate = self._to_evacuate(server, resumed)
                        if to_evacuate is not None:
                            self._evacuate(to_evacuate)
                if away:
                    final = self._wait_settled(first=server)
                    if resumed:
                        self._restore_power_state(final)
                    return MoveState.SUCCEEDED, f"already on {final.host}", final.host
                final = self._wait_settled()
            finally:
                self.watch.forget(self.move.instance_id)
            self._restore_power_state(final)
            return MoveState.SUCCEEDED, "", final.host
        except ServerGone as e:
            return MoveState.GONE, str(e), None
        except (MoveFailed, StrandedMove) as e:
            return MoveState.FAILED, str(e), None
        except ComputeNotFound as e:
            # 404: the server deleted meanwhile, or something else (an unknown host).
            if self._is_gone():
                return MoveState.GONE, f"server deleted during recovery ({e})", None
            return MoveState.FAILED, f"{type(e).__name__}: {e}", None
        except ComputeError as e:
            return MoveState.FAILED, f"{type(e).__name__}: {e}", None

    # -- steps -----------------------------------------------------------------------
    def _posting(self) -> contextlib.AbstractContextManager[None]:
        """This move's turn to post (the gate's order), or at once without a gate."""
        if self.gate is None:
            return contextlib.nullcontext()
        return self.gate.turn(self.index)

    def _read(self) -> Server:
        try:
            return self.compute.get_server(self.move.instance_id)
        except ComputeNotFound as e:
            raise ServerGone(f"server deleted during recovery (Nova: {e})") from e

    def _is_gone(self) -> bool:
        try:
            self.compute.get_server(self.move.instance_id)
        except ComputeNotFound:
            return True
        except ComputeError:
            return False
        return False

    def _moved_away(self, server: Server) -> bool:
        """On a host other than the failed one and not being rebuilt: Nova moves the
        host only when the evacuation is over, so there is nothing left to post."""
        return (
            server.host is not None
            and server.host != self.failed_host
            and not is_rebuilding(server)
        )

    def _start(self, server: Server) -> None:
        """Lock the server unless someone had (recorded on the move), mark it ongoing."""
        move = self.move
        if move.original_status is None:
            move.original_status = server.status
        if server.locked:
            if not move.locked_by_rhworker:
                LOG.info(
                    "server %s was locked before recovery: left locked, never unlocked",
                    move.instance_id,
                )
        else:
            self.ctx.guard()
            self.compute.lock_server(move.instance_id)
            move.locked_by_rhworker = True
        move.state = MoveState.ONGOING
        move.target = self.target
        move.started_at = self.ctx.clock()
        move.message = ""
        self.ctx.store.upsert_move(move, token=self.ctx.token)

    def _to_evacuate(self, server: Server, resumed: bool) -> Server | None:
        """The server to post an evacuate for (as just read), or None when Nova is
        already on it and this move only waits."""
        if is_rebuilding(server):
            if self._again(server):
                return self._read()
            self._waiting(f"Nova is rebuilding it (task state {server.task_state})")
            return None
        if not resumed:
            return server
        migrations = self._migrations()
        running = [m for m in migrations if m.in_progress]
        if running and self._again(server, migrations):
            return self._read()
        if running:
            self._waiting(f"its evacuation (migration {running[0].id}) is {running[0].status}")
            self._aim(running[0])
            return None
        if not migrations:
            return server
        # Nova's last evacuation of it from the failed host ended. ``done`` moved the
        # host first (Nova's order), so a fresh read shows the server there; if it is
        # still on the failed host, that record is older history. error/failed: none
        # of them moved it. Either way: decide again on a fresh read.
        newest = migrations[0]
        server = self._read()
        if is_rebuilding(server) or self._moved_away(server):
            if newest.status in MIGRATION_DONE:
                self._waiting(f"Nova evacuated it to {server.host} (migration {newest.id})")
            return None
        return server

    def _again(self, server: Server, migrations: list[Migration] | None = None) -> bool:
        """Its running evacuation can never end (the destination failed): reset it if
        needed (stranded.py); True when a new evacuate may be posted now."""
        return to_evacuate_again(
            self.ctx,
            server,
            self._migrations() if migrations is None else migrations,
            self.failed_host,
            self.target,
            self.move.instance_name or self.move.instance_id,
        )

    def _migrations(self) -> list[Migration]:
        """Nova's evacuations of this server from the failed host, newest first."""
        found = [
            m
            for m in self.compute.list_migrations(
                instance_id=self.move.instance_id, migration_type="evacuation"
            )
            if m.source_host == self.failed_host
        ]
        return sorted(found, key=_age_key, reverse=True)

    def _aim(self, migration: Migration) -> None:
        if migration.dest_host:
            self.move.target = migration.dest_host

    def _waiting(self, why: str) -> None:
        self.ctx.step(
            StepName.EVACUATION_IN_PROGRESS,
            f"{self.move.instance_name or self.move.instance_id}: {why}; waiting, not "
            "posting another evacuate",
            instance=self.move.instance_id,
        )

    def _evacuate(self, server: Server) -> None:
        before: Server | None = server
        if (server.vm_state or "").lower() not in EVACUABLE_VM_STATES:
            self.ctx.guard()
            self.compute.reset_state(server.id, "error")
            before = None  # changed since read: let the adapter read it again
        self.ctx.guard()
        if self.before_evacuate is not None:
            self.before_evacuate()  # e.g. our lock and claim on the target still hold
        self.compute.evacuate_server(server.id, self.target, before=before)

    def _wait_settled(self, first: Server | None = None) -> Server:
        """Poll until the server runs on another host, settled; MoveFailed when the
        evacuation failed or the deadline passed; ServerGone on a 404."""
        period = self.options.wait_period_after_evacuation
        deadline = self.ctx.clock() + period
        seen_rebuilding = False
        original_error = (self.move.original_status or "").upper() == "ERROR"
        # Any poll from now on was asked after ``first`` was read (or the evacuate posted).
        self._after = self.watch.round
        stall = StallCheck(self.ctx, self.failed_host, self.target, self.failed_hosts)
        label = self.move.instance_name or self.move.instance_id
        server = first if first is not None else self._watched()
        while True:
            if server is None or is_rebuilding(server):
                # None: Nova's migration record says it is still evacuating it (not read)
                seen_rebuilding = True
                stall.examine(label, self.move.instance_id, self._migrations)
            elif server.host != self.failed_host and server.status in SETTLED_STATUSES:
                if server.status == "ERROR" and not original_error:
                    raise MoveFailed(f"ERROR on {server.host}: {server.fault or 'no fault'}")
                return server
            elif server.status == "ERROR" and (
                seen_rebuilding or not original_error or self._ended_without_move()
            ):
                raise MoveFailed(
                    f"evacuation failed, still on {server.host}: {server.fault or 'ERROR'}"
                )
            # Otherwise: not picked up yet, or (real Nova) spawned with the task state
            # cleared while the host and the migration still say "in progress".
            if self.ctx.clock() >= deadline:
                raise MoveFailed(f"not settled after {period:.0f}s ({_describe(server)})")
            server = self._watched()

    def _watched(self) -> Server | None:
        """The server as the shared watch reads it next (a poll newer than the last);
        None while Nova's migration record says it is still evacuating it."""
        try:
            self._after, server = self.watch.read(self.move.instance_id, self._after)
            return server
        except ComputeNotFound as e:
            raise ServerGone(f"server deleted during recovery (Nova: {e})") from e

    def _ended_without_move(self) -> bool:
        """For a server that was in ERROR before and still is on the failed host (its
        status says nothing): Nova's newest evacuation of it ended in error/failed."""
        migrations = self._migrations()
        if not migrations:
            return False
        newest = migrations[0]
        return not newest.in_progress and newest.status not in MIGRATION_DONE

    def _restore_power_state(self, server: Server) -> None:
        if server.task_state is not None:
            return  # a power action already under way (e.g. ours, before a takeover)
        original = (self.move.original_status or "").upper()
        if original == "SHUTOFF" and server.status == "ACTIVE":
            self.ctx.guard()
            self.compute.stop_server(server.id)
        elif original == "ACTIVE" and server.status == "SHUTOFF":
            self.ctx.guard()
            self.compute.start_server(server.id)
        elif original == "ERROR" and server.status != "ERROR":
            self.ctx.guard()
            self.compute.reset_state(server.id, "error")

    # -- the lock ------------------------------------------------------------------------
    def _unlock(self, check_first: bool = False) -> str | None:
        """Unlock the server if rhworker locked it, only while owning the delivery
        (``LeaseLost`` otherwise), and update the move's flag (the caller stores it).
        Returns why the unlock failed, if it did."""
        move = self.move
        if not move.locked_by_rhworker:
            return None
        try:
            if not (check_first and not self._read().locked):
                self.ctx.guard()
                self.compute.unlock_server(move.instance_id)
        except (ComputeNotFound, ServerGone):
            LOG.info("server %s is gone: nothing to unlock", move.instance_id)
        except ComputeError as e:
            LOG.warning("could not unlock server %s: %s", move.instance_id, e)
            return f"unlock failed, still locked by rhworker: {e}"  # a later attempt may
        move.locked_by_rhworker = False
        return None

    def _leave_locked(self, why: BaseException) -> None:
        """The lease is lost: leave our lock on the server, and say why (on the move,
        if the store still takes this delivery's writes, and in the log)."""
        move = self.move
        if not move.locked_by_rhworker:
            return
        note = f"left locked by rhworker: lease lost ({why}); the next owner unlocks it"
        LOG.warning("server %s %s", move.instance_id, note)
        move.message = (move.message + "; " if move.message else "") + note
        try:
            self.ctx.store.upsert_move(move, token=self.ctx.token)
        except Exception as e:  # a stale token is refused: the log line is the record
            LOG.debug("could not record the lock left on %s: %s", move.instance_id, e)

    def _finish(self, state: MoveState, message: str, host: str | None) -> Move:
        move = self.move
        move.state = state
        move.message = message
        if host:
            move.target = host
        move.finished_at = self.ctx.clock()
        self.ctx.store.upsert_move(move, token=self.ctx.token)
        return move
