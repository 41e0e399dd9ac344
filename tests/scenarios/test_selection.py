"""Which servers a recovery moves, by Masakari's rules, seen from the cloud: a
server already in ERROR, and HA_Enabled filtering."""

from __future__ import annotations

import pytest

from rhworker.models import MoveState, NotificationStatus
from tests.scenarios.harness import cloud_spec

pytestmark = pytest.mark.integration

BROKEN = {"name": "broken", "host": "compute-1", "flavor": "small", "status": "ERROR"}


@pytest.mark.parametrize("ignore_error", [False, True], ids=["evacuate-error", "ignore-error"])
def test_a_server_already_in_error(make_scenario, ignore_error):
    # Masakari evacuates an ERROR server and leaves it in ERROR on the target, or,
    # with ignore_instances_in_error_state, leaves it alone on the failed host.
    scn = make_scenario(
        cloud_spec(servers_per_host=2, servers=[BROKEN]),
        options={"host_failure": {"ignore_instances_in_error_state": ignore_error}},
    )
    assert scn.by_name()["broken"]["status"] == "ERROR"
    [nid] = scn.fail("compute-1")
    scn.burst()
    [n] = scn.deployment.notifications([nid])
    assert n.status == NotificationStatus.FINISHED, n.progress.reason
    broken = scn.by_name()["broken"]
    if ignore_error:
        assert scn.check({"compute-1"}, left_behind={"broken"}) == []
        assert broken["host"] == "compute-1"
        move = next(m for m in scn.deployment.store.list_moves(nid) if m.instance_name == "broken")
        assert move.state == MoveState.SKIPPED
    else:
        assert scn.check({"compute-1"}, expected={"broken": "ERROR"}) == []
        assert broken["host"] == "spare-1" and broken["status"] == "ERROR"
    assert {s["host"] for s in scn.servers("vm-1")} == {"spare-1"}
    assert set(scn.evacuations_per_server().values()) == {1}


def test_only_ha_enabled_servers_move(make_scenario):
    extra = [
        {"name": "ha-yes", "count": 2, "host": "compute-1", "metadata": {"HA_Enabled": "True"}},
        {"name": "ha-no", "host": "compute-1", "metadata": {"HA_Enabled": "False"}},
        {"name": "ha-unset", "host": "compute-1"},
    ]
    for item in extra:
        item["flavor"] = "small"
    scn = make_scenario(
        cloud_spec(servers_per_host=0, servers=extra),
        options={"host_failure": {"evacuate_all_instances": False}},
    )
    [nid] = scn.fail("compute-1")
    scn.burst()
    [n] = scn.deployment.notifications([nid])
    assert n.status == NotificationStatus.FINISHED, n.progress.reason
    assert scn.check({"compute-1"}, left_behind={"ha-no", "ha-unset"}) == []
    hosts = {s["name"]: s["host"] for s in scn.cloud.servers()}
    assert hosts == {
        "ha-yes-1": "spare-1",
        "ha-yes-2": "spare-1",
        "ha-no": "compute-1",
        "ha-unset": "compute-1",
    }
    assert len(scn.evacuations()) == 2
