"""SimCloud: the in-process simulator read and driven as a CloudUnderTest."""

from __future__ import annotations

import pytest

from rhworker.errors import RhworkerError
from rhworker.testing.cloud import CloudUnderTest
from rhworker.testing.cloud_sim import REBUILD_TASK_STATES, SimCloud, running_sim_cloud
from rhworker.testing.sim_fixture import SMALL_CLOUD, sdk_connection, wait_until


@pytest.fixture
def cloud():
    with running_sim_cloud(SMALL_CLOUD, evacuation_time=0.05) as c:
        yield c


def test_is_a_cloud_under_test(cloud: SimCloud) -> None:
    as_protocol: CloudUnderTest = cloud
    assert as_protocol.kind == "sim"
    assert cloud.compute_url.startswith("http://127.0.0.1:")
    assert cloud.compute_url.endswith("/v2.1")


def test_reports_use_novas_field_names(cloud: SimCloud) -> None:
    servers = {s["name"]: s for s in cloud.servers()}
    assert set(servers) == {"vm-1", "vm-2", "vm-3", "vm-off", "vm-other"}
    vm = servers["vm-1"]
    assert {"id", "name", "host", "status", "vm_state", "task_state", "locked", "metadata"} <= set(
        vm
    )
    assert (vm["host"], vm["status"], vm["task_state"]) == ("compute-1", "ACTIVE", None)
    assert vm["metadata"] == {"HA_Enabled": "True"}
    assert servers["vm-off"]["status"] == "SHUTOFF"
    services = {s["host"]: s for s in cloud.services()}
    assert set(services) == {"compute-1", "compute-2", "spare-1"}
    assert services["spare-1"]["status"] == "disabled"
    assert services["compute-1"]["state"] == "up" and services["compute-1"]["forced_down"] is False
    assert cloud.migrations() == []


def test_crash_evacuate_and_restart(cloud: SimCloud) -> None:
    cloud.crash_host("compute-1")
    assert {s["host"]: s["crashed"] for s in cloud.services()}["compute-1"] is True
    conn = sdk_connection(cloud)
    svc = next(conn.compute.services(host="compute-1", binary="nova-compute"))
    conn.compute.update_service_forced_down(svc, forced=True)
    vm = next(s for s in cloud.servers() if s["name"] == "vm-1")
    conn.compute.evacuate_server(vm["id"], host="compute-2")
    wait_until(lambda: any(m["status"] == "done" for m in cloud.migrations()))
    [mig] = cloud.migrations()
    assert {k: mig[k] for k in ("instance_uuid", "source_compute", "dest_compute")} == {
        "instance_uuid": vm["id"],
        "source_compute": "compute-1",
        "dest_compute": "compute-2",
    }
    assert mig["migration_type"] == "evacuation"
    assert mig["created_at"] <= mig["updated_at"]
    cloud.restart_host("compute-1")
    assert cloud.migrations()[0]["status"] == "completed"
    assert {s["host"]: s["crashed"] for s in cloud.services()}["compute-1"] is False
    kinds = [e["event"] for e in cloud.events()]
    assert {"host_killed", "evacuation_done", "host_revived"} <= set(kinds)
    assert kinds.index("host_killed") < kinds.index("evacuation_done")
    assert cloud.violations() == []


def test_spawn_delay_and_held_states(cloud: SimCloud) -> None:
    option = cloud.phase_option("rebuild_spawning") or cloud.phase_option("rebuilding")
    assert option is not None
    before = cloud.sim.state()["options"][option]
    cloud.set_spawn_delay(3.0)
    assert cloud.sim.state()["options"][option] == 3.0
    cloud.set_spawn_delay(0)
    assert cloud.sim.state()["options"][option] == before  # back to how it started
    for state in REBUILD_TASK_STATES:
        if cloud.can_hold(state):
            cloud.hold_task_state(state, 2.0)
            assert cloud.sim.state()["options"][cloud.phase_option(state)] == 2.0
        else:
            with pytest.raises(RhworkerError, match=f"cannot hold an evacuation in {state}"):
                cloud.hold_task_state(state, 2.0)
    assert cloud.can_hold("rebuilding")
    assert not cloud.can_hold("no-such-state")
