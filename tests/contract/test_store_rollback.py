"""Store contract: claims and leases stay fenced when the store loses its last writes.

A snapshot of the store is taken, then writes happen (a hand-out, a claim), then the
snapshot is put back (:mod:`rhworker.testing.rollback`: Redis DUMP/RESTORE of the
prefix, SQLite's backup API into the live file) — what a Redis crash with
``appendfsync everysec``, a lagging replica promoted, or an older SQLite file looks
like to the workers. The holder of the lost writes must be refused from then on.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rhworker.errors import LeaseLost
from rhworker.models import NotificationStatus
from rhworker.store import Store
from rhworker.testing.rollback import Snapshot, snapshot
from tests.contract.store_cases import STOPPED, make_hosts, make_segment

S = NotificationStatus


@pytest.fixture
def spares(store: Store) -> Store:
    make_segment(store, "seg")
    make_hosts(store, "seg", ["c1", "c2"])
    make_hosts(store, "seg", ["r0", "r1"], reserved=True)
    return store


@pytest.fixture
def saved(spares: Store, store_url: str) -> Iterator[Snapshot]:
    taken = snapshot(store_url)
    yield taken
    taken.discard()


def test_same_epoch_other_holder_is_refused(spares: Store) -> None:
    store = spares
    first = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED))
    second = store.create_notification("COMPUTE_HOST", "c2", dict(STOPPED))
    d1 = store.consume("w1")
    assert d1 is not None and d1.notification_id == first.id
    claim = store.claim_reserved_host(first.id, "r0", token=d1.token)
    assert store.check_claim("r0", claim.epoch, first.id) is True
    assert store.check_claim("r0", claim.epoch, second.id) is False
    assert store.check_claim("r0", claim.epoch, "") is False
    assert store.check_claim("r1", claim.epoch, first.id) is False  # never claimed


def test_rollback_never_repeats_an_epoch_or_a_token(spares: Store, saved: Snapshot) -> None:
    store = spares
    n1 = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), dedup_interval=0)
    stale = store.consume("w1")
    assert stale is not None and stale.notification_id == n1.id
    lost = store.claim_reserved_host(n1.id, "r0", token=stale.token)

    saved.restore()  # the store forgets n1, its hand-out and its claim

    assert store.get_host("r0").reserved is True  # as if never claimed
    n2 = store.create_notification("COMPUTE_HOST", "c2", dict(STOPPED), dedup_interval=0)
    d2 = store.consume("w2")
    assert d2 is not None and d2.notification_id == n2.id
    claim = store.claim_reserved_host(n2.id, "r0", token=d2.token)
    assert claim.epoch > lost.epoch  # a counter alone would have handed out lost.epoch again
    assert store.check_claim("r0", lost.epoch, n1.id) is False
    assert store.check_claim("r0", claim.epoch, n2.id) is True
    assert store.check_claim("r0", claim.epoch, n1.id) is False


def test_rollback_of_a_hand_out_fences_its_holder(spares: Store, store_url: str) -> None:
    store = spares
    n1 = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), dedup_interval=0)
    saved = snapshot(store_url)  # n1 queued, not handed out
    try:
        stale = store.consume("w1")
        assert stale is not None
        store.set_status(n1.id, S.RUNNING, expected=[S.NEW], token=stale.token)
        first = store.claim_reserved_host(n1.id, "r0", token=stale.token)

        saved.restore()  # the hand-out and the claim are lost: n1 is new again

        again = store.consume("w2")
        assert again is not None and again.notification_id == n1.id
        assert again.token != stale.token
        with pytest.raises(LeaseLost):
            store.set_status(n1.id, S.ERROR, expected=[S.NEW, S.RUNNING], token=stale.token)
        with pytest.raises(LeaseLost):
            store.retry_later(stale, 0, reason="stale holder")
        store.set_status(n1.id, S.RUNNING, expected=[S.NEW], token=again.token)
        second = store.claim_reserved_host(n1.id, "r0", token=again.token)
        # Same holder, same host: only the epoch tells the stale claim from the new one.
        assert second.epoch > first.epoch
        assert store.check_claim("r0", first.epoch, n1.id) is False
        assert store.check_claim("r0", second.epoch, n1.id) is True
    finally:
        saved.discard()
