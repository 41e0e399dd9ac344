"""Servers, aggregates, hypervisors, migrations and API documents, through openstacksdk."""

from __future__ import annotations

from typing import Any

import openstack.exceptions as sdk_exc
import pytest
import requests

from rhworker.testing.sim_fixture import password_connection, running_simulator, sdk_connection

SERVER_FIELDS = {
    "id",
    "name",
    "status",
    "tenant_id",
    "user_id",
    "metadata",
    "flavor",
    "links",
    "locked",
    "OS-EXT-SRV-ATTR:host",
    "OS-EXT-SRV-ATTR:hypervisor_hostname",
    "OS-EXT-SRV-ATTR:instance_name",
    "OS-EXT-STS:vm_state",
    "OS-EXT-STS:task_state",
    "OS-EXT-STS:power_state",
}


def test_servers_on_host_all_projects_paginated() -> None:
    spec = {
        "segments": [{"name": "s", "hosts": [{"name": "c1"}, {"name": "c2"}]}],
        "servers_per_host": 7,
    }
    with running_simulator(spec) as sim:
        conn = sdk_connection(sim)
        found = list(conn.compute.servers(all_projects=True, compute_host="c1", limit=3))
        assert len(found) == 7 and {s.compute_host for s in found} == {"c1"}
        assert len({s.id for s in found}) == 7
        assert list(conn.compute.servers(compute_host="c1")) == []  # admin's own project
        # the trap of docs/design.md §7: host= filters client-side on a field Nova never returns
        assert list(conn.compute.servers(all_projects=True, host="c1")) == []
        raw = requests.get(
            f"{sim.compute_url}/servers/detail",
            params={"all_tenants": "True", "host": "c1", "limit": 3},
            timeout=10,
        ).json()
        assert len(raw["servers"]) == 3
        assert raw["servers_links"][0]["rel"] == "next"
        assert "marker=" in raw["servers_links"][0]["href"]


def test_server_fields_and_metadata(sim: Any) -> None:
    conn = sdk_connection(sim)
    server = next(
        s
        for s in conn.compute.servers(all_projects=True, compute_host="compute-1")
        if s.name == "vm-1"
    )
    raw = requests.get(
        f"{sim.compute_url}/servers/{server.id}",
        headers={"OpenStack-API-Version": "compute 2.94"},
        timeout=10,
    )
    assert raw.headers["OpenStack-API-Version"] == "compute 2.94"
    assert SERVER_FIELDS <= set(raw.json()["server"])
    got = conn.compute.get_server(server.id)
    assert (got.compute_host, got.hypervisor_hostname, got.vm_state) == (
        "compute-1",
        "compute-1",
        "active",
    )
    assert got.metadata == {"HA_Enabled": "True"}
    conn.compute.set_server_metadata(got, extra="1")
    assert conn.compute.get_server_metadata(got).metadata == {"HA_Enabled": "True", "extra": "1"}


def test_lock_unlock_and_non_admin_refused_on_locked(sim: Any) -> None:
    conn = sdk_connection(sim)
    server = next(iter(conn.compute.servers(all_projects=True, compute_host="compute-2")))
    conn.compute.lock_server(server)
    assert conn.compute.get_server(server.id).is_locked is True
    demo = password_connection(sim, "demo", "demo", "demo", compute_api_version="2.94")
    with pytest.raises(sdk_exc.ConflictException, match="locked"):
        demo.compute.stop_server(server.id)
    conn.compute.stop_server(server)  # admins may act on a locked server
    assert conn.compute.get_server(server.id).status == "SHUTOFF"
    conn.compute.unlock_server(server)
    assert conn.compute.get_server(server.id).is_locked is False
    demo.compute.start_server(server.id)
    assert conn.compute.get_server(server.id).status == "ACTIVE"


def test_stop_start_state_errors_and_reset_state(sim: Any) -> None:
    conn = sdk_connection(sim)
    server = next(iter(conn.compute.servers(all_projects=True, compute_host="compute-2")))
    with pytest.raises(sdk_exc.ConflictException, match="vm_state active"):
        conn.compute.start_server(server)
    conn.compute.reset_server_state(server, "error")
    assert conn.compute.get_server(server.id).status == "ERROR"
    conn.compute.reset_server_state(server, "active")
    assert conn.compute.get_server(server.id).status == "ACTIVE"


def test_action_on_dead_host_is_lost(sim: Any) -> None:
    conn = sdk_connection(sim)
    server = next(iter(conn.compute.servers(all_projects=True, compute_host="compute-2")))
    sim.kill_host("compute-2")
    conn.compute.stop_server(server)
    got = conn.compute.get_server(server.id)
    assert (got.status, got.task_state) == ("ACTIVE", "powering-off")


def test_aggregates(sim: Any) -> None:
    conn = sdk_connection(sim)
    (agg,) = list(conn.compute.aggregates())
    assert (agg.name, sorted(agg.hosts)) == ("agg1", ["compute-1", "compute-2", "spare-1"])
    conn.compute.remove_host_from_aggregate(agg, "spare-1")
    updated = conn.compute.add_host_to_aggregate(agg, "spare-1")
    assert "spare-1" in updated.hosts
    with pytest.raises(sdk_exc.ConflictException):
        conn.compute.add_host_to_aggregate(agg, "spare-1")
    with pytest.raises(sdk_exc.NotFoundException):
        conn.compute.add_host_to_aggregate(agg, "nowhere")


def test_hypervisors_capacity_until_288(sim: Any) -> None:
    conn = sdk_connection(sim, microversion="2.87")
    hyps = {h.name: h for h in conn.compute.hypervisors(details=True)}
    assert (hyps["compute-1"].vcpus, hyps["compute-1"].vcpus_used) == (8, 4)
    assert hyps["compute-1"].memory_used == 4 * 512
    assert hyps["spare-1"].status == "disabled"
    late = {h.name: h for h in sdk_connection(sim).compute.hypervisors(details=True)}
    assert late["compute-1"].vcpus is None  # removed from the API at 2.88, as in Nova


def test_version_documents_and_microversion_range(sim: Any) -> None:
    for path in ("/v2.1", "/v2.1/"):
        doc = requests.get(sim.url + path, timeout=10).json()["version"]
        assert (doc["min_version"], doc["version"]) == ("2.1", "2.95")
    ids = [v["id"] for v in requests.get(sim.url + "/", timeout=10).json()["versions"]]
    assert "v2.1" in ids
    resp = requests.get(
        f"{sim.compute_url}/servers", headers={"OpenStack-API-Version": "compute 2.200"}, timeout=10
    )
    assert resp.status_code == 406


def test_error_body_shape(sim: Any) -> None:
    resp = requests.get(f"{sim.compute_url}/servers/nope", timeout=10)
    assert resp.status_code == 404
    assert resp.json() == {
        "itemNotFound": {"code": 404, "message": "Instance nope could not be found."}
    }
