"""Helpers of the REST API unit tests: callers, fault checks, inventory builders."""

from __future__ import annotations

from typing import Any

from werkzeug.test import Client, TestResponse

MEMBER = {"X-Roles": "member", "X-User-Id": "u1", "X-Project-Id": "p1"}
V = "OpenStack-API-Version"


def mv(version: str) -> dict[str, str]:
    return {V: f"instance-ha {version}"}


def fault(response: TestResponse, status: int) -> str:
    """The message of a Masakari fault body, after checking its status and shape."""
    assert response.status_code == status, (response.status_code, response.get_data(True))
    body = response.get_json()
    assert isinstance(body, dict) and len(body) == 1, body
    ((name, inner),) = body.items()
    assert inner["code"] == status
    assert isinstance(inner["message"], str) and inner["message"]
    return str(inner["message"])


def make_segment(client: Client, name: str = "seg1", **fields: Any) -> dict[str, Any]:
    body = {"name": name, "recovery_method": "reserved_host", "service_type": "COMPUTE", **fields}
    r = client.post("/v1/segments", json={"segment": body}, headers=mv("1.2"))
    assert r.status_code == 201, r.get_data(True)
    return dict(r.get_json()["segment"])


def make_host(client: Client, segment: dict[str, Any], name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "type": "COMPUTE", "control_attributes": "", **fields}
    r = client.post(f"/v1/segments/{segment['uuid']}/hosts", json={"host": body})
    assert r.status_code == 201, r.get_data(True)
    return dict(r.get_json()["host"])


def notification_body(host: str, **payload: str) -> dict[str, Any]:
    return {
        "notification": {
            "type": "COMPUTE_HOST",
            "hostname": host,
            "generated_time": "2026-01-01T00:00:00Z",
            "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
            | payload,
        }
    }
