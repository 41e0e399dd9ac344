"""Evacuating one server of a failed host: re-read, lock, evacuate, settle, restore.

Every step is idempotent so that a resumed delivery (another worker, or a retry)
can run it again: a server already on another host is done; a server already being
rebuilt is only watched, never evacuated a second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from rhworker.compute.base import Server
from rhworker.errors import ComputeError, LeaseLost
from rhworker.models import Move, MoveState
from rhworker.recovery.base import RecoveryContext

LOG = logging.getLogger(__name__)

# vm_states Nova evacuates as they are; anything else is reset to error first.
EVACUABLE_VM_STATES = frozenset({"active", "stopped", "error"})
# Statuses of a server that finished rebuilding.
SETTLED_STATUSES = frozenset({"ACTIVE", "SHUTOFF", "ERROR"})


class MoveFailed(Exception):
    """This server could not be evacuated; the message says why."""


class Evacuation:
    """Evacuate one server from ``failed_host`` to ``target`` (None: the scheduler)."""

    def __init__(
        self,
        ctx: RecoveryContext,
        move: Move,
        failed_host: str,
        target: str | None,
        before_evacuate: Callable[[], None] | None = None,
    ) -> None:
        self.ctx = ctx
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
        resumed = move.state == MoveState.ONGOING
        locked_here = False
        try:
            server = self.compute.get_server(move.instance_id)
            if self._already_moved(server):
                return self._finish(MoveState.SUCCEEDED, f"already on {server.host}", server.host)
            if move.original_status is None:
                move.original_status = server.status
            move.state = MoveState.ONGOING
            move.target = self.target
            move.started_at = self.ctx.clock()
            move.message = ""
            self.ctx.store.upsert_move(move, token=self.ctx.token)
            if server.locked and resumed:
                locked_here = True  # a previous attempt of ours locked it
            elif not server.locked:
                self.ctx.guard()
                self.compute.lock_server(move.instance_id)
                locked_here = True
            if server.task_state != "rebuilding":
                self._evacuate(server)
            final = self._wait_settled()
            self._restore_power_state(final)
            return self._finish(MoveState.SUCCEEDED, "", final.host)
        except MoveFailed as e:
            return self._finish(MoveState.FAILED, str(e), None)
        except LeaseLost:
            raise
        except ComputeError as e:
            return self._finish(MoveState.FAILED, f"{type(e).__name__}: {e}", None)
        finally:
            if locked_here:
                self._unlock()

    # -- steps -----------------------------------------------------------------------
    def _already_moved(self, server: Server) -> bool:
        return (
            server.host is not None
            and server.host != self.failed_host
            and server.task_state is None
            and server.status in SETTLED_STATUSES
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

    def _wait_settled(self) -> Server:
        deadline = time.monotonic() + self.options.wait_period_after_evacuation
        seen_rebuilding = False
        original_error = (self.move.original_status or "").upper() == "ERROR"
        while True:
            server = self.compute.get_server(self.move.instance_id)
            if server.task_state == "rebuilding" or server.status == "REBUILD":
                seen_rebuilding = True
            elif server.host != self.failed_host and server.status in SETTLED_STATUSES:
                if server.status == "ERROR" and not original_error:
                    raise MoveFailed(f"ERROR on {server.host}: {server.fault or 'no fault'}")
                return server
            elif server.status == "ERROR" and (seen_rebuilding or not original_error):
                raise MoveFailed(
                    f"evacuation failed, still on {server.host}: {server.fault or 'ERROR'}"
                )
            if time.monotonic() >= deadline:
                raise MoveFailed(
                    f"not settled after {self.options.wait_period_after_evacuation:.0f}s "
                    f"(status {server.status}, task {server.task_state}, host {server.host})"
                )
            self.ctx.sleep(self.options.verify_interval)

    def _restore_power_state(self, server: Server) -> None:
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

    def _unlock(self) -> None:
        try:
            self.compute.unlock_server(self.move.instance_id)
        except ComputeError as e:
            LOG.warning("could not unlock server %s: %s", self.move.instance_id, e)

    def _finish(self, state: MoveState, message: str, host: str | None) -> Move:
        move = self.move
        move.state = state
        move.message = message
        if host:
            move.target = host
        move.finished_at = self.ctx.clock()
        self.ctx.store.upsert_move(move, token=self.ctx.token)
        return move
