"""Store contract: the refusals that protect a recovery from the inventory.

Intake refuses a host on maintenance (Masakari's 409); an operator's change of a host
(or its segment) is refused while a recovery uses it — a notification about the host
that has not ended, or the claim of one. Runs against every backend.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from rhworker.errors import (
    Conflict,
    DuplicateNotification,
    HostOnMaintenance,
    InUse,
    NotFound,
    StoreError,
)
from rhworker.models import NotificationStatus
from rhworker.store import Store
from tests.contract.store_cases import STOPPED, make_hosts, make_segment

S = NotificationStatus


@pytest.fixture
def inventory(store: Store) -> Store:
    make_segment(store, "seg")
    make_hosts(store, "seg", ["c1", "c2"])
    make_hosts(store, "seg", ["r0", "r1"], reserved=True)
    make_segment(store, "other")
    make_hosts(store, "other", ["d1"])
    return store


def _running(store: Store, hostname: str) -> tuple[str, int]:
    n = store.create_notification("COMPUTE_HOST", hostname, dict(STOPPED))
    delivery = store.consume(f"w-{hostname}")
    assert delivery is not None and delivery.notification_id == n.id
    return n.id, delivery.token


# -- intake ------------------------------------------------------------------------------


def test_intake_refuses_a_host_on_maintenance(inventory: Store) -> None:
    store = inventory
    store.update_host("c1", on_maintenance=True)
    with pytest.raises(HostOnMaintenance) as refused:
        store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED))
    message = str(refused.value)
    assert "host c1 of type 'COMPUTE_HOST'" in message
    assert "is ignored as the host is already under maintenance" in message
    with pytest.raises(HostOnMaintenance):
        store.create_notification("PROCESS", "c1", {"event": "STOPPED", "process_name": "n"})
    assert store.list_notifications(hostname="c1") == []
    # The host coming back is how it leaves maintenance: a STARTED report is taken ...
    back = store.create_notification("COMPUTE_HOST", "c1", {"event": "started"})
    assert store.get_notification(back.id).payload["event"] == "STARTED"
    # ... and while it is the latest, a new failure is not lost;
    again = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED))
    assert store.get_notification(again.id).status is S.NEW
    # after which reports are refused again until the host is back.
    with pytest.raises(HostOnMaintenance):
        store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), dedup_interval=0)
    # Out of maintenance, the same report is taken.
    store.update_host("c1", on_maintenance=False)
    accepted = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), dedup_interval=0)
    assert store.get_notification(accepted.id).status is S.NEW


def test_a_duplicate_is_reported_as_such_even_once_on_maintenance(inventory: Store) -> None:
    """A monitor retrying its report after the worker marked the host gets the
    existing id back (duplicates are checked first)."""
    store = inventory
    first = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), now=1000.0)
    store.update_host("c1", on_maintenance=True)
    with pytest.raises(DuplicateNotification) as dup:
        store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), now=1010.0)
    assert dup.value.existing_id == first.id
    with pytest.raises(HostOnMaintenance):
        store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), now=1500.0)


# -- host changes ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.NEW, S.RUNNING, S.ERROR])
def test_a_host_with_a_live_notification_cannot_be_changed(inventory: Store, status: S) -> None:
    store = inventory
    if status is S.NEW:
        nid = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED)).id
    else:
        nid, token = _running(store, "c1")
        store.set_status(nid, S.RUNNING, expected=[S.NEW], token=token)
        if status is S.ERROR:
            store.set_status(nid, S.ERROR, expected=[S.RUNNING], token=token)
    assert store.get_notification(nid).status is status

    changes: list[Callable[[], Any]] = [
        lambda: store.update_host_if_idle("c1", on_maintenance=False),
        lambda: store.update_host_if_idle("c1", reserved=True),
        lambda: store.update_host_if_idle("c1", type="other"),
        lambda: store.delete_host_if_idle("c1"),
        lambda: store.update_segment_if_idle("seg", enabled=False),
    ]
    for change in changes:
        with pytest.raises(InUse) as refused:
            change()
        text = str(refused.value)
        assert "can't be" in text and "in use to process notifications" in text
        assert nid in text and status.value in text
    host = store.get_host("c1")
    assert host.reserved is False and host.type == "COMPUTE"
    assert store.get_segment("seg").enabled is True
    # Other hosts and segments are free to change.
    assert store.update_host_if_idle("c2", type="big").type == "big"
    assert store.update_segment_if_idle("other", description="d").description == "d"
    store.delete_host_if_idle("d1")
    store.delete_segment_if_idle("other")


def test_changes_pass_once_the_recovery_ended(inventory: Store) -> None:
    store = inventory
    nid, token = _running(store, "c1")
    store.set_status(nid, S.RUNNING, expected=[S.NEW], token=token)
    store.update_host("c1", on_maintenance=True)  # the worker's own write is not guarded
    with pytest.raises(InUse):
        store.update_host_if_idle("c1", on_maintenance=False)
    store.set_status(nid, S.FAILED, expected=[S.RUNNING], token=token)
    assert store.update_host_if_idle("c1", on_maintenance=False).on_maintenance is False
    store.delete_host_if_idle("c1")
    with pytest.raises(NotFound):
        store.get_host("c1")


def test_a_claimed_spare_cannot_be_made_reserved_or_deleted(inventory: Store) -> None:
    store = inventory
    nid, token = _running(store, "c1")
    claim = store.claim_reserved_host(nid, "r0", token=token)
    for change in (
        lambda: store.update_host_if_idle("r0", reserved=True),
        lambda: store.update_host_if_idle("r0", on_maintenance=True),
        lambda: store.delete_host_if_idle("r0"),
    ):
        with pytest.raises(InUse) as refused:
            change()
        assert "r0 holds the claim of notification " + nid in str(refused.value)
    assert store.check_claim("r0", claim.epoch, nid)
    assert store.get_host("r0").claimed_by == nid
    # The unclaimed spare is free.
    assert store.update_host_if_idle("r1", on_maintenance=True).on_maintenance is True
    store.set_status(nid, S.FINISHED, expected=[S.NEW], token=token)
    assert store.update_host_if_idle("r0", reserved=True).reserved is True


def test_guarded_changes_keep_their_other_errors(inventory: Store) -> None:
    store = inventory
    with pytest.raises(NotFound):
        store.update_host_if_idle("ghost", type="x")
    with pytest.raises(NotFound):
        store.delete_host_if_idle("ghost")
    with pytest.raises(NotFound):
        store.update_segment_if_idle("nowhere", enabled=False)
    with pytest.raises(Conflict) as busy:
        store.delete_segment_if_idle("seg")  # still has hosts
    assert not isinstance(busy.value, InUse)


# -- races ---------------------------------------------------------------------------------


def _race(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """Run both at once; each result is the return value or the StoreError raised."""
    barrier = threading.Barrier(2)

    def run(fn: Callable[[], Any]) -> Any:
        barrier.wait(timeout=10)
        try:
            return fn()
        except StoreError as e:
            return e

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(run, first), pool.submit(run, second)
        return a.result(timeout=30), b.result(timeout=30)


ROUNDS = 25


def test_intake_and_maintenance_never_both_win(store: Store) -> None:
    """A report racing an operator putting the host on maintenance: either the report
    is taken and the change refused, or the change made and the report refused."""
    make_segment(store, "seg")
    names = [f"h{i}" for i in range(ROUNDS)]
    make_hosts(store, "seg", names)
    for name in names:
        report, change = _race(
            partial(store.create_notification, "COMPUTE_HOST", name, dict(STOPPED)),
            partial(store.update_host_if_idle, name, on_maintenance=True),
        )
        took = not isinstance(report, StoreError)
        changed = not isinstance(change, StoreError)
        assert took != changed, (name, report, change)
        assert isinstance(report, HostOnMaintenance) or took
        assert isinstance(change, InUse) or changed
        assert len(store.list_notifications(hostname=name)) == int(took)
        assert store.get_host(name).on_maintenance is changed


def test_claim_and_reserve_again_never_both_win(store: Store) -> None:
    """A claim racing an operator making the spare reserved again (which would clear
    the claim): a claim that is taken stays the host's claim."""
    make_segment(store, "seg")
    spares = [f"r{i}" for i in range(ROUNDS)]
    make_hosts(store, "seg", spares, reserved=True)
    make_hosts(store, "seg", ["c1"])
    for spare in spares:
        nid = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), dedup_interval=0).id
        delivery = store.consume("w")
        assert delivery is not None and delivery.notification_id == nid
        claim, change = _race(
            partial(store.claim_reserved_host, nid, spare, token=delivery.token),
            partial(store.update_host_if_idle, spare, reserved=True, position=999),
        )
        assert not isinstance(claim, StoreError), claim
        host = store.get_host(spare)
        assert host.claimed_by == nid and host.claim_epoch == claim.epoch
        assert store.check_claim(spare, claim.epoch, nid)
        assert isinstance(change, InUse) or host.position == 999
        store.set_status(nid, S.FINISHED, expected=[S.NEW], token=delivery.token)
