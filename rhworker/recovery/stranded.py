"""Stranded evacuations: an evacuation whose destination failed while Nova rebuilt
the server there (issue 16, "never onto a failed host").

A dead compute takes what was cast to it with it: the server stays ``REBUILD`` on
its failed source host and the migration ``pre-migrating`` for ever; Nova offers no
call that ends it. Evacuating it again while that rebuild *could* still finish would
run the server twice (DESIGN §4: never two evacuations of one server at once), so a
second evacuate is posted only once Nova's own view says the first cannot finish:

* the newest in-progress evacuation of the server from the failed host has a
  destination (``dest_compute``) other than that host,
* that destination was reported failed — its newest host report (not ignored) is an
  accepted ``STOPPED`` with no ``STARTED`` since, however its own recovery ended (the
  same evidence rhworker evacuates a host's own servers on) — and its compute service
  is forced down in Nova (hosts with open reports are fenced here first if it is not
  yet: the scheduler then never chooses it again),
* and the server has not moved (Nova moves the host only when the rebuild is over).

Then the server is reset to ``error`` (``os-resetState``; Nova accepts an evacuate
of an ERROR server with no task) and evacuated again elsewhere: the next spare
through the usual lock and claim, or Nova's scheduler, which skips the forced-down
host. Each decision is a step in the history (``stranded``, ``stranded_reset``,
``evacuation_slow``).

When to look (:class:`StallCheck`): at the next poll once the destination rhworker
chose is reported failed (read from the store at most every ``FAILED_HOSTS_EVERY``
seconds per host and batch), and for every evacuation not settled
``evacuation_stall_timeout`` seconds after it was posted, then again each period.
A destination that is not known to have failed is never second-guessed: a slow but
healthy rebuild is only reported (``evacuation_slow``) and waited for, up to
``wait_period_after_evacuation`` as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from rhworker.compute.base import Migration, Server, is_rebuilding
from rhworker.errors import ComputeError, ComputeNotFound
from rhworker.models import NotificationStatus, NotificationType, StepName
from rhworker.recovery import correlated
from rhworker.recovery.base import RecoveryContext
from rhworker.recovery.targets import ReservedHostTarget

LOG = logging.getLogger(__name__)

# The words on a move whose evacuation cannot end: ``RESET`` when the server was reset
# and is to be posted again elsewhere (the driver picks such moves up again in the
# same attempt), ``STRANDED`` when it could not be reset.
STRANDED = "stranded:"
RESET = "stranded and reset:"
# Whether a host was reported failed is read from the store at most this often per
# host and batch, seconds (one listing of that host's newest notifications).
FAILED_HOSTS_EVERY = 2.0
# How many of a host's newest notifications are read to find its last STOPPED/STARTED.
REPORTS_READ = 20
# How many more times one attempt evacuates again the moves stranded by a failed
# destination through Nova's scheduler (each needs another host to fail meanwhile).
MAX_ROUNDS = 3


class StrandedMove(Exception):
    """The server's evacuation can never end (its destination failed). The message
    says whether it was reset to error, to be evacuated again elsewhere (``RESET``),
    or Nova refused the reset (``STRANDED``)."""


def reported_failed(ctx: RecoveryContext, host: str) -> bool:
    """``host``'s newest host report (not ignored) says it stopped: a STOPPED that was
    accepted and not followed by a STARTED, whatever became of its recovery (a host
    with no servers ends its recovery at once, and is still dead)."""
    for n in ctx.store.list_notifications(
        hostname=host, type=NotificationType.COMPUTE_HOST, limit=REPORTS_READ
    ):
        event = str(n.payload.get("event", "")).upper()
        if n.status == NotificationStatus.IGNORED or event not in ("STOPPED", "STARTED"):
            continue
        if event == "STARTED":
            return False
        status = str(n.payload.get("host_status") or "").upper()
        return status == "NORMAL" or n.status != NotificationStatus.NEW
    return False


class FailedHosts:
    """Which hosts are :func:`reported_failed`, each read from the store at most
    every ``FAILED_HOSTS_EVERY`` seconds, shared by the moves of one batch."""

    def __init__(self, ctx: RecoveryContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, bool]] = {}

    def __call__(self, host: str, fresh: bool = False) -> bool:
        with self._lock:
            now = self.ctx.clock()
            known = self._known.get(host)
            if fresh or known is None or now - known[0] >= FAILED_HOSTS_EVERY:
                known = self._known[host] = (now, reported_failed(self.ctx, host))
            return known[1]


def lost_migration(
    ctx: RecoveryContext,
    server: Server,
    migrations: list[Migration],
    failed_host: str,
    is_failed: Callable[[str], bool],
) -> Migration | None:
    """The evacuation of ``server`` (``migrations``: from ``failed_host``, newest
    first) that Nova will never finish because its destination failed; None when
    Nova may still finish one (or none runs). May fence the destination first."""
    running = [m for m in migrations if m.in_progress]
    if not running or server.host != failed_host:
        return None
    newest = running[0]
    dest = newest.dest_host
    if not dest or dest == failed_host or not is_failed(dest):
        return None
    if not _forced_down(ctx, dest):
        # reported but not fenced yet: fence every host with an open report (as before
        # any evacuation), then ask again
        correlated.fence_reported(ctx, ctx.store.get_notification(ctx.delivery.notification_id))
        if not _forced_down(ctx, dest):
            return None
    return newest


def _forced_down(ctx: RecoveryContext, host: str) -> bool:
    try:
        return ctx.compute.get_service(host).forced_down
    except ComputeNotFound:
        return False


def reset_lost(ctx: RecoveryContext, server: Server, lost: Migration, label: str) -> None:
    """Reset ``server`` (whose evacuation ``lost`` cannot end) to error so that Nova
    takes another evacuate; record the decision. Raises ``ComputeError`` when Nova
    refuses (the server is then not evacuated again by this attempt)."""
    rebuilding = is_rebuilding(server) or server.task_state is not None
    ctx.step(
        StepName.STRANDED,
        f"{label}: its evacuation to {lost.dest_host} (migration {lost.id}, {lost.status}) "
        f"cannot end: {lost.dest_host} failed and is forced down; {_where(server)}"
        + ("" if rebuilding else "; already reset, evacuating again elsewhere"),
        instance=server.id,
        target=lost.dest_host,
        migration=lost.id,
    )
    if rebuilding:
        ctx.guard()
        ctx.compute.reset_state(server.id, "error")
        ctx.step(
            StepName.STRANDED_RESET,
            f"{label}: reset to error, to be evacuated again elsewhere",
            instance=server.id,
            target=lost.dest_host,
        )


class StallCheck:
    """When a move waiting for its evacuation looks at Nova again (see the module
    docstring); one per move, sharing the batch's :class:`FailedHosts`."""

    def __init__(
        self,
        ctx: RecoveryContext,
        failed_host: str,
        target: str | None,
        failed_hosts: FailedHosts,
    ) -> None:
        self.ctx = ctx
        self.failed_host = failed_host
        self.target = target
        self.failed_hosts = failed_hosts
        self.timeout = max(1.0, ctx.options.evacuation_stall_timeout)
        self._due = ctx.clock() + self.timeout
        # a failed destination is asked about again no sooner than this (Nova reads)
        self._target_due = 0.0
        self._slow_said = False

    def examine(
        self, label: str, server_id: str, migrations: Callable[[], list[Migration]]
    ) -> None:
        """Called while the evacuation still runs: when due, ask Nova; raises
        :class:`StrandedMove` after resetting a server whose evacuation cannot end."""
        now = self.ctx.clock()
        stalled = now >= self._due
        target_failed = (
            self.target is not None
            and self.target != self.failed_host
            and now >= self._target_due
            and self.failed_hosts(self.target)
        )
        if not (stalled or target_failed):
            return
        if stalled:
            self._due = now + self.timeout
        self._target_due = now + FAILED_HOSTS_EVERY
        try:
            server = self.ctx.compute.get_server(server_id)
            lost = lost_migration(
                self.ctx,
                server,
                migrations(),
                self.failed_host,
                lambda host: self.failed_hosts(host, fresh=True),
            )
        except ComputeNotFound:
            raise
        except ComputeError as e:
            LOG.warning("checking whether %s is stranded: %s", label, e)
            return
        if lost is None:
            if stalled and not self._slow_said:
                self._slow_said = True
                self.ctx.step(
                    StepName.EVACUATION_SLOW,
                    f"{label}: not settled after {self.timeout:.0f}s ({_where(server)}); its "
                    "destination is not known to have failed: waiting, not evacuating again",
                    instance=server_id,
                )
            return
        try:
            reset_lost(self.ctx, server, lost, label)
        except ComputeError as e:
            raise StrandedMove(
                f"{STRANDED} evacuation to failed host {lost.dest_host} cannot end, and Nova "
                f"refused to reset it ({e}); not evacuated again"
            ) from e
        raise StrandedMove(
            f"{RESET} evacuation to failed host {lost.dest_host} cannot end; reset to "
            "error, to be evacuated again elsewhere"
        )


def _where(server: Server) -> str:
    return f"status {server.status}, task {server.task_state}, host {server.host}"


def to_evacuate_again(
    ctx: RecoveryContext,
    server: Server,
    migrations: list[Migration],
    failed_host: str,
    target: str | None,
    label: str,
) -> bool:
    """For a move about to post: True when its server's running evacuation (per
    ``migrations``) is lost with its failed destination and the server was reset
    (here if needed), so a new evacuate may be posted now — never to that host."""
    lost = lost_migration(ctx, server, migrations, failed_host, lambda h: reported_failed(ctx, h))
    if lost is None or lost.dest_host == target:
        return False
    reset_lost(ctx, server, lost, label)
    return True


def was_reset(message: str) -> bool:
    """A move's message says its stranded server was reset: evacuate it again."""
    return message.startswith(RESET)


def unless_failed(
    ctx: RecoveryContext, target: ReservedHostTarget | None
) -> ReservedHostTarget | None:
    """A resumed claim, unless its reserved host has failed since it was claimed (its
    lock released, the claim kept: nothing more is sent there)."""
    if target is None or not reported_failed(ctx, target.host):
        return target
    target.release(ctx)
    ctx.step(
        StepName.STRANDED,
        f"claimed {target.host} has failed since: not resumed on it, next reserved host",
        host=target.host,
    )
    return None
