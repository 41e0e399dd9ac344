"""The Redis side of :mod:`rhworker.store.inuse`: operator changes of a host or a
segment, refused while a recovery uses the host — check and write in one script
(``lua/guard.lua`` before the script that writes, joined by
:func:`rhworker.store.redis.scripts.load`).

A host's notifications are found through ``P:hostnotifs:HOST`` (filled at intake); a
host's claim through its ``claimed_by``. Ids whose notification no longer exists are
dropped from the index as they are met.
"""

from __future__ import annotations

from rhworker.errors import InUse
from rhworker.store import inuse

# Guarded script → (kind checked, Lua expression of its name, script that writes).
GUARDED = {
    "update_host_if_idle": ("host", "ARGV[2]", "update_host"),
    "delete_host_if_idle": ("host", "ARGV[2]", "delete_host"),
    # update_hash gets 'segment:NAME' as ARGV[2]
    "update_segment_if_idle": ("segment", "string.sub(ARGV[2], 9)", "update_hash"),
    "delete_segment_if_idle": ("segment", "ARGV[2]", "delete_segment"),
}


def reworded(e: InUse, kind: str, name: str, action: str) -> InUse:
    """The store's wording of the script's ``host<TAB>notification<TAB>status<TAB>why``."""
    host, notification_id, status, why = (str(e).split("\t") + ["", "", "", ""])[:4]
    detail = (inuse.about if why == "about" else inuse.holding)(host, notification_id, status)
    return inuse.in_use(kind, name, action, detail)
