"""Store contract: operator controls — pauses, requeue (retry) and resolve.

A pause keeps notifications queued without handing them out or spending attempts;
a resume hands them out again. Time moves through ``now=``; no sleeps.
"""

from __future__ import annotations

import time

import pytest

from rhworker.errors import Conflict, LeaseLost, NotFound
from rhworker.models import NotificationStatus, Step, StepName
from rhworker.store import Store
from tests.contract.store_cases import STOPPED, make_hosts, make_segment

S = NotificationStatus


@pytest.fixture
def two(store: Store) -> Store:
    for seg in ("a", "b"):
        make_segment(store, seg)
        make_hosts(store, seg, [f"{seg}1", f"{seg}2"])
    return store


def _notify(store: Store, hostname: str, at: float) -> str:
    return store.create_notification("COMPUTE_HOST", hostname, dict(STOPPED), now=at).id


def test_pauses_are_recorded_and_lifted(two: Store) -> None:
    t0 = time.time()
    assert two.pauses() == {}
    two.set_pause(None, True, by="operator:ann", reason="partition?", now=t0)
    two.set_pause("a", True, by="operator:bob", reason="", now=t0 + 1)
    pauses = two.pauses()
    assert set(pauses) == {None, "a"}
    assert (pauses[None].by, pauses[None].reason, pauses[None].segment) == (
        "operator:ann",
        "partition?",
        None,
    )
    assert pauses[None].at == pytest.approx(t0)
    assert pauses["a"].segment == "a" and pauses["a"].by == "operator:bob"
    two.set_pause(None, False, by="operator:ann", now=t0 + 2)
    assert set(two.pauses()) == {"a"}
    two.set_pause("a", False, by="operator:ann", now=t0 + 3)
    two.set_pause("a", False, by="operator:ann", now=t0 + 3)  # no-op
    assert two.pauses() == {}
    with pytest.raises(NotFound):
        two.set_pause("nope", True, by="operator:ann")


def test_global_pause_holds_everything_without_spending_attempts(two: Store) -> None:
    t0 = time.time()
    ids = [_notify(two, h, t0) for h in ("a1", "b1")]
    two.set_pause(None, True, by="operator:ann", now=t0)
    for i in range(3):
        assert two.consume("w1", max_attempts=1, now=t0 + 1 + i) is None
    for nid in ids:
        n = two.get_notification(nid)
        assert (n.status, n.attempts) == (S.NEW, 0)
    two.set_pause(None, False, by="operator:ann", now=t0 + 5)
    got = {two.consume("w1", now=t0 + 6).notification_id for _ in ids}  # type: ignore[union-attr]
    assert got == set(ids)


def test_segment_pause_skips_only_that_segment(two: Store) -> None:
    t0 = time.time()
    a = _notify(two, "a1", t0)
    b = _notify(two, "b1", t0 + 0.5)
    two.set_pause("a", True, by="operator:ann", now=t0)
    first = two.consume("w1", max_attempts=1, now=t0 + 1)
    assert first is not None and first.notification_id == b
    for i in range(3):  # held, again and again, never dead-lettered
        assert two.consume("w1", max_attempts=1, now=t0 + 2 + 10 * i) is None
    held = two.get_notification(a)
    assert (held.status, held.attempts, held.lease_owner) == (S.NEW, 0, None)
    assert all(d.notification_id != a for d in two.queue_stats(now=t0 + 40).dead_letters)

    two.set_pause("a", False, by="operator:ann", now=t0 + 40)
    again = two.consume("w2", max_attempts=1, now=t0 + 41)
    assert again is not None and again.notification_id == a and again.attempts == 1


def test_requeue_a_dead_letter(two: Store) -> None:
    t0 = time.time()
    nid = _notify(two, "a1", t0)
    d = two.consume("w1", now=t0 + 1)
    assert d is not None
    two.dead_letter(d, "gave up", now=t0 + 2)
    assert [x.notification_id for x in two.queue_stats(now=t0 + 3).dead_letters] == [nid]
    two.requeue(nid, reason="operator retry", now=t0 + 3)
    with pytest.raises(LeaseLost):  # the old delivery is stale now
        two.ack(d)
    n = two.get_notification(nid)
    assert (n.status, n.attempts, n.progress.reason) == (S.NEW, 0, "operator retry")
    assert two.queue_stats(now=t0 + 4).dead_letters == []
    again = two.consume("w2", max_attempts=1, now=t0 + 4)
    assert again is not None and again.notification_id == nid and again.attempts == 1
    assert again.token > d.token


def test_requeue_an_error_one_now(two: Store) -> None:
    t0 = time.time()
    nid = _notify(two, "a1", t0)
    d = two.consume("w1", now=t0 + 1)
    assert d is not None
    two.set_status(nid, S.RUNNING, expected=[S.NEW], token=d.token)
    with pytest.raises(Conflict):  # in flight
        two.requeue(nid, now=t0 + 2)
    two.set_status(nid, S.ERROR, expected=[S.RUNNING], token=d.token, reason="boom")
    two.retry_later(d, 300, reason="boom", now=t0 + 2)
    assert two.consume("w2", now=t0 + 3) is None  # backing off
    two.requeue(nid, reason="now please", now=t0 + 3)
    again = two.consume("w2", now=t0 + 4)
    assert again is not None and again.notification_id == nid and again.attempts == 1
    assert two.consume("w3", now=t0 + 10) is None  # exactly one live delivery


def test_requeue_refuses_other_statuses(two: Store) -> None:
    t0 = time.time()
    nid = _notify(two, "a1", t0)
    with pytest.raises(Conflict):
        two.requeue(nid, now=t0 + 1)  # new
    with pytest.raises(NotFound):
        two.requeue("nope")


def test_resolve_closes_and_fences(two: Store) -> None:
    t0 = time.time()
    nid = _notify(two, "a1", t0)
    d = two.consume("w1", now=t0 + 1)
    assert d is not None
    two.set_status(nid, S.RUNNING, expected=[S.NEW], token=d.token)
    n = two.resolve(nid, reason="resolved by operator: done by hand", now=t0 + 2)
    assert (n.status, n.progress.reason) == (S.FAILED, "resolved by operator: done by hand")
    with pytest.raises(LeaseLost):  # the worker still holding it is fenced off
        two.add_step(nid, Step(at=t0 + 3, name="x"), token=d.token)
    with pytest.raises(LeaseLost):
        two.renew(d, lease_timeout=10, now=t0 + 3)
    assert two.consume("w2", now=t0 + 100) is None  # never deliverable again
    assert not any(f.notification_id == nid for f in two.queue_stats(now=t0 + 4).in_flight)
    two.add_step(nid, Step(at=t0 + 4, name=StepName.CONTROL, worker="operator:ann"))  # unfenced
    with pytest.raises(Conflict):
        two.set_status(nid, S.RUNNING, expected=[S.NEW, S.ERROR, S.RUNNING])
    # a finished one cannot be resolved; a failed one can (reason updated)
    two.resolve(nid, reason="again", now=t0 + 5)
    done = _notify(two, "b1", t0)
    d2 = two.consume("w1", now=t0 + 6)
    assert d2 is not None and d2.notification_id == done
    two.set_status(done, S.FINISHED, expected=[S.NEW], token=d2.token)
    with pytest.raises(Conflict):
        two.resolve(done, reason="x")


def test_pause_survives_reopen(store_url: str, two: Store) -> None:
    from rhworker.store import from_url

    two.set_pause("b", True, by="operator:ann", reason="maintenance")
    other = from_url(store_url)
    try:
        assert other.pauses()["b"].reason == "maintenance"
    finally:
        other.close()
