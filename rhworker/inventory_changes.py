"""The one way segments and hosts are created, changed and deleted.

The YAML inventory (:func:`rhworker.inventory.apply_inventory`), the ``rhworker
segment|host`` commands and the REST API (:mod:`rhworker.api`) all go through these
functions, so a record is the same whichever way it came in: validated by
:mod:`rhworker.validation`, given its identifiers (uuid and integer id) by the store,
and refused while a recovery uses it (Masakari's 409, :mod:`rhworker.store.inuse`):
changes and deletions use the store's ``*_if_idle`` methods, which check and write
atomically.
"""

from __future__ import annotations

from typing import Any

from rhworker import validation
from rhworker.models import Host, Segment
from rhworker.store.base import Store


def create_segment(store: Store, segment: Segment) -> Segment:
    """Validate and create; ``AlreadyExists`` for a taken name."""
    return store.create_segment(validation.validate_segment(segment))


def update_segment(store: Store, name: str, changes: dict[str, Any]) -> Segment:
    """Validate and apply; ``InUse`` while one of its hosts is being recovered."""
    clean = validation.validate_changes("segment", changes)
    return store.update_segment_if_idle(name, **clean)


def delete_segment(store: Store, name: str) -> None:
    """``Conflict`` while it has hosts; ``InUse`` while one of them is being recovered."""
    store.delete_segment_if_idle(name)


def create_host(store: Store, host: Host) -> Host:
    """Validate and create in ``host.segment``; ``NotFound`` for a missing segment,
    ``AlreadyExists`` for a taken host name (names are unique across segments)."""
    return store.create_host(validation.validate_host(host))


def update_host(store: Store, name: str, changes: dict[str, Any]) -> Host:
    """Validate and apply; ``InUse`` while the host is being recovered."""
    clean = validation.validate_changes("host", changes)
    return store.update_host_if_idle(name, **clean)


def delete_host(store: Store, name: str) -> None:
    """``InUse`` while the host is being recovered."""
    store.delete_host_if_idle(name)
