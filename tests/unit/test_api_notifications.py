"""``/v1/notifications`` and vmoves: intake through the API, listing, details."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client

from rhworker.models import Move, MoveState, NotificationStatus, Step
from rhworker.store import Store
from tests.unit.api_helpers import fault, make_host, make_segment, mv, notification_body

pytest_plugins = ["tests.unit.api_support"]  # the store and client fixtures


@pytest.fixture
def inventory(client: Client) -> dict[str, Any]:
    seg = make_segment(client)
    return {
        "segment": seg,
        "h1": make_host(client, seg, "h1"),
        "h2": make_host(client, seg, "h2"),
    }


def test_create_is_202_and_enqueued(client: Client, store: Store, inventory: dict) -> None:
    r = client.post("/v1/notifications", json=notification_body("h1"))
    assert r.status_code == 202, r.get_data(True)
    n = r.get_json()["notification"]
    assert n["status"] == "new" and n["type"] == "COMPUTE_HOST"
    assert n["source_host_uuid"] == inventory["h1"]["uuid"]
    assert n["failover_segment_uuid"] == inventory["segment"]["uuid"]
    assert n["generated_time"] == "2026-01-01T00:00:00.000000"
    assert n["payload"] == {
        "event": "STOPPED",
        "host_status": "NORMAL",
        "cluster_status": "OFFLINE",
    }
    assert isinstance(n["id"], int) and n["id"] > 0
    assert n["created_at"] and n["updated_at"] is None  # not changed since intake
    stored = store.get_notification(n["notification_uuid"])
    assert stored.hostname == "h1" and store.queue_stats().depth == 1


def test_duplicate_is_409_and_stores_nothing(client: Client, store: Store, inventory: dict) -> None:
    first = client.post("/v1/notifications", json=notification_body("h1")).get_json()
    r = client.post("/v1/notifications", json=notification_body("h1"))
    assert first["notification"]["notification_uuid"] in fault(r, 409)
    assert r.get_json().keys() == {"conflictingRequest"}
    assert len(store.list_notifications()) == 1


def test_host_on_maintenance_is_409(client: Client, store: Store, inventory: dict) -> None:
    store.update_host("h2", on_maintenance=True)
    r = client.post("/v1/notifications", json=notification_body("h2"))
    assert "already under maintenance" in fault(r, 409)
    assert store.list_notifications() == []


def test_unknown_host_is_400(client: Client, store: Store, inventory: dict) -> None:
    r = client.post("/v1/notifications", json=notification_body("nowhere"))
    assert fault(r, 400) == "Host with name nowhere could not be found."
    assert store.list_notifications() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"generated_time": None}, "generated_time"),
        ({"type": "DISK"}, "type"),
        ({"hostname": "bad host"}, "hostname"),
        ({"hostname": "h" * 300}, "hostname"),
        ({"payload": {"event": "STOPPED", "extra key": "x"}}, "extra key"),
        ({"payload": {"event": 1}}, "is not of type 'string'"),
        ({"payload": {"event": "S" * 300}}, "too long"),
        ({"payload": {"event": "BOOM"}}, "payload.event"),
        ({"payload": "STOPPED"}, "payload"),
        ({"generated_time": "yesterday"}, "generated_time"),
        ({"extra": 1}, "'extra' was unexpected"),
    ],
)
def test_bad_bodies_are_400_and_store_nothing(
    client: Client, store: Store, inventory: dict, change: dict, message: str
) -> None:
    body = notification_body("h1")
    for key, value in change.items():
        if value is None:
            del body["notification"][key]
        else:
            body["notification"][key] = value
    assert message in fault(client.post("/v1/notifications", json=body), 400)
    assert store.list_notifications() == [] and store.queue_stats().depth == 0


def _post(client: Client, host: str, event: str = "STOPPED", **payload: str) -> dict[str, Any]:
    body = notification_body(host, event=event, **payload)
    r = client.post("/v1/notifications", json=body)
    assert r.status_code == 202, r.get_data(True)
    return dict(r.get_json()["notification"])


def test_list_filters_sort_and_pages(client: Client, store: Store, inventory: dict) -> None:
    a = _post(client, "h1")
    b = _post(client, "h2")
    c = _post(client, "h1", event="STARTED")
    store.set_status(
        b["notification_uuid"], NotificationStatus.RUNNING, expected=[NotificationStatus.NEW]
    )

    def uuids(query: str) -> list[str]:
        r = client.get(f"/v1/notifications?{query}")
        assert r.status_code == 200, r.get_data(True)
        return [n["notification_uuid"] for n in r.get_json()["notifications"]]

    running = client.get(f"/v1/notifications/{b['notification_uuid']}").get_json()
    assert running["notification"]["updated_at"] is not None  # changed since intake
    every = [c, b, a]
    assert uuids("") == [n["notification_uuid"] for n in every]  # newest first
    assert uuids("status=running") == [b["notification_uuid"]]
    assert uuids("status=bogus") == []
    assert uuids(f"source_host_uuid={inventory['h1']['uuid']}") == [
        c["notification_uuid"],
        a["notification_uuid"],
    ]
    assert uuids("type=VM") == []
    assert len(uuids("generated-since=2025-12-31T00:00:00Z")) == 3
    assert uuids("generated-since=2026-06-01T00:00:00") == []
    assert "generated-since" in fault(client.get("/v1/notifications?generated-since=soon"), 400)
    assert uuids("sort_key=id&sort_dir=asc") == [
        a["notification_uuid"],
        b["notification_uuid"],
        c["notification_uuid"],
    ]
    page1 = client.get("/v1/notifications?limit=2").get_json()["notifications"]
    page2 = uuids(f"limit=2&marker={page1[-1]['id']}")
    assert [n["notification_uuid"] for n in page1] + page2 == uuids("")
    assert "Sort key" in fault(client.get("/v1/notifications?sort_key=hostname"), 400)


def test_show_with_workflow_details_from_1_1(client: Client, store: Store, inventory: dict) -> None:
    n = _post(client, "h1")
    nid = n["notification_uuid"]
    store.add_step(nid, Step(at=1_767_225_600.0, name="fence", message="h1 forced down"))
    store.add_step(nid, Step(at=1_767_225_601.0, name="fence", message="h1 disabled"))
    store.add_step(nid, Step(at=1_767_225_602.0, name="claimed", message="h2 claimed"))
    old = client.get(f"/v1/notifications/{nid}", headers=mv("1.0")).get_json()["notification"]
    assert "recovery_workflow_details" not in old and old["notification_uuid"] == nid
    new = client.get(f"/v1/notifications/{nid}", headers=mv("1.1")).get_json()["notification"]
    details = new["recovery_workflow_details"]
    assert [d["name"] for d in details] == ["fence", "claimed"]
    assert [p["message"] for p in details[0]["progress_details"]] == [
        "h1 forced down",
        "h1 disabled",
    ]
    assert details[0]["progress_details"][0]["timestamp"] == "2026-01-01T00:00:00.000000"
    assert "No notification with id nope." == fault(client.get("/v1/notifications/nope"), 404)


def test_vmoves(client: Client, store: Store, inventory: dict) -> None:
    nid = _post(client, "h1")["notification_uuid"]
    for i, state in enumerate((MoveState.SUCCEEDED, MoveState.FAILED, MoveState.SKIPPED)):
        store.upsert_move(
            Move(
                notification_id=nid,
                instance_id=f"0000000{i}-0000-0000-0000-000000000000",
                instance_name=f"vm{i}",
                source="h1",
                target="h2",
                state=state,
                started_at=1_767_225_600.0 + i,
                finished_at=1_767_225_700.0,
                message="" if state == MoveState.SUCCEEDED else "why",
            )
        )
    r = client.get(f"/v1/notifications/{nid}/vmoves", headers=mv("1.3"))
    assert r.status_code == 200, r.get_data(True)
    moves = r.get_json()["vmoves"]
    assert [m["instance_name"] for m in moves] == ["vm2", "vm1", "vm0"]  # created_at desc
    assert {m["status"] for m in moves} == {"succeeded", "failed", "ignored"}
    assert all(m["type"] == "evacuation" and m["dest_host"] == "h2" for m in moves)
    failed = client.get(f"/v1/notifications/{nid}/vmoves?status=failed").get_json()["vmoves"]
    assert [m["instance_name"] for m in failed] == ["vm1"]
    one = client.get(f"/v1/notifications/{nid}/vmoves/{failed[0]['uuid']}").get_json()["vmove"]
    assert one == failed[0]
    page = client.get(f"/v1/notifications/{nid}/vmoves?limit=1&marker={moves[0]['id']}")
    assert [m["instance_name"] for m in page.get_json()["vmoves"]] == ["vm1"]
    fault(client.get(f"/v1/notifications/{nid}/vmoves/00000000-0000-0000-0000-000000000000"), 404)
    fault(client.get("/v1/notifications/nope/vmoves"), 404)


def test_vmoves_of_a_vm_notification_are_400(client: Client, store: Store, inventory: dict) -> None:
    body = {
        "notification": {
            "type": "VM",
            "hostname": "h1",
            "generated_time": "2026-01-01T00:00:00",
            "payload": {
                "event": "LIFECYCLE",
                "instance_uuid": "11111111-2222-3333-4444-555555555555",
                "vir_domain_event": "STOPPED_FAILED",
            },
        }
    }
    r = client.post("/v1/notifications", json=body)
    assert r.status_code == 202, r.get_data(True)
    nid = r.get_json()["notification"]["notification_uuid"]
    assert "without vm moves" in fault(client.get(f"/v1/notifications/{nid}/vmoves"), 400)
