"""A host failure resumed by another worker after the first one died (its lease
ran out): the claims and moves it recorded are taken up, never done twice — on the
in-package FakeCompute and an SQLite store.

"Died" is what the first worker sees when its lease is gone: the fence raises
``Cancelled`` at its next change (here: injected at a chosen call), and nothing of
that attempt is concluded; the second worker takes the delivery once the lease has
run out.
"""

from __future__ import annotations

import pytest

from rhworker.compute.fake import nova_evacuation
from rhworker.models import MoveState, NotificationStatus, RecoveryMethod
from rhworker.recovery.base import Cancelled
from tests.unit.driver_env import LEASE, Cloud
from tests.unit.driver_env import cloud as cloud  # noqa: F401  (the fixture)

SPARES = ("r0", "r1")
DIED = "worker died"


@pytest.fixture
def spares(cloud: Cloud) -> Cloud:
    cloud.segment(RecoveryMethod.RESERVED_HOST, spares=SPARES)
    cloud.servers("vm-1", "vm-2")
    return cloud


def _die() -> None:
    """The worker dies here: nothing after this runs (its lease will run out)."""
    raise Cancelled(DIED)


def _second_worker(cloud: Cloud) -> NotificationStatus:
    result = cloud.run("w2", later=LEASE + 1)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert cloud.compute.violations == []
    return result.status


def test_died_while_nova_rebuilds_the_second_resumes_the_claim_and_only_waits(
    spares: Cloud,
) -> None:
    # vm-2's evacuate is posted; the worker dies before Nova is done with it.
    spares.compute.script("vm-2", [{"hook": _die}, *nova_evacuation("r0")])
    nid = spares.report()
    with pytest.raises(Cancelled, match=DIED):
        spares.run("w1", host_failure_recovery_threads=1)
    assert spares.states(nid) == {"vm-1": MoveState.SUCCEEDED, "vm-2": MoveState.ONGOING}

    _second_worker(spares)

    assert spares.evacuated_to() == [("vm-1", "r0"), ("vm-2", "r0")]  # once each
    assert {s.host for s in spares.compute.servers.values()} == {"r0"}
    resumed = spares.steps(nid, "resumed")
    assert [s.detail["host"] for s in resumed] == ["r0"]
    assert [s.worker for s in spares.steps(nid, "claimed")] == ["w1"]  # no second claim
    assert spares.store.get_host("r1").reserved  # the other spare untouched
    waited = spares.steps(nid, "evacuation_in_progress")
    assert [s.worker for s in waited] == ["w2"]
    assert "task state rebuild_block_device_mapping" in waited[0].message
    assert not spares.compute.servers["vm-2"].locked  # the second owner unlocked it


def test_died_before_posting_the_second_evacuates_what_was_left_once(spares: Cloud) -> None:
    spares.compute.fail("evacuate_server", Cancelled(DIED), server_id="vm-2")
    nid = spares.report()
    with pytest.raises(Cancelled, match=DIED):
        spares.run("w1", host_failure_recovery_threads=1)
    assert spares.states(nid)["vm-2"] != MoveState.SUCCEEDED

    _second_worker(spares)

    posted = [sid for sid, _ in spares.evacuated_to()]
    assert posted.count("vm-1") == 1  # done by the first worker, not again
    assert posted.count("vm-2") == 2  # refused by the fence once, then posted
    assert spares.states(nid) == {"vm-1": MoveState.SUCCEEDED, "vm-2": MoveState.SUCCEEDED}
    assert [s.detail["host"] for s in spares.steps(nid, "resumed")] == ["r0"]


def test_died_after_the_claim_the_second_goes_on_with_that_spare(spares: Cloud) -> None:
    spares.compute.fail("enable_service", Cancelled(DIED))
    nid = spares.report()
    with pytest.raises(Cancelled, match=DIED):
        spares.run("w1")
    assert spares.store.get_host("r0").claimed_by == nid
    assert spares.evacuated_to() == []

    _second_worker(spares)

    assert {host for _, host in spares.evacuated_to()} == {"r0"}
    assert spares.compute.services["r0"].status == "enabled"
    assert spares.store.get_host("r1").claimed_by is None


def test_died_after_every_move_ended_the_second_only_concludes(spares: Cloud) -> None:
    nid = spares.report()
    spares.run("w1")  # all evacuated; say the worker died before storing the outcome
    spares.compute.calls.clear()
    result = spares.run("w2", later=LEASE + 1)  # the same delivery, handed out again
    assert result.status == NotificationStatus.FINISHED
    assert result.reason == "2 evacuated, 0 skipped"
    assert spares.evacuated_to() == [] and spares.compute.calls_of("lock_server") == []
    assert spares.steps(nid, "instances")[-1].message == "no instance to evacuate"


def test_a_server_that_appeared_since_the_first_attempt_is_added(spares: Cloud) -> None:
    spares.compute.fail("evacuate_server", Cancelled(DIED), server_id="vm-1")
    nid = spares.report()
    with pytest.raises(Cancelled):
        spares.run("w1", host_failure_recovery_threads=1)
    spares.servers("vm-3")  # listed by the second attempt only
    _second_worker(spares)
    assert spares.states(nid) == dict.fromkeys(("vm-1", "vm-2", "vm-3"), MoveState.SUCCEEDED)
    message = spares.steps(nid, "instances")[-1].message
    assert message.endswith(": 1 new to evacuate, 0 skipped, 2 known from earlier attempts")
