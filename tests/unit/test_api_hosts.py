"""``/v1/segments/{id}/hosts``: CRUD, filters, pagination, Masakari's refusals."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client

from rhworker.models import NotificationStatus
from rhworker.store import Store
from tests.unit.api_helpers import fault, make_host, make_segment

pytest_plugins = ["tests.unit.api_support"]  # the store and client fixtures


def test_create_show_update_delete(client: Client, store: Store) -> None:
    seg = make_segment(client)
    host = make_host(client, seg, "compute-1", reserved="yes", control_attributes=None)
    assert host["failover_segment_id"] == seg["uuid"]
    assert host["failover_segment"] == seg
    assert (host["reserved"], host["on_maintenance"], host["control_attributes"]) == (
        True,
        False,
        "",
    )
    assert host["id"] > 0 and len(host["uuid"]) == 36
    url = f"/v1/segments/{seg['uuid']}/hosts/{host['uuid']}"
    assert client.get(url).get_json()["host"] == host
    r = client.put(url, json={"host": {"on_maintenance": True, "type": "SSH"}})
    assert r.status_code == 200, r.get_data(True)
    assert r.get_json()["host"]["on_maintenance"] is True
    assert store.get_host("compute-1").type == "SSH"
    assert client.delete(url).status_code == 204
    assert store.list_hosts() == []
    fault(client.get(url), 404)


def test_host_of_another_segment_is_404(client: Client) -> None:
    a, b = make_segment(client, "a"), make_segment(client, "b")
    host = make_host(client, a, "h1")
    fault(client.get(f"/v1/segments/{b['uuid']}/hosts/{host['uuid']}"), 404)
    fault(client.get(f"/v1/segments/nope/hosts/{host['uuid']}"), 404)
    fault(client.get("/v1/segments/nope/hosts"), 404)


def test_filters_and_pagination(client: Client) -> None:
    seg = make_segment(client)
    for i in range(5):
        make_host(client, seg, f"h{i}", reserved=i % 2 == 0, on_maintenance=i == 4)
    base = f"/v1/segments/{seg['uuid']}/hosts"

    def names(query: str) -> list[str]:
        r = client.get(f"{base}?{query}")
        assert r.status_code == 200, r.get_data(True)
        return [h["name"] for h in r.get_json()["hosts"]]

    assert sorted(names("reserved=true")) == ["h0", "h2", "h4"]
    assert names("reserved=true&on_maintenance=false&sort_key=name&sort_dir=asc") == ["h0", "h2"]
    assert names("name=h3") == ["h3"]
    first = client.get(f"{base}?sort_key=name&sort_dir=asc&limit=2").get_json()["hosts"]
    second = names(f"sort_key=name&sort_dir=asc&limit=2&marker={first[-1]['id']}")
    assert [h["name"] for h in first] + second == ["h0", "h1", "h2", "h3"]
    assert "Invalid value for reserved" in fault(client.get(f"{base}?reserved=perhaps"), 400)


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ({"name": "h", "type": "COMPUTE"}, "'control_attributes' is a required property"),
        (
            {"name": "h", "type": "COMPUTE", "control_attributes": "", "reserved": "maybe"},
            "reserved",
        ),
        ({"name": "h", "type": "COMP-UTE", "control_attributes": ""}, "type"),
        ({"name": "h h", "type": "COMPUTE", "control_attributes": ""}, "name"),
        ({"name": "h" * 256, "type": "COMPUTE", "control_attributes": ""}, "longer than 255"),
        ({"name": "h", "type": "COMPUTE", "control_attributes": "c" * 5000}, "control_attributes"),
        ({"name": "h", "type": "COMPUTE", "control_attributes": "", "seg": 1}, "'seg' was"),
        ({"name": "h", "type": 7, "control_attributes": ""}, "type"),
    ],
)
def test_bad_bodies_are_400_and_store_nothing(
    client: Client, store: Store, host: dict[str, Any], message: str
) -> None:
    seg = make_segment(client)
    r = client.post(f"/v1/segments/{seg['uuid']}/hosts", json={"host": host})
    assert message in fault(r, 400)
    assert store.list_hosts() == []


def test_name_conflict_is_409_even_across_segments(client: Client) -> None:
    a, b = make_segment(client, "a"), make_segment(client, "b")
    make_host(client, a, "h1")
    body = {"host": {"name": "h1", "type": "COMPUTE", "control_attributes": ""}}
    r = client.post(f"/v1/segments/{b['uuid']}/hosts", json=body)
    assert fault(r, 409) == "Host with name h1 already exists."


def test_update_refusals(client: Client) -> None:
    seg = make_segment(client)
    host = make_host(client, seg, "h1")
    url = f"/v1/segments/{seg['uuid']}/hosts/{host['uuid']}"
    assert "valid under any" in fault(client.put(url, json={"host": {}}), 400)
    assert "does not rename" in fault(client.put(url, json={"host": {"name": "h2"}}), 400)


def test_update_or_delete_while_recovered_is_409(client: Client, store: Store) -> None:
    seg = make_segment(client)
    host = make_host(client, seg, "h1")
    make_host(client, seg, "h2")
    n = store.create_notification(
        "COMPUTE_HOST", "h1", {"event": "STOPPED", "host_status": "NORMAL"}
    )
    url = f"/v1/segments/{seg['uuid']}/hosts/{host['uuid']}"
    assert n.id in fault(client.put(url, json={"host": {"reserved": True}}), 409)
    assert n.id in fault(client.delete(url), 409)
    assert store.get_host("h1").reserved is False
    store.set_status(n.id, NotificationStatus.FAILED, expected=[NotificationStatus.NEW])
    assert client.delete(url).status_code == 204
