"""Refusals that protect a recovery from the inventory (Masakari's 409s).

Masakari refuses a notification from a host on maintenance, and refuses to update or
delete a host (or its segment) while it is "in-use to process notifications". rhworker
does the same, per host: a host is *in use* while a notification about it is ``new``,
``running`` or ``error`` (to be retried), or while it holds the claim of such a
notification (a reserved host taken for a recovery). Each backend checks and writes
in one transaction / one script; this module only words the errors, the same for all.

Two exceptions to the maintenance refusal, both about a host coming back: a
COMPUTE_HOST notification with event ``STARTED`` (a monitor's report, or ``rhworker
host restore``) is how a failed host — on maintenance since its recovery — is taken
back, so it is accepted; and once it is the host's latest notification, the host is
being restored, so a new failure of it is accepted too (refusing it would lose it:
the restore then puts the host back in service).
"""

from __future__ import annotations

from rhworker.errors import HostOnMaintenance, InUse
from rhworker.models import Notification, NotificationStatus, NotificationType

# Statuses of a notification whose recovery has not ended.
ACTIVE_STATUSES = tuple(s.value for s in NotificationStatus if not s.terminal)


def is_return(type: str, payload: dict) -> bool:
    """A COMPUTE_HOST notification saying the host STARTED again (validated payload)."""
    return type == NotificationType.COMPUTE_HOST.value and payload.get("event") == "STARTED"


def is_process_return(type: str, payload: dict) -> bool:
    """A PROCESS notification saying nova-compute STARTED again (validated payload): it
    undoes the maintenance its STOPPED set (rhworker.recovery.process_failure), so it
    is accepted on a host on maintenance — where Masakari would refuse it."""
    return (
        type == NotificationType.PROCESS.value
        and payload.get("process_name") == "nova-compute"
        and payload.get("event") == "STARTED"
    )


def refused_on_maintenance(n: Notification) -> bool:
    """Whether intake refuses ``n`` (validated) when its host is on maintenance and its
    latest notification is not a return (:func:`is_return`). A nova-compute STARTED
    PROCESS notification (:func:`is_process_return`) is never refused."""
    return not is_return(n.type.value, n.payload) and not is_process_return(n.type.value, n.payload)


def on_maintenance(hostname: str, type: str) -> HostOnMaintenance:
    """Masakari's wording, so that monitors and operators see the same thing."""
    return HostOnMaintenance(
        f"notification received from host {hostname} of type '{type}' is ignored as the "
        "host is already under maintenance; clear it with "
        f"'rhworker host restore {hostname}' once it is repaired"
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
