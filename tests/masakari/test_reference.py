"""The Masakari tier proves itself against the reference, masakari-api 22: the real
``openstack`` CLI, masakari-monitors' notification code and openstacksdk's
``instance_ha`` all work against it, as they will against rhworker's API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rhworker.testing.masakari import openstack_cli, run_host_monitor, sdk_connection

pytestmark = [pytest.mark.masakari, pytest.mark.integration]


def _cli(endpoint: str, *args: str, api_version: str | None = None) -> Any:
    return openstack_cli(endpoint, *args, "-f", "json", api_version=api_version).json()


def test_openstack_cli_creates_a_segment_and_a_host(masakari_api: Any) -> None:
    ep = masakari_api.endpoint
    seg = _cli(ep, "segment", "create", "seg-cli", "reserved_host", "COMPUTE")
    assert (seg["name"], seg["recovery_method"], seg["is_enabled"]) == (
        "seg-cli",
        "reserved_host",
        True,
    )
    host = _cli(
        ep, "segment", "host", "create", "spare-1", "COMPUTE", "SSH", seg["uuid"],
        "--reserved", "True",
    )  # fmt: skip
    assert (host["name"], host["reserved"], host["failover_segment_id"]) == (
        "spare-1",
        True,
        seg["uuid"],
    )
    listed = _cli(ep, "segment", "host", "list", seg["uuid"])
    assert [h["name"] for h in listed] == ["spare-1"]
    # A host Nova does not know is refused, as Masakari checks with Nova first.
    unknown = openstack_cli(
        ep, "segment", "host", "create", "no-such-host", "COMPUTE", "SSH", seg["uuid"]
    )
    assert unknown.returncode != 0 and "no-such-host" in unknown.stderr


def test_the_host_monitor_notifies_then_gets_409(masakari_api: Any) -> None:
    ep = masakari_api.endpoint
    ha = sdk_connection(ep).instance_ha
    seg = ha.create_segment(name="seg-mon", recovery_method="auto", service_type="COMPUTE")
    ha.create_host(seg.uuid, name="compute-1", type="COMPUTE", control_attributes="SSH")

    first = run_host_monitor(ep, "compute-1")
    assert first.statuses == [202], first.stderr[-2000:]
    sent = first.calls[0]["body"]["notification"]
    assert (sent["type"], sent["status"], sent["payload"]) == (
        "COMPUTE_HOST",
        "new",  # no masakari-engine runs: nothing takes it further
        {"event": "STOPPED", "cluster_status": "OFFLINE", "host_status": "NORMAL"},
    )
    again = run_host_monitor(ep, "compute-1")
    assert again.statuses == [409]
    assert again.calls[0]["body"]["conflictingRequest"]["code"] == 409
    assert "duplicate" in again.calls[0]["body"]["conflictingRequest"]["message"]

    listed = [n for n in ha.notifications() if n.source_host_uuid]
    assert [n.notification_uuid for n in listed] == [sent["notification_uuid"]]


def test_openstacksdk_instance_ha_pages_and_updates(masakari_api: Any) -> None:
    ha = sdk_connection(masakari_api.endpoint).instance_ha
    made = [
        ha.create_segment(name=f"seg-sdk-{i}", recovery_method="auto", service_type="COMPUTE")
        for i in range(3)
    ]
    ours = {s.uuid for s in made}
    # The SDK follows Masakari's limit/marker links across pages.
    paged = [s.uuid for s in ha.segments(limit=1) if s.uuid in ours]
    assert sorted(paged) == sorted(ours)
    updated = ha.update_segment(made[0].uuid, description="updated by the SDK")
    assert ha.get_segment(made[0].uuid).description == updated.description
    ha.delete_segment(made[2].uuid, ignore_missing=False)
    assert made[2].uuid not in {s.uuid for s in ha.segments()}


def test_openstack_cli_posts_a_notification(masakari_api: Any) -> None:
    ep = masakari_api.endpoint
    ha = sdk_connection(ep).instance_ha
    seg = ha.create_segment(name="seg-notify", recovery_method="auto", service_type="COMPUTE")
    ha.create_host(seg.uuid, name="compute-2", type="COMPUTE", control_attributes="SSH")
    payload = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
    # At 1.0: the plugin shows what it created, and from 1.1 masakari-api asks the
    # engine (none runs here) for the workflow details.
    created = _cli(
        ep, "notification", "create", "COMPUTE_HOST", "compute-2", "2026-11-30T07:00:00",
        json.dumps(payload), api_version="1.0",
    )  # fmt: skip
    assert created["status"] == "new" and created["payload"] == payload
    (host,) = ha.hosts(seg.uuid)
    assert created["source_host_uuid"] == host.uuid
    late = openstack_cli(ep, "notification", "show", created["notification_uuid"])
    assert late.returncode != 0 and "MessagingTimeout" in late.stderr
