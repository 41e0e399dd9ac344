"""Smoke test of the real-Nova tier: real Nova 34 answers openstacksdk, a crash and a
manual evacuation end as Nova ends them, and a restarted host cleans up."""

from __future__ import annotations

from typing import Any

import pytest

from rhworker.testing.sim_fixture import SMALL_CLOUD, sdk_connection, wait_until

pytestmark = [pytest.mark.realnova, pytest.mark.integration]


def _migration(cloud: Any, server_id: str) -> dict[str, Any] | None:
    found = [m for m in cloud.migrations() if m["instance_uuid"] == server_id]
    return found[-1] if found else None


def test_crash_evacuate_restart(realnova: Any) -> None:
    with realnova(SMALL_CLOUD) as cloud:
        assert cloud.kind == "realnova"
        conn = sdk_connection(cloud)

        on_host = conn.compute.servers(all_projects=True, compute_host="compute-1")
        assert sorted(s.name for s in on_host) == ["vm-1", "vm-2", "vm-3", "vm-off"]
        by_name = {s["name"]: s for s in cloud.servers()}
        assert by_name["vm-off"]["status"] == "SHUTOFF"
        assert by_name["vm-1"]["metadata"] == {"HA_Enabled": "True"}
        services = {s["host"]: s for s in cloud.services()}
        assert services["spare-1"]["status"] == "disabled"
        assert services["compute-1"]["state"] == "up"

        cloud.crash_host("compute-1")
        # Nova still counts it up (service_down_time has not passed): evacuation refused.
        vm = by_name["vm-1"]["id"]
        with pytest.raises(Exception, match="still in use"):
            conn.compute.evacuate_server(vm, host="spare-1")

        conn.compute.update_service_forced_down(None, "compute-1", "nova-compute", forced=True)
        conn.compute.enable_service(None, "spare-1", "nova-compute")
        services = {s["host"]: s for s in cloud.services()}
        assert services["compute-1"]["state"] == "down"
        assert services["compute-1"]["forced_down"] is True

        conn.compute.evacuate_server(vm, host="spare-1")

        def landed() -> bool:
            s = conn.compute.get_server(vm)
            return s.compute_host == "spare-1" and s.status == "ACTIVE" and not s.task_state

        wait_until(landed, timeout=30, interval=0.1)
        migration = _migration(cloud, vm)
        assert migration is not None
        assert migration["migration_type"] == "evacuation"
        assert (migration["source_compute"], migration["dest_compute"]) == ("compute-1", "spare-1")
        assert migration["status"] == "done"

        cloud.restart_host("compute-1")
        wait_until(
            lambda: (_migration(cloud, vm) or {}).get("status") == "completed",
            timeout=30,
            interval=0.1,
        )
        # The other servers stayed on the failed host, untouched.
        still = {s["name"]: s["host"] for s in cloud.servers()}
        assert still["vm-2"] == "compute-1" and still["vm-other"] == "compute-2"
