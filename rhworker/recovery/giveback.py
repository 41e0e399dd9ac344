"""Giving back a claimed reserved host that ended up unused.

A spare is claimed before anything is evacuated onto it; when every instance then
goes elsewhere (skipped, failed before reaching it, refused by Nova as "No valid
host", or placed on another spare) the spare would stay enabled and claimed for
nothing. It is given back instead: compute service disabled again with the reserved
reason, then the store's ``release_claim`` (``reserved`` again, claim cleared, checked
against this notification's claim epoch and lease token in one step).

It is given back only when nothing can be on it: no move of the notification
succeeded there or may still be under way there (a move that failed otherwise than
"No valid host" could have a rebuild in flight), Nova lists no server on it and no
evacuation towards it is in progress. In doubt the spare is kept, as today.
"""

from __future__ import annotations

import logging

from rhworker.errors import ClaimLost, ComputeError
from rhworker.models import Move, MoveState, Notification, StepName
from rhworker.recovery.base import RecoveryContext

LOG = logging.getLogger(__name__)

# Nova's answer when a target cannot take a server: nothing was placed there.
NO_VALID_HOST = "No valid host"

# The disabled reason of a spare given back (the notification id is appended).
RETURNED_REASON = "rhworker: reserved host, given back unused by notification"


def why_in_use(moves: list[Move], host: str) -> str | None:
    """Why ``host`` may hold an instance of these moves, or None if none can be there."""
    for m in moves:
        if m.target != host:
            continue
        name = m.instance_name or m.instance_id
        if m.state == MoveState.SUCCEEDED:
            return f"{name} was evacuated onto it"
        if m.state in (MoveState.PENDING, MoveState.ONGOING):
            return f"{name} is still being evacuated onto it"
        if m.state == MoveState.FAILED and NO_VALID_HOST not in m.message:
            return f"{name} failed there ({m.message or 'no reason'}) and may be on it"
    return None


def return_if_unused(
    ctx: RecoveryContext, n: Notification, host: str, epoch: int, failed_host: str
) -> bool:
    """Give ``host`` (claimed by ``n`` at ``epoch``) back if nothing was moved onto it.
    True when it was given back; every other outcome is recorded in the history."""
    reason = why_in_use(ctx.store.list_moves(n.id), host)
    if reason is None:
        reason = _why_in_use_in_nova(ctx, host)
    if reason is not None:
        LOG.debug("reserved host %s kept: %s", host, reason)
        return False
    if not ctx.store.check_claim(host, epoch, n.id):
        ctx.step(StepName.SPARE_KEPT, f"{host}: claim (epoch {epoch}) no longer current", host=host)
        return False
    try:
        service = ctx.compute.get_service(host)
        if service.status != "disabled":
            ctx.guard()
            ctx.compute.disable_service(host, f"{RETURNED_REASON} {n.id}"[:255], service=service)
            # Nova's scheduler may have sent another failure's evacuation there before
            # the disable: look again now that it can send none; if so, keep it enabled
            late = _why_in_use_in_nova(ctx, host)
            if late is not None:
                ctx.guard()
                ctx.compute.enable_service(host)
                ctx.step(StepName.SPARE_KEPT, f"{host} kept: {late}", host=host)
                return False
        ctx.guard()
        ctx.store.release_claim(n.id, host, epoch, token=ctx.token)
    except (ClaimLost, ComputeError) as e:
        ctx.step(StepName.SPARE_KEPT, f"{host} could not be given back: {e}", host=host)
        return False
    ctx.step(
        StepName.SPARE_RETURNED,
        f"{host} unused: compute service disabled again, reserved again, claim (epoch "
        f"{epoch}) released",
        host=host,
        epoch=epoch,
    )
    return True


def _why_in_use_in_nova(ctx: RecoveryContext, host: str) -> str | None:
    try:
        servers = ctx.compute.list_servers_on_host(host)
        if servers:
            return f"Nova lists {len(servers)} server(s) on it"
        # towards it from any host: Nova's scheduler places other failures' servers
        # on a claimed spare (it is an enabled host), not only this failure's
        for migration in ctx.compute.list_migrations(host=host):
            if migration.dest_host == host and migration.in_progress:
                return f"evacuation of {migration.instance_id} towards it in progress"
    except ComputeError as e:
        return f"Nova could not be asked: {e}"
    return None


__all__ = ["NO_VALID_HOST", "RETURNED_REASON", "return_if_unused", "why_in_use"]
