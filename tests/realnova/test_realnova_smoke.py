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
        (agg,) = conn.compute.aggregates()
        assert (agg.name, sorted(agg.hosts)) == ("agg1", ["compute-1", "compute-2", "spare-1"])
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

        # Nova refuses to force the host back up while an evacuation from it is `done`.
        with pytest.raises(Exception, match="evacuat"):
            conn.compute.update_service_forced_down(None, "compute-1", "nova-compute", forced=False)

        cloud.restart_host("compute-1")
        wait_until(
            lambda: (_migration(cloud, vm) or {}).get("status") == "completed",
            timeout=30,
            interval=0.1,
        )
        conn.compute.update_service_forced_down(None, "compute-1", "nova-compute", forced=False)
        wait_until(
            lambda: {s["host"]: s["state"] for s in cloud.services()}["compute-1"] == "up",
            timeout=15,
            interval=0.1,
        )
        # The other servers stayed on the failed host, untouched.
        still = {s["name"]: s["host"] for s in cloud.servers()}
        assert still["vm-2"] == "compute-1" and still["vm-other"] == "compute-2"


def test_heartbeat_timeout_and_slow_spawn(realnova: Any) -> None:
    """Without a force-down Nova counts a crashed host down after service_down_time;
    a slow spawn shows the evacuation's last task state, ``rebuild_spawning``."""
    spec = {
        "segments": [
            {
                "name": "seg1",
                "hosts": [
                    {"name": "compute-1", "vcpus": 4, "memory_mb": 8192},
                    {"name": "spare-1", "vcpus": 4, "memory_mb": 8192},
                ],
            }
        ],
        "flavors": [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}],
        "servers": [{"name": "vm", "host": "compute-1", "flavor": "small"}],
    }
    with realnova(spec, service_down_time=6, report_interval=1) as cloud:
        conn = sdk_connection(cloud)
        (vm,) = [s["id"] for s in cloud.servers()]
        # The spec's host size (hypervisors show it up to microversion 2.87).
        old = sdk_connection(cloud, microversion="2.87")
        hypervisors = {h.name: h for h in old.compute.hypervisors(details=True)}
        assert (hypervisors["compute-1"].vcpus, hypervisors["compute-1"].memory_size) == (4, 8192)

        cloud.crash_host("compute-1")

        def down() -> bool:
            return any(s["host"] == "compute-1" and s["state"] == "down" for s in cloud.services())

        wait_until(down, timeout=15, interval=0.2)
        assert not {s["host"]: s for s in cloud.services()}["compute-1"]["forced_down"]

        cloud.set_spawn_delay(2.0)
        conn.compute.evacuate_server(vm, host="spare-1")
        seen: set[str] = set()

        def spawning() -> bool:
            state = cloud.servers()[0]["task_state"]
            seen.add(state)
            return state == "rebuild_spawning"

        try:
            wait_until(spawning, timeout=15, interval=0.05)
        except AssertionError:
            raise AssertionError(
                f"never rebuild_spawning: saw {seen}, {cloud.servers()}, {cloud.migrations()}"
            ) from None
        # The host changes only at the end of the evacuation.
        server = conn.compute.get_server(vm)
        assert server.task_state == "rebuild_spawning"
        assert server.compute_host == "compute-1"
        migration = _migration(cloud, vm)
        assert migration is not None and migration["status"] == "pre-migrating"

        wait_until(
            lambda: (
                cloud.servers()[0]["host"] == "spare-1" and not cloud.servers()[0]["task_state"]
            ),
            timeout=15,
            interval=0.1,
        )
        assert cloud.servers()[0]["status"] == "ACTIVE"
        assert (_migration(cloud, vm) or {}).get("status") == "done"
