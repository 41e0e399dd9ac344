"""Store contract: the mass-failure brake at hand-out (rhworker.brake).

Every backend checks the first hand-out of a host-failure report in the same atomic
step as the hand-out: a trip pauses the scope (``by`` ``brake:<threshold>``), writes a
``brake`` step into every open notification of the scope, spends no attempt; a resume
releases for good what was accepted before it. The last test races real processes.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rhworker import brake, interventions
from rhworker.brake import BrakeLimits
from rhworker.models import NotificationStatus
from rhworker.store import Store, from_url
from tests.contract.store_cases import (
    CHILD_DEADLINE,
    STOPPED,
    _child,
    make_hosts,
    make_segment,
    run_children,
)

# Segment brake only (the cloud one off): more than half of a segment, from 3 hosts.
SEGMENT_ONLY = BrakeLimits(cloud_max_failures_per_window=0)
LEASE = 600.0


def _notify(store: Store, hostname: str, event: str = "STOPPED") -> str:
    payload = {**STOPPED, "event": event}
    return store.create_notification("COMPUTE_HOST", hostname, payload).id


def _take_all(store: Store, limits: BrakeLimits | None) -> list[str]:
    taken = []
    while (d := store.consume("w1", lease_timeout=LEASE, brake=limits)) is not None:
        taken.append(d.notification_id)
    return taken


@pytest.fixture
def rack(store: Store) -> Store:
    """Segment ``rack`` of 6 hosts r1..r6 and segment ``other`` of 6 hosts o1..o6."""
    for seg, prefix in (("rack", "r"), ("other", "o")):
        make_segment(store, seg)
        make_hosts(store, seg, [f"{prefix}{i}" for i in range(1, 7)])
    return store


def test_below_the_thresholds_everything_is_handed_out(rack: Store) -> None:
    ids = [_notify(rack, h) for h in ("r1", "r2", "r3", "o1")]  # 3 of 6: not more than half
    assert sorted(_take_all(rack, SEGMENT_ONLY)) == sorted(ids)
    assert rack.pauses() == {}


def test_segment_trip_holds_the_segment_and_says_why(rack: Store) -> None:
    ids = [_notify(rack, h) for h in ("r1", "r2", "r3", "r4")]
    other = _notify(rack, "o1")
    started = _notify(rack, "r5", event="STARTED")  # not a failure report: not counted
    taken = _take_all(rack, SEGMENT_ONLY)
    assert taken == [other]  # the other segment goes on; the rack is held, STARTED too
    pause = rack.pauses()["rack"]
    assert brake.threshold_of(pause) == brake.SEGMENT
    assert pause.reason == brake.segment_reason(SEGMENT_ONLY, "rack", 4, 6)
    assert "4 of 6 hosts of segment rack" in pause.reason
    for nid in [*ids, started]:
        n = rack.get_notification(nid)
        assert n.status == NotificationStatus.NEW and n.attempts == 0
        steps = [s for s in n.progress.steps if s.name == brake.STEP]
        assert len(steps) == 1 and pause.reason in steps[0].message, n.progress.steps
        assert steps[0].worker == "brake:" + brake.SEGMENT
    assert not any(s.name == brake.STEP for s in rack.get_notification(other).progress.steps)
    assert _take_all(rack, SEGMENT_ONLY) == []  # still held


def test_resume_releases_and_a_later_failure_trips_again(rack: Store) -> None:
    ids = [_notify(rack, h) for h in ("r1", "r2", "r3", "r4")]
    assert _take_all(rack, SEGMENT_ONLY) == []
    interventions.resume(rack, "rack", by="operator:ann")
    assert sorted(_take_all(rack, SEGMENT_ONLY)) == sorted(ids)  # no re-trip on them
    assert rack.pauses() == {}
    later = _notify(rack, "r5")  # 5 of 6 still open: checked again, held again
    assert _take_all(rack, SEGMENT_ONLY) == []
    assert "5 of 6 hosts" in rack.pauses()["rack"].reason
    interventions.resume(rack, "rack", by="operator:ann")
    assert _take_all(rack, SEGMENT_ONLY) == [later]


def test_reports_accepted_while_held_say_why(rack: Store) -> None:
    [_notify(rack, h) for h in ("r1", "r2", "r3", "r4")]
    assert _take_all(rack, SEGMENT_ONLY) == []
    late = rack.get_notification(_notify(rack, "r5"))
    steps = [s for s in late.progress.steps if s.name == brake.STEP]
    assert len(steps) == 1 and rack.pauses()["rack"].reason in steps[0].message
    assert not rack.get_notification(_notify(rack, "o1")).progress.steps  # not held
    interventions.pause(rack, None, by="operator:ann", reason="network work")
    by_hand = rack.get_notification(_notify(rack, "o2")).progress.steps
    assert [(s.name, s.worker) for s in by_hand] == [("held", "operator:ann")]
    assert "network work" in by_hand[0].message


def test_retries_and_ended_failures_are_not_held(rack: Store) -> None:
    first = [_notify(rack, h) for h in ("r1", "r2", "r3")]
    deliveries = []
    while (d := rack.consume("w1", lease_timeout=LEASE, brake=SEGMENT_ONLY)) is not None:
        deliveries.append(d)
    assert len(deliveries) == 3
    d1, d2, d3 = deliveries
    rack.set_status(
        d1.notification_id,
        NotificationStatus.FINISHED,
        expected=[NotificationStatus.NEW],
        token=d1.token,
    )
    rack.ack(d1)
    _notify(rack, "r4")  # open failures: r2, r3, r4 = 3 of 6: not more than half
    rack.set_status(
        d2.notification_id,
        NotificationStatus.RUNNING,
        expected=[NotificationStatus.NEW],
        token=d2.token,
    )
    rack.retry_later(d2, 0.0, reason="try again")
    assert len(_take_all(rack, SEGMENT_ONLY)) == 2  # the retry and r4
    _notify(rack, "r5")  # r2, r3, r4, r5 open: 4 of 6 → held
    assert _take_all(rack, SEGMENT_ONLY) == []
    assert set(first) >= {d3.notification_id}


def test_cloud_window_trip_holds_every_segment(rack: Store) -> None:
    limits = BrakeLimits(
        segment_max_failed_fraction=1.0, cloud_max_failures_per_window=2, window=60.0
    )
    ids = [_notify(rack, h) for h in ("r1", "o1", "o2")]
    assert _take_all(rack, limits) == []
    pause = rack.pauses()[None]
    assert pause.by == "brake:" + brake.CLOUD
    assert pause.reason == brake.cloud_reason(limits, 3)
    for nid in ids:
        assert any(s.name == brake.STEP for s in rack.get_notification(nid).progress.steps)
    interventions.resume(rack, None, by="operator:ann")
    assert sorted(_take_all(rack, limits)) == sorted(ids)


def test_brake_off_or_disabled_hands_everything_out(rack: Store) -> None:
    ids = [_notify(rack, h) for h in ("r1", "r2", "r3", "r4", "r5")]
    assert len(_take_all(rack, BrakeLimits(enabled=False))) == 5
    assert rack.pauses() == {} and len(ids) == 5


# -- a real race: 10 reports from 10 threads, 6 consuming processes --------------
RACE_LIMITS = BrakeLimits(segment_max_failed_fraction=1.0, cloud_max_failures_per_window=4)
RACE_SECONDS = 4.0


def consumer_child(results: Any, start: Any, url: str, worker: str) -> None:
    """Consume with the brake for RACE_SECONDS after the start; put each hand-out."""

    def body() -> None:
        store = from_url(url)
        start.wait(CHILD_DEADLINE)
        until = time.monotonic() + RACE_SECONDS
        while time.monotonic() < until:
            d = store.consume(worker, lease_timeout=LEASE, block=0.05, brake=RACE_LIMITS)
            if d is not None:
                results.put(("delivery", worker, d.notification_id))
        store.close()

    _child(results, body)


def reporter_child(results: Any, start: Any, url: str, hostnames: list[str]) -> None:
    """Report every host's failure at once, one thread per host."""

    def body() -> None:
        store = from_url(url)
        start.wait(CHILD_DEADLINE)

        def report(hostname: str) -> None:
            results.put(("accepted", hostname, _notify(store, hostname)))

        threads = [threading.Thread(target=report, args=(h,)) for h in hostnames]
        for t in threads:
            t.start()
        for t in threads:
            t.join(CHILD_DEADLINE)
        store.close()

    _child(results, body)


@pytest.mark.integration
def test_a_burst_cannot_slip_past_the_brake_across_processes(store_url: str, store: Store) -> None:
    make_segment(store, "big")
    make_hosts(store, "big", [f"h{i}" for i in range(1, 21)])
    args: list[tuple[Any, ...]] = [(store_url, f"w{i}") for i in range(6)]
    children = [(consumer_child, a) for a in args]
    children.append((reporter_child, (store_url, [f"h{i}" for i in range(1, 11)])))
    gathered = _run_mixed(children)
    accepted = {g[2] for g in gathered if g[0] == "accepted"}
    handed = [g[2] for g in gathered if g[0] == "delivery"]
    assert len(accepted) == 10
    assert len(handed) == len(set(handed)) <= RACE_LIMITS.cloud_max_failures_per_window
    assert brake.threshold_of(store.pauses()[None]) == brake.CLOUD
    held = accepted - set(handed)
    assert all(store.get_notification(nid).attempts == 0 for nid in held)
    interventions.resume(store, None, by="operator:ann")
    assert set(_take_all(store, RACE_LIMITS)) == held
    print(f"race: {len(handed)} handed out before the brake, {len(held)} held")


def _run_mixed(children: list[tuple[Any, tuple[Any, ...]]]) -> list[Any]:
    """run_children for several targets at once: one dispatcher per child."""
    return run_children(_dispatch, [(target, *args) for target, args in children])


def _dispatch(results: Any, start: Any, target: Any, *args: Any) -> None:
    target(results, start, *args)
