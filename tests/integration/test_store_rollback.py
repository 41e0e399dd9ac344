"""Store rollback while recoveries run (issue 13): the store loses its last writes
(a snapshot put back: Redis DUMP/RESTORE of the deployment's keys, SQLite's backup
API into the live file) while a worker is evacuating onto a spare. No spare may end
with servers of two failures — checked from where Nova says the servers are and its
migration records (``verify``'s ``spare_shared``), not from the store."""

from __future__ import annotations

import collections
from typing import Any

import pytest

from rhworker.coordination import Coordinator
from rhworker.models import MoveState, NotificationStatus
from rhworker.testing.rollback import snapshot
from rhworker.verify import check_spares, evacuation_sources, verify
from tests.integration.clouds import segment_cloud

pytestmark = pytest.mark.integration

SIM = {"evacuation_time": 1.0}
OPTIONS = {"host_failure": {"host_failure_recovery_threads": 2}}
SPARES = {"spare-1", "spare-2", "spare-3"}


def _some_moved(d: Any, nid: str) -> bool:
    return any(m.state == MoveState.SUCCEEDED for m in d.store.list_moves(nid))


def _quiet(sim: Any) -> bool:
    """No evacuation under way in Nova."""
    return not any(
        m["status"] in ("accepted", "pre-migrating", "migrating", "running", "queued")
        for m in sim.state()["migrations"]
    )


def _lock_free(d: Any, host: str) -> bool:
    """Whether ``host``'s lock can be taken now (taken and given back at once)."""
    coordinator = Coordinator.from_conf(d.conf(), "rollback-test-probe")
    coordinator.start()
    try:
        lock = coordinator.try_lock(host)
        if lock is None:
            return False
        coordinator.release(lock)
        return True
    finally:
        coordinator.stop()


def _servers_by_host(sim: Any, prefix: str) -> collections.Counter[str]:
    return collections.Counter(
        s["host"] for s in sim.state()["servers"] if s["name"].startswith(prefix)
    )


def _check_nova(d: Any, sim: Any, *, one_spare_each: bool = True) -> None:
    state = sim.state()
    assert not state["violations"], state["violations"]
    assert check_spares(SPARES, state) == [], evacuation_sources(state, SPARES)
    report = verify(d.store, state, spares=SPARES)
    kinds = {v.kind for v in report.violations}
    assert not kinds & {"spare_shared", "simulator", "server_not_recovered"}, report.summary()
    where = {prefix: _servers_by_host(sim, prefix) for prefix in ("vm-1", "vm-2")}
    for hosts in where.values():  # every server of each failure is on a spare
        assert set(hosts) <= SPARES and (len(hosts) == 1 or not one_spare_each), where
    assert not set(where["vm-1"]) & set(where["vm-2"]), where


@pytest.mark.parametrize("backend", ["embedded", "redis-redis"])
def test_rollback_forgets_a_claim_nova_remembers(make_deployment: Any, backend: str) -> None:
    """The snapshot predates the failure: after the rollback the store has never heard
    of compute-1's recovery, yet its servers already run on spare-1."""
    d, sim = make_deployment(
        segment_cloud(computes=3, spares=3, servers_per_host=4), sim_options=SIM, options=OPTIONS
    )
    saved = snapshot(d.store_url)
    try:
        d.start_worker_process()
        d.start_worker_process()
        sim.kill_host("compute-1")
        first = d.notify("compute-1")
        d.wait_for(lambda: _some_moved(d, first), 30, "a server of compute-1 on its spare")

        saved.restore()
        # The first worker gives up (its claim is gone) and lets go of spare-1's lock,
        # so that only Nova's records stand between spare-1 and the next failure.
        d.wait_for(lambda: _quiet(sim) and _lock_free(d, "spare-1"), 60, "the stale worker")

        sim.kill_host("compute-2")
        second = d.notify("compute-2")
        [n2] = d.wait_terminal([second], timeout=90)
        assert n2.status == NotificationStatus.FINISHED, n2.progress.reason
        # spare-1 looked free in the store; Nova said otherwise.
        skipped = [s for s in n2.progress.steps if s.name == "spare_in_use"]
        assert skipped and "compute-1" in skipped[0].message, [
            (s.name, s.message) for s in n2.progress.steps
        ]
        assert n2.progress.claims[0].host != "spare-1"

        again = d.notify("compute-1")  # the monitor reports the failure again
        [n1] = d.wait_terminal([again], timeout=90)
        assert n1.status == NotificationStatus.FINISHED, n1.progress.reason
        d.wait_for(lambda: _quiet(sim), 30, "no evacuation under way")
        _check_nova(d, sim)
    finally:
        saved.discard()


@pytest.mark.parametrize("backend", ["embedded", "redis-redis"])
def test_rollback_of_a_hand_out_in_progress(make_deployment: Any, backend: str) -> None:
    """The snapshot holds the notification queued: after the rollback it is handed out
    again while the first holder is still evacuating. The new hand-out gets a new
    token and the re-claim a new epoch, so the first holder is fenced off."""
    d, sim = make_deployment(
        segment_cloud(computes=3, spares=3, servers_per_host=4), sim_options=SIM, options=OPTIONS
    )
    sim.kill_host("compute-1")
    first = d.notify("compute-1")
    saved = snapshot(d.store_url)
    try:
        d.start_worker_process()
        d.start_worker_process()
        d.wait_for(lambda: _some_moved(d, first), 30, "a server of compute-1 on its spare")
        lost = d.store.get_notification(first)

        saved.restore()

        sim.kill_host("compute-2")
        second = d.notify("compute-2")
        done = d.wait_terminal([first, second], timeout=120)
        assert [n.status for n in done] == [NotificationStatus.FINISHED] * 2, [
            n.progress.reason for n in done
        ]
        n1 = done[0]
        assert n1.lease_token != lost.lease_token
        [old] = lost.progress.claims
        [new] = n1.progress.claims
        assert new.epoch > old.epoch
        d.wait_for(lambda: _quiet(sim), 30, "no evacuation under way")
        # The new hand-out may find the first spare still locked by the stale holder
        # and take the next one: compute-1's servers may then be on two spares, but
        # no spare serves two failures.
        _check_nova(d, sim, one_spare_each=new.host == old.host)
    finally:
        saved.discard()
