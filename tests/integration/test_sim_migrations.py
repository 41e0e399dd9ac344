"""``GET /os-migrations`` in the simulator: Nova's filters, newest first — through
openstacksdk and through rhworker's own compute adapter."""

from __future__ import annotations

from typing import Any

import pytest

from rhworker.compute.openstack import OpenStackCompute
from rhworker.testing.sim_fixture import sdk_connection, wait_until


@pytest.fixture
def moved(sim: Any) -> dict[str, Any]:
    """compute-1 and compute-2 fenced; vm-1 and vm-2 (compute-1) and vm-other
    (compute-2) evacuated to spare-1, in that order; vm-3 to compute-2 ends in error."""
    conn = sdk_connection(sim)
    for host in ("compute-1", "compute-2"):
        sim.kill_host(host)
        svc = next(iter(conn.compute.services(host=host, binary="nova-compute")))
        conn.compute.update_service_forced_down(svc, forced=True)
    spare = next(iter(conn.compute.services(host="spare-1", binary="nova-compute")))
    conn.compute.enable_service(spare)
    servers = {s.name: s for s in conn.compute.servers(all_projects=True)}
    for name in ("vm-1", "vm-2", "vm-other"):
        conn.compute.evacuate_server(servers[name], host="spare-1")
    conn.compute.evacuate_server(servers["vm-3"], host="compute-2")  # down: NoValidHost

    def settled() -> bool:
        return all(m.status in ("done", "error") for m in conn.compute.migrations())

    wait_until(settled)
    return {"conn": conn, "servers": servers}


def _names(moved: dict[str, Any], migrations: Any) -> list[str]:
    by_id = {s.id: name for name, s in moved["servers"].items()}
    return [by_id[m.server_id] for m in migrations]


def test_all_newest_first(moved: dict[str, Any]) -> None:
    migrations = list(moved["conn"].compute.migrations())
    assert _names(moved, migrations) == ["vm-3", "vm-other", "vm-2", "vm-1"]
    assert [m.status for m in migrations] == ["error", "done", "done", "done"]
    ids = [int(m.id) for m in migrations]
    assert ids == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"source_compute": "compute-1"}, ["vm-3", "vm-2", "vm-1"]),
        ({"source_compute": "compute-2"}, ["vm-other"]),
        ({"source_compute": "spare-1"}, []),
        ({"host": "spare-1"}, ["vm-other", "vm-2", "vm-1"]),  # source or destination
        ({"host": "compute-2"}, ["vm-3", "vm-other"]),
        ({"status": "error"}, ["vm-3"]),
        ({"status": "done", "source_compute": "compute-1"}, ["vm-2", "vm-1"]),
        ({"migration_type": "evacuation"}, ["vm-3", "vm-other", "vm-2", "vm-1"]),
        ({"migration_type": "live-migration"}, []),
    ],
)
def test_filters(moved: dict[str, Any], query: dict[str, str], expected: list[str]) -> None:
    assert _names(moved, moved["conn"].compute.migrations(**query)) == expected


def test_instance_uuid_filter(moved: dict[str, Any]) -> None:
    vm2 = moved["servers"]["vm-2"]
    found = list(moved["conn"].compute.migrations(server_id=vm2.id, source_compute="compute-1"))
    assert _names(moved, found) == ["vm-2"]
    other = moved["conn"].compute.migrations(server_id=vm2.id, source_compute="compute-2")
    assert list(other) == []


def test_rhworker_adapter_reads_them(moved: dict[str, Any]) -> None:
    compute = OpenStackCompute(moved["conn"])
    vm1 = moved["servers"]["vm-1"]
    found = compute.list_migrations(source_host="compute-1")
    assert [m.instance_id for m in found] == [
        moved["servers"][n].id for n in ("vm-3", "vm-2", "vm-1")
    ]
    [one] = compute.list_migrations(instance_id=vm1.id, source_host="compute-1")
    assert (one.status, one.dest_host, one.migration_type) == ("done", "spare-1", "evacuation")
