"""Store contract: the delivery queue (leases, takeover, retries, dead letters, stats).

Time moves through ``now=``: ``t0`` is the creation time, and every later call passes
a time after it. No sleeps.
"""

from __future__ import annotations

import time

import pytest

from rhworker.errors import LeaseLost
from rhworker.models import Delivery, Move, NotificationStatus, Step
from rhworker.store import Store
from rhworker.store.attempts import gave_up_reason
from tests.contract.store_cases import STOPPED, make_hosts, make_segment

S = NotificationStatus


@pytest.fixture
def queue(store: Store) -> Store:
    make_segment(store, "seg")
    make_hosts(store, "seg", [f"c{i}" for i in range(5)])
    make_hosts(store, "seg", ["r0"], reserved=True)
    return store


def _notify(store: Store, hostname: str, at: float) -> str:
    return store.create_notification("COMPUTE_HOST", hostname, dict(STOPPED), now=at).id


def _take(store: Store, worker: str, at: float, **kwargs: float) -> Delivery:
    delivery = store.consume(worker, now=at, **kwargs)  # type: ignore[arg-type]
    assert delivery is not None, f"{worker} got nothing at {at}"
    return delivery


def test_empty_queue(queue: Store) -> None:
    assert queue.consume("w1") is None
    assert queue.consume("w1", block=0.2) is None  # waits, then gives up


def test_consume_renew_ack(queue: Store) -> None:
    t0 = time.time()
    nid = _notify(queue, "c1", t0)
    first = _take(queue, "w1", t0 + 1, lease_timeout=10)
    assert first.notification_id == nid and first.worker_id == "w1"
    assert first.attempts == 1 and first.lease_until == pytest.approx(t0 + 11)
    n = queue.get_notification(nid)
    assert n.lease_owner == "w1" and n.lease_token == first.token and n.attempts == 1
    assert n.status is S.NEW  # the hand-out does not change the status
    assert queue.consume("w2", lease_timeout=10, now=t0 + 2) is None  # leased

    renewed = queue.renew(first, lease_timeout=10, now=t0 + 9)
    assert renewed.token == first.token and renewed.lease_until == pytest.approx(t0 + 19)
    assert queue.consume("w2", lease_timeout=10, now=t0 + 15) is None  # renewed lease holds

    queue.set_status(nid, S.RUNNING, expected=[S.NEW], token=renewed.token)
    queue.set_status(nid, S.FINISHED, expected=[S.RUNNING], token=renewed.token)
    queue.ack(renewed)
    # Acknowledged deliveries never come back, whatever the time.
    assert queue.consume("w2", lease_timeout=10, now=t0 + 20) is None
    assert queue.consume("w2", lease_timeout=10, now=t0 + 100_000) is None
    stats = queue.queue_stats(now=t0 + 20)
    assert (stats.depth, stats.delayed, stats.in_flight) == (0, 0, [])


def test_oldest_first_and_one_holder_each(queue: Store) -> None:
    t0 = time.time()
    ids = [_notify(queue, f"c{i}", t0 + i) for i in range(3)]
    got = [_take(queue, f"w{i}", t0 + 5).notification_id for i in range(3)]
    assert got == ids
    assert queue.consume("w9", now=t0 + 5) is None


def test_expired_lease_is_taken_over_and_old_owner_fenced(queue: Store) -> None:
    t0 = time.time()
    nid = _notify(queue, "c1", t0)
    old = _take(queue, "w1", t0, lease_timeout=5)
    queue.set_status(nid, S.RUNNING, expected=[S.NEW], token=old.token)
    assert queue.consume("w2", lease_timeout=5, now=t0 + 4) is None

    # An expired lease without a takeover still lets its owner write.
    queue.add_step(nid, Step(at=t0 + 6, name="slow"), token=old.token)

    new = _take(queue, "w2", t0 + 6, lease_timeout=5)
    assert new.notification_id == nid and new.worker_id == "w2"
    assert new.token > old.token and new.attempts == 2
    n = queue.get_notification(nid)
    assert n.lease_owner == "w2" and n.status is S.RUNNING and n.attempts == 2

    # The original owner wakes up: every write it makes is refused.
    with pytest.raises(LeaseLost):
        queue.ack(old)
    with pytest.raises(LeaseLost):
        queue.renew(old, lease_timeout=5, now=t0 + 7)
    with pytest.raises(LeaseLost):
        queue.set_status(nid, S.FINISHED, expected=[S.RUNNING], token=old.token)
    with pytest.raises(LeaseLost):
        queue.add_step(nid, Step(at=t0 + 7, name="stale"), token=old.token)
    with pytest.raises(LeaseLost):
        queue.upsert_move(Move(notification_id=nid, instance_id="i-1"), token=old.token)
    with pytest.raises(LeaseLost):
        queue.claim_reserved_host(nid, "r0", token=old.token)
    with pytest.raises(LeaseLost):
        queue.retry_later(old, 1, reason="stale", now=t0 + 7)
    with pytest.raises(LeaseLost):
        queue.dead_letter(old, "stale", now=t0 + 7)
    assert queue.get_host("r0").reserved is True
    assert queue.list_moves(nid) == []
    assert [s.name for s in queue.get_notification(nid).progress.steps] == ["slow"]

    # The new owner carries on.
    queue.claim_reserved_host(nid, "r0", token=new.token)
    queue.set_status(nid, S.FINISHED, expected=[S.RUNNING], token=new.token)
    queue.ack(new)
    assert queue.consume("w3", now=t0 + 1000) is None
    assert queue.get_notification(nid).status is S.FINISHED


def test_retry_later_not_before_delay(queue: Store) -> None:
    t0 = time.time()
    nid = _notify(queue, "c1", t0)
    first = _take(queue, "w1", t0, lease_timeout=60)
    queue.set_status(nid, S.RUNNING, expected=[S.NEW], token=first.token)
    queue.set_status(nid, S.ERROR, expected=[S.RUNNING], token=first.token)
    queue.retry_later(first, 30, reason="no reserved host available", now=t0 + 1)

    n = queue.get_notification(nid)
    assert n.status is S.ERROR and n.lease_owner is None
    assert n.next_attempt_at == pytest.approx(t0 + 31)
    assert n.progress.reason == "no reserved host available"
    stats = queue.queue_stats(now=t0 + 2)
    assert (stats.depth, stats.delayed, stats.in_flight) == (0, 1, [])

    assert queue.consume("w2", now=t0 + 2) is None
    assert queue.consume("w2", now=t0 + 30) is None
    second = _take(queue, "w2", t0 + 31.5)
    assert second.notification_id == nid and second.attempts == 2
    assert second.token > first.token
    with pytest.raises(LeaseLost):
        queue.ack(first)


def test_retry_later_from_running_sets_error(queue: Store) -> None:
    t0 = time.time()
    nid = _notify(queue, "c1", t0)
    first = _take(queue, "w1", t0)
    queue.set_status(nid, S.RUNNING, expected=[S.NEW], token=first.token)
    queue.retry_later(first, 5, reason="nova unreachable", now=t0 + 1)
    n = queue.get_notification(nid)
    assert n.status is S.ERROR and n.progress.reason == "nova unreachable"
    assert queue.consume("w1", now=t0 + 5) is None
    assert _take(queue, "w1", t0 + 6).notification_id == nid


def test_dead_letter_after_max_attempts(queue: Store) -> None:
    t0 = time.time()
    nid = _notify(queue, "c1", t0)
    later = _notify(queue, "c2", t0 + 1)
    for attempt in (1, 2):
        delivery = _take(queue, "w1", t0 + 10 * attempt, max_attempts=2)
        assert delivery.notification_id == nid and delivery.attempts == attempt
        queue.retry_later(delivery, 0, reason=f"boom {attempt}", now=t0 + 10 * attempt)

    # The third hand-out would exceed max_attempts: dead letter, and the next one comes.
    nxt = _take(queue, "w1", t0 + 40, max_attempts=2)
    assert nxt.notification_id == later
    n = queue.get_notification(nid)
    assert n.status is S.FAILED
    # both backends word it as the one policy does (rhworker.store.attempts)
    assert n.progress.reason == gave_up_reason(2, "boom 2") == "gave up after 2 attempts: boom 2"
    stats = queue.queue_stats(now=t0 + 40)
    assert [d.notification_id for d in stats.dead_letters] == [nid]
    assert stats.dead_letters[0].reason == n.progress.reason
    queue.ack(nxt)
    assert queue.consume("w1", now=t0 + 10_000, max_attempts=100) is None


def test_attempts_lost_to_expired_leases_are_given_up_without_a_reason(queue: Store) -> None:
    # Every attempt ended with its worker gone (the lease expired, nothing stored).
    t0 = time.time()
    nid = _notify(queue, "c1", t0)
    _take(queue, "w1", t0 + 1, lease_timeout=5, max_attempts=1)
    assert queue.consume("w2", lease_timeout=5, max_attempts=1, now=t0 + 10) is None
    n = queue.get_notification(nid)
    assert n.status is S.FAILED
    assert (
        n.progress.reason
        == gave_up_reason(1, None)
        == "gave up after 1 attempts: no reason recorded"
    )
    assert queue.queue_stats(now=t0 + 10).dead_letters[0].reason == n.progress.reason


def test_explicit_dead_letter(queue: Store) -> None:
    t0 = time.time()
    nid = _notify(queue, "c1", t0)
    delivery = _take(queue, "w1", t0)
    queue.dead_letter(delivery, "payload makes no sense", now=t0 + 1)
    n = queue.get_notification(nid)
    assert n.status is S.FAILED and n.progress.reason == "payload makes no sense"
    assert [d.reason for d in queue.queue_stats(now=t0 + 1).dead_letters] == [
        "payload makes no sense"
    ]
    assert queue.consume("w2", now=t0 + 10_000) is None


def test_queue_stats(queue: Store) -> None:
    t0 = time.time()
    flying = _notify(queue, "c0", t0)
    delayed = _notify(queue, "c1", t0 + 1)
    buried = _notify(queue, "c2", t0 + 2)
    _notify(queue, "c3", t0 + 3)
    _notify(queue, "c4", t0 + 4)

    held = _take(queue, "w1", t0 + 10, lease_timeout=30)
    assert held.notification_id == flying
    retried = _take(queue, "w2", t0 + 10)
    assert retried.notification_id == delayed
    queue.retry_later(retried, 100, reason="later", now=t0 + 10)
    doomed = _take(queue, "w2", t0 + 10)
    assert doomed.notification_id == buried
    queue.dead_letter(doomed, "bad", now=t0 + 10)

    stats = queue.queue_stats(now=t0 + 20)
    assert stats.depth == 2 and stats.delayed == 1
    assert [(f.notification_id, f.owner, f.hostname, f.attempts) for f in stats.in_flight] == [
        (flying, "w1", "c0", 1)
    ]
    assert stats.in_flight[0].lease_until == pytest.approx(t0 + 40)
    assert [d.notification_id for d in stats.dead_letters] == [buried]
    # Once its lease expires, the held one is ready again (counted in the depth).
    late = queue.queue_stats(now=t0 + 50)
    assert late.depth == 3 and late.in_flight == []
    assert late.delayed == 1
    assert queue.queue_stats(now=t0 + 200).depth == 4
