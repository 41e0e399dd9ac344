"""Store contract: inventory, notifications, progress, moves and claims.

Runs against every backend through the ``store`` fixture (tests/contract/conftest.py).
Time is moved with the ``now=`` parameters, never with sleeps.
"""

from __future__ import annotations

import time

import pytest

from rhworker.errors import (
    AlreadyExists,
    ClaimLost,
    Conflict,
    DuplicateNotification,
    LeaseLost,
    NotFound,
    ValidationError,
)
from rhworker.models import (
    ClaimRecord,
    Host,
    Move,
    MoveState,
    NotificationStatus,
    NotificationType,
    RecoveryMethod,
    Segment,
    Step,
    StepName,
)
from rhworker.store import Store
from tests.contract.store_cases import STOPPED, make_hosts, make_segment

S = NotificationStatus


# -- inventory ------------------------------------------------------------------------


def test_segment_crud(store: Store) -> None:
    created = store.create_segment(
        Segment(name="az1", recovery_method=RecoveryMethod.RESERVED_HOST, description="rack 1")
    )
    assert created.name == "az1"
    assert store.get_segment("az1") == created
    store.create_segment(Segment(name="az0"))
    assert [s.name for s in store.list_segments()] == ["az0", "az1"]

    updated = store.update_segment("az1", recovery_method="auto", enabled=False)
    assert updated.recovery_method is RecoveryMethod.AUTO
    assert updated.enabled is False
    assert store.get_segment("az1") == updated

    store.delete_segment("az0")
    assert [s.name for s in store.list_segments()] == ["az1"]
    with pytest.raises(NotFound):
        store.get_segment("az0")
    with pytest.raises(NotFound):
        store.delete_segment("az0")
    with pytest.raises(NotFound):
        store.update_segment("az0", enabled=True)


def test_segment_errors(store: Store) -> None:
    store.create_segment(Segment(name="az1"))
    with pytest.raises(AlreadyExists):
        store.create_segment(Segment(name="az1"))
    with pytest.raises(ValidationError, match="recovery_method"):
        store.create_segment(Segment(name="az2", recovery_method="teleport"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="name"):
        store.create_segment(Segment(name=""))
    with pytest.raises(ValidationError, match="name"):
        store.create_segment(Segment(name="x" * 256))
    with pytest.raises(ValidationError, match="recovery_method"):
        store.update_segment("az1", recovery_method="teleport")
    with pytest.raises(ValidationError, match="enabled"):
        store.update_segment("az1", enabled="maybe")
    with pytest.raises(ValidationError, match="unknown field"):
        store.update_segment("az1", color="red")
    assert [s.name for s in store.list_segments()] == ["az1"]


def test_host_crud_and_positions(store: Store) -> None:
    make_segment(store, "az1")
    make_segment(store, "az2")
    first = store.create_host(Host(name="c1", segment="az1"))
    second = store.create_host(Host(name="c2", segment="az1", reserved=True))
    assert (first.position, second.position) == (1, 2)
    assert store.get_host("c2") == second
    store.create_host(Host(name="b1", segment="az2", on_maintenance=True))

    assert [h.name for h in store.list_hosts()] == ["c1", "c2", "b1"]
    assert [h.name for h in store.list_hosts(segment="az2")] == ["b1"]
    assert [h.name for h in store.list_hosts(reserved=True)] == ["c2"]
    assert [h.name for h in store.list_hosts(on_maintenance=True)] == ["b1"]
    assert [h.name for h in store.list_hosts(segment="az1", reserved=False)] == ["c1"]

    updated = store.update_host("c1", on_maintenance=True, control_attributes="ipmi")
    assert updated.on_maintenance is True and updated.control_attributes == "ipmi"
    assert store.get_host("c1") == updated

    store.delete_host("b1")
    with pytest.raises(NotFound):
        store.get_host("b1")
    with pytest.raises(NotFound):
        store.delete_host("b1")
    with pytest.raises(NotFound):
        store.update_host("b1", reserved=True)


def test_host_errors(store: Store) -> None:
    make_segment(store, "az1")
    make_segment(store, "az2")
    store.create_host(Host(name="c1", segment="az1"))
    with pytest.raises(AlreadyExists):
        store.create_host(Host(name="c1", segment="az2"))  # one host, one segment
    with pytest.raises(NotFound):
        store.create_host(Host(name="c9", segment="nowhere"))
    with pytest.raises(ValidationError, match="name"):
        store.create_host(Host(name="bad host!", segment="az1"))
    with pytest.raises(ValidationError, match="reserved"):
        store.create_host(Host(name="c3", segment="az1", reserved="perhaps"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="position"):
        store.create_host(Host(name="c4", segment="az1", position=-1))
    with pytest.raises(ValidationError, match="position"):
        store.update_host("c1", position="2")
    with pytest.raises(ValidationError, match="unknown field"):
        store.update_host("c1", segment="az2")
    assert [h.name for h in store.list_hosts()] == ["c1"]


def test_delete_segment_with_hosts_conflicts(store: Store) -> None:
    make_segment(store, "az1")
    make_hosts(store, "az1", ["c1"])
    with pytest.raises(Conflict):
        store.delete_segment("az1")
    store.delete_host("c1")
    store.delete_segment("az1")
    assert store.list_segments() == []


def test_reserved_hosts_in_segment_order(store: Store) -> None:
    make_segment(store, "az1")
    make_segment(store, "az2")
    store.create_host(Host(name="r-late", segment="az1", reserved=True, position=30))
    store.create_host(Host(name="r-early", segment="az1", reserved=True, position=10))
    store.create_host(Host(name="r-maint", segment="az1", reserved=True, position=5))
    store.create_host(Host(name="r-mid", segment="az1", reserved=True, position=20))
    store.create_host(Host(name="c1", segment="az1", position=1))
    store.create_host(Host(name="r-other", segment="az2", reserved=True))
    store.update_host("r-maint", on_maintenance=True)

    assert [h.name for h in store.reserved_hosts("az1")] == ["r-early", "r-mid", "r-late"]
    assert [h.name for h in store.reserved_hosts("az2")] == ["r-other"]
    make_segment(store, "az3")
    assert store.reserved_left() == {"az1": 3, "az2": 1, "az3": 0}


# -- notifications --------------------------------------------------------------------


@pytest.fixture
def inventory(store: Store) -> Store:
    make_segment(store, "seg")
    make_hosts(store, "seg", [f"c{i}" for i in range(6)])
    make_hosts(store, "seg", [f"r{i}" for i in range(3)], reserved=True)
    return store


def test_create_and_get_notification(inventory: Store) -> None:
    store = inventory
    now = time.time()
    created = store.create_notification(
        "COMPUTE_HOST",
        "c1",
        {"event": "stopped", "host_status": "NORMAL"},
        "2026-01-02T03:04:05Z",
        now=now,
    )
    assert created.type is NotificationType.COMPUTE_HOST
    assert created.payload == {"event": "STOPPED", "host_status": "NORMAL"}
    assert created.generated_time == 1767323045.0
    assert created.status is S.NEW and created.attempts == 0
    got = store.get_notification(created.id)
    assert got == created
    with pytest.raises(NotFound):
        store.get_notification("no-such-id")


def test_notification_for_unknown_host_is_refused(inventory: Store) -> None:
    with pytest.raises(NotFound):
        inventory.create_notification("COMPUTE_HOST", "ghost", dict(STOPPED))
    assert inventory.list_notifications() == []


def test_duplicate_refused_within_interval(inventory: Store) -> None:
    store = inventory
    now = time.time()
    first = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), now=now)
    with pytest.raises(DuplicateNotification) as caught:
        store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), now=now + 10)
    assert caught.value.existing_id == first.id
    assert first.id in str(caught.value)
    # Any status counts: a finished one still refuses the duplicate.
    store.set_status(first.id, S.FINISHED, expected=[S.NEW])
    with pytest.raises(DuplicateNotification):
        store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), now=now + 20)
    # Another payload or another host is another failure.
    store.create_notification("COMPUTE_HOST", "c1", {"event": "STARTED"}, now=now + 20)
    store.create_notification("COMPUTE_HOST", "c2", dict(STOPPED), now=now + 20)
    # After the interval the same report is accepted again.
    store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), now=now + 181)
    # The interval is a parameter.
    store.create_notification("COMPUTE_HOST", "c3", dict(STOPPED), now=now)
    store.create_notification("COMPUTE_HOST", "c3", dict(STOPPED), now=now + 20, dedup_interval=10)
    assert len(store.list_notifications()) == 6


def test_list_notifications_filters_and_paging(inventory: Store) -> None:
    store = inventory
    t0 = time.time()
    ids = []
    payloads = [
        {"event": "STOPPED"},
        {"event": "STOPPED", "host_status": "NORMAL"},
        {"event": "STOPPED", "host_status": "UNKNOWN"},
        {"event": "STARTED"},
        {"event": "STOPPED", "cluster_status": "OFFLINE"},
    ]
    for i, payload in enumerate(payloads):
        n = store.create_notification("COMPUTE_HOST", f"c{i % 2}", payload, t0 + i, now=t0 + i)
        ids.append(n.id)
    newest_first = list(reversed(ids))
    assert [n.id for n in store.list_notifications()] == newest_first

    pages: list[str] = []
    marker = None
    while True:
        page = store.list_notifications(limit=2, marker=marker)
        if not page:
            break
        assert len(page) <= 2
        pages += [n.id for n in page]
        marker = page[-1].id
    assert pages == newest_first

    assert {n.id for n in store.list_notifications(hostname="c1")} == {ids[1], ids[3]}
    store.set_status(ids[2], S.RUNNING, expected=[S.NEW])
    assert [n.id for n in store.list_notifications(status=S.RUNNING)] == [ids[2]]
    assert [n.id for n in store.list_notifications(status=S.NEW, hostname="c0")] == [
        ids[4],
        ids[0],
    ]
    assert len(store.list_notifications(type="COMPUTE_HOST")) == 5
    assert store.list_notifications(type="VM") == []
    assert [n.id for n in store.list_notifications(since=t0 + 3)] == [ids[4], ids[3]]
    assert [n.id for n in store.list_notifications(since=t0 + 3, limit=1)] == [ids[4]]


def test_guarded_status(inventory: Store) -> None:
    store = inventory
    n = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED))
    running = store.set_status(n.id, S.RUNNING, expected=[S.NEW, S.ERROR])
    assert running.status is S.RUNNING
    with pytest.raises(Conflict) as caught:
        store.set_status(n.id, S.FINISHED, expected=[S.NEW])
    assert not isinstance(caught.value, LeaseLost)
    assert store.get_notification(n.id).status is S.RUNNING

    delivery = store.consume("w1")
    assert delivery is not None
    with pytest.raises(LeaseLost):
        store.set_status(n.id, S.FINISHED, expected=[S.RUNNING], token=delivery.token - 1)
    done = store.set_status(
        n.id, S.IGNORED, expected=[S.RUNNING], token=delivery.token, reason="host unknown"
    )
    assert done.status is S.IGNORED and done.progress.reason == "host unknown"
    again = store.set_status(n.id, S.IGNORED, expected=[S.IGNORED], token=delivery.token)
    assert again.progress.reason == "host unknown"  # None leaves the reason alone
    with pytest.raises(NotFound):
        store.set_status("no-such-id", S.RUNNING, expected=[S.NEW])


def test_steps_round_trip(inventory: Store) -> None:
    store = inventory
    n = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED))
    delivery = store.consume("w1")
    assert delivery is not None
    steps = [
        Step(at=1000.5, name=StepName.GATE, worker="w1", message="host c1 stopped"),
        Step(
            at=1001.25,
            name=StepName.FENCE,
            worker="w1",
            detail={"forced_down": True, "ids": [1, 2]},
        ),
    ]
    for step in steps:
        store.add_step(n.id, step, token=delivery.token)
    store.add_step(n.id, Step(at=1002.0, name=StepName.CONTROL, message="by operator"))
    got = store.get_notification(n.id).progress.steps
    assert got[:2] == steps
    assert got[2].name == "control" and got[2].worker is None
    with pytest.raises(LeaseLost):
        store.add_step(n.id, Step(at=1003.0, name="late"), token=delivery.token + 1)
    with pytest.raises(NotFound):
        store.add_step("no-such-id", Step(at=1.0, name="x"))


def test_moves_upsert_in_place(inventory: Store) -> None:
    store = inventory
    n = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED))
    other = store.create_notification("COMPUTE_HOST", "c2", dict(STOPPED))
    delivery = store.consume("w1")
    assert delivery is not None and delivery.notification_id == n.id
    vm1 = Move(notification_id=n.id, instance_id="i-1", instance_name="vm1", source="c1")
    vm2 = Move(notification_id=n.id, instance_id="i-2", instance_name="vm2", source="c1")
    store.upsert_move(vm1, token=delivery.token)
    store.upsert_move(vm2, token=delivery.token)
    vm1.state, vm1.target, vm1.started_at = MoveState.ONGOING, "r0", 10.0
    store.upsert_move(vm1, token=delivery.token)
    vm1.state, vm1.finished_at, vm1.message = MoveState.SUCCEEDED, 20.0, "on r0"
    vm1.original_status = "ACTIVE"
    store.upsert_move(vm1, token=delivery.token)
    store.upsert_move(Move(notification_id=other.id, instance_id="i-1", source="c2"))

    assert store.list_moves(n.id) == [vm1, vm2]
    assert [m.source for m in store.list_moves(other.id)] == ["c2"]
    with pytest.raises(LeaseLost):
        store.upsert_move(vm2, token=delivery.token + 5)
    assert store.list_moves("no-such-id") == []


def test_moves_keep_gone_and_the_lock_and_ha_flags(inventory: Store) -> None:
    store = inventory
    n = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED))
    delivery = store.consume("w1")
    assert delivery is not None and delivery.notification_id == n.id
    gone = Move(notification_id=n.id, instance_id="i-1", source="c1", ha_enabled=True)
    held = Move(notification_id=n.id, instance_id="i-2", source="c1", locked_by_rhworker=True)
    store.upsert_move(gone, token=delivery.token)
    store.upsert_move(held, token=delivery.token)
    gone.state, gone.message = MoveState.GONE, "server deleted during recovery"
    store.upsert_move(gone, token=delivery.token)
    got = store.list_moves(n.id)
    assert got == [gone, held]
    assert got[0].state is MoveState.GONE and got[0].state.done and got[0].ha_enabled
    assert got[1].locked_by_rhworker is True and got[1].ha_enabled is False


# -- claims ---------------------------------------------------------------------------


def _delivered(store: Store, hostname: str) -> tuple[str, int]:
    n = store.create_notification("COMPUTE_HOST", hostname, dict(STOPPED))
    delivery = store.consume(f"w-{hostname}")
    assert delivery is not None and delivery.notification_id == n.id
    return n.id, delivery.token


def test_claim_is_atomic_and_recorded(inventory: Store) -> None:
    store = inventory
    nid, token = _delivered(store, "c1")
    claim = store.claim_reserved_host(nid, "r0", token=token)
    assert claim.host == "r0" and claim.notification_id == nid
    host = store.get_host("r0")
    assert host.reserved is False and host.claimed_by == nid and host.claim_epoch == claim.epoch
    assert store.get_notification(nid).progress.claims == [ClaimRecord("r0", claim.epoch)]
    assert [h.name for h in store.reserved_hosts("seg")] == ["r1", "r2"]
    assert store.reserved_left() == {"seg": 2}

    # Idempotent for the same notification: same epoch, nothing recorded twice.
    assert store.claim_reserved_host(nid, "r0", token=token) == claim
    assert len(store.get_notification(nid).progress.claims) == 1

    other, other_token = _delivered(store, "c2")
    with pytest.raises(ClaimLost):
        store.claim_reserved_host(other, "r0", token=other_token)
    with pytest.raises(ClaimLost):
        store.claim_reserved_host(other, "c3", token=other_token)  # not a spare
    store.update_host("r1", on_maintenance=True)
    with pytest.raises(ClaimLost):
        store.claim_reserved_host(other, "r1", token=other_token)
    with pytest.raises(NotFound):
        store.claim_reserved_host(other, "ghost", token=other_token)
    with pytest.raises(LeaseLost):
        store.claim_reserved_host(other, "r2", token=other_token + 1)
    assert store.get_host("r2").reserved is True
    second = store.claim_reserved_host(other, "r2", token=other_token)
    assert second.epoch > claim.epoch
    assert store.get_notification(other).progress.claims == [ClaimRecord("r2", second.epoch)]


def test_check_claim_fencing(inventory: Store) -> None:
    store = inventory
    nid, token = _delivered(store, "c1")
    claim = store.claim_reserved_host(nid, "r0", token=token)
    assert store.check_claim("r0", claim.epoch, nid) is True
    assert store.check_claim("r0", claim.epoch - 1, nid) is False
    assert store.check_claim("r1", claim.epoch, nid) is False

    # The operator makes r0 a spare again: the old claim is stale.
    spare = store.update_host("r0", reserved=True)
    assert spare.claimed_by is None and spare.claim_epoch is None
    assert store.check_claim("r0", claim.epoch, nid) is False

    other, other_token = _delivered(store, "c2")
    again = store.claim_reserved_host(other, "r0", token=other_token)
    assert again.epoch > claim.epoch  # the counter only grows
    assert store.check_claim("r0", again.epoch, other) is True
    assert store.check_claim("r0", again.epoch, nid) is False  # same epoch, other holder
    assert store.check_claim("r0", claim.epoch, nid) is False


def test_release_claim_gives_the_spare_back(inventory: Store) -> None:
    store = inventory
    nid, token = _delivered(store, "c1")
    claim = store.claim_reserved_host(nid, "r0", token=token)
    other, other_token = _delivered(store, "c2")
    with pytest.raises(ClaimLost):  # not the holder
        store.release_claim(other, "r0", claim.epoch, token=other_token)
    with pytest.raises(ClaimLost):  # the holder, a stale epoch
        store.release_claim(nid, "r0", claim.epoch - 1, token=token)
    with pytest.raises(LeaseLost):
        store.release_claim(nid, "r0", claim.epoch, token=token + 1)
    with pytest.raises(NotFound):
        store.release_claim(nid, "ghost", claim.epoch, token=token)
    assert store.check_claim("r0", claim.epoch, nid)

    store.release_claim(nid, "r0", claim.epoch, token=token)
    host = store.get_host("r0")
    assert (host.reserved, host.claimed_by, host.claim_epoch) == (True, None, None)
    assert not store.check_claim("r0", claim.epoch, nid)
    assert [h.name for h in store.reserved_hosts("seg")] == ["r0", "r1", "r2"]
    # the claim stays in the notification's history; a second release is refused
    assert store.get_notification(nid).progress.claims == [ClaimRecord("r0", claim.epoch)]
    with pytest.raises(ClaimLost):
        store.release_claim(nid, "r0", claim.epoch, token=token)
    # claimable again, with a newer epoch
    again = store.claim_reserved_host(other, "r0", token=other_token)
    assert again.epoch > claim.epoch


def test_release_claim_refused_on_maintenance(inventory: Store) -> None:
    store = inventory
    nid, token = _delivered(store, "c1")
    claim = store.claim_reserved_host(nid, "r0", token=token)
    store.update_host("r0", on_maintenance=True)
    with pytest.raises(ClaimLost):
        store.release_claim(nid, "r0", claim.epoch, token=token)
    assert store.get_host("r0").claimed_by == nid
