"""Nova's Compute API v2.1 handlers: servers, actions, services, hypervisors, aggregates.

Each handler takes a :class:`Ctx` and the URL arguments and returns ``(status, body)``.
The routes are Werkzeug rules (see :data:`RULES`); dispatch is in :mod:`rhworker.sim.app`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from werkzeug import Request
from werkzeug.routing import Rule

from rhworker.sim import evacuation, services, views
from rhworker.sim.model import Caller, Server, bad_request, conflict, forbidden, not_found
from rhworker.sim.state import Cloud

Result = tuple[int, dict[str, Any] | None]


@dataclasses.dataclass
class Ctx:
    cloud: Cloud
    request: Request
    caller: Caller
    mv: tuple[int, int]
    base: str

    def json(self) -> dict[str, Any]:
        data = self.request.get_json(silent=True)
        if not isinstance(data, dict):
            raise bad_request("Malformed request body")
        return data

    def require_admin(self, policy: str = "") -> None:
        if not self.caller.is_admin:
            raise forbidden(
                f"Policy doesn't allow {policy} to be performed." if policy else forbidden().message
            )


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("", "1", "true", "yes", "on", "t", "y")


# --- servers -------------------------------------------------------------------------


def _visible_servers(ctx: Ctx) -> list[Server]:
    args = ctx.request.args
    all_tenants = "all_tenants" in args and _truthy(args.get("all_tenants"))
    if all_tenants and not ctx.caller.is_admin:
        raise forbidden(
            "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed."
        )
    project = args.get("project_id") or args.get("tenant_id")
    if not ctx.caller.is_admin or not (all_tenants or project):
        project = ctx.caller.project_id
    host = args.get("host") if ctx.caller.is_admin else None
    status = args.get("status")
    name = args.get("name")
    out = []
    for s in ctx.cloud.servers.values():
        if project and s.tenant_id != project:
            continue
        if host and s.host != host:
            continue
        if status and s.status != status.upper():
            continue
        if name and not re.search(name, s.name):
            continue
        out.append(s)
    out.sort(key=lambda s: (s.created, s.id), reverse=True)  # Nova: created_at desc
    return out


def _page(ctx: Ctx, items: list[Server], path: str) -> tuple[list[Server], list[dict[str, str]]]:
    args = ctx.request.args
    max_limit = ctx.cloud.options.max_limit
    try:
        limit = int(args["limit"]) if "limit" in args else max_limit
    except ValueError:
        raise bad_request("limit param must be an integer") from None
    if limit < 0:
        raise bad_request("limit param must be positive")
    limit = min(limit, max_limit)
    marker = args.get("marker")
    if marker:
        ids = [s.id for s in items]
        if marker not in ids:
            raise bad_request(f"marker [{marker}] not found")
        items = items[ids.index(marker) + 1 :]
    page = items[:limit]
    links: list[dict[str, str]] = []
    if page and len(page) == limit:
        params = [(k, v) for k, v in args.items(multi=True) if k != "marker"]
        params.append(("marker", page[-1].id))
        links.append({"rel": "next", "href": f"{ctx.base}/v2.1/{path}?{urlencode(params)}"})
    return page, links


def servers_detail(ctx: Ctx) -> Result:
    with ctx.cloud.lock:
        page, links = _page(ctx, _visible_servers(ctx), "servers/detail")
        body: dict[str, Any] = {
            "servers": [views.server(ctx.cloud, s, ctx.caller, ctx.mv, ctx.base) for s in page]
        }
    if links:
        body["servers_links"] = links
    return 200, body


def servers_index(ctx: Ctx) -> Result:
    with ctx.cloud.lock:
        page, links = _page(ctx, _visible_servers(ctx), "servers")
        body: dict[str, Any] = {"servers": [views.server_brief(s, ctx.base) for s in page]}
    if links:
        body["servers_links"] = links
    return 200, body


def server_show(ctx: Ctx, server_id: str) -> Result:
    with ctx.cloud.lock:
        s = ctx.cloud.server(ctx.caller, server_id)
        return 200, {"server": views.server(ctx.cloud, s, ctx.caller, ctx.mv, ctx.base)}


def server_delete(ctx: Ctx, server_id: str) -> Result:
    ctx.cloud.delete_server(ctx.caller, server_id)
    return 204, None


def server_action(ctx: Ctx, server_id: str) -> Result:
    body = ctx.json()
    if len(body) != 1:
        raise bad_request("There is no such action: " + ",".join(body))
    action = next(iter(body))
    cloud, caller = ctx.cloud, ctx.caller
    if action == "evacuate":
        evacuation.evacuate(cloud, caller, server_id, body, ctx.mv)
        # Nova answers 200 (not 202), with no body from 2.14
        return 200, (None if ctx.mv >= (2, 14) else {"adminPass": "simulated"})
    if action == "lock":
        arg = body["lock"] if isinstance(body["lock"], dict) else {}
        cloud.lock_server(caller, server_id, arg.get("locked_reason"))
    elif action == "unlock":
        cloud.unlock_server(caller, server_id)
    elif action == "os-stop":
        cloud.stop_server(caller, server_id)
    elif action == "os-start":
        cloud.start_server(caller, server_id)
    elif action == "os-resetState":
        arg = body["os-resetState"] if isinstance(body["os-resetState"], dict) else {}
        state = arg.get("state")
        if state not in ("active", "error"):
            raise bad_request(f"Invalid input for field/attribute state. Value: {state}.")
        cloud.reset_state(caller, server_id, state)
    else:
        raise bad_request(f"There is no such action: {action}")
    return 202, None


def metadata_show(ctx: Ctx, server_id: str, key: str | None = None) -> Result:
    with ctx.cloud.lock:
        s = ctx.cloud.server(ctx.caller, server_id)
        if key is None:
            return 200, {"metadata": dict(s.metadata)}
        if key not in s.metadata:
            raise not_found("Metadata item was not found")
        return 200, {"meta": {key: s.metadata[key]}}


def metadata_update(ctx: Ctx, server_id: str) -> Result:
    data = ctx.json().get("metadata")
    if not isinstance(data, dict):
        raise bad_request("Malformed request body: metadata")
    with ctx.cloud.lock:
        s = ctx.cloud.server(ctx.caller, server_id)
        ctx.cloud.check_lock(ctx.caller, s)
        if ctx.request.method == "PUT":
            s.metadata.clear()
        s.metadata.update({str(k): str(v) for k, v in data.items()})
        return 200, {"metadata": dict(s.metadata)}


def metadata_item(ctx: Ctx, server_id: str, key: str) -> Result:
    with ctx.cloud.lock:
        s = ctx.cloud.server(ctx.caller, server_id)
        ctx.cloud.check_lock(ctx.caller, s)
        if ctx.request.method == "DELETE":
            if s.metadata.pop(key, None) is None:
                raise not_found("Metadata item was not found")
            return 204, None
        meta = ctx.json().get("meta")
        if not isinstance(meta, dict) or list(meta) != [key]:
            raise bad_request("Request body and URI mismatch")
        s.metadata[key] = str(meta[key])
        return 200, {"meta": {key: s.metadata[key]}}


# --- services, hypervisors, aggregates, migrations, flavors --------------------------


def services_index(ctx: Ctx) -> Result:
    ctx.require_admin("os_compute_api:os-services:list")
    host, binary = ctx.request.args.get("host"), ctx.request.args.get("binary")
    with ctx.cloud.lock:
        items = [
            views.service(ctx.cloud, s, ctx.mv)
            for s in ctx.cloud.services
            if (not host or s.host == host) and (not binary or s.binary == binary)
        ]
    return 200, {"services": items}


def service_update(ctx: Ctx, service_id: str) -> Result:
    body = ctx.json()
    if ctx.mv >= (2, 53):
        svc = services.update(ctx.cloud, ctx.caller, service_id, body, ctx.mv)
        with ctx.cloud.lock:
            return 200, {"service": views.service(ctx.cloud, svc, ctx.mv)}
    _, view = services.legacy_action(ctx.cloud, ctx.caller, service_id, body, ctx.mv)
    return 200, {"service": view}


def hypervisors(ctx: Ctx, detail: bool = False) -> Result:
    ctx.require_admin("os_compute_api:os-hypervisors:list")
    with ctx.cloud.lock:
        items = [views.hypervisor(ctx.cloud, h, ctx.mv) for h in ctx.cloud.hosts.values()]
    if not detail:
        keys = ("id", "hypervisor_hostname", "state", "status")
        items = [{k: v for k, v in h.items() if k in keys} for h in items]
    return 200, {"hypervisors": items}


def aggregates_index(ctx: Ctx) -> Result:
    ctx.require_admin("os_compute_api:os-aggregates:index")
    with ctx.cloud.lock:
        return 200, {
            "aggregates": [views.aggregate(a, ctx.mv) for a in ctx.cloud.aggregates.values()]
        }


def _aggregate(ctx: Ctx, aggregate_id: str) -> Any:
    for a in ctx.cloud.aggregates.values():
        if str(a.id) == aggregate_id or a.uuid == aggregate_id:
            return a
    raise not_found(f"Aggregate {aggregate_id} could not be found.")


def aggregate_show(ctx: Ctx, aggregate_id: str) -> Result:
    ctx.require_admin("os_compute_api:os-aggregates:show")
    with ctx.cloud.lock:
        return 200, {"aggregate": views.aggregate(_aggregate(ctx, aggregate_id), ctx.mv)}


def aggregate_action(ctx: Ctx, aggregate_id: str) -> Result:
    ctx.require_admin("os_compute_api:os-aggregates:add_host")
    body = ctx.json()
    with ctx.cloud.lock:
        agg = _aggregate(ctx, aggregate_id)
        if "add_host" in body or "remove_host" in body:
            action = "add_host" if "add_host" in body else "remove_host"
            host = (body[action] or {}).get("host")
            ctx.cloud.compute_service(str(host))  # 404 for an unknown host
            if action == "add_host":
                if host in agg.hosts:
                    raise conflict(f"Aggregate {agg.id} already has host {host}.")
                agg.hosts.append(host)
            else:
                if host not in agg.hosts:
                    raise not_found(f"Cannot remove host {host} in aggregate {agg.id}")
                agg.hosts.remove(host)
            ctx.cloud.event(f"aggregate_{action}", aggregate=agg.name, host=host)
        elif "set_metadata" in body:
            for k, v in ((body["set_metadata"] or {}).get("metadata") or {}).items():
                if v is None:
                    agg.metadata.pop(k, None)
                else:
                    agg.metadata[k] = str(v)
        else:
            raise bad_request("Invalid aggregate action")
        return 200, {"aggregate": views.aggregate(agg, ctx.mv)}


#: query parameters of GET /os-migrations matched field for field (Nova's DB filters)
_MIGRATION_FILTERS = (
    "status",
    "migration_type",
    "instance_uuid",
    "source_compute",
    "user_id",
    "project_id",
)


def migrations_index(ctx: Ctx) -> Result:
    """``GET /os-migrations``: Nova's filters, newest first (created_at, id desc).

    ``host`` matches the source or the destination; the others match their field
    exactly; unknown parameters are ignored (Nova's schema allows them)."""
    ctx.require_admin("os_compute_api:os-migrations:index")
    args = ctx.request.args
    filters = {k: args[k] for k in _MIGRATION_FILTERS if args.get(k)}
    if ctx.mv < (2, 80):
        filters.pop("user_id", None)
        filters.pop("project_id", None)
    host = args.get("host")
    with ctx.cloud.lock:
        items = []
        found = sorted(ctx.cloud.migrations, key=lambda m: (m.created, m.id), reverse=True)
        for m in found:
            if host and host not in (m.source_compute, m.dest_compute):
                continue
            if any(str(getattr(m, k)) != v for k, v in filters.items()):
                continue
            items.append(views.migration(m, ctx.mv, ctx.base))
    return 200, {"migrations": items}


def flavors(ctx: Ctx, detail: bool = False) -> Result:
    with ctx.cloud.lock:
        seen = {f.id: f for f in ctx.cloud.flavors.values()}
    items = []
    for f in seen.values():
        item: dict[str, Any] = {"id": f.id, "name": f.name, "links": []}
        if detail:
            item.update(vcpus=f.vcpus, ram=f.ram, disk=f.disk)
        items.append(item)
    return 200, {"flavors": items}


Handler = Callable[..., Result]

RULES: list[tuple[str, list[str], Handler, dict[str, Any]]] = [
    ("/v2.1/servers", ["GET"], servers_index, {}),
    ("/v2.1/servers/detail", ["GET"], servers_detail, {}),
    ("/v2.1/servers/<server_id>", ["GET"], server_show, {}),
    ("/v2.1/servers/<server_id>", ["DELETE"], server_delete, {}),
    ("/v2.1/servers/<server_id>/action", ["POST"], server_action, {}),
    ("/v2.1/servers/<server_id>/metadata", ["GET"], metadata_show, {}),
    ("/v2.1/servers/<server_id>/metadata", ["POST", "PUT"], metadata_update, {}),
    ("/v2.1/servers/<server_id>/metadata/<key>", ["GET"], metadata_show, {}),
    ("/v2.1/servers/<server_id>/metadata/<key>", ["PUT", "DELETE"], metadata_item, {}),
    ("/v2.1/os-services", ["GET"], services_index, {}),
    ("/v2.1/os-services/<service_id>", ["PUT"], service_update, {}),
    ("/v2.1/os-hypervisors", ["GET"], hypervisors, {}),
    ("/v2.1/os-hypervisors/detail", ["GET"], hypervisors, {"detail": True}),
    ("/v2.1/os-aggregates", ["GET"], aggregates_index, {}),
    ("/v2.1/os-aggregates/<aggregate_id>", ["GET"], aggregate_show, {}),
    ("/v2.1/os-aggregates/<aggregate_id>/action", ["POST"], aggregate_action, {}),
    ("/v2.1/os-migrations", ["GET"], migrations_index, {}),
    ("/v2.1/flavors", ["GET"], flavors, {}),
    ("/v2.1/flavors/detail", ["GET"], flavors, {"detail": True}),
]


def rules() -> list[Rule]:
    return [
        Rule(path, methods=methods, endpoint=("compute", handler), defaults=defaults or None)
        for path, methods, handler, defaults in RULES
    ]
