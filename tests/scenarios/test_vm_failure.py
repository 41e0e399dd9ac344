"""A VM notification, seen from the cloud (the simulator and real Nova): a guest that
died while Nova still shows it ACTIVE is stopped, started and confirmed ACTIVE; a
guest that is not HA-enabled is left alone (issue 19, item 1)."""

from __future__ import annotations

import pytest

from rhworker.models import NotificationStatus
from tests.scenarios.harness import cloud_spec

pytestmark = pytest.mark.integration

RUNNING = 1  # Nova's power_state of a running guest


def test_crashed_guest_is_restarted(make_scenario):
    spec = cloud_spec(
        spares=0,
        servers_per_host=0,
        servers=[
            {"name": "ha-vm", "host": "compute-1", "flavor": "small",
             "metadata": {"HA_Enabled": "True"}},
            {"name": "plain-vm", "host": "compute-1", "flavor": "small"},
        ],
    )  # fmt: skip
    scn = make_scenario(spec)
    by_name = scn.by_name()
    ha, plain = by_name["ha-vm"]["id"], by_name["plain-vm"]["id"]
    ids = []
    for sid in (ha, plain):
        scn.cloud.crash_server(sid)
        payload = {"instance_uuid": sid, "event": "LIFECYCLE", "vir_domain_event": "STOPPED_FAILED"}
        n = scn.deployment.store.create_notification("VM", "compute-1", payload, dedup_interval=0)
        ids.append(n.id)
    scn.burst()
    recovered, ignored = scn.deployment.notifications(ids)
    assert recovered.status == NotificationStatus.FINISHED, recovered.progress.reason
    names = [s.name for s in recovered.progress.steps]
    assert names[names.index("locked") :] == ["locked", "stop", "start", "confirmed"]
    assert ignored.status == NotificationStatus.IGNORED
    assert "not HA-enabled" in (ignored.progress.reason or "")
    after = scn.by_name()
    assert (after["ha-vm"]["status"], after["ha-vm"]["host"]) == ("ACTIVE", "compute-1")
    assert after["ha-vm"]["task_state"] is None
    if "power_state" in after["ha-vm"]:
        assert after["ha-vm"]["power_state"] == RUNNING
    assert not scn.evacuations()
