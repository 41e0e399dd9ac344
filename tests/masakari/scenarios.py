"""The requests of the conformance suite, one function per scenario.

Each scenario sends the same requests, in the same order, to an
:class:`~rhworker.testing.masakari.compare.HttpTarget`; ids it needs later come from
that target's own answers. Scenarios use their own hosts (names the simulator behind
masakari-api knows) and delete what they created where both implementations allow it,
so that a later scenario's lists hold the same items on both targets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rhworker.testing.masakari.compare import Exchange, HttpTarget

STOPPED = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
GENERATED = "2026-11-30T07:00:00.000000"
MISSING = "99999999-9999-4999-8999-999999999999"  # a uuid nothing has
#: the simulator's hosts: masakari-api refuses a host Nova does not know
HOSTS = [f"conf-{i}" for i in range(1, 13)]
CLOUD: dict[str, Any] = {
    "segments": [
        {
            "name": "conformance",
            "recovery_method": "auto",
            "hosts": [{"name": h, "vcpus": 4, "memory_mb": 8192} for h in HOSTS],
        }
    ],
    "flavors": [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}],
    "servers": [],
}


def _uuid(ex: Exchange, kind: str) -> str:
    """The created item's uuid; when creation failed, one that names nothing, so that the
    scenario goes on and the comparison shows the failure."""
    key = "notification_uuid" if kind == "notification" else "uuid"
    try:
        value = str(ex.body[kind][key])
    except (KeyError, TypeError):
        value = ""
    return value or MISSING


def versions(t: HttpTarget) -> None:
    t.call("root", "GET", "/")
    t.call("v1", "GET", "/v1")
    t.call("v1-slash", "GET", "/v1/")
    t.call("no-header", "GET", "/v1/segments")
    for name, version in (
        ("v1.0", "1.0"),
        ("v1.2", "1.2"),
        ("v1.3", "1.3"),
        ("latest", "latest"),
        ("too-new", "1.4"),
        ("major-2", "2.0"),
        ("too-old", "0.9"),
        ("malformed", "1.a"),
        ("garbage", "foo"),
    ):
        t.call(f"version-{name}", "GET", "/v1/segments", version=version)
    t.call("other-service", "GET", "/v1/segments", headers={"OpenStack-API-Version": "compute 2.1"})


def segments(t: HttpTarget) -> None:
    body = {"segment": {"name": "seg-a", "recovery_method": "auto", "service_type": "COMPUTE"}}
    a = _uuid(t.call("create", "POST", "/v1/segments", body), "segment")
    full = {
        "name": "seg-b",
        "recovery_method": "reserved_host",
        "service_type": "COMPUTE",
        "description": "with every field",
        "enabled": False,
    }
    b = _uuid(
        t.call("create-1.2", "POST", "/v1/segments", {"segment": full}, version="1.2"), "segment"
    )
    t.call("create-enabled-1.0", "POST", "/v1/segments", {"segment": {**full, "name": "seg-c"}})
    t.call("duplicate-name", "POST", "/v1/segments", body)
    t.call(
        "bad-method",
        "POST",
        "/v1/segments",
        {"segment": {**body["segment"], "name": "x", "recovery_method": "fast"}},
    )
    t.call(
        "missing-name",
        "POST",
        "/v1/segments",
        {"segment": {"recovery_method": "auto", "service_type": "COMPUTE"}},
    )
    t.call(
        "extra-field",
        "POST",
        "/v1/segments",
        {"segment": {**body["segment"], "name": "y", "colour": "red"}},
    )
    t.call("long-name", "POST", "/v1/segments", {"segment": {**body["segment"], "name": "n" * 256}})
    t.call("no-wrapper", "POST", "/v1/segments", {"name": "z"})
    t.call("not-json", "POST", "/v1/segments", raw="{not json")
    t.call("show", "GET", f"/v1/segments/{a}")
    t.call("show-1.2", "GET", f"/v1/segments/{b}", version="1.2")
    t.call("update", "PUT", f"/v1/segments/{a}", {"segment": {"description": "changed"}})
    t.call(
        "update-enabled-1.2",
        "PUT",
        f"/v1/segments/{a}",
        {"segment": {"enabled": False}},
        version="1.2",
    )
    t.call("update-bad", "PUT", f"/v1/segments/{a}", {"segment": {"recovery_method": "fast"}})
    t.call("update-empty", "PUT", f"/v1/segments/{a}", {"segment": {}})
    t.call("update-taken-name", "PUT", f"/v1/segments/{a}", {"segment": {"name": "seg-b"}})
    t.call("list-filter", "GET", "/v1/segments?recovery_method=reserved_host", version="1.2")
    t.call("list-filter-enabled", "GET", "/v1/segments?is_enabled=false", version="1.2")
    t.call("unknown", "GET", "/v1/segments/00000000-0000-4000-8000-000000000000")
    t.call(
        "unknown-update",
        "PUT",
        "/v1/segments/00000000-0000-4000-8000-000000000000",
        {"segment": {"description": "x"}},
    )
    t.call("delete", "DELETE", f"/v1/segments/{a}")
    t.call("delete-again", "DELETE", f"/v1/segments/{a}")
    t.call("delete-b", "DELETE", f"/v1/segments/{b}")


def hosts(t: HttpTarget) -> None:
    seg_body = {
        "segment": {
            "name": "seg-hosts",
            "recovery_method": "reserved_host",
            "service_type": "COMPUTE",
        }
    }
    s = _uuid(t.call("segment", "POST", "/v1/segments", seg_body), "segment")
    base = f"/v1/segments/{s}/hosts"
    h1 = {"name": HOSTS[0], "type": "COMPUTE", "control_attributes": "SSH"}
    one = _uuid(t.call("create", "POST", base, {"host": h1}), "host")
    spare = {"name": HOSTS[1], "type": "COMPUTE", "control_attributes": "SSH", "reserved": True}
    two = _uuid(t.call("create-reserved", "POST", base, {"host": spare}), "host")
    t.call("duplicate", "POST", base, {"host": h1})
    # Masakari takes "yes" for a boolean (oslo's strict bool strings).
    three = _uuid(
        t.call("bad-reserved", "POST", base, {"host": {**h1, "name": HOSTS[2], "reserved": "yes"}}),
        "host",
    )
    t.call("missing-type", "POST", base, {"host": {"name": HOSTS[2], "control_attributes": "SSH"}})
    t.call("extra-field", "POST", base, {"host": {**h1, "name": HOSTS[2], "rack": 3}})
    t.call(
        "unknown-segment",
        "POST",
        "/v1/segments/00000000-0000-4000-8000-000000000000/hosts",
        {"host": {**h1, "name": HOSTS[2]}},
    )
    t.call("list", "GET", base)
    t.call("list-reserved", "GET", f"{base}?reserved=True")
    t.call("list-maintenance", "GET", f"{base}?on_maintenance=False&type=COMPUTE")
    t.call("show", "GET", f"{base}/{one}")
    t.call("show-by-name", "GET", f"{base}/{HOSTS[0]}")
    t.call("show-unknown", "GET", f"{base}/00000000-0000-4000-8000-000000000000")
    t.call(
        "update",
        "PUT",
        f"{base}/{two}",
        {"host": {"on_maintenance": True, "control_attributes": "IPMI"}},
    )
    t.call("update-bad", "PUT", f"{base}/{two}", {"host": {"on_maintenance": "maybe"}})
    t.call("update-rename", "PUT", f"{base}/{two}", {"host": {"name": HOSTS[5]}})
    ghost = _uuid(
        t.call("unknown-to-nova", "POST", base, {"host": {**h1, "name": "ghost-1"}}), "host"
    )
    t.call("delete-ghost", "DELETE", f"{base}/{ghost}")
    t.call("delete-segment-with-hosts", "DELETE", f"/v1/segments/{s}")
    t.call("delete", "DELETE", f"{base}/{one}")
    t.call("delete-again", "DELETE", f"{base}/{one}")
    t.call("delete-two", "DELETE", f"{base}/{two}")
    t.call("delete-three", "DELETE", f"{base}/{three}")
    t.call("delete-segment", "DELETE", f"/v1/segments/{s}")


def notifications(t: HttpTarget) -> None:
    seg_body = {
        "segment": {"name": "seg-notify", "recovery_method": "auto", "service_type": "COMPUTE"}
    }
    s = _uuid(t.call("segment", "POST", "/v1/segments", seg_body), "segment")
    base = f"/v1/segments/{s}/hosts"
    host = _uuid(
        t.call(
            "host",
            "POST",
            base,
            {"host": {"name": HOSTS[3], "type": "COMPUTE", "control_attributes": "SSH"}},
        ),
        "host",
    )
    t.call(
        "host-maintenance",
        "POST",
        base,
        {
            "host": {
                "name": HOSTS[4],
                "type": "COMPUTE",
                "control_attributes": "SSH",
                "on_maintenance": True,
            }
        },
    )
    note = {
        "type": "COMPUTE_HOST",
        "hostname": HOSTS[3],
        "generated_time": GENERATED,
        "payload": STOPPED,
    }
    n = _uuid(t.call("create", "POST", "/v1/notifications", {"notification": note}), "notification")
    t.call("duplicate", "POST", "/v1/notifications", {"notification": note})
    t.call(
        "unknown-host",
        "POST",
        "/v1/notifications",
        {"notification": {**note, "hostname": "nowhere"}},
    )
    t.call(
        "on-maintenance",
        "POST",
        "/v1/notifications",
        {"notification": {**note, "hostname": HOSTS[4]}},
    )
    t.call("bad-type", "POST", "/v1/notifications", {"notification": {**note, "type": "DISK"}})
    t.call(
        "bad-payload",
        "POST",
        "/v1/notifications",
        {"notification": {**note, "payload": {"event": "EXPLODED"}}},
    )
    t.call(
        "missing-time",
        "POST",
        "/v1/notifications",
        {"notification": {k: v for k, v in note.items() if k != "generated_time"}},
    )
    t.call(
        "bad-time",
        "POST",
        "/v1/notifications",
        {"notification": {**note, "generated_time": "yesterday"}},
    )
    vm = {
        "type": "VM",
        "hostname": HOSTS[3],
        "generated_time": GENERATED,
        "payload": {
            "event": "LIFECYCLE",
            "instance_uuid": "11111111-2222-4333-8444-555555555555",
            "vir_domain_event": "STOPPED_FAILED",
        },
    }
    t.call("create-vm", "POST", "/v1/notifications", {"notification": vm})
    t.call("show", "GET", f"/v1/notifications/{n}")
    t.call("show-1.1", "GET", f"/v1/notifications/{n}", version="1.1")
    t.call("show-unknown", "GET", "/v1/notifications/00000000-0000-4000-8000-000000000000")
    t.call("list-host", "GET", f"/v1/notifications?source_host_uuid={host}")
    t.call(
        "list-type",
        "GET",
        f"/v1/notifications?source_host_uuid={host}&type=COMPUTE_HOST&status=new",
    )
    t.call(
        "list-sorted",
        "GET",
        f"/v1/notifications?source_host_uuid={host}&sort_key=type&sort_dir=asc",
    )
    t.call("vmoves-1.3", "GET", f"/v1/notifications/{n}/vmoves", version="1.3")
    t.call(
        "vmoves-unknown",
        "GET",
        "/v1/notifications/00000000-0000-4000-8000-000000000000/vmoves",
        version="1.3",
    )
    t.call(
        "vmove-unknown",
        "GET",
        f"/v1/notifications/{n}/vmoves/00000000-0000-4000-8000-000000000000",
        version="1.3",
    )
    t.call("update-host-in-use", "PUT", f"{base}/{host}", {"host": {"reserved": True}})
    page = f"/v1/notifications?source_host_uuid={host}&limit=1"
    first = t.call("page-1", "GET", page)
    try:
        last = first.body["notifications"][0]
    except (KeyError, IndexError, TypeError):
        last = {"id": 0, "notification_uuid": MISSING}
    t.call("page-2", "GET", f"{page}&marker={last['id']}")
    # Masakari takes only the integer id as a notification marker.
    t.call("page-2-uuid", "GET", f"{page}&marker={last['notification_uuid']}")
    big = {**note, "payload": {**STOPPED, "padding": "x" * 200_000}}
    t.call("oversize", "POST", "/v1/notifications", {"notification": big})


def pagination(t: HttpTarget) -> None:
    made = []
    for i in range(3):
        body = {
            "segment": {
                "name": f"seg-page-{i}",
                "recovery_method": "auto",
                "service_type": "COMPUTE",
            }
        }
        made.append(_uuid(t.call(f"create-{i}", "POST", "/v1/segments", body), "segment"))
    first = t.call("page-1", "GET", "/v1/segments?limit=1&sort_key=name&sort_dir=asc")
    marker = first.body["segments"][0]["id"] if first.status == 200 else 0
    t.call("page-2", "GET", f"/v1/segments?limit=1&marker={marker}&sort_key=name&sort_dir=asc")
    t.call("desc", "GET", "/v1/segments?sort_key=name&sort_dir=desc&limit=2")
    t.call("marker-unknown", "GET", "/v1/segments?marker=987654")
    t.call("limit-negative", "GET", "/v1/segments?limit=-1")
    t.call("limit-text", "GET", "/v1/segments?limit=abc")
    t.call("sort-key-bad", "GET", "/v1/segments?sort_key=colour")
    t.call("sort-dir-bad", "GET", "/v1/segments?sort_dir=sideways")
    t.call("notifications-limit", "GET", "/v1/notifications?limit=0")
    for i, uuid in enumerate(made):
        t.call(f"delete-{i}", "DELETE", f"/v1/segments/{uuid}")


SCENARIOS: dict[str, Callable[[HttpTarget], None]] = {
    "versions": versions,
    "segments": segments,
    "hosts": hosts,
    "notifications": notifications,
    "pagination": pagination,
}
