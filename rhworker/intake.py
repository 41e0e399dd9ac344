"""Intake: a failure report accepted, or refused with the reason — one path for all.

``rhworker notify`` and the REST API (``POST /v1/notifications``) both call
:func:`submit`: the store validates the notification (:mod:`rhworker.validation`,
Masakari's rules), refuses a duplicate within the detection interval and a host on
maintenance, and stores and enqueues it in one atomic step. What is refused is not
stored at all.

Refusals, each a :class:`~rhworker.errors.RhworkerError` with a one-line message:
``ValidationError`` (malformed), :class:`UnknownHost` (not in the inventory),
``DuplicateNotification`` (carrying the existing id), ``HostOnMaintenance``.
"""

from __future__ import annotations

from typing import Any

from oslo_config import cfg

from rhworker.errors import NotFound
from rhworker.models import Notification
from rhworker.store.base import Store


class UnknownHost(NotFound):
    """The notification names a host that is not in the inventory (Masakari: 400)."""

    def __init__(self, hostname: str) -> None:
        super().__init__(
            f"host {hostname!r} is not in the inventory; add it with 'rhworker host create' "
            "or 'rhworker inventory load'"
        )
        self.hostname = hostname


def dedup_interval(conf: cfg.ConfigOpts) -> float:
    """``[notification] duplicate_notification_detection_interval`` in seconds."""
    return float(conf.notification.duplicate_notification_detection_interval)


def submit(
    store: Store,
    type: Any,
    hostname: Any,
    payload: Any,
    generated_time: Any = None,
    *,
    dedup_interval: float,
    now: float | None = None,
) -> Notification:
    """Validate, refuse duplicates and hosts on maintenance, store and enqueue."""
    try:
        return store.create_notification(
            type, hostname, payload, generated_time, dedup_interval=dedup_interval, now=now
        )
    except NotFound as e:
        raise UnknownHost(str(hostname)[:255]) from e
