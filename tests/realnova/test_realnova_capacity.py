"""Issue 19 on real Nova: Placement (Nova's own, served by the tier next to the API)
read through openstacksdk; a spare too small for the failed host's instances is
skipped without a claim. Nova's fake computes have the spec's sizes."""

from __future__ import annotations

from typing import Any

import pytest

from rhworker.compute.openstack import OpenStackCompute
from rhworker.deployment import Deployment
from rhworker.models import MoveState, NotificationStatus, StepName
from rhworker.testing.sim_fixture import sdk_connection

pytestmark = [pytest.mark.realnova, pytest.mark.integration]

SPEC: dict[str, Any] = {
    "flavors": [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}],
    "segments": [
        {
            "name": "seg1",
            "recovery_method": "reserved_host",
            "hosts": [
                {"name": "compute-1", "vcpus": 8, "memory_mb": 8192},
                # RAM is not overcommitted by Nova (ratio 1.0): 1024 MB, less Nova's
                # reserved_host_memory_mb (512), takes one 512 MB server, not three.
                {"name": "spare-1", "vcpus": 8, "memory_mb": 1024, "reserved": True},
                {"name": "spare-2", "vcpus": 8, "memory_mb": 8192, "reserved": True},
            ],
        }
    ],
    "servers": [{"name": "vm", "count": 3, "host": "compute-1", "flavor": "small"}],
}


def test_placement_capacity_and_small_spare_skipped(realnova: Any, tmp_path: Any) -> None:
    with realnova(SPEC) as cloud:
        compute = OpenStackCompute(sdk_connection(cloud))
        used = compute.host_capacity("compute-1")
        small = compute.host_capacity("spare-1")
        print(used, small)
        assert set(small.free) >= {"VCPU", "MEMORY_MB", "DISK_GB"}
        assert (
            small.free["MEMORY_MB"] < 3 * 512 <= compute.host_capacity("spare-2").free["MEMORY_MB"]
        )
        # three 512 MB servers run on compute-1
        assert used.free["MEMORY_MB"] == compute.host_capacity("spare-2").free["MEMORY_MB"] - 1536

        d = Deployment(
            cloud.compute_url,
            state_dir=str(tmp_path / "state"),
            options={"host_failure": {"verify_interval": 0.25}},
        )
        try:
            d.load_inventory(SPEC)
            cloud.crash_host("compute-1")
            nid = d.notify("compute-1")
            d.run_burst(timeout=120)
            n = d.store.get_notification(nid)
            assert n.status == NotificationStatus.FINISHED, n.progress.reason
            assert all(m.state == MoveState.SUCCEEDED for m in d.store.list_moves(nid))
            print("\n".join(f"{s.name}: {s.message}" for s in n.progress.steps))
            assert [c.host for c in n.progress.claims] == ["spare-2"]
            assert [s.detail["host"] for s in n.progress.steps if s.name == StepName.TOO_SMALL] == [
                "spare-1"
            ]
            assert d.store.get_host("spare-1").reserved is True
        finally:
            d.close()
