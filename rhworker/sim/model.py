"""The simulated cloud's records, and the one error type the simulator raises.

Plain dataclasses, mutated only under the cloud's lock (see :mod:`rhworker.sim.state`).
Names follow Nova's: ``vm_state``/``task_state``/``power_state`` as Nova stores them;
the API ``status`` is derived from them exactly as Nova's ``_STATE_MAP`` does.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

from rhworker.errors import RhworkerError

# Nova's power_state values.
POWER_NOSTATE = 0
POWER_RUNNING = 1
POWER_SHUTDOWN = 4

# vm_state -> {task_state -> API status}; "default" when no entry matches.
_REBUILD: dict[str | None, str] = {
    "rebuilding": "REBUILD",
    "rebuild_block_device_mapping": "REBUILD",
    "rebuild_spawning": "REBUILD",
}
_STATE_MAP: dict[str, dict[str | None, str]] = {
    "active": {"default": "ACTIVE", **_REBUILD, "rebooting": "REBOOT"},
    "stopped": {"default": "SHUTOFF", **_REBUILD, "powering-on": "SHUTOFF"},
    "error": {"default": "ERROR", **_REBUILD},
}

# Nova's error-body keys per HTTP status.
ERROR_KEYS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    406: "notAcceptable",
    409: "conflict",
    413: "overLimit",
    500: "computeFault",
    501: "notImplemented",
    503: "serviceUnavailable",
}


class ApiError(RhworkerError):
    """An HTTP error answered in Nova's JSON error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        key = ERROR_KEYS.get(self.status, "computeFault")
        return {key: {"code": self.status, "message": self.message}}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def forbidden(message: str = "Policy doesn't allow this operation to be performed.") -> ApiError:
    return ApiError(403, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


def iso(ts: float) -> str:
    """A wall-clock timestamp as Nova prints it (no timezone, seconds)."""
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def iso_z(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uuid() -> str:
    return str(uuid.uuid4())


@dataclasses.dataclass
class Flavor:
    name: str
    vcpus: int
    ram: int
    disk: int = 1
    id: str = ""

    def __post_init__(self) -> None:
        self.id = self.id or self.name


@dataclasses.dataclass
class Service:
    host: str
    binary: str
    id: int
    uuid: str = dataclasses.field(default_factory=new_uuid)
    zone: str = "nova"
    disabled: bool = False
    disabled_reason: str | None = None
    forced_down: bool = False


@dataclasses.dataclass
class Host:
    """A compute host and what the simulator knows about its hardware."""

    name: str
    vcpus: int
    memory_mb: int
    segment: str | None = None
    reserved: bool = False
    alive: bool = True
    #: monotonic time of the last heartbeat, when the host is dead
    last_heartbeat: float = 0.0
    #: wall-clock time of the last heartbeat (for ``updated_at``)
    last_heartbeat_wall: float = 0.0
    #: fault: the scheduler sees no room here although the hypervisor reports room
    capacity_lost: bool = False
    hypervisor_id: int = 0
    hypervisor_uuid: str = dataclasses.field(default_factory=new_uuid)


@dataclasses.dataclass
class Fault:
    code: int
    message: str
    created: float


@dataclasses.dataclass
class Server:
    id: str
    name: str
    tenant_id: str
    user_id: str
    flavor: Flavor
    host: str
    created: float
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    vm_state: str = "active"
    task_state: str | None = None
    power_state: int = POWER_RUNNING
    locked: bool = False
    locked_by: str | None = None
    locked_reason: str | None = None
    fault: Fault | None = None
    updated: float = 0.0
    index: int = 0

    @property
    def status(self) -> str:
        states = _STATE_MAP.get(self.vm_state, {"default": self.vm_state.upper()})
        return states.get(self.task_state, states["default"])

    @property
    def instance_name(self) -> str:
        return f"instance-{self.index:08x}"


@dataclasses.dataclass
class Migration:
    id: int
    uuid: str
    instance_uuid: str
    source_compute: str
    dest_compute: str | None
    status: str
    created: float
    updated: float
    flavor_id: str
    project_id: str
    user_id: str
    migration_type: str = "evacuation"
    forced: bool = False
    #: the host the scheduler picked (dest_compute shows it from the target's claim)
    placed: str | None = None
    #: capacity is held on ``placed`` while the evacuation runs
    holds_capacity: bool = False
    #: vm_state the server ends in when the evacuation succeeds
    target_vm_state: str = "active"


@dataclasses.dataclass
class Aggregate:
    id: int
    name: str
    uuid: str = dataclasses.field(default_factory=new_uuid)
    hosts: list[str] = dataclasses.field(default_factory=list)
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    availability_zone: str | None = None
    created: float = 0.0


@dataclasses.dataclass
class Project:
    id: str
    name: str


@dataclasses.dataclass
class User:
    name: str
    password: str
    project: str  # project name
    roles: list[str]
    id: str = ""

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who makes an API call: from a token, or the anonymous admin of auth_type none."""

    user_id: str
    project_id: str
    is_admin: bool
