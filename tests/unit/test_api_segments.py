"""``/v1/segments``: CRUD, filters, sort and pagination, and Masakari's refusals."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client

from rhworker import inventory as inv
from rhworker.models import NotificationStatus
from rhworker.store import Store
from tests.unit.api_helpers import fault, make_host, make_segment, mv

pytest_plugins = ["tests.unit.api_support"]  # the store and client fixtures


def test_create_show_update_delete(client: Client, store: Store) -> None:
    seg = make_segment(client, description="rack A")
    assert seg["name"] == "seg1" and seg["recovery_method"] == "reserved_host"
    assert seg["enabled"] is True and seg["description"] == "rack A"
    assert isinstance(seg["id"], int) and seg["id"] > 0 and len(seg["uuid"]) == 36
    assert client.get(f"/v1/segments/{seg['uuid']}").get_json()["segment"] == seg
    r = client.put(
        f"/v1/segments/{seg['uuid']}",
        json={"segment": {"recovery_method": "auto", "enabled": "False", "description": None}},
        headers=mv("1.2"),
    )
    assert r.status_code == 200, r.get_data(True)
    updated = r.get_json()["segment"]
    assert (updated["recovery_method"], updated["enabled"], updated["description"]) == (
        "auto",
        False,
        None,  # no description: null, as Masakari shows it
    )
    assert updated["uuid"] == seg["uuid"] and updated["id"] == seg["id"]
    assert store.get_segment("seg1").enabled is False
    r = client.delete(f"/v1/segments/{seg['uuid']}")
    assert r.status_code == 204 and r.get_data() == b""
    assert r.headers["Content-Type"] == "application/json"  # Masakari's, even empty
    assert store.list_segments() == []
    fault(client.get(f"/v1/segments/{seg['uuid']}"), 404)


def test_enabled_only_from_1_2(client: Client) -> None:
    body = {"name": "s", "recovery_method": "auto", "service_type": "COMPUTE", "enabled": False}
    r = client.post("/v1/segments", json={"segment": body}, headers=mv("1.1"))
    assert "'enabled' was unexpected" in fault(r, 400)
    r = client.post("/v1/segments", json={"segment": body}, headers=mv("1.2"))
    assert r.status_code == 201 and r.get_json()["segment"]["enabled"] is False


def test_api_and_yaml_records_are_the_same(client: Client, store: Store) -> None:
    make_segment(client, "from-api")
    yaml_doc = inv.parse_yaml(
        "segments:\n- name: from-yaml\n  recovery_method: auto\n  hosts:\n  - {name: h1}\n"
    )
    inv.apply_inventory(store, inv.load_inventory(yaml_doc))
    listed = {s["name"]: s for s in client.get("/v1/segments").get_json()["segments"]}
    assert set(listed) == {"from-api", "from-yaml"}
    assert all(len(s["uuid"]) == 36 and s["id"] > 0 for s in listed.values())
    assert listed["from-api"]["id"] != listed["from-yaml"]["id"]
    exported = inv.export_inventory(store)
    assert [s["name"] for s in exported["segments"]] == ["from-api", "from-yaml"]


def test_filters(client: Client) -> None:
    make_segment(client, "a", recovery_method="auto")
    make_segment(client, "b", enabled=False)
    make_segment(client, "c", service_type="OTHER")

    def names(query: str) -> list[str]:
        r = client.get(f"/v1/segments?{query}")
        assert r.status_code == 200, r.get_data(True)
        return sorted(s["name"] for s in r.get_json()["segments"])

    assert names("recovery_method=auto") == ["a"]
    assert names("enabled=false") == ["b"]
    assert names("enabled=1") == ["a", "c"]
    assert names("service_type=OTHER") == ["c"]
    assert "Invalid value for enabled" in fault(client.get("/v1/segments?enabled=maybe"), 400)


def test_sort_limit_marker(client: Client) -> None:
    made = [make_segment(client, name) for name in ("s3", "s1", "s2", "s4")]
    default = [s["name"] for s in client.get("/v1/segments").get_json()["segments"]]
    assert default == [s["name"] for s in sorted(made, key=lambda s: -s["id"])]
    by_name = client.get("/v1/segments?sort_key=name&sort_dir=asc").get_json()["segments"]
    assert [s["name"] for s in by_name] == ["s1", "s2", "s3", "s4"]
    pages: list[str] = []
    marker = None
    while True:
        query = "sort_key=name&sort_dir=asc&limit=3" + (f"&marker={marker}" if marker else "")
        got = client.get(f"/v1/segments?{query}").get_json()["segments"]
        pages += [s["name"] for s in got]
        if len(got) < 3:
            break
        marker = got[-1]["id"]
    assert pages == ["s1", "s2", "s3", "s4"]
    assert client.get("/v1/segments?limit=0").get_json() == {"segments": []}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sort_key=nope", "Sort key supplied was not valid."),
        ("sort_dir=up", "Unknown sort direction"),
        ("sort_key=name&sort_dir=asc&sort_dir=desc", "Sort direction size exceeds"),
        ("limit=-1", "limit must be >= 0"),
        ("limit=ten", "limit must be an integer"),
        ("marker=999999", "Marker 999999 could not be found."),
    ],
)
def test_bad_list_parameters(client: Client, query: str, message: str) -> None:
    make_segment(client)
    assert message in fault(client.get(f"/v1/segments?{query}"), 400)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "is not of type 'object'"),
        ([], "is not of type 'object'"),
        ({}, "'segment' is a required property"),
        ({"segment": {}, "x": 1}, "Additional properties"),
        ({"segment": "s"}, "is not of type 'object'"),
        ({"segment": {"name": "s", "recovery_method": "auto"}}, "'service_type' is a required"),
        (
            {"segment": {"name": "s", "recovery_method": "fast", "service_type": "C"}},
            "recovery_method",
        ),
        ({"segment": {"name": 3, "recovery_method": "auto", "service_type": "C"}}, "name"),
        (
            {"segment": {"name": "s" * 256, "recovery_method": "auto", "service_type": "C"}},
            "longer than 255",
        ),
        (
            {"segment": {"name": " s", "recovery_method": "auto", "service_type": "C"}},
            "whitespace",
        ),
        (
            {"segment": {"name": "s", "recovery_method": "auto", "service_type": "C", "x": 1}},
            "'x' was unexpected",
        ),
        (
            {
                "segment": {
                    "name": "s",
                    "recovery_method": "auto",
                    "service_type": "C",
                    "description": "d" * 5000,
                }
            },
            "description: longer than",
        ),
    ],
)
def test_bad_bodies_are_400_and_store_nothing(
    client: Client, store: Store, body: Any, message: str
) -> None:
    r = client.post("/v1/segments", json=body, headers=mv("1.2"))
    assert message in fault(r, 400)
    assert store.list_segments() == []


def test_malformed_json_and_oversize_body(client: Client, store: Store) -> None:
    r = client.post("/v1/segments", data=b"{not json", content_type="application/json")
    assert fault(r, 400) == "Malformed request body"
    r = client.post("/v1/segments", data=b"x" * 200_000, content_type="application/json")
    fault(r, 413)
    assert store.list_segments() == []


def test_name_conflict_is_409(client: Client) -> None:
    make_segment(client)
    body = {"name": "seg1", "recovery_method": "auto", "service_type": "COMPUTE"}
    r = client.post("/v1/segments", json={"segment": body})
    assert fault(r, 409) == "Failover segment with name seg1 already exists."
    assert r.get_json().keys() == {"conflictingRequest"}


def test_update_refusals(client: Client) -> None:
    seg = make_segment(client)
    url = f"/v1/segments/{seg['uuid']}"
    assert "valid under any of the given schemas" in fault(
        client.put(url, json={"segment": {}}), 400
    )
    assert "does not rename" in fault(client.put(url, json={"segment": {"name": "other"}}), 400)
    r = client.put(url, json={"segment": {"name": "seg1", "description": "same name"}})
    assert r.status_code == 200 and r.get_json()["segment"]["description"] == "same name"
    fault(client.put("/v1/segments/unknown", json={"segment": {"description": "x"}}), 404)


def test_delete_with_hosts_is_409(client: Client, store: Store) -> None:
    seg = make_segment(client)
    make_host(client, seg, "h1")
    fault(client.delete(f"/v1/segments/{seg['uuid']}"), 409)
    assert store.get_segment("seg1")


def test_update_or_delete_while_a_host_is_recovered_is_409(client: Client, store: Store) -> None:
    seg = make_segment(client)
    make_host(client, seg, "h1")
    n = store.create_notification(
        "COMPUTE_HOST", "h1", {"event": "STOPPED", "host_status": "NORMAL"}
    )
    url = f"/v1/segments/{seg['uuid']}"
    message = fault(client.put(url, json={"segment": {"description": "x"}}), 409)
    assert "in use to process notifications" in message and n.id in message
    store.set_status(n.id, NotificationStatus.FINISHED, expected=[NotificationStatus.NEW])
    assert client.put(url, json={"segment": {"description": "x"}}).status_code == 200
