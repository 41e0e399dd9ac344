"""Locks down during a storm (issue 13, item 3): ZooKeeper is stopped while several
failures of one segment compete for its reserved hosts.

Real ``rhworker worker`` processes (Redis store, ZooKeeper locks on this test's own
ZooKeeper), the simulator over HTTP. Every recovery must still finish, each on a
spare of its own — checked from where the simulator's servers are and from its
migration records, not from the store — and each history must say that the lock
service was unavailable.
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from rhworker.coordination import Coordinator
from rhworker.deployment import Deployment
from rhworker.models import NotificationStatus, StepName
from rhworker.testing.servers import ServerUnavailable, ZooKeeperServer
from rhworker.testing.sim_fixture import running_simulator
from rhworker.verify import verify
from tests.conftest import require
from tests.integration.clouds import segment_cloud

pytestmark = pytest.mark.integration

FAILURES = 6
WORKERS = 3
GROUP = "rhworker"


@pytest.fixture
def own_zookeeper() -> Iterator[ZooKeeperServer]:
    """A ZooKeeper this test may stop (the session one is shared)."""
    try:
        server = ZooKeeperServer()
    except ServerUnavailable as e:
        require(str(e))
    server.start(timeout=90)
    try:
        yield server
    finally:
        server.stop()


def _origins_per_spare(state: dict[str, Any], spares: set[str]) -> dict[str, set[str]]:
    """For each spare, the hosts its servers were evacuated from (Nova's records)."""
    source_of: dict[str, str] = {}
    for m in state["migrations"]:
        if m.get("migration_type") == "evacuation" and m.get("status") == "done":
            source_of[m["instance_uuid"]] = m["source_compute"]
    origins: dict[str, set[str]] = defaultdict(set)
    for server in state["servers"]:
        if server["host"] in spares:
            origins[server["host"]].add(source_of.get(server["id"], "never evacuated"))
    return dict(origins)


def _worker_logs(d: Deployment) -> str:
    tails = []
    for name in sorted(os.listdir(d.state_dir)):
        if name.startswith("worker-") and name.endswith(".log"):
            with open(os.path.join(d.state_dir, name), errors="replace") as f:
                tails.append(f"--- {name}\n" + "".join(f.readlines()[-30:]))
    return "\n".join(tails)


def test_locks_down_during_a_storm(own_zookeeper: ZooKeeperServer, redis_url: str, tmp_path):
    spec = segment_cloud(computes=FAILURES + 1, spares=FAILURES, servers_per_host=2)
    failed = [f"compute-{i}" for i in range(1, FAILURES + 1)]
    spares = {f"spare-{i}" for i in range(1, FAILURES + 1)}
    with running_simulator(spec) as sim:
        d = Deployment(
            sim.compute_url,
            store_url=f"{redis_url}/0?prefix=locksdown{uuid.uuid4().hex[:8]}",
            coordination_url=f"{own_zookeeper.url}?timeout=3",
            state_dir=str(tmp_path / "state"),
            options={
                "coordination": {"call_timeout": 1.0, "unavailable_backoff": 3.0},
                "worker": {"concurrency": 3},
            },
        )
        try:
            d.load_inventory(spec)
            for _ in range(WORKERS):
                d.start_worker_process()
            with Coordinator(own_zookeeper.url, "observer", group=GROUP) as observer:
                d.wait_for(lambda: len(observer.members()) >= WORKERS, 60, "the workers to join")
            own_zookeeper.kill()  # the lock service is down from here on

            ids = []
            for host in failed:
                sim.kill_host(host)
                ids.append(d.notify(host))
            try:
                notifications = d.wait_terminal(ids, timeout=180)
            except TimeoutError:
                pytest.fail("recoveries did not end with the locks down:\n" + _worker_logs(d))
            state = sim.state()
            report = verify(d.store, state, accepted_ids=ids)
        finally:
            d.close()

    # Every recovery finished, on a spare of its own.
    assert [n.status for n in notifications] == [NotificationStatus.FINISHED] * FAILURES, [
        (n.status, n.progress.reason) for n in notifications
    ]
    chosen = [n.progress.claims[-1].host for n in notifications]
    assert len(set(chosen)) == FAILURES

    # From the simulator, not the store: each spare holds servers of one failed host,
    # no failed host keeps a server, and nothing was evacuated twice at once.
    origins = _origins_per_spare(state, spares)
    assert all(len(sources) == 1 for sources in origins.values()), origins
    assert sorted(s for sources in origins.values() for s in sources) == sorted(failed)
    assert not [s for s in state["servers"] if s["host"] in failed]
    assert not state["violations"]
    assert report.violations == [], report.summary()

    # The history says the lock service was unavailable, for every notification.
    for n in notifications:
        steps = [s for s in n.progress.steps if s.name == StepName.LOCK_UNAVAILABLE]
        assert steps, [s.name for s in n.progress.steps]
        assert "lock service unavailable" in steps[0].message
        claimed = [s for s in n.progress.steps if s.name == "claimed"]
        assert claimed and "without its lock" in claimed[-1].message
    lock_unavailable = sum(
        1 for n in notifications for s in n.progress.steps if s.name == StepName.LOCK_UNAVAILABLE
    )
    claims_lost = sum(1 for n in notifications for s in n.progress.steps if s.name == "claim_lost")
    print(
        f"\nlocks down: {FAILURES} recoveries finished on {len(set(chosen))} spares; "
        f"{lock_unavailable} hosts tried on the claim alone, {claims_lost} claims lost"
    )
