"""Evacuation in the simulator, through openstacksdk: each Nova behaviour of docs/design.md §7."""

from __future__ import annotations

from typing import Any

import openstack.exceptions as sdk_exc
import pytest

from rhworker.testing.sim_fixture import (
    password_connection,
    running_simulator,
    sdk_connection,
    wait_until,
)


@pytest.fixture
def conn(sim: Any) -> Any:
    return sdk_connection(sim)


def _servers_on(conn: Any, host: str) -> list[Any]:
    return sorted(conn.compute.servers(all_projects=True, compute_host=host), key=lambda s: s.name)


def _fence(conn: Any, sim: Any, host: str, disable: bool = True) -> None:
    sim.kill_host(host)
    svc = next(iter(conn.compute.services(host=host, binary="nova-compute")))
    conn.compute.update_service_forced_down(svc, forced=True)
    if disable:
        conn.compute.disable_service(svc, disabled_reason="fenced by test")


def _enable(conn: Any, host: str) -> None:
    svc = next(iter(conn.compute.services(host=host, binary="nova-compute")))
    conn.compute.enable_service(svc)


def _settled(conn: Any, server_id: str) -> Any:
    def check() -> Any:
        s = conn.compute.get_server(server_id)
        return s if s.task_state is None else None

    return wait_until(check)


def test_refused_while_source_service_up(sim: Any, conn: Any) -> None:
    server = _servers_on(conn, "compute-1")[0]
    with pytest.raises(
        sdk_exc.BadRequestException, match="Compute service of compute-1 is still in use"
    ):
        conn.compute.evacuate_server(server, host="compute-2")


def test_refused_when_killed_and_only_disabled(sim: Any, conn: Any) -> None:
    sim.kill_host("compute-1")  # heartbeat still fresh: service_down_time is 60 s
    svc = next(iter(conn.compute.services(host="compute-1", binary="nova-compute")))
    conn.compute.disable_service(svc, disabled_reason="x")  # blocks disable_rpc_delay
    server = _servers_on(conn, "compute-1")[0]
    with pytest.raises(sdk_exc.BadRequestException, match="still in use"):
        conn.compute.evacuate_server(server, host="compute-2")


def test_accepted_once_heartbeat_older_than_service_down_time() -> None:
    with running_simulator(service_down_time=0.2) as sim:
        conn = sdk_connection(sim)
        server = _servers_on(conn, "compute-1")[0]
        sim.kill_host("compute-1")
        wait_until(lambda: next(iter(conn.compute.services(host="compute-1"))).state == "down")
        conn.compute.evacuate_server(server, host="compute-2")
        assert _settled(conn, server.id).compute_host == "compute-2"


def test_unknown_target_404(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    server = _servers_on(conn, "compute-1")[0]
    with pytest.raises(sdk_exc.NotFoundException, match="nowhere"):
        conn.compute.evacuate_server(server, host="nowhere")


def test_target_same_as_source_400(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    server = _servers_on(conn, "compute-1")[0]
    with pytest.raises(sdk_exc.BadRequestException, match="can't be the same"):
        conn.compute.evacuate_server(server, host="compute-1")


def test_force_without_host_400(sim: Any) -> None:
    conn = sdk_connection(sim, microversion="2.67")
    _fence(conn, sim, "compute-1")
    server = _servers_on(conn, "compute-1")[0]
    with pytest.raises(sdk_exc.BadRequestException, match="non-provided destination"):
        conn.compute.evacuate_server(server, force=True)


def test_force_at_268_400(sim: Any) -> None:
    conn = sdk_connection(sim, microversion="2.68")
    _fence(conn, sim, "compute-1")
    server = _servers_on(conn, "compute-1")[0]
    with pytest.raises(sdk_exc.BadRequestException, match="force"):
        conn.compute.evacuate_server(server, host="compute-2", force=True)


def test_non_admin_evacuate_404(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    server = _servers_on(conn, "compute-1")[0]
    demo = password_connection(sim, "demo", "demo", "demo", compute_api_version="2.94")
    with pytest.raises(sdk_exc.NotFoundException):
        demo.compute.evacuate_server(server.id, host="compute-2")


@pytest.mark.parametrize("target_problem", ["disabled", "down", "full", "capacity_lost"])
def test_bad_target_leaves_server_error_on_source(sim: Any, conn: Any, target_problem: str) -> None:
    _fence(conn, sim, "compute-1")
    target = "spare-1"  # reserved: disabled
    if target_problem != "disabled":
        _enable(conn, target)
    if target_problem == "down":
        svc = next(iter(conn.compute.services(host=target, binary="nova-compute")))
        conn.compute.update_service_forced_down(svc, forced=True)
    elif target_problem == "full":
        sim.load_cloud(
            {
                "segments": [
                    {
                        "name": "s",
                        "hosts": [
                            {"name": "compute-1", "vcpus": 8, "memory_mb": 4096},
                            {"name": "spare-1", "vcpus": 1, "memory_mb": 1024},
                        ],
                    }
                ],
                "flavors": [{"name": "big", "vcpus": 2, "ram": 2048}],
                "servers": [{"name": "vm", "host": "compute-1", "flavor": "big"}],
            }
        )
        _fence(conn, sim, "compute-1")
    elif target_problem == "capacity_lost":
        sim.inject(type="lose_capacity", host=target)
    server = _servers_on(conn, "compute-1")[0]
    conn.compute.evacuate_server(server, host=target)  # accepted: 200
    after = _settled(conn, server.id)
    assert after.status == "ERROR"
    assert after.compute_host == "compute-1"
    assert "No valid host was found" in after.fault["message"]
    migrations = [m for m in conn.compute.migrations() if m.server_id == server.id]
    assert [m.status for m in migrations] == ["error"]
    host = next(h for h in sim.state()["hosts"] if h["name"] == target)
    assert host["vcpus_used"] == 0  # the held capacity was released


def test_forced_evacuation_skips_validation(sim: Any) -> None:
    conn = sdk_connection(sim, microversion="2.67")
    _fence(conn, sim, "compute-1")
    server = _servers_on(conn, "compute-1")[0]
    conn.compute.evacuate_server(server, host="spare-1", force=True)  # spare-1 is disabled
    after = _settled(conn, server.id)
    assert (after.compute_host, after.status) == ("spare-1", "ACTIVE")


def test_scheduler_picks_enabled_up_host(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    server = _servers_on(conn, "compute-1")[0]
    conn.compute.evacuate_server(server)
    after = _settled(conn, server.id)
    assert (after.compute_host, after.status) == ("compute-2", "ACTIVE")  # not the spare


def test_scheduler_without_candidate_errors(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    svc2 = next(iter(conn.compute.services(host="compute-2", binary="nova-compute")))
    conn.compute.update_service_forced_down(svc2, forced=True)
    server = _servers_on(conn, "compute-1")[0]
    conn.compute.evacuate_server(server)
    after = _settled(conn, server.id)
    assert after.status == "ERROR" and after.compute_host == "compute-1"
    assert "No valid host was found" in after.fault["message"]


def test_rebuild_states_then_active_on_target(sim: Any, conn: Any) -> None:
    sim.set_options(evacuation_time=2.0)
    _fence(conn, sim, "compute-1")
    _enable(conn, "spare-1")
    server = _servers_on(conn, "compute-1")[0]
    conn.compute.evacuate_server(server, host="spare-1")
    during = conn.compute.get_server(server.id)
    assert (during.status, during.task_state, during.compute_host) == (
        "REBUILD",
        "rebuilding",
        "compute-1",
    )
    hyp = {h.name: h for h in sdk_connection(sim, "2.87").compute.hypervisors(details=True)}
    assert hyp["spare-1"].vcpus_used == 1  # capacity held from acceptance
    after = _settled(conn, server.id)
    assert (after.status, after.compute_host, after.power_state) == ("ACTIVE", "spare-1", 1)
    assert [m.status for m in conn.compute.migrations() if m.server_id == server.id] == ["done"]


def test_shutoff_server_stays_shutoff(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    server = next(s for s in _servers_on(conn, "compute-1") if s.name == "vm-off")
    assert server.status == "SHUTOFF"
    conn.compute.evacuate_server(server, host="compute-2")
    after = _settled(conn, server.id)
    assert (after.status, after.compute_host, after.power_state) == ("SHUTOFF", "compute-2", 4)


def test_at_295_active_server_ends_shutoff(sim: Any) -> None:
    conn = sdk_connection(sim, microversion="2.95")
    _fence(conn, sim, "compute-1")
    server = next(s for s in _servers_on(conn, "compute-1") if s.name == "vm-1")
    conn.compute.evacuate_server(server, host="compute-2")
    after = _settled(conn, server.id)
    assert (after.status, after.compute_host) == ("SHUTOFF", "compute-2")


def test_second_concurrent_evacuate_accepted_and_breaks_server(sim: Any, conn: Any) -> None:
    sim.set_options(evacuation_time=2.0)
    _fence(conn, sim, "compute-1")
    server = _servers_on(conn, "compute-1")[0]
    conn.compute.evacuate_server(server, host="compute-2")
    conn.compute.evacuate_server(server, host="compute-2")  # accepted too
    after = _settled(conn, server.id)
    assert after.status == "ERROR"
    violations = sim.state()["violations"]
    assert [v["violation"] for v in violations] == ["evacuated_twice_concurrently"]
    assert violations[0]["server"] == server.id


def test_error_server_can_be_evacuated_again(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    server = _servers_on(conn, "compute-1")[0]
    conn.compute.evacuate_server(server, host="spare-1")  # disabled: ends ERROR
    assert _settled(conn, server.id).status == "ERROR"
    conn.compute.evacuate_server(server, host="compute-2")
    after = _settled(conn, server.id)
    assert (after.status, after.compute_host) == ("ACTIVE", "compute-2")
    assert getattr(after, "fault", None) in (None, {})


def test_injected_evacuation_failures(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    first, second = _servers_on(conn, "compute-1")[:2]
    sim.inject(type="fail_evacuation", server=first.id)
    conn.compute.evacuate_server(first, host="compute-2")
    assert _settled(conn, first.id).status == "ERROR"
    sim.inject(type="fail_evacuation_target", host="compute-2")
    conn.compute.evacuate_server(second, host="compute-2")
    after = _settled(conn, second.id)
    assert (after.status, after.compute_host) == ("ERROR", "compute-1")
    statuses = {m.server_id: m.status for m in conn.compute.migrations()}
    assert statuses == {first.id: "failed", second.id: "failed"}


def test_force_up_refused_while_evacuations_done(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1", disable=False)
    server = _servers_on(conn, "compute-1")[0]
    conn.compute.evacuate_server(server, host="compute-2")
    assert _settled(conn, server.id).compute_host == "compute-2"
    svc = next(iter(conn.compute.services(host="compute-1", binary="nova-compute")))
    with pytest.raises(sdk_exc.BadRequestException, match="done"):
        conn.compute.update_service_forced_down(svc, forced=False)
    sim.revive_host("compute-1")  # nova-compute restarts: migrations done -> completed
    assert [m.status for m in conn.compute.migrations()] == ["completed"]
    conn.compute.update_service_forced_down(svc, forced=False)
    assert next(iter(conn.compute.services(host="compute-1"))).state == "up"


def test_evacuation_onto_dead_but_still_up_target_gets_stuck(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    sim.kill_host("compute-2")  # heartbeat still fresh: the scheduler thinks it is up
    server = _servers_on(conn, "compute-1")[0]
    conn.compute.evacuate_server(server, host="compute-2")
    wait_until(lambda: any(e["event"] == "evacuation_stuck" for e in sim.state()["events"]))
    stuck = conn.compute.get_server(server.id)
    assert (stuck.status, stuck.compute_host) == ("REBUILD", "compute-1")
    conn.compute.reset_server_state(server, "error")  # the operator's way out
    assert conn.compute.get_server(server.id).status == "ERROR"


def test_stuck_on_a_dead_target_reset_and_evacuated_again_is_no_collision(
    sim: Any, conn: Any
) -> None:
    """The rebuild died with its target: a second evacuate (after a reset) cannot
    collide with it, so the simulator's tripwire stays quiet; the lost migration
    stays in progress, as in Nova."""
    _fence(conn, sim, "compute-1")
    sim.kill_host("compute-2")
    server = _servers_on(conn, "compute-1")[0]
    conn.compute.evacuate_server(server, host="compute-2")
    wait_until(lambda: any(e["event"] == "evacuation_stuck" for e in sim.state()["events"]))
    conn.compute.reset_server_state(server, "error")
    _enable(conn, "spare-1")
    conn.compute.evacuate_server(server, host="spare-1")
    after = _settled(conn, server.id)
    assert (after.status, after.compute_host) == ("ACTIVE", "spare-1")
    assert sim.state()["violations"] == []
    statuses = dict((m.dest_compute, m.status) for m in conn.compute.migrations())
    assert statuses == {"compute-2": "accepted", "spare-1": "done"}  # cast lost: accepted
