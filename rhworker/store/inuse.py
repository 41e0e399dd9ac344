"""Refusals that protect a recovery from the inventory (Masakari's 409s).

Masakari refuses a notification from a host on maintenance, and refuses to update or
delete a host (or its segment) while it is "in-use to process notifications". rhworker
does the same, per host: a host is *in use* while a notification about it is ``new``,
``running`` or ``error`` (to be retried), or while it holds the claim of such a
notification (a reserved host taken for a recovery). Each backend checks and writes
in one transaction / one script; this module only words the errors, the same for all.
"""

from __future__ import annotations

from rhworker.errors import HostOnMaintenance, InUse
from rhworker.models import NotificationStatus

# Statuses of a notification whose recovery has not ended.
ACTIVE_STATUSES = tuple(s.value for s in NotificationStatus if not s.terminal)


def on_maintenance(hostname: str, type: str) -> HostOnMaintenance:
    """Masakari's wording, so that monitors and operators see the same thing."""
    return HostOnMaintenance(
        f"notification received from host {hostname} of type '{type}' is ignored as the "
        "host is already under maintenance; clear it with "
        f"'rhworker host update {hostname} --on-maintenance no' once it is repaired"
    )


def in_use(kind: str, name: str, action: str, detail: str) -> InUse:
    """``kind`` is 'host' or 'segment'; ``detail`` says which recovery uses it
    (see :func:`about` and :func:`holding`)."""
    return InUse(
        f"{kind} {name} can't be {action} as it is in use to process notifications: "
        f"{detail}; retry when that recovery has ended (finished, ignored or failed)"
    )


def about(host: str, notification_id: str, status: str) -> str:
    return f"notification {notification_id} about {host} is {status}"


def holding(host: str, notification_id: str, status: str) -> str:
    return f"{host} holds the claim of notification {notification_id} ({status})"
