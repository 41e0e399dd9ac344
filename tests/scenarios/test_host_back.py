"""The failed host comes back (a STARTED notification with a restore policy), seen
from the cloud: refused until its nova-compute has restarted and cleaned up, then
back as an ordinary host, or as a spare that the next failure uses."""

from __future__ import annotations

import time

import pytest

from rhworker.models import NotificationStatus
from tests.scenarios.harness import Scenario, cloud_spec

pytestmark = pytest.mark.integration

STARTED = {"event": "STARTED", "host_status": "NORMAL", "cluster_status": "ONLINE"}


def _run_until_terminal(scn: Scenario, nid: str) -> NotificationStatus:
    """Burst workers until ``nid`` ends, each time its retry is due (a restore is
    refused, then retried, while Nova is not ready for it)."""
    store = scn.deployment.store
    deadline = time.monotonic() + scn.timeout * 2
    while True:
        scn.deployment.wait_for(
            lambda: (store.get_notification(nid).next_attempt_at or 0) <= time.time(),
            scn.timeout,
            f"{nid} to be due",
        )
        scn.burst()
        n = store.get_notification(nid)
        if n.status.terminal:
            return n.status
        assert time.monotonic() < deadline, f"{nid} still {n.status.value}: {n.progress.reason}"


@pytest.mark.parametrize("policy", ["ordinary", "reserved"])
def test_the_failed_host_comes_back(make_scenario, policy):
    scn = make_scenario(
        cloud_spec(failing=1, spares=1),
        options={"worker": {"max_attempts": 20, "retry_max_interval": 0.5}},
    )
    [failure] = scn.fail("compute-1")
    scn.burst()
    assert scn.deployment.notifications([failure])[0].status == NotificationStatus.FINISHED
    assert scn.check({"compute-1"}) == []

    # Too early: its nova-compute has not restarted, Nova would refuse the force-up.
    restore = scn.deployment.notify("compute-1", **STARTED, restore_policy=policy)
    scn.burst()
    [n] = scn.deployment.notifications([restore])
    assert n.status == NotificationStatus.ERROR
    assert "has not restarted yet" in (n.progress.reason or ""), n.progress.reason
    assert scn.service("compute-1")["forced_down"] is True

    scn.cloud.restart_host("compute-1")
    assert _run_until_terminal(scn, restore) == NotificationStatus.FINISHED
    service = scn.service("compute-1")
    assert (service["forced_down"], service["state"]) == (False, "up")
    assert service["status"] == ("enabled" if policy == "ordinary" else "disabled")
    assert {m["status"] for m in scn.evacuations()} == {"completed"}  # guests cleaned up
    moved = scn.servers("vm-1")
    assert {(s["host"], s["status"]) for s in moved} == {("spare-1", "ACTIVE")}
    host = scn.deployment.store.get_host("compute-1")
    assert (host.on_maintenance, host.reserved) == (False, policy == "reserved")
    if policy == "ordinary":
        return

    # Back as a spare: the next failure (spare-1, now an ordinary host) lands on it.
    [second] = scn.fail("spare-1")
    scn.burst()
    assert scn.deployment.notifications([second])[0].status == NotificationStatus.FINISHED
    assert scn.check({"spare-1"}, reserved={"compute-1"}) == []
    assert {s["host"] for s in scn.servers("vm-1")} == {"compute-1"}
    assert scn.service("compute-1")["status"] == "enabled"
