"""``PUT /v1/notifications/{id}``: the external workflow's callback (admin only)."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client

from rhworker.models import NotificationStatus, Step, StepName
from rhworker.store import Store
from tests.unit.api_helpers import MEMBER, fault, make_host, make_segment, mv, notification_body

pytest_plugins = ["tests.unit.api_support"]  # the store and client fixtures


def _handed_off(client: Client, store: Store) -> str:
    """A notification as the external driver leaves it: running, its hand-off recorded
    with the delivery's token, the lease stretched to the workflow's deadline."""
    seg = make_segment(client)
    make_host(client, seg, "h1")
    make_host(client, seg, "spare-1", reserved=True)
    make_host(client, seg, "spare-2", reserved=True)
    nid = client.post("/v1/notifications", json=notification_body("h1")).get_json()["notification"][
        "notification_uuid"
    ]
    delivery = store.consume("w1", lease_timeout=30.0)
    assert delivery is not None
    store.set_status(
        nid, NotificationStatus.RUNNING, expected=(NotificationStatus.NEW,), token=delivery.token
    )
    deadline = store.now() + 600.0
    store.add_step(
        nid,
        Step(
            at=store.now(),
            name=StepName.HANDOFF,
            worker="w1",
            detail={"deadline": deadline, "token": delivery.token},
        ),
        token=delivery.token,
    )
    store.renew(delivery, lease_timeout=600.0)
    return str(nid)


def _put(client: Client, nid: str, body: Any, **headers: str) -> Any:
    return client.put(f"/v1/notifications/{nid}", json=body, headers=headers)


def test_finished_ends_it_and_uses_the_spare(client: Client, store: Store) -> None:
    nid = _handed_off(client, store)
    r = _put(
        client,
        nid,
        {"notification": {"status": "finished", "used_reserved_hosts": ["spare-2"]}},
        **mv("1.1"),
    )
    assert r.status_code == 200, r.get_data(True)
    body = r.get_json()["notification"]
    assert body["status"] == "finished"
    assert "callback" in [t["name"] for t in body["recovery_workflow_details"]]
    assert store.get_host("spare-2").reserved is False
    assert store.get_host("spare-2").claimed_by == nid
    assert store.get_host("spare-1").reserved is True
    assert store.consume("w2", lease_timeout=30.0, now=store.now() + 10_000) is None
    # the spare shows as used through the API too
    seg = client.get("/v1/segments").get_json()["segments"][0]
    hosts = client.get(f"/v1/segments/{seg['uuid']}/hosts?reserved=false").get_json()["hosts"]
    assert "spare-2" in [h["name"] for h in hosts]


def test_error_gives_it_back(client: Client, store: Store) -> None:
    nid = _handed_off(client, store)
    r = _put(client, nid, {"notification": {"status": "error"}})
    assert r.status_code == 200, r.get_data(True)
    assert r.get_json()["notification"]["status"] == "error"
    assert "recovery_workflow_details" not in r.get_json()["notification"]  # 1.0
    assert store.get_notification(nid).status == NotificationStatus.ERROR


def test_a_member_may_not_report(client: Client, store: Store) -> None:
    nid = _handed_off(client, store)
    r = _put(client, nid, {"notification": {"status": "finished"}}, **MEMBER)
    fault(r, 403)
    assert store.get_notification(nid).status == NotificationStatus.RUNNING


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        ({"status": "finished"}, 400, "unexpected"),
        ({"notification": {}}, 400, "status"),
        ({"notification": {"status": 1}}, 400, "status"),
        ({"notification": {"status": "done"}}, 400, "status must be one of"),
        ({"notification": {"status": "finished", "extra": 1}}, 400, "extra"),
        ({"notification": {"status": "finished", "used_reserved_hosts": "x"}}, 400, "x"),
        ({"notification": {"status": "finished", "used_reserved_hosts": ["h9"]}}, 400, "h9"),
        ({"notification": {"status": "finished", "used_reserved_hosts": ["h1"]}}, 409, "h1"),
    ],
)
def test_bad_reports_change_nothing(
    client: Client, store: Store, body: Any, status: int, match: str
) -> None:
    nid = _handed_off(client, store)
    assert match in fault(_put(client, nid, body), status)
    n = store.get_notification(nid)
    assert n.status == NotificationStatus.RUNNING and n.progress.claims == []


def test_unknown_notification_is_404(client: Client, store: Store) -> None:
    _handed_off(client, store)
    fault(_put(client, "nope", {"notification": {"status": "finished"}}), 404)


def test_a_notification_not_handed_off_is_409(client: Client, store: Store) -> None:
    _handed_off(client, store)
    seg = client.get("/v1/segments").get_json()["segments"][0]
    make_host(client, seg, "h2")
    other = client.post("/v1/notifications", json=notification_body("h2")).get_json()
    nid = other["notification"]["notification_uuid"]
    assert "not waiting" in fault(_put(client, nid, {"notification": {"status": "finished"}}), 409)
    assert store.get_notification(nid).status == NotificationStatus.NEW
