"""Cloud specs: the YAML/dict that describes a simulated cloud.

The ``segments`` part (``segments[].name/recovery_method/hosts[].name/reserved``) is
the same shape ``rhworker inventory load`` reads, so one file can drive both.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import yaml

from rhworker.errors import ValidationError
from rhworker.sim.model import Flavor, Project, User

DEFAULT_VCPUS = 16  # per host, when the spec does not say
DEFAULT_MEMORY_MB = 32768
DEFAULT_FLAVORS: list[dict[str, Any]] = [
    {"name": "tiny", "vcpus": 1, "ram": 512, "disk": 1},
    {"name": "small", "vcpus": 1, "ram": 2048, "disk": 20},
    {"name": "medium", "vcpus": 2, "ram": 4096, "disk": 40},
]
ADMIN_PROJECT = "admin"
DEMO_PROJECT = "demo"


@dataclasses.dataclass
class HostSpec:
    name: str
    vcpus: int
    memory_mb: int
    segment: str | None
    reserved: bool
    aggregates: list[str]


@dataclasses.dataclass
class ServerSpec:
    name: str
    host: str
    flavor: str
    project: str
    metadata: dict[str, str]
    power_on: bool
    status: str  # ACTIVE, SHUTOFF or ERROR
    id: str | None = None


@dataclasses.dataclass
class CloudSpec:
    projects: list[Project]
    users: list[User]
    flavors: list[Flavor]
    hosts: list[HostSpec]
    servers: list[ServerSpec]
    aggregates: dict[str, dict[str, Any]]


def load_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ValidationError(f"cannot read cloud spec {path}: {e}") from e
    if not isinstance(data, dict):
        raise ValidationError(f"cloud spec {path} is not a mapping")
    return data


def project_id(name: str) -> str:
    """A stable id for a project named in a spec without one."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"rhworker-sim-project:{name}").hex


def parse(spec: dict[str, Any]) -> CloudSpec:
    projects = _projects(spec)
    users = _users(spec, projects)
    flavors = [
        Flavor(
            name=str(f["name"]),
            vcpus=int(f.get("vcpus", 1)),
            ram=int(f.get("ram", 512)),
            disk=int(f.get("disk", 1)),
            id=str(f.get("id", "")),
        )
        for f in spec.get("flavors") or DEFAULT_FLAVORS
    ]
    hosts = _hosts(spec)
    default_project = next((p.name for p in projects if p.name != ADMIN_PROJECT), ADMIN_PROJECT)
    servers = _servers(spec, hosts, flavors, default_project)
    aggregates: dict[str, dict[str, Any]] = {}
    for agg in spec.get("aggregates") or []:
        aggregates[str(agg["name"])] = dict(agg)
    for host in hosts:
        for name in host.aggregates:
            aggregates.setdefault(name, {"name": name})
    return CloudSpec(projects, users, flavors, hosts, servers, aggregates)


def _projects(spec: dict[str, Any]) -> list[Project]:
    projects = [
        Project(id=str(p.get("id") or project_id(str(p["name"]))), name=str(p["name"]))
        for p in spec.get("projects") or []
    ]
    names = {p.name for p in projects}
    for name in (ADMIN_PROJECT, DEMO_PROJECT):
        if name not in names:
            projects.append(Project(id=project_id(name), name=name))
    return projects


def _users(spec: dict[str, Any], projects: list[Project]) -> list[User]:
    raw = spec.get("users") or [
        {"name": "admin", "password": "admin", "project": ADMIN_PROJECT, "roles": ["admin"]},
        {"name": "demo", "password": "demo", "project": DEMO_PROJECT, "roles": ["member"]},
    ]
    known = {p.name for p in projects}
    users = []
    for u in raw:
        user = User(
            name=str(u["name"]),
            password=str(u.get("password", u["name"])),
            project=str(u.get("project", DEMO_PROJECT)),
            roles=[str(r) for r in u.get("roles", ["member"])],
            id=str(u.get("id") or uuid.uuid5(uuid.NAMESPACE_URL, f"user:{u['name']}").hex),
        )
        if user.project not in known:
            raise ValidationError(f"user {user.name}: unknown project {user.project}")
        users.append(user)
    return users


def _hosts(spec: dict[str, Any]) -> list[HostSpec]:
    hosts: list[HostSpec] = []
    for seg in spec.get("segments") or []:
        for h in seg.get("hosts") or []:
            hosts.append(_host(h, str(seg["name"]), seg.get("aggregates") or []))
    for h in spec.get("hosts") or []:  # hosts outside any segment
        hosts.append(_host(h, None, []))
    names = [h.name for h in hosts]
    if len(names) != len(set(names)):
        raise ValidationError("a host name appears twice in the cloud spec")
    return hosts


def _host(h: dict[str, Any], segment: str | None, seg_aggs: list[str]) -> HostSpec:
    return HostSpec(
        name=str(h["name"]),
        vcpus=int(h.get("vcpus", DEFAULT_VCPUS)),
        memory_mb=int(h.get("memory_mb", DEFAULT_MEMORY_MB)),
        segment=segment,
        reserved=bool(h.get("reserved", False)),
        aggregates=[str(a) for a in (h.get("aggregates") or seg_aggs)],
    )


def _servers(
    spec: dict[str, Any], hosts: list[HostSpec], flavors: list[Flavor], default_project: str
) -> list[ServerSpec]:
    flavor_names = {f.name for f in flavors}
    default_flavor = flavors[0].name
    out: list[ServerSpec] = []
    per_host = int(spec.get("servers_per_host", 0))
    for host in hosts:
        if host.reserved:
            continue
        for i in range(per_host):
            out.append(
                ServerSpec(
                    name=f"{host.name}-vm-{i + 1}",
                    host=host.name,
                    flavor=default_flavor,
                    project=default_project,
                    metadata={"HA_Enabled": "True"},
                    power_on=True,
                    status="ACTIVE",
                )
            )
    host_names = {h.name for h in hosts}
    for s in spec.get("servers") or []:
        count = int(s.get("count", 1))
        base = str(s.get("name", f"{s.get('host')}-vm"))
        for i in range(count):
            item = _server(s, base if count == 1 else f"{base}-{i + 1}", default_project)
            item.flavor = item.flavor or default_flavor
            if item.host not in host_names:
                raise ValidationError(f"server {item.name}: unknown host {item.host}")
            if item.flavor not in flavor_names:
                raise ValidationError(f"server {item.name}: unknown flavor {item.flavor}")
            out.append(item)
    return out


def _server(s: dict[str, Any], name: str, default_project: str) -> ServerSpec:
    status = str(s.get("status", "")).upper()
    power = s.get("power", "on")
    power_on = power in (True, "on", "ON") and status != "SHUTOFF"
    if not status:
        status = "ACTIVE" if power_on else "SHUTOFF"
    if status not in ("ACTIVE", "SHUTOFF", "ERROR"):
        raise ValidationError(f"server {name}: status must be ACTIVE, SHUTOFF or ERROR")
    return ServerSpec(
        name=name,
        host=str(s["host"]),
        flavor=str(s.get("flavor", "")),
        project=str(s.get("project", default_project)),
        metadata={str(k): str(v) for k, v in (s.get("metadata") or {}).items()},
        power_on=power_on,
        status=status,
        id=s.get("id") if int(s.get("count", 1)) == 1 else None,
    )
