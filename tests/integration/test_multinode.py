"""Two "nodes" as processes (issue 6): ``rhworker pool -n 4`` and a lone
``rhworker worker``, sharing a Redis store and ZooKeeper (or Redis) locks; host
failures injected; one pool worker SIGKILLed mid-recovery; the verdict must hold."""

from __future__ import annotations

import os
import signal
import uuid

import pytest

from rhworker.deployment import Deployment
from rhworker.models import MoveState, NotificationStatus
from rhworker.testing.chaos_faults import child_pids
from rhworker.testing.sim_fixture import running_simulator
from rhworker.verify import verify

pytestmark = pytest.mark.integration


def _cloud():
    segments = []
    servers = []
    for s in ("a", "b"):
        hosts = [{"name": f"{s}-compute-{i}"} for i in range(1, 5)]
        hosts += [{"name": f"{s}-spare-{i}", "reserved": True} for i in range(1, 5)]
        segments.append({"name": f"seg-{s}", "recovery_method": "reserved_host", "hosts": hosts})
        for i in range(1, 5):
            servers.append(
                {"name": f"{s}{i}-vm", "count": 4, "host": f"{s}-compute-{i}", "flavor": "small"}
            )
    return {
        "segments": segments,
        "servers": servers,
        "flavors": [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}],
    }


@pytest.mark.parametrize("locks", ["zookeeper", "redis"])
def test_two_nodes_with_a_killed_worker(request, redis_url, locks, tmp_path):
    coordination = request.getfixturevalue("zookeeper_url") if locks == "zookeeper" else redis_url
    spec = _cloud()
    with running_simulator(spec, evacuation_time=0.3) as sim:
        d = Deployment(
            sim.compute_url,
            store_url=f"{redis_url}/0?prefix=mn{uuid.uuid4().hex[:6]}",
            coordination_url=coordination,
            state_dir=str(tmp_path),
            options={"worker": {"concurrency": 2}},
        )
        try:
            d.load_inventory(spec)
            pool = d.start_worker_process(pool=4)
            d.start_worker_process()
            d.wait_for(lambda: len(child_pids(pool.pid)) == 4, 30, "4 pool workers")
            failed = [f"{s}-compute-{i}" for s in ("a", "b") for i in range(1, 5)]
            for host in failed:
                sim.kill_host(host)
            ids = [d.notify(host) for host in failed]

            def ongoing():
                return any(m.state == MoveState.ONGOING for i in ids for m in d.store.list_moves(i))

            d.wait_for(ongoing, 60, "a recovery in progress")
            owners = {d.store.get_notification(i).lease_owner for i in ids} - {None}
            victims = [p for p in child_pids(pool.pid) if any(str(p) in o for o in owners)]
            victim = victims[0] if victims else child_pids(pool.pid)[0]
            os.kill(victim, signal.SIGKILL)
            notifications = d.wait_terminal(ids, timeout=120)
            assert all(n.status == NotificationStatus.FINISHED for n in notifications), [
                (n.hostname, n.status, n.progress.reason) for n in notifications
            ]
            report = verify(d.store, sim.state(), accepted_ids=ids)
            assert report.ok, report.violations
            claimed = [n.progress.claims[-1].host for n in notifications]
            assert len(set(claimed)) == len(ids)
            assert d.wait_for(lambda: len(child_pids(pool.pid)) == 4, 30, "the pool to restart")
        finally:
            d.close()
