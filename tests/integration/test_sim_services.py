"""os-services in the simulator, through openstacksdk."""

from __future__ import annotations

import time
from typing import Any

import openstack.exceptions as sdk_exc
import pytest

from rhworker.testing.sim_fixture import running_simulator, sdk_connection, wait_until


def _svc(conn: Any, host: str) -> Any:
    (svc,) = list(conn.compute.services(host=host, binary="nova-compute"))
    return svc


def _rpc_waits(sim: Any) -> list[dict[str, Any]]:
    return [e for e in sim.state()["events"] if e["event"] == "service_rpc_timeout_wait"]


def test_list_filters_and_ids_by_microversion(sim: Any) -> None:
    conn = sdk_connection(sim)
    computes = list(conn.compute.services(binary="nova-compute"))
    assert sorted(s.host for s in computes) == ["compute-1", "compute-2", "spare-1"]
    svc = _svc(conn, "compute-1")
    assert len(svc.id) == 36  # a uuid from 2.53
    assert (svc.status, svc.state, svc.is_forced_down) == ("enabled", "up", False)
    legacy = _svc(sdk_connection(sim, microversion="2.52"), "compute-1")
    assert isinstance(legacy.id, int)
    assert _svc(conn, "spare-1").status == "disabled"  # reserved hosts start disabled


def test_disable_enable_with_reason(sim: Any) -> None:
    conn = sdk_connection(sim)
    conn.compute.disable_service(_svc(conn, "compute-2"), disabled_reason="maintenance")
    svc = _svc(conn, "compute-2")
    assert (svc.status, svc.disabled_reason) == ("disabled", "maintenance")
    conn.compute.enable_service(svc)
    svc = _svc(conn, "compute-2")
    assert (svc.status, svc.disabled_reason) == ("enabled", None)
    assert _rpc_waits(sim) == []  # the host is alive: its compute answers the RPC


def test_reason_over_255_chars_400(sim: Any) -> None:
    conn = sdk_connection(sim)
    with pytest.raises(sdk_exc.BadRequestException, match="disabled_reason"):
        conn.compute.disable_service(_svc(conn, "compute-2"), disabled_reason="x" * 256)


def test_reason_with_status_enabled_400(sim: Any) -> None:
    conn = sdk_connection(sim)
    conn.compute.disable_service(_svc(conn, "compute-2"))
    # the SDK sends only changed fields: status must differ to be sent
    with pytest.raises(sdk_exc.BadRequestException, match="with status 'enabled' is invalid"):
        conn.compute.update_service(_svc(conn, "compute-2"), status="enabled", disabled_reason="x")


def test_forced_down_is_down_at_once(sim: Any) -> None:
    conn = sdk_connection(sim)
    conn.compute.update_service_forced_down(_svc(conn, "compute-1"), forced=True)
    svc = _svc(conn, "compute-1")
    assert (svc.state, svc.is_forced_down) == ("down", True)


def test_killed_host_goes_down_after_service_down_time() -> None:
    with running_simulator(service_down_time=0.3) as sim:
        conn = sdk_connection(sim)
        sim.kill_host("compute-1")
        wait_until(lambda: _svc(conn, "compute-1").state == "down")
        sim.revive_host("compute-1")
        assert _svc(conn, "compute-1").state == "up"


def test_disable_of_dead_but_up_compute_blocks_for_rpc_timeout() -> None:
    with running_simulator(disable_rpc_delay=0.3) as sim:
        conn = sdk_connection(sim)
        sim.kill_host("compute-1")
        start = time.monotonic()
        conn.compute.disable_service(_svc(conn, "compute-1"), disabled_reason="dead")
        assert time.monotonic() - start >= 0.3  # a lower bound only
        assert _svc(conn, "compute-1").status == "disabled"
        assert [e["host"] for e in _rpc_waits(sim)] == ["compute-1"]


def test_disable_after_forced_down_does_not_wait() -> None:
    with running_simulator(disable_rpc_delay=30) as sim:
        conn = sdk_connection(sim)
        sim.kill_host("compute-1")
        conn.compute.update_service_forced_down(_svc(conn, "compute-1"), forced=True)
        conn.compute.disable_service(_svc(conn, "compute-1"), disabled_reason="fenced")
        assert _svc(conn, "compute-1").status == "disabled"
        assert _rpc_waits(sim) == []


def test_legacy_service_calls_below_253(sim: Any) -> None:
    conn = sdk_connection(sim, microversion="2.52")
    svc = _svc(conn, "compute-1")
    conn.compute.update_service_forced_down(svc, forced=True)
    # below 2.53 the SDK sends host/binary only when given explicitly (else null: 400)
    with pytest.raises(sdk_exc.BadRequestException):
        conn.compute.disable_service(svc, disabled_reason="legacy")
    where = {"host": "compute-1", "binary": "nova-compute"}
    conn.compute.disable_service(svc, disabled_reason="legacy", **where)
    svc = _svc(conn, "compute-1")
    assert (svc.state, svc.status, svc.disabled_reason) == ("down", "disabled", "legacy")
    conn.compute.enable_service(svc, **where)
    assert _svc(conn, "compute-1").status == "enabled"


def test_only_compute_services_can_be_updated(sim: Any) -> None:
    conn = sdk_connection(sim)
    (sched,) = list(conn.compute.services(binary="nova-scheduler"))
    with pytest.raises(sdk_exc.BadRequestException, match="nova-scheduler"):
        conn.compute.disable_service(sched)
