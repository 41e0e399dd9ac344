"""The evacuation lifecycle as real Nova 34 shows it, observed through openstacksdk.

Task states ``rebuilding`` -> ``rebuild_block_device_mapping`` -> ``rebuild_spawning``
-> None, migrations ``accepted`` -> ``pre-migrating`` -> ``done``, the host changing
only at the end; a second evacuate in any rebuild state accepted and breaking the
server with Nova's UnexpectedTaskStateError text; Nova's error texts.
"""

from __future__ import annotations

import re
import time
from typing import Any

import openstack.exceptions as sdk_exc
import pytest

from rhworker.testing.sim_fixture import sdk_connection, wait_until

REBUILD_STATES = ("rebuilding", "rebuild_block_device_mapping", "rebuild_spawning")
PHASE_OF = {
    "rebuilding": "rebuilding_time",
    "rebuild_block_device_mapping": "block_device_mapping_time",
    "rebuild_spawning": "spawning_time",
}
SHORT = 0.05


@pytest.fixture
def conn(sim: Any) -> Any:
    return sdk_connection(sim)


def _server(conn: Any, name: str) -> Any:
    return next(s for s in conn.compute.servers(all_projects=True) if s.name == name)


def _fence(conn: Any, sim: Any, host: str) -> None:
    sim.kill_host(host)
    svc = next(iter(conn.compute.services(host=host, binary="nova-compute")))
    conn.compute.update_service_forced_down(svc, forced=True)


def _migrations(conn: Any, server_id: str) -> list[Any]:
    return list(conn.compute.migrations(server_id=server_id, migration_type="evacuation"))


def _dedup(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if not out or out[-1] != item:
            out.append(item)
    return out


def _phases(**held: float) -> dict[str, float]:
    """Every phase SHORT except those given."""
    options = {
        "schedule_time": SHORT,
        "rebuilding_time": SHORT,
        "block_device_mapping_time": SHORT,
        "spawning_time": SHORT,
    }
    options.update(held)
    return options


def _hold(sim: Any, conn: Any, state: str, seconds: float = 30.0) -> None:
    """Make the phase showing ``state`` last ``seconds``."""
    sim.set_options(**_phases(**{PHASE_OF[state]: seconds}))


def _settled(conn: Any, server_id: str, timeout: float = 10.0) -> Any:
    """The server once no evacuation of it runs any more (task state None and every
    migration finished: after a double evacuate it shows ACTIVE for a while first)."""

    def check() -> Any:
        if any(m.status in ("accepted", "pre-migrating") for m in _migrations(conn, server_id)):
            return None
        s = conn.compute.get_server(server_id)
        return s if s.task_state is None and s.status != "REBUILD" else None

    return wait_until(check, timeout=timeout)


def _wait_in(conn: Any, server_id: str, state: str) -> None:
    """Until the server shows ``state`` past the target's claim (migration pre-migrating)."""

    def check() -> bool:
        if conn.compute.get_server(server_id).task_state != state:
            return False
        return [m.status for m in _migrations(conn, server_id)] == ["pre-migrating"]

    wait_until(check)


def test_states_migrations_and_host_in_nova_order(sim: Any, conn: Any) -> None:
    sim.set_options(**_phases(**dict.fromkeys(PHASE_OF.values(), 0.3), schedule_time=0.3))
    _fence(conn, sim, "compute-1")
    server = _server(conn, "vm-1")
    conn.compute.evacuate_server(server, host="compute-2")
    seen: list[tuple[Any, ...]] = []
    statuses: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        s = conn.compute.get_server(server.id)
        seen.append((s.status, s.task_state, s.compute_host, s.hypervisor_hostname))
        statuses.extend(m.status for m in _migrations(conn, server.id))
        if s.status == "ACTIVE":
            break
        time.sleep(0.02)
    assert _dedup(seen) == [
        ("REBUILD", "rebuilding", "compute-1", "compute-1"),
        ("REBUILD", "rebuild_block_device_mapping", "compute-1", "compute-1"),
        ("REBUILD", "rebuild_spawning", "compute-1", "compute-1"),
        ("ACTIVE", None, "compute-2", "compute-2"),
    ]
    assert _dedup(statuses) == ["accepted", "pre-migrating", "done"]
    assert not sim.state()["violations"]


def test_dest_compute_shows_from_the_claim_when_the_scheduler_picks(sim: Any, conn: Any) -> None:
    sim.set_options(**_phases(schedule_time=30.0))
    _fence(conn, sim, "compute-1")
    server = _server(conn, "vm-1")
    conn.compute.evacuate_server(server)  # no host: the scheduler picks
    [mig] = _migrations(conn, server.id)
    assert (mig.status, mig.dest_compute, mig.source_compute) == ("accepted", None, "compute-1")
    sim.set_options(schedule_time=SHORT)  # already-submitted work keeps its length
    sim.reset()  # the held evacuation is dropped with the cloud
    sim.set_options(**_phases())
    _fence(conn, sim, "compute-1")
    server = _server(conn, "vm-1")
    conn.compute.evacuate_server(server)
    assert _settled(conn, server.id).compute_host == "compute-2"
    [mig] = _migrations(conn, server.id)
    assert (mig.status, mig.dest_compute) == ("done", "compute-2")


@pytest.mark.parametrize("state", REBUILD_STATES)
def test_phase_options_hold_the_server_in_each_rebuild_state(
    sim: Any, conn: Any, state: str
) -> None:
    _hold(sim, conn, state)
    _fence(conn, sim, "compute-1")
    server = _server(conn, "vm-1")
    conn.compute.evacuate_server(server, host="compute-2")
    wait_until(lambda: conn.compute.get_server(server.id).task_state == state)
    for _ in range(5):
        s = conn.compute.get_server(server.id)
        assert (s.status, s.task_state, s.compute_host) == ("REBUILD", state, "compute-1")
        time.sleep(0.05)
    [mig] = _migrations(conn, server.id)
    assert mig.status == "pre-migrating"


@pytest.mark.parametrize("state", REBUILD_STATES)
def test_second_evacuate_in_any_rebuild_state_is_accepted_and_breaks_the_server(
    sim: Any, conn: Any, state: str
) -> None:
    _hold(sim, conn, state, seconds=0.4)
    _fence(conn, sim, "compute-1")
    server = _server(conn, "vm-1")
    conn.compute.evacuate_server(server, host="compute-2")
    _wait_in(conn, server.id, state)
    # The second rebuild's same phase outlasts what is left of the first rebuild. (With
    # other timings the two trip over each other earlier: still ERROR, other texts.)
    _hold(sim, conn, state, seconds=1.2)
    conn.compute.evacuate_server(server, host="compute-2")  # accepted (200), as in Nova
    # the first rebuild finishes: the server looks evacuated (ACTIVE on the target)...
    wait_until(lambda: conn.compute.get_server(server.id).status == "ACTIVE")
    # ...until the second one fails on the task state the first one cleared
    after = _settled(conn, server.id)
    assert after.status == "ERROR"
    expected = (
        rf"Conflict updating instance {server.id}\. "
        rf"Expected: \{{'task_state': \['{state}'\]\}}\. Actual: \{{'task_state': None\}}"
    )
    assert re.fullmatch(expected, after.fault["message"]), after.fault
    migrations = _migrations(conn, server.id)
    assert len(migrations) == 2
    assert sorted(m.status for m in migrations) == ["done", "failed"]
    assert migrations[0].status == "failed"  # newest first: the second evacuation lost
    [violation] = sim.state()["violations"]
    assert violation["violation"] == "evacuated_twice_concurrently"
    assert (violation["server"], violation["task_state"]) == (server.id, state)


def test_double_evacuate_mid_spawn_gives_novas_exact_fault(sim: Any, conn: Any) -> None:
    _hold(sim, conn, "rebuild_spawning", seconds=0.4)
    _fence(conn, sim, "compute-1")
    server = _server(conn, "vm-1")
    conn.compute.evacuate_server(server, host="compute-2")
    _wait_in(conn, server.id, "rebuild_spawning")
    _hold(sim, conn, "rebuild_spawning", seconds=1.2)
    conn.compute.evacuate_server(server)  # the scheduler picks: it may pick compute-2 again
    after = _settled(conn, server.id)
    assert after.fault["message"] == (
        f"Conflict updating instance {server.id}. "
        "Expected: {'task_state': ['rebuild_spawning']}. Actual: {'task_state': None}"
    )


def test_second_evacuate_after_the_first_finished_is_refused(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    server = _server(conn, "vm-1")
    conn.compute.evacuate_server(server, host="compute-2")
    assert _settled(conn, server.id).compute_host == "compute-2"
    with pytest.raises(
        sdk_exc.BadRequestException, match="^.*Compute service of compute-2 is still in use"
    ):
        conn.compute.evacuate_server(server, host="spare-1")
    assert not sim.state()["violations"]


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("disabled", "No valid host was found. "),
        ("forced_down", "No valid host was found. There are not enough hosts available."),
    ],
)
def test_no_valid_host_texts(sim: Any, conn: Any, problem: str, message: str) -> None:
    sim.set_options(**_phases(schedule_time=0.3))
    _fence(conn, sim, "compute-1")
    svc = next(iter(conn.compute.services(host="spare-1", binary="nova-compute")))
    if problem == "forced_down":
        conn.compute.enable_service(svc)
        conn.compute.update_service_forced_down(svc, forced=True)
    server = _server(conn, "vm-1")
    conn.compute.evacuate_server(server, host="spare-1")
    during = conn.compute.get_server(server.id)
    assert (during.status, during.task_state) == ("REBUILD", "rebuilding")
    assert [m.status for m in _migrations(conn, server.id)] == ["accepted"]
    after = _settled(conn, server.id)
    assert (after.status, after.compute_host) == ("ERROR", "compute-1")
    assert after.fault["message"] == message
    assert [m.status for m in _migrations(conn, server.id)] == ["error"]


def test_unknown_target_text(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    server = _server(conn, "vm-1")
    with pytest.raises(sdk_exc.NotFoundException) as err:
        conn.compute.evacuate_server(server, host="nowhere")
    assert "Compute host nowhere not found." in str(err.value)


def test_evacuate_answers_200_without_body(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    server = _server(conn, "vm-1")
    resp = conn.compute.post(
        f"/servers/{server.id}/action",
        json={"evacuate": {"host": "compute-2"}},
        microversion="2.94",
    )
    assert (resp.status_code, resp.content) == (200, b"")


def test_force_up_text_while_evacuations_done(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    server = _server(conn, "vm-1")
    conn.compute.evacuate_server(server, host="compute-2")
    _settled(conn, server.id)
    svc = next(iter(conn.compute.services(host="compute-1", binary="nova-compute")))
    with pytest.raises(sdk_exc.BadRequestException) as err:
        conn.compute.update_service_forced_down(svc, forced=False)
    assert (
        "Unable to force up host compute-1 as `done` evacuation migration records remain "
        "associated with the host." in str(err.value)
    )


def test_rebuild_cast_to_a_dead_target_stays_accepted(sim: Any, conn: Any) -> None:
    _fence(conn, sim, "compute-1")
    sim.kill_host("compute-2")  # heartbeat fresh: the scheduler still counts it up
    server = _server(conn, "vm-1")
    conn.compute.evacuate_server(server, host="compute-2")
    wait_until(lambda: any(e["event"] == "evacuation_stuck" for e in sim.state()["events"]))
    s = conn.compute.get_server(server.id)
    assert (s.status, s.task_state, s.compute_host) == ("REBUILD", "rebuilding", "compute-1")
    assert [m.status for m in _migrations(conn, server.id)] == ["accepted"]
