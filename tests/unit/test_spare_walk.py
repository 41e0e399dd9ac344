"""The walk over a segment's reserved hosts (rhworker.recovery.targets.SpareWalk).

Segment order without contention; after a miss (a host claimed meanwhile, its lock
held, its claim lost) the store is read again and the walk goes on at a position
derived from the notification id, so that concurrent claimers stop racing for the
same next host. SQLite store and file locks in a temp dir.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rhworker.coordination import Coordinator, new_member_id
from rhworker.models import Host, RecoveryMethod, Segment
from rhworker.recovery.base import RecoveryContext
from rhworker.recovery.targets import claim_reserved_host, spread_index
from rhworker.store import Store, from_url
from tests.unit.driver_env import spare_context

FAILED = [f"c{i}" for i in range(8)]
SPARES = [f"r{i}" for i in range(12)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = from_url(f"sqlite:///{tmp_path}/rhworker.db")
    opened.create_segment(Segment(name="seg", recovery_method=RecoveryMethod.RESERVED_HOST))
    for i, name in enumerate(FAILED):
        opened.create_host(Host(name=name, segment="seg", position=i))
    for i, name in enumerate(SPARES):
        opened.create_host(Host(name=name, segment="seg", reserved=True, position=100 + i))
    yield opened
    opened.close()


@pytest.fixture
def coordinators() -> Iterator[list[Coordinator]]:
    made: list[Coordinator] = []
    yield made
    for coordinator in made:
        coordinator.stop()


def _coordinator(tmp_path: Path, made: list[Coordinator]) -> Coordinator:
    coordinator = Coordinator(f"file://{tmp_path}/locks", new_member_id())
    coordinator.start()
    made.append(coordinator)
    return coordinator


def _claim(store: Store, ctx: RecoveryContext, failed: str) -> str | None:
    n = store.get_notification(ctx.delivery.notification_id)
    target = claim_reserved_host(ctx, n, store.get_host(failed), exclude=set())
    return None if target is None else target.host


def _steps(store: Store, ctx: RecoveryContext) -> list[tuple[str, str | None]]:
    n = store.get_notification(ctx.delivery.notification_id)
    return [(s.name, s.detail.get("host")) for s in n.progress.steps]


def test_without_contention_the_spares_go_in_segment_order(
    store: Store, tmp_path: Path, coordinators: list[Coordinator]
) -> None:
    coordinator = _coordinator(tmp_path, coordinators)
    got = [_claim(store, spare_context(store, coordinator, f), f) for f in FAILED[:4]]
    assert got == SPARES[:4]


def test_a_host_claimed_since_the_read_is_skipped_without_its_lock(
    store: Store, tmp_path: Path, coordinators: list[Coordinator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk read the spares before another notification claimed the first: the
    fresh read before the lock shows it claimed, so its lock is not tried; the walk
    reads the store again and goes on at the notification's spread position."""
    coordinator = _coordinator(tmp_path, coordinators)
    first = spare_context(store, coordinator, "c0")
    second = spare_context(store, coordinator, "c1")
    stale = store.reserved_hosts("seg")
    reads = iter([stale])
    reserved_hosts = store.reserved_hosts
    monkeypatch.setattr(
        store, "reserved_hosts", lambda seg: next(reads, None) or reserved_hosts(seg)
    )
    assert _claim(store, first, "c0") == "r0"  # took the stale read: a fresh walk still
    reads = iter([stale])
    got = _claim(store, second, "c1")
    left = [h for h in SPARES if h != "r0"]
    n2 = second.delivery.notification_id
    assert got == left[spread_index(n2, 1, len(left))]
    # r0 cost no lock try: the only step is the claim.
    assert _steps(store, second) == [("claimed", got)]


def test_after_a_held_lock_the_walk_spreads_instead_of_taking_the_next(
    store: Store, tmp_path: Path, coordinators: list[Coordinator]
) -> None:
    coordinator = _coordinator(tmp_path, coordinators)
    other = _coordinator(tmp_path, coordinators)
    assert other.try_lock("r0") is not None  # another worker is between lock and claim
    ctx = spare_context(store, coordinator, "c0")
    got = _claim(store, ctx, "c0")
    left = SPARES[1:]
    assert got == left[spread_index(ctx.delivery.notification_id, 1, len(left))]
    assert _steps(store, ctx) == [("lock_skipped", "r0"), ("claimed", got)]


def test_every_host_is_tried_once_and_the_walk_ends(
    store: Store, tmp_path: Path, coordinators: list[Coordinator]
) -> None:
    """Every spare's lock held elsewhere: each is tried once (spread or not), then None."""
    coordinator = _coordinator(tmp_path, coordinators)
    other = _coordinator(tmp_path, coordinators)
    for name in SPARES:
        assert other.try_lock(name) is not None
    ctx = spare_context(store, coordinator, "c0")
    assert _claim(store, ctx, "c0") is None
    tried = [host for name, host in _steps(store, ctx) if name == "lock_skipped"]
    assert sorted(tried) == sorted(SPARES) and tried[0] == "r0"


def test_spread_positions_differ_per_notification() -> None:
    """Notifications that missed the same host go on at places spread like a uniform
    draw (crc32 of the id and the miss count): 100 ids over 190 hosts land on about
    77 distinct ones (a uniform draw's expectation), none on fewer than 60; a second
    miss moves them again."""
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(100)]
    first = [spread_index(i, 1, 190) for i in ids]
    assert len(set(first)) >= 60
    assert sum(a != spread_index(i, 2, 190) for a, i in zip(first, ids, strict=True)) >= 95
    assert all(0 <= spread_index(i, k, 7) < 7 for i in ids for k in (1, 2, 3))


def test_concurrent_claimers_each_get_their_own_spare(
    store: Store, tmp_path: Path, coordinators: list[Coordinator]
) -> None:
    """Eight claimers at once, each with its own lock client: eight different spares,
    every claim recorded once (the claim decides; the walk only spreads the tries)."""
    contexts = [spare_context(store, _coordinator(tmp_path, coordinators), f) for f in FAILED]
    got: dict[str, str | None] = {}
    start = threading.Barrier(len(contexts))

    def run(ctx: RecoveryContext, failed: str) -> None:
        start.wait(10)
        got[failed] = _claim(store, ctx, failed)

    threads = [
        threading.Thread(target=run, args=(ctx, f)) for ctx, f in zip(contexts, FAILED, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    hosts = [h for h in got.values() if h is not None]
    assert len(got) == 8 and len(hosts) == 8 and len(set(hosts)) == 8
    for failed, ctx in zip(FAILED, contexts, strict=True):
        claimed = [h for name, h in _steps(store, ctx) if name == "claimed"]
        assert claimed == [got[failed]]
        assert store.get_host(got[failed] or "").claimed_by == ctx.delivery.notification_id


def test_failures_recovered_at_once_start_at_their_rank(
    store: Store, tmp_path: Path, coordinators: list[Coordinator]
) -> None:
    """Three failures running at once, none claimed yet: the third reported starts at
    the third free spare (its rank 2) with no miss; the first, claiming later, still
    gets the first spare. Alone (the others claimed), a walk starts at the first free."""
    coordinator = _coordinator(tmp_path, coordinators)
    ctxs = [spare_context(store, coordinator, f) for f in FAILED[:3]]
    assert _claim(store, ctxs[2], FAILED[2]) == SPARES[2]
    assert _steps(store, ctxs[2]) == [("claimed", SPARES[2])]
    assert _claim(store, ctxs[0], FAILED[0]) == SPARES[0]  # rank 0
    assert _claim(store, ctxs[1], FAILED[1]) == SPARES[1]  # rank 0 now: the first claimed
    late = spare_context(store, coordinator, FAILED[3])
    assert _claim(store, late, FAILED[3]) == SPARES[3]  # the others claimed: rank 0


def test_no_free_spare_left_ends_the_walk_at_once(
    store: Store, tmp_path: Path, coordinators: list[Coordinator]
) -> None:
    coordinator = _coordinator(tmp_path, coordinators)
    for name in SPARES:
        store.update_host(name, reserved=False)
    ctx = spare_context(store, coordinator, "c0")
    spare_context(store, coordinator, "c1")  # another failure running: a rank of its own
    assert _claim(store, ctx, "c0") is None
    assert _steps(store, ctx) == []
