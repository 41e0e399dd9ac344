"""A minimal Placement: one resource provider per compute host, read only.

The paths and bodies are those openstacksdk's placement v1 proxy uses:
``GET /resource_providers?name=``, ``GET /resource_providers/{uuid}/inventories``,
``GET /resource_providers/{uuid}/usages``, served under ``/placement`` (also in the
Keystone catalog as ``placement``). A provider's uuid is its host's hypervisor uuid,
as in Nova (the compute node's uuid); its inventories are the host's ``vcpus`` and
``memory_mb`` (allocation ratio 1, nothing reserved: what the simulator's own
scheduler checks), its usages those of :meth:`Cloud.usage` — servers on the host
and evacuations that hold room there, as Placement's allocations do.
Disk is not modelled by the simulator, so there is no ``DISK_GB`` inventory.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Rule

from rhworker.sim.model import ApiError, Host

MAX_VERSION = "1.39"


def version_doc(base: str) -> dict[str, Any]:
    return {
        "versions": [
            {
                "id": "v1.0",
                "max_version": MAX_VERSION,
                "min_version": "1.0",
                "status": "CURRENT",
                "links": [{"rel": "self", "href": f"{base}/placement/"}],
            }
        ]
    }


def _provider(host: Host, base: str) -> dict[str, Any]:
    url = f"{base}/placement/resource_providers/{host.hypervisor_uuid}"
    return {
        "uuid": host.hypervisor_uuid,
        "name": host.name,
        "generation": 1,
        "parent_provider_uuid": None,
        "root_provider_uuid": host.hypervisor_uuid,
        "links": [
            {"rel": "self", "href": url},
            {"rel": "inventories", "href": f"{url}/inventories"},
            {"rel": "usages", "href": f"{url}/usages"},
        ],
    }


def _inventory(total: int) -> dict[str, Any]:
    return {
        "total": total,
        "reserved": 0,
        "min_unit": 1,
        "max_unit": max(total, 1),
        "step_size": 1,
        "allocation_ratio": 1.0,
    }


def handle(cloud: Any, target: str, args: dict[str, Any], query: Any, base: str) -> Any:
    """The JSON body of a Placement GET (``ApiError`` 404 for an unknown provider)."""
    with cloud.lock:
        if target == "providers":
            name = query.get("name")
            hosts = [h for h in cloud.hosts.values() if name is None or h.name == name]
            return {"resource_providers": [_provider(h, base) for h in hosts]}
        host = next((h for h in cloud.hosts.values() if h.hypervisor_uuid == args["uuid"]), None)
        if host is None:
            raise ApiError(404, f"No resource provider with uuid {args['uuid']} found")
        if target == "provider":
            return _provider(host, base)
        if target == "inventories":
            return {
                "resource_provider_generation": 1,
                "inventories": {
                    "VCPU": _inventory(host.vcpus),
                    "MEMORY_MB": _inventory(host.memory_mb),
                },
            }
        vcpus, ram = cloud.usage(host.name)
        return {"resource_provider_generation": 1, "usages": {"VCPU": vcpus, "MEMORY_MB": ram}}


def rules() -> list[Rule]:
    p = "/placement"
    return [
        Rule(p, methods=["GET"], endpoint=("placement", "version")),
        Rule(f"{p}/", methods=["GET"], endpoint=("placement", "version")),
        Rule(f"{p}/resource_providers", methods=["GET"], endpoint=("placement", "providers")),
        Rule(f"{p}/resource_providers/<uuid>", methods=["GET"], endpoint=("placement", "provider")),
        Rule(
            f"{p}/resource_providers/<uuid>/inventories",
            methods=["GET"],
            endpoint=("placement", "inventories"),
        ),
        Rule(
            f"{p}/resource_providers/<uuid>/usages",
            methods=["GET"],
            endpoint=("placement", "usages"),
        ),
    ]
