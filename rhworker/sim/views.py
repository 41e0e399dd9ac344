"""JSON views of the simulated cloud, field for field as Nova answers them.

Microversion differences that matter to callers are kept: services ``id`` is a uuid
from 2.53; ``forced_down`` from 2.11; servers' ``locked`` from 2.9 and
``locked_reason`` from 2.73; the embedded flavor from 2.47; hypervisors lose their
``vcpus``/``memory_mb`` fields from 2.88 (as in Nova); migrations get ``uuid`` from
2.59 and ``migration_type`` from 2.23. ``OS-EXT-SRV-ATTR:*`` is shown to admins only.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rhworker.sim.model import Aggregate, Caller, Host, Migration, Server, Service, iso, iso_z
from rhworker.sim.state import Cloud

MIN_VERSION = "2.1"
MAX_VERSION = "2.95"
VERSION_UPDATED = "2013-07-23T11:33:21Z"

MV = tuple[int, int]


def version_v21(base: str) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_VERSION,
        "min_version": MIN_VERSION,
        "updated": VERSION_UPDATED,
        "links": [{"rel": "self", "href": f"{base}/v2.1/"}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


def versions(base: str) -> dict[str, Any]:
    v20 = {
        "id": "v2.0",
        "status": "DEPRECATED",
        "version": "",
        "min_version": "",
        "updated": "2025-07-04T12:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/v2/"}],
    }
    return {"versions": [v20, version_v21(base)]}


def server(cloud: Cloud, s: Server, caller: Caller, mv: MV, base: str) -> dict[str, Any]:
    link = f"{base}/v2.1/servers/{s.id}"
    view: dict[str, Any] = {
        "id": s.id,
        "name": s.name,
        "status": s.status,
        "tenant_id": s.tenant_id,
        "user_id": s.user_id,
        "metadata": dict(s.metadata),
        "hostId": hashlib.sha224((s.tenant_id + s.host).encode()).hexdigest() if s.host else "",
        "image": "",
        "flavor": _flavor(s, mv, base),
        "created": iso_z(s.created),
        "updated": iso_z(s.updated or s.created),
        "addresses": {},
        "accessIPv4": "",
        "accessIPv6": "",
        "key_name": None,
        "config_drive": "",
        "progress": 0,
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": "nova",
        "OS-EXT-STS:vm_state": s.vm_state,
        "OS-EXT-STS:task_state": s.task_state,
        "OS-EXT-STS:power_state": s.power_state,
        "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": "default"}],
        "links": [{"rel": "self", "href": link}, {"rel": "bookmark", "href": link}],
    }
    if caller.is_admin:
        view["OS-EXT-SRV-ATTR:host"] = s.host
        view["OS-EXT-SRV-ATTR:hypervisor_hostname"] = s.host
        view["OS-EXT-SRV-ATTR:instance_name"] = s.instance_name
    if mv >= (2, 9):
        view["locked"] = s.locked
    if mv >= (2, 73):
        view["locked_reason"] = s.locked_reason
    if mv >= (2, 16):
        view["host_status"] = _host_status(cloud, s) if caller.is_admin else ""
    if mv >= (2, 19):
        view["description"] = None
    if mv >= (2, 26):
        view["tags"] = []
    if s.fault is not None and s.vm_state == "error":
        view["fault"] = {
            "code": s.fault.code,
            "message": s.fault.message,
            "created": iso_z(s.fault.created),
        }
    return view


def _flavor(s: Server, mv: MV, base: str) -> dict[str, Any]:
    f = s.flavor
    if mv >= (2, 47):
        return {
            "vcpus": f.vcpus,
            "ram": f.ram,
            "disk": f.disk,
            "ephemeral": 0,
            "swap": 0,
            "original_name": f.name,
            "extra_specs": {},
        }
    return {"id": f.id, "links": [{"rel": "bookmark", "href": f"{base}/flavors/{f.id}"}]}


def _host_status(cloud: Cloud, s: Server) -> str:
    svc = next((v for v in cloud.services if v.host == s.host and v.binary == "nova-compute"), None)
    if svc is None:
        return ""
    if svc.forced_down or not cloud.service_is_up(svc):
        return "DOWN"
    return "MAINTENANCE" if svc.disabled else "UP"


def server_brief(s: Server, base: str) -> dict[str, Any]:
    link = f"{base}/v2.1/servers/{s.id}"
    return {"id": s.id, "name": s.name, "links": [{"rel": "self", "href": link}]}


def service(cloud: Cloud, svc: Service, mv: MV) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": svc.uuid if mv >= (2, 53) else svc.id,
        "binary": svc.binary,
        "host": svc.host,
        "zone": "internal" if svc.binary != "nova-compute" else svc.zone,
        "status": "disabled" if svc.disabled else "enabled",
        "state": "up" if cloud.service_is_up(svc) else "down",
        "disabled_reason": svc.disabled_reason,
        "updated_at": iso(cloud.service_updated_at(svc)),
    }
    if mv >= (2, 11):
        view["forced_down"] = svc.forced_down
    return view


def hypervisor(cloud: Cloud, h: Host, mv: MV) -> dict[str, Any]:
    svc = cloud.compute_service(h.name)
    view: dict[str, Any] = {
        "id": h.hypervisor_uuid if mv >= (2, 53) else h.hypervisor_id,
        "hypervisor_hostname": h.name,
        "hypervisor_type": "QEMU",
        "hypervisor_version": 8002000,
        "host_ip": "192.0.2.1",
        "state": "up" if cloud.service_is_up(svc) else "down",
        "status": "disabled" if svc.disabled else "enabled",
        "service": {
            "host": h.name,
            "id": svc.uuid if mv >= (2, 53) else svc.id,
            "disabled_reason": svc.disabled_reason,
        },
    }
    if mv < (2, 88):
        vcpus_used, ram_used = cloud.usage(h.name)
        running = sum(1 for s in cloud.servers.values() if s.host == h.name)
        view.update(
            vcpus=h.vcpus,
            vcpus_used=vcpus_used,
            memory_mb=h.memory_mb,
            memory_mb_used=ram_used,
            free_ram_mb=h.memory_mb - ram_used,
            local_gb=1000,
            local_gb_used=0,
            free_disk_gb=1000,
            disk_available_least=1000,
            running_vms=running,
            current_workload=0,
            cpu_info="{}",
        )
    else:
        view["uptime"] = None
    return view


def aggregate(a: Aggregate, mv: MV) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": a.id,
        "name": a.name,
        "availability_zone": a.availability_zone,
        "hosts": list(a.hosts),
        "metadata": dict(a.metadata),
        "created_at": iso(a.created),
        "updated_at": None,
        "deleted_at": None,
        "deleted": False,
    }
    if mv >= (2, 41):
        view["uuid"] = a.uuid
    return view


def migration(m: Migration, mv: MV, base: str) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": m.id,
        "instance_uuid": m.instance_uuid,
        "source_compute": m.source_compute,
        "source_node": m.source_compute,
        "dest_compute": m.dest_compute,
        "dest_node": m.dest_compute,
        "dest_host": "192.0.2.1" if m.dest_compute else None,
        "status": m.status,
        "created_at": iso(m.created),
        "updated_at": iso(m.updated),
        "old_instance_type_id": m.flavor_id,
        "new_instance_type_id": m.flavor_id,
    }
    if mv >= (2, 23):
        view["migration_type"] = m.migration_type
        view["links"] = []
    if mv >= (2, 59):
        view["uuid"] = m.uuid
    if mv >= (2, 80):
        view["project_id"] = m.project_id
        view["user_id"] = m.user_id
    return view
