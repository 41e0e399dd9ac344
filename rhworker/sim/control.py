"""The simulator's control API (``/sim/...``, JSON) and a client for it.

Lets another process (workers, the demo, docker) drive a simulator it did not start:
build a cloud, kill and revive hosts, inject faults, read the whole state, reset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import requests
from werkzeug.routing import Rule

from rhworker.errors import RhworkerError, ValidationError
from rhworker.sim.faults import REQUEST_FAULTS, STATE_FAULTS
from rhworker.sim.model import bad_request
from rhworker.sim.state import OPTIONAL_FLOAT_OPTIONS, Cloud, Options

DEFAULT_TIMEOUT = 30.0  # seconds, for control calls


def inject(cloud: Cloud, fault: dict[str, Any]) -> dict[str, Any]:
    """Add one fault; returns ``{"id": ...}`` for request faults, ``{}`` otherwise."""
    kind = fault.get("type")
    if kind in REQUEST_FAULTS:
        return {"id": cloud.request_faults.add(dict(fault))}
    if kind not in STATE_FAULTS:
        raise ValidationError(
            f"unknown fault type {kind!r}; one of {REQUEST_FAULTS + STATE_FAULTS}"
        )
    with cloud.lock:
        if kind == "fail_evacuation":
            cloud.fail_evacuation_servers.add(str(fault["server"]))
        elif kind == "fail_evacuation_target":
            cloud.host(str(fault["host"]))
            cloud.fail_evacuation_targets.add(str(fault["host"]))
        else:
            cloud.host(str(fault["host"])).capacity_lost = bool(fault.get("lost", True))
        cloud.event("fault_injected", **fault)
    return {}


def clear_faults(cloud: Cloud) -> None:
    cloud.request_faults.clear()
    with cloud.lock:
        cloud.fail_evacuation_servers.clear()
        cloud.fail_evacuation_targets.clear()
        for host in cloud.hosts.values():
            host.capacity_lost = False


def set_options(cloud: Cloud, values: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(Options)}
    unknown = set(values) - names
    if unknown:
        raise ValidationError(f"unknown options: {sorted(unknown)}")
    with cloud.lock:
        for key, value in values.items():
            if key in OPTIONAL_FLOAT_OPTIONS:
                coerced: Any = None if value is None else float(value)
            elif isinstance(getattr(cloud.options, key), int):
                coerced = int(value)
            else:
                coerced = float(value)
            setattr(cloud.options, key, coerced)
        cloud.capacity.reconfigure()
        return dataclasses.asdict(cloud.options)


def snapshot(cloud: Cloud) -> dict[str, Any]:
    """The whole cloud as JSON-able data, for invariant checks."""
    with cloud.lock:
        hosts = []
        for h in cloud.hosts.values():
            svc = cloud.compute_service(h.name)
            vcpus_used, ram_used = cloud.usage(h.name)
            hosts.append(
                {
                    "name": h.name,
                    "segment": h.segment,
                    "reserved": h.reserved,
                    "alive": h.alive,
                    "vcpus": h.vcpus,
                    "memory_mb": h.memory_mb,
                    "vcpus_used": vcpus_used,
                    "memory_mb_used": ram_used,
                    "capacity_lost": h.capacity_lost,
                    "service": {
                        "id": svc.uuid,
                        "status": "disabled" if svc.disabled else "enabled",
                        "state": "up" if cloud.service_is_up(svc) else "down",
                        "forced_down": svc.forced_down,
                        "disabled_reason": svc.disabled_reason,
                    },
                }
            )
        servers = [
            {
                "id": s.id,
                "name": s.name,
                "host": s.host,
                "status": s.status,
                "vm_state": s.vm_state,
                "task_state": s.task_state,
                "power_state": s.power_state,
                "locked": s.locked,
                "metadata": dict(s.metadata),
                "tenant_id": s.tenant_id,
                "flavor": s.flavor.name,
                "fault": dataclasses.asdict(s.fault) if s.fault else None,
            }
            for s in cloud.servers.values()
        ]
        return {
            "options": dataclasses.asdict(cloud.options),
            "hosts": hosts,
            "servers": servers,
            "migrations": [dataclasses.asdict(m) for m in cloud.migrations],
            "aggregates": [dataclasses.asdict(a) for a in cloud.aggregates.values()],
            "events": [dict(e) for e in cloud.events],
            "capacity": {"jobs": cloud.capacity.load(), "rate": cloud.capacity.rate()},
            "violations": [dict(v) for v in cloud.violations],
            "faults": {
                "requests": cloud.request_faults.list(),
                "fail_evacuation": sorted(cloud.fail_evacuation_servers),
                "fail_evacuation_target": sorted(cloud.fail_evacuation_targets),
            },
        }


def handle(cloud: Cloud, name: str, body: Any, args: Mapping[str, Any]) -> tuple[int, Any]:
    """Dispatch one control call (already routed by Werkzeug)."""
    if name == "state":
        return 200, snapshot(cloud)
    if name == "health":
        return 200, {"ok": True}
    if name == "cloud":
        if not isinstance(body, dict):
            raise bad_request("the cloud spec must be a JSON object")
        cloud.load(body)
        return 200, {"hosts": len(cloud.hosts), "servers": len(cloud.servers)}
    if name == "kill":
        cloud.kill_host(args["host"])
        return 200, {}
    if name == "revive":
        cloud.revive_host(args["host"])
        return 200, {}
    if name == "crash":
        fields = body if isinstance(body, dict) else {}
        cloud.crash_server(args["server"], str(fields.get("vm_state", "active")))
        return 200, {}
    if name == "faults_add":
        return 200, inject(cloud, body if isinstance(body, dict) else {})
    if name == "faults_clear":
        clear_faults(cloud)
        return 200, {}
    if name == "reset":
        cloud.reset()
        return 200, {}
    if name == "options":
        return 200, set_options(cloud, body if isinstance(body, dict) else {})
    raise bad_request(f"unknown control call {name}")


def rules() -> list[Rule]:
    def r(path: str, method: str, name: str) -> Rule:
        return Rule(path, methods=[method], endpoint=("control", name))

    return [
        r("/sim/state", "GET", "state"),
        r("/sim/health", "GET", "health"),
        r("/sim/cloud", "POST", "cloud"),
        r("/sim/hosts/<host>/kill", "POST", "kill"),
        r("/sim/hosts/<host>/revive", "POST", "revive"),
        r("/sim/servers/<server>/crash", "POST", "crash"),
        r("/sim/faults", "POST", "faults_add"),
        r("/sim/faults", "DELETE", "faults_clear"),
        r("/sim/reset", "POST", "reset"),
        r("/sim/options", "PUT", "options"),
    ]


class SimControlError(RhworkerError):
    """A control call to a simulator failed."""


class SimControl:
    """Client of a simulator's ``/sim/`` control API (base URL, no path)."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    @property
    def compute_url(self) -> str:
        return f"{self.url}/v2.1"

    @property
    def identity_url(self) -> str:
        return f"{self.url}/v3"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            resp = self._session.request(
                method, f"{self.url}/sim/{path}", json=body, timeout=self.timeout
            )
        except requests.RequestException as e:
            raise SimControlError(f"simulator at {self.url} unreachable: {e}") from e
        if resp.status_code >= 400:
            raise SimControlError(f"{method} /sim/{path}: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    def load_cloud(self, spec: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", "cloud", spec))

    def kill_host(self, name: str) -> None:
        self._call("POST", f"hosts/{name}/kill")

    def revive_host(self, name: str) -> None:
        self._call("POST", f"hosts/{name}/revive")

    def crash_server(self, server_id: str, vm_state: str = "active") -> None:
        """The guest dies; Nova shows ``vm_state`` (active, stopped or error)."""
        self._call("POST", f"servers/{server_id}/crash", {"vm_state": vm_state})

    def inject(self, fault: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        return dict(self._call("POST", "faults", {**(fault or {}), **kwargs}))

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def set_options(self, **values: Any) -> dict[str, Any]:
        return dict(self._call("PUT", "options", values))

    def state(self) -> dict[str, Any]:
        return dict(self._call("GET", "state"))

    def reset(self) -> None:
        self._call("POST", "reset")

    def health(self) -> bool:
        try:
            return bool(self._call("GET", "health").get("ok"))
        except SimControlError:
            return False

    def requests(
        self, *, worker: str | None = None, since: float | None = None, changes: bool = False
    ) -> list[dict[str, Any]]:
        """The simulator's request log (see :mod:`rhworker.sim.requestlog`)."""
        query = [f"worker={worker}"] if worker else []
        query += [f"since={since!r}"] if since is not None else []
        query += ["changes=1"] if changes else []
        path = "requests" + ("?" + "&".join(query) if query else "")
        return list(self._call("GET", path)["requests"])

    def close(self) -> None:
        self._session.close()
