"""Taking a reserved host when the lock service is down: tried on the claim alone.

SQLite store and the file lock backend in a temp dir; the lock service is "down" by
making its driver raise what a dead ZooKeeper/Redis client raises (the real outage
is in tests/integration/test_locks_down.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tooz.coordination

from rhworker.coordination import Coordinator, new_member_id
from rhworker.errors import RecoveryError
from rhworker.models import Host, RecoveryMethod, Segment, StepName
from rhworker.recovery.base import RecoveryContext
from rhworker.recovery.targets import claim_reserved_host, resume_claim
from rhworker.store import Store, from_url
from tests.unit.driver_env import spare_context


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = from_url(f"sqlite:///{tmp_path}/rhworker.db")
    opened.create_segment(Segment(name="seg", recovery_method=RecoveryMethod.RESERVED_HOST))
    for name in ("c1", "c2"):
        opened.create_host(Host(name=name, segment="seg"))
    for name in ("r0", "r1"):
        opened.create_host(Host(name=name, segment="seg", reserved=True))
    yield opened
    opened.close()


@pytest.fixture
def coordinators(tmp_path: Path) -> Iterator[list[Coordinator]]:
    made: list[Coordinator] = []
    yield made
    for coordinator in made:
        coordinator.stop()


def _coordinator(tmp_path: Path, made: list[Coordinator]) -> Coordinator:
    coordinator = Coordinator(f"file://{tmp_path}/locks", new_member_id())
    coordinator.start()
    made.append(coordinator)
    return coordinator


def _down(coordinator: Coordinator, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Make every lock call fail as a lost ZooKeeper connection does; returns the
    lock names asked for."""
    asked: list[bytes] = []

    def get_lock(name: bytes) -> Any:
        asked.append(name)
        raise tooz.coordination.ToozConnectionError("connection to the lock service lost")

    monkeypatch.setattr(coordinator._require_driver(), "get_lock", get_lock)
    return asked


def _steps(store: Store, ctx: RecoveryContext) -> list[tuple[str, str | None]]:
    n = store.get_notification(ctx.delivery.notification_id)
    return [(s.name, s.detail.get("host")) for s in n.progress.steps]


def test_lock_service_down_claims_on_the_claim_alone(
    store: Store, tmp_path: Path, coordinators: list[Coordinator], monkeypatch: pytest.MonkeyPatch
):
    coordinator = _coordinator(tmp_path, coordinators)
    asked = _down(coordinator, monkeypatch)
    ctx = spare_context(store, coordinator, "c1")
    n = store.get_notification(ctx.delivery.notification_id)
    target = claim_reserved_host(ctx, n, store.get_host("c1"), exclude=set())
    assert target is not None and target.host == "r0" and target.lock is None
    assert _steps(store, ctx) == [(StepName.LOCK_UNAVAILABLE, "r0"), ("claimed", "r0")]
    steps = store.get_notification(n.id).progress.steps
    assert "lock service unavailable" in steps[0].message
    assert "connection to the lock service lost" in steps[0].message
    assert "without its lock" in steps[1].message
    assert store.get_host("r0").claimed_by == n.id
    # Before each evacuation only the claim is checked: the dead service is not asked.
    target.verify()
    assert len(asked) == 1
    target.release(ctx)


def test_a_lost_claim_moves_on_to_the_next_spare(
    store: Store, tmp_path: Path, coordinators: list[Coordinator], monkeypatch: pytest.MonkeyPatch
):
    """Two walks with the locks down, the second one having read the spares (and the
    host just before its claim) before the first claimed (as a concurrent worker
    does): the claim decides."""
    coordinator = _coordinator(tmp_path, coordinators)
    _down(coordinator, monkeypatch)
    first = spare_context(store, coordinator, "c1")
    second = spare_context(store, coordinator, "c2")
    seen_before = store.reserved_hosts("seg")
    got_first = claim_reserved_host(
        first, store.get_notification(first.delivery.notification_id), store.get_host("c1"), set()
    )
    monkeypatch.setattr(store, "reserved_hosts", lambda segment: seen_before)
    read_before = {h.name: h for h in seen_before}
    get_host = store.get_host
    monkeypatch.setattr(store, "get_host", lambda name: read_before.get(name) or get_host(name))
    got_second = claim_reserved_host(
        second,
        store.get_notification(second.delivery.notification_id),
        store.get_host("c2"),
        set(),
    )
    assert got_first is not None and got_second is not None
    assert (got_first.host, got_second.host) == ("r0", "r1")
    assert _steps(store, second) == [
        (StepName.LOCK_UNAVAILABLE, "r0"),
        ("claim_lost", "r0"),
        (StepName.LOCK_UNAVAILABLE, "r1"),
        ("claimed", "r1"),
    ]
    monkeypatch.setattr(store, "get_host", get_host)
    # No spare left: nothing claimed, the claims stand.
    third = spare_context(store, coordinator, "r0")
    assert (
        claim_reserved_host(
            third,
            store.get_notification(third.delivery.notification_id),
            store.get_host("r0"),
            set(),
        )
        is None
    )
    assert store.get_host("r0").claimed_by == first.delivery.notification_id
    assert store.get_host("r1").claimed_by == second.delivery.notification_id


def test_a_lock_held_by_another_worker_is_still_skipped(
    store: Store, tmp_path: Path, coordinators: list[Coordinator]
):
    coordinator = _coordinator(tmp_path, coordinators)
    other = _coordinator(tmp_path, coordinators)
    assert other.try_lock("r0") is not None
    ctx = spare_context(store, coordinator, "c1")
    n = store.get_notification(ctx.delivery.notification_id)
    target = claim_reserved_host(ctx, n, store.get_host("c1"), exclude=set())
    assert target is not None and target.host == "r1" and target.lock is not None
    assert _steps(store, ctx) == [("lock_skipped", "r0"), ("claimed", "r1")]
    assert store.get_host("r0").reserved is True
    target.release(ctx)
    assert coordinator.try_lock("r1") is not None  # released, and forgotten: takeable again


def test_resume_with_the_lock_service_down_says_so_and_keeps_fencing(
    store: Store, tmp_path: Path, coordinators: list[Coordinator], monkeypatch: pytest.MonkeyPatch
):
    coordinator = _coordinator(tmp_path, coordinators)
    ctx = spare_context(store, coordinator, "c1")
    n = store.get_notification(ctx.delivery.notification_id)
    taken = claim_reserved_host(ctx, n, store.get_host("c1"), exclude=set())
    assert taken is not None and taken.lock is not None
    taken.release(ctx)
    _down(coordinator, monkeypatch)
    resumed = resume_claim(ctx, store.get_notification(n.id))
    assert resumed is not None and resumed.host == taken.host and resumed.lock is None
    last = store.get_notification(n.id).progress.steps[-1]
    assert last.name == "resumed" and "lock service unavailable" in last.message
    # The claim, not the lock, still fences: once it is not ours, verify refuses.
    store.update_host(taken.host, reserved=True)  # an outside write clears the claim
    with pytest.raises(RecoveryError, match="no longer current"):
        resumed.verify()
