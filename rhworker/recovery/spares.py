"""Nova's word on a reserved host: is it already serving another failed host?

The store's claim decides who gets a spare — as long as the store remembers. A store
that lost its last writes (a Redis restart after ``appendfsync everysec``, a promoted
replica, an older SQLite file restored) can show a spare as free while the servers of
the failure that claimed it already run there. Before claiming a spare, a worker
therefore asks Nova, which the store's loss does not touch: a spare that holds (or is
receiving) servers evacuated from another host is skipped. docs/design.md §4 invariant 6 and
docs/safety.md, "Claims and epochs".
"""

from __future__ import annotations

from rhworker.errors import ComputeNotFound
from rhworker.recovery.base import RecoveryContext

# Evacuation statuses that did not move the server.
FAILED_STATUSES = frozenset({"error", "failed"})


def serving_other_host(ctx: RecoveryContext, spare: str, failed_host: str) -> str | None:
    """The other failed host whose evacuated servers are on ``spare`` (or on their
    way to it), per Nova's migration records and the servers' current hosts; None
    when the spare serves no other failure. One ``GET /os-migrations?host=`` per
    call, plus one server read per evacuation from another host."""
    for mig in ctx.compute.list_migrations(host=spare):
        if mig.dest_host != spare or mig.source_host in (None, failed_host, spare):
            continue
        if mig.status.lower() in FAILED_STATUSES:
            continue
        try:
            server = ctx.compute.get_server(mig.instance_id)
        except ComputeNotFound:
            continue
        if server.host == spare or (mig.in_progress and server.host == mig.source_host):
            return mig.source_host
    return None


__all__ = ["serving_other_host"]
