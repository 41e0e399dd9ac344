"""Issue 13 item 8, first bullet: a partition that keeps Nova reachable.

One worker reaches the store and the lock service (one Redis) only through a TCP proxy
that the test cuts — a partition — while it keeps reaching the simulator, which answers
503 to every call that changes something for a while (the stale worker sits in its
retry loops). Two healthy workers take the delivery over after the lease and finish
it. The witness is the simulator's own request log (method, path, arrival time, the
worker named in the User-Agent), not a log line: after the takeover the stale worker
sent NO request that changes anything, and every one it sent arrived before its lease
could have ended (cut + lease). Finally the stale worker, healed, says in the history
that it stopped acting ("fenced").

The figures (last mutating call of the stale worker, relative to the cut and to the
takeover) are printed and written to ``partition_figures.json`` in the test's state
directory.
"""

from __future__ import annotations

import collections
import json
import os
import time
from typing import Any

import pytest

from rhworker.deployment import Deployment
from rhworker.models import MoveState, NotificationStatus
from rhworker.testing.proxy import CuttableProxy
from rhworker.testing.servers import RedisServer
from rhworker.testing.sim_fixture import running_simulator
from tests.integration.clouds import segment_cloud

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

LEASE = 3.0
LOCK = 4
SERVERS = 6
# Nova answers 503 to every change from the cut until this long after the takeover.
STORM_AFTER_TAKEOVER = 2.0


def _options(lease: float) -> dict[str, dict[str, Any]]:
    return {
        "worker": {"lease_timeout": lease},
        "host_failure": {"host_failure_recovery_threads": 2},
        "coordination": {"call_timeout": 3.0, "heartbeat_interval": 0.5},
        # The defaults on purpose: a 60 s retry deadline and 30 s per request, which
        # without the fence kept a stale worker sending for seconds after a takeover.
        "compute": {"retry_deadline": 60.0, "api_timeout": 30.0},
    }


def _urls(port: int) -> tuple[str, str]:
    store = f"redis://127.0.0.1:{port}/0?prefix=pnova"
    coordination = (
        f"redis://127.0.0.1:{port}?timeout={LOCK}&lock_timeout={LOCK}&membership_timeout={LOCK}"
    )
    return store, coordination


def _delivered_by_other(deployment: Deployment, nid: str, stale: str) -> float | None:
    n = deployment.store.get_notification(nid)
    return next(
        (
            s.at
            for s in n.progress.steps
            if s.name == "delivered" and s.worker and s.worker != stale
        ),
        None,
    )


def test_stale_worker_makes_no_nova_change_after_the_takeover(
    redis_server: RedisServer, redis_url: str, tmp_path: Any
) -> None:
    spec = segment_cloud(computes=1, spares=2, servers_per_host=SERVERS)
    proxy = CuttableProxy(redis_server.port).start()
    healthy: Deployment | None = None
    stale_side: Deployment | None = None
    try:
        with running_simulator(spec, evacuation_time=1.0) as sim:
            store_url, coordination_url = _urls(redis_server.port)
            healthy = Deployment(
                sim.compute_url,
                store_url=store_url,
                coordination_url=coordination_url,
                state_dir=str(tmp_path / "healthy"),
                options=_options(LEASE),
            )
            healthy.load_inventory(spec)
            proxied_store, proxied_coordination = _urls(proxy.port)
            stale_side = Deployment(
                sim.compute_url,
                store_url=proxied_store,
                coordination_url=proxied_coordination,
                state_dir=str(tmp_path / "stale"),
                options=_options(LEASE),
            )
            stale_side.start_worker_process()
            sim.kill_host("compute-1")
            nid = healthy.notify("compute-1")
            healthy.wait_for(
                lambda: any(m.state == MoveState.ONGOING for m in healthy.store.list_moves(nid)),
                60,
                "the stale-to-be worker to start evacuating",
            )
            stale = healthy.store.get_notification(nid).lease_owner
            assert stale is not None
            assert sim.requests(worker=stale, changes=True), "the worker names itself"
            # Nova answers 503 to every change; then the store goes away for the worker.
            storm = [
                sim.inject(type="error", status=503, method=method, path=r"^/v2\.1/")["id"]
                for method in ("POST", "PUT", "DELETE")
            ]
            assert storm
            stormed_at = time.time()
            healthy.wait_for(
                lambda: any(
                    r["status"] == 503
                    for r in sim.requests(worker=stale, since=stormed_at, changes=True)
                ),
                30,
                "the stale-to-be worker to be in its retry loop (a change answered 503)",
            )
            cut_at = time.time()
            proxy.cut()
            healthy.start_worker_process()
            healthy.start_worker_process()
            takeover_at = healthy.wait_for(
                lambda: _delivered_by_other(healthy, nid, stale),
                60,
                "another worker to take the delivery over",
            )
            healthy.wait_for(
                lambda: time.time() > takeover_at + STORM_AFTER_TAKEOVER,
                STORM_AFTER_TAKEOVER + 5,
                "the storm to go on past the takeover",
            )
            sim.clear_faults()  # Nova answers again: a stale retry would now succeed
            done = healthy.wait_terminal([nid], timeout=120)[0]
            assert done.status == NotificationStatus.FINISHED, done.progress.reason
            assert done.lease_owner != stale
            proxy.heal()
            healthy.wait_for(
                lambda: any(
                    s.name == "fenced" and s.worker == stale
                    for s in healthy.store.get_notification(nid).progress.steps
                ),
                90,
                "the stale worker to say in the history that it stopped acting",
            )
            # -- the witness: the simulator's request log --------------------------------
            changes = sim.requests(worker=stale, changes=True)
            last = max(changes, key=lambda r: r["at"])
            after_takeover = [r for r in changes if r["at"] >= takeover_at]
            after_lease = [r for r in changes if r["at"] >= cut_at + LEASE]
            during_cut = [r for r in changes if r["at"] >= cut_at]
            figures = {
                "lease_timeout": LEASE,
                "fence_margin": LEASE * 0.1,
                "takeover_after_cut_s": round(takeover_at - cut_at, 3),
                "stale_changes_total": len(changes),
                "stale_changes_after_cut": len(during_cut),
                "stale_changes_after_takeover": len(after_takeover),
                "last_change": {
                    "method": last["method"],
                    "path": last["path"],
                    "action": last["action"],
                    "status": last["status"],
                    "relative_to_cut_s": round(last["at"] - cut_at, 3),
                    "relative_to_takeover_s": round(last["at"] - takeover_at, 3),
                    "answered_relative_to_takeover_s": round(last["done"] - takeover_at, 3),
                },
                "stale_status_counts": dict(
                    collections.Counter(str(r["status"]) for r in during_cut)
                ),
            }
            with open(os.path.join(healthy.state_dir, "partition_figures.json"), "w") as f:
                json.dump(figures, f, indent=2)
            print("partition figures:", json.dumps(figures, indent=2))
            assert not after_takeover, after_takeover
            assert not after_lease, after_lease
            assert during_cut, "the stale worker was cut while it was acting (503 retries)"
            # -- and the recovery itself is right -----------------------------------------
            moves = healthy.store.list_moves(nid)
            assert len(moves) == SERVERS
            assert all(m.state == MoveState.SUCCEEDED for m in moves)
            evacuations = collections.Counter(
                m["instance_uuid"]
                for m in sim.state()["migrations"]
                if m.get("migration_type") == "evacuation"
            )
            assert set(evacuations.values()) == {1}, evacuations
            assert not sim.state()["violations"]
    finally:
        if stale_side is not None:
            stale_side.close()
        if healthy is not None:
            healthy.close()
        proxy.stop()
