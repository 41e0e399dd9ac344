"""Store contract: history retention (``prune_history``).

Only terminal notifications last updated before the cut-off go, with everything they
wrote; live ones, the ones still holding a reserved host and the ones under a live
lease stay. Pruning twice, or from two clients at once, is safe. Time moves through
``now=``: the prune runs "30 days after" a boundary taken from the store's clock, as
some writes (ack, steps) stamp ``updated_at`` with the server's clock, not ``now=``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rhworker.errors import NotFound
from rhworker.models import Move, NotificationStatus, Step
from rhworker.store import Store, from_url
from rhworker.store.redis import RedisStore
from tests.contract.store_cases import STOPPED, make_hosts, make_segment

S = NotificationStatus
DAY = 86400.0


@pytest.fixture
def setup(store: Store) -> Store:
    make_segment(store)
    make_hosts(store, "seg", [f"h{i}" for i in range(60)])
    make_hosts(store, "seg", ["spare1", "spare2"], reserved=True)
    return store


def _done(store: Store, host: str, at: float, end: S, *, ack: bool = True, claim: str = "") -> str:
    """A notification taken through to ``end`` at time ``at``; returns its id."""
    nid = store.create_notification("COMPUTE_HOST", host, dict(STOPPED), now=at).id
    d = store.consume("w1", lease_timeout=60, now=at)
    assert d is not None and d.notification_id == nid
    store.set_status(nid, S.RUNNING, expected=[S.NEW], token=d.token, now=at)
    store.add_step(nid, Step(at=at, name="evacuated"), token=d.token)
    store.upsert_move(Move(notification_id=nid, instance_id=f"vm-{nid}"), token=d.token)
    if claim:
        store.claim_reserved_host(nid, claim, token=d.token, now=at)
    if end == S.FAILED:
        store.dead_letter(d, "gave up", now=at)
        return nid
    store.set_status(nid, end, expected=[S.RUNNING], token=d.token, now=at)
    if ack:
        store.ack(d)
    return nid


def _prune(store: Store, boundary: float, limit: int | None = None) -> int:
    """Prune as if 30 days had passed since ``boundary`` (retention: 30 days)."""
    return store.prune_history(30 * DAY, limit=limit, now=boundary + 30 * DAY)


def _gone(store: Store, nid: str) -> None:
    with pytest.raises(NotFound):
        store.get_notification(nid)
    assert store.list_moves(nid) == []
    assert nid not in {n.id for n in store.list_notifications()}
    assert nid not in {d.notification_id for d in store.queue_stats().dead_letters}
    if isinstance(store, RedisStore):  # no key, no member of any key, names it
        client: Any = store._redis
        for key in client.scan_iter(f"{store.prefix}:*"):
            assert nid not in key
            kind = client.type(key)
            members: list[str] = []
            if kind == "zset":
                members = client.zrange(key, 0, -1)
            elif kind == "list":
                members = client.lrange(key, 0, -1)
            elif kind == "set":
                members = list(client.smembers(key))
            elif kind == "hash":
                members = list(client.hvals(key))
            assert not any(nid in m for m in members), (key, members)


def test_prunes_only_old_terminal_ones_with_everything_theirs(setup: Store) -> None:
    store = setup
    t0 = time.time() - 40 * DAY
    old = [
        _done(store, "h1", t0, S.FINISHED),
        _done(store, "h2", t0 + 1, S.IGNORED),
        _done(store, "h3", t0 + 2, S.FAILED),
    ]
    claimed = _done(store, "h4", t0 + 3, S.FINISHED, claim="spare1")
    # finished but never acked: its lease (60 s from t0+4) is long over
    unacked = _done(store, "h5", t0 + 4, S.FINISHED, ack=False)
    old.append(unacked)
    live_err = store.create_notification("COMPUTE_HOST", "h6", dict(STOPPED), now=t0 + 5).id
    d = store.consume("w1", lease_timeout=60, now=t0 + 5)
    assert d is not None
    store.retry_later(d, 100 * DAY, reason="nova down", now=t0 + 5)
    boundary = store.now()
    recent = _done(store, "h7", boundary + 1, S.FINISHED)
    stats_before = store.queue_stats()

    assert _prune(store, boundary) == len(old)
    for nid in old:
        _gone(store, nid)
    kept = {n.id: n for n in store.list_notifications()}
    assert set(kept) == {claimed, live_err, recent}
    assert kept[live_err].status == S.ERROR
    assert store.get_host("spare1").claimed_by == claimed
    assert [n.id for n in store.list_notifications(status=S.FAILED)] == []
    assert store.queue_stats().dead_letters == []
    assert stats_before.depth == store.queue_stats().depth
    # the same failure may be reported again (its duplicate window entry went too)
    again = store.create_notification("COMPUTE_HOST", "h1", dict(STOPPED), now=t0 + 10)
    assert again.status == S.NEW

    assert _prune(store, boundary) == 0  # idempotent
    assert set(n.id for n in store.list_notifications()) == {claimed, live_err, recent, again.id}


def test_live_lease_keeps_a_terminal_notification(setup: Store) -> None:
    store = setup
    t0 = time.time() - 40 * DAY
    nid = store.create_notification("COMPUTE_HOST", "h1", dict(STOPPED), now=t0).id
    d = store.consume("w1", lease_timeout=100 * DAY, now=t0)
    assert d is not None
    store.set_status(nid, S.FINISHED, expected=[S.NEW], token=d.token, now=t0)
    assert _prune(store, store.now()) == 0
    assert store.get_notification(nid).status == S.FINISHED


def test_limit_bounds_one_call(setup: Store) -> None:
    store = setup
    t0 = time.time() - 40 * DAY
    ids = [_done(store, f"h{i}", t0 + i, S.FINISHED) for i in range(5)]
    boundary = store.now()
    assert _prune(store, boundary, limit=2) == 2
    assert _prune(store, boundary, limit=10) == 3
    assert store.list_notifications() == []
    for nid in ids:
        _gone(store, nid)


def test_concurrent_prunes_from_two_clients(setup: Store, store_url: str) -> None:
    store = setup
    t0 = time.time() - 40 * DAY
    ids = [_done(store, f"h{i}", t0 + i, S.FINISHED) for i in range(40)]
    boundary = store.now()
    keep = _done(store, "h50", boundary + 1, S.FINISHED)
    counts: list[int] = []
    errors: list[BaseException] = []
    go = threading.Event()

    def prune() -> None:
        other = from_url(store_url)
        try:
            go.wait(30)
            total = 0
            while True:
                n = _prune(other, boundary, limit=7)
                total += n
                if n == 0:
                    break
            counts.append(total)
        except BaseException as e:  # reported below
            errors.append(e)
        finally:
            other.close()

    threads = [threading.Thread(target=prune) for _ in range(2)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(counts) == len(ids)
    assert [n.id for n in store.list_notifications()] == [keep]
    for nid in ids[:3]:
        _gone(store, nid)


def test_status_listing_of_a_store_written_before_the_index(setup: Store, store_url: str) -> None:
    """Redis: a store whose notifications predate ``P:bystatus:*`` is indexed once by
    the first reader (SQLite: the index is part of the schema)."""
    store = setup
    t0 = time.time() - DAY
    done = _done(store, "h1", t0, S.FINISHED)
    waiting = store.create_notification("COMPUTE_HOST", "h2", dict(STOPPED), now=t0 + 300).id
    if isinstance(store, RedisStore):
        client: Any = store._redis
        client.delete(*client.keys(f"{store.prefix}:bystatus*"))
    fresh = from_url(store_url)
    try:
        assert [n.id for n in fresh.list_notifications(status=S.FINISHED)] == [done]
        assert [n.id for n in fresh.list_notifications(status=S.NEW)] == [waiting]
        assert fresh.list_notifications(status=S.FAILED) == []
    finally:
        fresh.close()
