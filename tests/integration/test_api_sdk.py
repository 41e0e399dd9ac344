"""The REST API with the real openstacksdk ``instance_ha`` proxy, over HTTP, against a
real ``rhworker api`` process: inventory, pagination, a notification that a worker
recovers on the simulator, its vmoves, and Masakari's 409s."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import openstack
import pytest
from openstack import exceptions as sdk_exc

from rhworker import inventory as inv
from rhworker.api.process import running_api
from rhworker.deployment import Deployment
from rhworker.testing.sim_fixture import SMALL_CLOUD, running_simulator

pytestmark = pytest.mark.integration

STOPPED = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


@pytest.fixture(params=["embedded", "redis"])
def deployment(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[Deployment, Any]]:
    store_url = None
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
        store_url = f"{redis_url}/0?prefix=api{uuid.uuid4().hex[:8]}"
    with running_simulator(SMALL_CLOUD) as sim:
        d = Deployment(
            sim.compute_url,
            store_url=store_url,
            state_dir=str(tmp_path / "state"),
            options={
                "api": {"auth_strategy": "noauth"},
                "notification": {"duplicate_notification_detection_interval": 180},
            },
        )
        try:
            yield d, sim
        finally:
            d.close()


@pytest.fixture
def conn(deployment: tuple[Deployment, Any], tmp_path: Any) -> Iterator[Any]:
    d, _ = deployment
    with running_api(d.conf_path, log_path=str(tmp_path / "api.log")) as url:
        yield openstack.connect(auth_type="none", instance_ha_endpoint_override=url)


def _inventory(conn: Any) -> Any:
    seg = conn.instance_ha.create_segment(
        name="seg1", recovery_method="reserved_host", service_type="COMPUTE", enabled=True
    )
    for name, reserved in (("compute-1", False), ("compute-2", False), ("spare-1", True)):
        conn.instance_ha.create_host(
            seg.uuid, name=name, type="COMPUTE", control_attributes="", reserved=reserved
        )
    return seg


def test_inventory_and_pagination(conn: Any, deployment: tuple[Deployment, Any]) -> None:
    d, _ = deployment
    seg = _inventory(conn)
    other = conn.instance_ha.create_segment(
        name="seg2", recovery_method="auto", service_type="COMPUTE"
    )
    assert conn.instance_ha.get_segment(seg.uuid).recovery_method == "reserved_host"
    assert sorted(s.name for s in conn.instance_ha.segments(limit=1)) == ["seg1", "seg2"]
    hosts = list(conn.instance_ha.hosts(seg.uuid, limit=1))  # one page per host
    assert sorted(h.name for h in hosts) == ["compute-1", "compute-2", "spare-1"]
    assert [h.name for h in conn.instance_ha.hosts(seg.uuid, reserved=True)] == ["spare-1"]
    spare = next(h for h in hosts if h.name == "spare-1")
    updated = conn.instance_ha.update_host(spare.uuid, seg.uuid, control_attributes="ipmi")
    assert updated.control_attributes == "ipmi" and updated.reserved is True
    seg2 = conn.instance_ha.update_segment(other.uuid, description="scheduler places")
    assert seg2.description == "scheduler places"
    conn.instance_ha.delete_segment(other.uuid)
    with pytest.raises(sdk_exc.ConflictException):
        conn.instance_ha.delete_segment(seg.uuid)  # it has hosts
    exported = inv.export_inventory(d.store)  # what `rhworker inventory export` prints
    assert [s["name"] for s in exported["segments"]] == ["seg1"]
    assert [h["name"] for h in exported["segments"][0]["hosts"]] == [
        "compute-1",
        "compute-2",
        "spare-1",
    ]


def test_notification_through_the_sdk_is_recovered(
    conn: Any, deployment: tuple[Deployment, Any]
) -> None:
    d, sim = deployment
    seg = _inventory(conn)
    sim.kill_host("compute-1")
    n = conn.instance_ha.create_notification(
        type="COMPUTE_HOST",
        hostname="compute-1",
        generated_time="2026-01-01T00:00:00Z",
        payload=STOPPED,
    )
    assert n.status == "new" and n.notification_uuid
    with pytest.raises(sdk_exc.ConflictException):  # the same failure again
        conn.instance_ha.create_notification(
            type="COMPUTE_HOST",
            hostname="compute-1",
            generated_time="2026-01-01T00:00:00Z",
            payload=STOPPED,
        )
    with pytest.raises(sdk_exc.BadRequestException):  # not in the inventory
        conn.instance_ha.create_notification(
            type="COMPUTE_HOST", hostname="nowhere", generated_time="2026-01-01", payload=STOPPED
        )
    d.run_burst()
    done = conn.instance_ha.get_notification(n.notification_uuid)
    assert done.status == "finished", d.store.get_notification(n.notification_uuid).progress
    # The SDK's Notification asks for no microversion (1.0); the details need 1.1.
    raw = conn.instance_ha.get(f"/notifications/{n.notification_uuid}", microversion="1.1")
    assert raw.headers["OpenStack-API-Version"] == "instance-ha 1.1"
    steps = [task["name"] for task in raw.json()["notification"]["recovery_workflow_details"]]
    assert "claimed" in steps, steps
    moves = list(conn.instance_ha.vmoves(n.notification_uuid))
    assert len(moves) == 4  # compute-1's three HA servers and its powered-off one
    assert {m.status for m in moves} == {"succeeded"} and {m.dest_host for m in moves} == {
        "spare-1"
    }
    one = conn.instance_ha.get_vmove(moves[0].uuid, n.notification_uuid)
    assert one.server_id == moves[0].server_id
    hosts = {h.name: h for h in conn.instance_ha.hosts(seg.uuid)}
    assert hosts["compute-1"].on_maintenance is True and hosts["spare-1"].reserved is False
    with pytest.raises(sdk_exc.ConflictException):  # on maintenance now
        conn.instance_ha.create_notification(
            type="COMPUTE_HOST",
            hostname="compute-1",
            generated_time="2026-01-01T00:05:00Z",
            payload={"event": "STOPPED", "host_status": "UNKNOWN"},
        )
    listed = list(conn.instance_ha.notifications(limit=1))
    assert [x.notification_uuid for x in listed] == [n.notification_uuid]


def test_demo_reports_its_failures_through_the_api(tmp_path: Any) -> None:
    """``rhworker demo --via-api``: the host failures go through `rhworker api` (the
    SDK's create_notification), and the workers recover them."""
    import subprocess

    from rhworker.supervisor import rhworker_command

    proc = subprocess.run(
        [*rhworker_command(), "demo", "--plain", "--via-api", "--workers", "2"]
        + ["--failures", "2", "--no-extra"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "VERDICT: PASS" in proc.stdout and "2 finished" in proc.stdout
