"""Nova details of a recovery (issue 13 item 7) on the simulator over HTTP: a server
deleted during its evacuation ends ``gone`` and the notification finishes; a server
its owner had locked stays locked; rhworker unlocks only what it locked."""

from __future__ import annotations

import threading

import pytest

from rhworker.models import MoveState, NotificationStatus
from rhworker.testing.sim_fixture import password_connection, sdk_connection
from rhworker.verify import verify
from tests.integration.clouds import segment_cloud

pytestmark = pytest.mark.integration


def _events(sim, kind, server=None):
    return [
        e
        for e in sim.state()["events"]
        if e.get("event") == kind and (server is None or e.get("server") == server)
    ]


@pytest.mark.parametrize("backend", ["embedded", "redis-redis"])  # both stores keep `gone`
def test_server_deleted_during_recovery_is_gone_and_the_notification_finishes(
    make_deployment, backend
):
    d, sim = make_deployment(
        segment_cloud(spares=1),
        sim_options={"evacuation_time": 2.0},
        options={"host_failure": {"host_failure_recovery_threads": 3}},
    )
    sim.kill_host("compute-1")
    nid = d.notify("compute-1")
    burst = threading.Thread(target=d.run_burst, kwargs={"timeout": 60}, daemon=True)
    burst.start()
    ongoing = d.wait_for(
        lambda: next((m for m in d.store.list_moves(nid) if m.state == MoveState.ONGOING), None),
        30,
        "a move in progress",
    )
    # An operator (admin: the server is locked by rhworker meanwhile) deletes it.
    admin = sdk_connection(sim)
    admin.compute.delete_server(ongoing.instance_id)
    burst.join(70)
    assert not burst.is_alive()

    n = d.store.get_notification(nid)
    assert n.status == NotificationStatus.FINISHED, n.progress.reason
    assert n.progress.reason == "2 evacuated, 0 skipped, 1 gone"
    moves = {m.instance_id: m for m in d.store.list_moves(nid)}
    gone = moves.pop(ongoing.instance_id)
    assert gone.state == MoveState.GONE and "deleted" in gone.message
    assert gone.locked_by_rhworker is False
    assert all(m.state == MoveState.SUCCEEDED and m.target == "spare-1" for m in moves.values())
    state = sim.state()
    assert ongoing.instance_id not in {s["id"] for s in state["servers"]}
    assert not _events(sim, "server_unlocked", ongoing.instance_id)
    report = verify(d.store, state)
    assert report.ok, report.summary()
    assert report.counts["moves.gone"] == 1


@pytest.mark.parametrize("backend", ["embedded"])  # does not depend on the backends
def test_server_locked_by_its_owner_stays_locked(make_deployment, backend):
    d, sim = make_deployment(segment_cloud(spares=1))
    servers = [s for s in sim.state()["servers"] if s["host"] == "compute-1"]
    victim = servers[0]["id"]
    owner = password_connection(sim, "demo", "demo", "demo", compute_api_version="2.94")
    owner.compute.lock_server(victim)
    sim.kill_host("compute-1")
    nid = d.notify("compute-1")
    d.run_burst()

    n = d.store.get_notification(nid)
    assert n.status == NotificationStatus.FINISHED, n.progress.reason
    after = {s["id"]: s for s in sim.state()["servers"]}
    assert all(after[s["id"]]["host"] == "spare-1" for s in servers)
    assert after[victim]["locked"] is True  # the owner's lock is still there
    assert [e["by"] for e in _events(sim, "server_locked", victim)] == ["owner"]
    assert not _events(sim, "server_unlocked", victim)
    for other in (s["id"] for s in servers[1:]):
        assert after[other]["locked"] is False
        assert [e["by"] for e in _events(sim, "server_locked", other)] == ["admin"]
        assert len(_events(sim, "server_unlocked", other)) == 1
    moves = d.store.list_moves(nid)
    assert all(m.state == MoveState.SUCCEEDED and not m.locked_by_rhworker for m in moves)
