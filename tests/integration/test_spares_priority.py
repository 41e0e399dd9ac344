"""Issue 19: unused spares given back, and evacuation in priority order — on the
simulator over HTTP, against every store/lock backend pair."""

from __future__ import annotations

from typing import Any

import pytest

from rhworker.models import MoveState, NotificationStatus, StepName
from rhworker.recovery.giveback import RETURNED_REASON
from tests.integration.clouds import fail_and_recover, segment_cloud

pytestmark = pytest.mark.integration


def _servers(sim: Any, host: str) -> list[dict[str, Any]]:
    return [s for s in sim.state()["servers"] if s["host"] == host]


def _service(sim: Any, name: str) -> dict[str, Any]:
    return next(h for h in sim.state()["hosts"] if h["name"] == name)["service"]


def _steps(d: Any, nid: str, name: str) -> list[Any]:
    return [s for s in d.store.get_notification(nid).progress.steps if s.name == name]


def test_spare_that_took_nothing_is_given_back(make_deployment):
    # spare-1 has no vCPU for the 1-vCPU flavor and Placement is down, so it is claimed
    # blind: Nova answers "No valid host" for all three, they go to spare-2, and
    # spare-1 is a spare again.
    spec = segment_cloud(spares=2)
    spec["segments"][0]["hosts"][2]["vcpus"] = 0
    d, sim = make_deployment(spec)
    sim.inject(type="error", path="^/placement", status=503)
    n = fail_and_recover(d, sim, "compute-1")
    nid = n.id
    assert n.status == NotificationStatus.FINISHED, n.progress.reason
    assert [c.host for c in n.progress.claims] == ["spare-1", "spare-2"]
    assert len(_servers(sim, "spare-2")) == 3 and not _servers(sim, "spare-1")
    spare1 = d.store.get_host("spare-1")
    assert (spare1.reserved, spare1.claimed_by, spare1.claim_epoch) == (True, None, None)
    assert d.store.get_host("spare-2").claimed_by == nid
    service = _service(sim, "spare-1")
    assert service["status"] == "disabled"
    assert service["disabled_reason"] == f"{RETURNED_REASON} {nid}"
    assert _service(sim, "spare-2")["status"] == "enabled"
    returned = _steps(d, nid, StepName.SPARE_RETURNED)
    assert [s.detail["host"] for s in returned] == ["spare-1"]
    assert "spare-1" not in (n.progress.reason or "")
    assert not sim.state()["violations"]


@pytest.mark.parametrize("evacuate_all", [True, False])
def test_evacuation_follows_priority(make_deployment, evacuate_all):
    # One evacuation at a time, so the order Nova sees is the priority order.
    extra = [
        {
            "name": "low",
            "host": "compute-1",
            "flavor": "small",
            "metadata": {"evacuation_priority": "1", "HA_Enabled": "True"},
        },
        {
            "name": "plain-high",
            "host": "compute-1",
            "flavor": "small",
            "metadata": {"evacuation_priority": "100"},
        },
        {
            "name": "high",
            "host": "compute-1",
            "flavor": "small",
            "metadata": {"evacuation_priority": "50", "HA_Enabled": "True"},
        },
        {
            "name": "none",
            "host": "compute-1",
            "flavor": "small",
            "metadata": {"HA_Enabled": "True"},
        },
        {
            "name": "bad",
            "host": "compute-1",
            "flavor": "small",
            "metadata": {"evacuation_priority": "urgent", "HA_Enabled": "True"},
        },
        {
            "name": "neg",
            "host": "compute-1",
            "flavor": "small",
            "metadata": {"evacuation_priority": "-3", "HA_Enabled": "True"},
        },
    ]
    spec = segment_cloud(spares=1, servers_per_host=0, extra_servers=extra)
    options = {
        "host_failure": {
            "host_failure_recovery_threads": 1,
            "evacuate_all_instances": evacuate_all,
        }
    }
    d, sim = make_deployment(spec, options=options)
    ids = {s["id"]: s["name"] for s in sim.state()["servers"]}
    sim.kill_host("compute-1")
    nid = d.notify("compute-1")
    d.run_burst()
    assert d.store.get_notification(nid).status == NotificationStatus.FINISHED
    evacuated = [
        ids[m["instance_uuid"]]
        for m in sim.state()["migrations"]
        if m.get("migration_type") == "evacuation"
    ]
    # HA-enabled by priority: 50, 1, then "none" and "bad" (0, in Nova's order), -3
    assert evacuated[:2] == ["high", "low"]
    assert set(evacuated[2:4]) == {"none", "bad"}
    assert evacuated[4:] == (["neg", "plain-high"] if evacuate_all else ["neg"])
    moves = d.store.list_moves(nid)
    assert [m.instance_name for m in moves if m.state == MoveState.SUCCEEDED] == evacuated
