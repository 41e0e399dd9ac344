"""Crash-resume (issue 5): a worker SIGKILLed or SIGSTOPped mid-recovery; another
worker process resumes from the recorded progress with the same reserved host."""

from __future__ import annotations

import collections
import os
import signal

import pytest

from rhworker.models import MoveState, NotificationStatus
from tests.integration.clouds import segment_cloud

pytestmark = pytest.mark.integration

SIM = {"evacuation_time": 1.0}
OPTIONS = {"host_failure": {"host_failure_recovery_threads": 2}}


def _evacuations_per_server(sim):
    return collections.Counter(
        m["instance_uuid"]
        for m in sim.state()["migrations"]
        if m.get("migration_type") == "evacuation"
    )


def _ongoing(d, nid):
    moves = d.store.list_moves(nid)
    return any(m.state == MoveState.ONGOING for m in moves)


def _log(d, index):
    with open(os.path.join(d.state_dir, f"worker-{index}.log"), errors="replace") as f:
        return f.read()


def _check_recovered(d, sim, nid):
    n = d.store.get_notification(nid)
    assert n.status == NotificationStatus.FINISHED, n.progress.reason
    assert len(n.progress.claims) == 1, n.progress.claims
    host = n.progress.claims[0].host
    moves = d.store.list_moves(nid)
    assert len(moves) == 6 and all(m.state == MoveState.SUCCEEDED for m in moves)
    servers = [s for s in sim.state()["servers"] if s["name"].startswith("vm-1")]
    assert all(s["host"] == host and s["status"] == "ACTIVE" for s in servers)
    counts = _evacuations_per_server(sim)
    assert set(counts.values()) == {1}, counts  # no server evacuated twice
    assert not sim.state()["violations"]
    return n


def _recovery_in_progress(make_deployment, worker_options=None):
    """A deployment, one worker process, and compute-1's recovery under way in it."""
    options = {**OPTIONS, "worker": worker_options or {}}
    d, sim = make_deployment(
        segment_cloud(computes=1, spares=2, servers_per_host=6), sim_options=SIM, options=options
    )
    worker = d.start_worker_process()
    sim.kill_host("compute-1")
    nid = d.notify("compute-1")
    d.wait_for(lambda: _ongoing(d, nid), 30, "an evacuation in progress")
    return d, sim, worker, nid


def test_sigkill_mid_recovery_is_resumed(make_deployment):
    d, sim, first, nid = _recovery_in_progress(make_deployment)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    d.start_worker_process()
    d.wait_terminal([nid], timeout=60)
    n = _check_recovered(d, sim, nid)
    assert any(s.name == "resumed" for s in n.progress.steps)
    assert n.attempts == 2


# Not for the embedded mode: SQLite has one writer lock per database, and a process
# frozen inside a write transaction blocks every worker on the machine until it
# resumes or dies (a documented limit of that mode). Pauses are tested on Redis.
@pytest.mark.parametrize("backend", ["redis-redis", "redis-zookeeper"])
def test_sigstop_past_lease_then_sigcont(make_deployment, backend):
    d, sim, paused, nid = _recovery_in_progress(make_deployment)
    os.killpg(paused.pid, signal.SIGSTOP)
    try:
        d.start_worker_process()
        d.wait_terminal([nid], timeout=60)
    finally:
        os.killpg(paused.pid, signal.SIGCONT)
    d.wait_for(
        lambda: "leaving it to its new owner" in _log(d, 0), 30, "the paused worker to let go"
    )
    n = _check_recovered(d, sim, nid)
    assert n.status == NotificationStatus.FINISHED
    assert paused.poll() is None  # it keeps serving other work


@pytest.mark.parametrize("backend", ["embedded"])
def test_sigterm_finishes_work_in_hand(make_deployment, backend):
    d, sim, worker, nid = _recovery_in_progress(make_deployment, {"shutdown_timeout": 30})
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    n = _check_recovered(d, sim, nid)
    assert n.attempts == 1  # finished by the worker that was stopping


@pytest.mark.parametrize("backend", ["embedded"])
def test_sigterm_gives_back_what_it_cannot_finish(make_deployment, backend):
    d, sim, worker, nid = _recovery_in_progress(make_deployment, {"shutdown_timeout": 0.5})
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert "gave back" in _log(d, 0)
    assert not d.store.get_notification(nid).status.terminal
    d.start_worker_process()  # the next worker resumes it at once, not after a lease
    d.wait_terminal([nid], timeout=60)
    n = _check_recovered(d, sim, nid)
    assert n.attempts == 2
