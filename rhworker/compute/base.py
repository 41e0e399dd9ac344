"""What rhworker needs from Nova, as a protocol.

The implementation is ``rhworker.compute.openstack.OpenStackCompute`` (openstacksdk).
Nothing outside ``rhworker/compute/`` imports ``openstack``; SDK exceptions become
``ComputeError`` subclasses here: ``ComputeNotFound`` (404), ``ComputeBadRequest``
(other 4xx, never retried), ``ComputeTransient`` (connection errors, 5xx, 429 that
outlived their retries).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Unpack

if TYPE_CHECKING:  # retry.py imports the SDK; the protocols need only the name
    from rhworker.compute.retry import Fence


@dataclasses.dataclass
class Service:
    id: str
    host: str
    binary: str
    status: str  # "enabled" | "disabled"
    state: str  # "up" | "down"
    forced_down: bool
    disabled_reason: str | None = None


@dataclasses.dataclass
class Server:
    id: str
    name: str
    host: str | None  # OS-EXT-SRV-ATTR:host
    status: str  # ACTIVE, SHUTOFF, ERROR, REBUILD, ...
    vm_state: str | None  # OS-EXT-STS:vm_state: active, stopped, error, ...
    task_state: str | None  # OS-EXT-STS:task_state: None, rebuilding, ...
    power_state: int | None  # OS-EXT-STS:power_state: 1 running, 4 shutdown
    locked: bool = False
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    fault: str | None = None  # fault message, when status is ERROR
    project_id: str | None = None
    flavor: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Migration:
    """One of Nova's migration records (``GET /os-migrations``)."""

    id: str
    instance_id: str  # instance_uuid
    source_host: str | None  # source_compute
    dest_host: str | None  # dest_compute
    status: str  # accepted, pre-migrating, migrating, done, completed, error, failed, ...
    migration_type: str  # evacuation, migration, live-migration, resize
    created_at: str | None = None  # ISO 8601, as Nova gives it

    @property
    def in_progress(self) -> bool:
        """Nova has not finished this migration (neither done nor failed)."""
        return self.status in MIGRATION_IN_PROGRESS


class MigrationQuery(TypedDict, total=False):
    """The filters of :meth:`ComputeClient.list_migrations`, as Nova filters
    ``GET /os-migrations``; a filter not given (or empty) does not filter."""

    instance_id: str | None  # instance_uuid
    source_host: str | None  # source_compute
    migration_type: str | None  # default "evacuation"; None: every type
    host: str | None  # the source or the destination is that host


@dataclasses.dataclass(frozen=True)
class MigrationFilter:
    """A :class:`MigrationQuery` with its default, and the test of one record."""

    instance_id: str | None = None
    source_host: str | None = None
    migration_type: str | None = "evacuation"
    host: str | None = None

    @classmethod
    def of(cls, query: MigrationQuery) -> MigrationFilter:
        return cls(**query)

    def matches(self, m: Migration) -> bool:
        return (
            (not self.instance_id or m.instance_id == self.instance_id)
            and (not self.source_host or m.source_host == self.source_host)
            and (not self.migration_type or m.migration_type == self.migration_type)
            and (not self.host or self.host in (m.source_host, m.dest_host))
        )


# Migration statuses of an evacuation that Nova is still working on. ``done`` means the
# server runs on the destination; ``completed`` means the source compute came back and
# cleaned up; ``error``/``failed`` end it without a move.
MIGRATION_IN_PROGRESS = frozenset({"accepted", "pre-migrating", "migrating", "running", "queued"})
# Migration statuses of an evacuation that put the server on its destination.
MIGRATION_DONE = frozenset({"done", "completed"})

# The task states of a server Nova is rebuilding after an evacuate, in Nova's order
# (checked against Nova 34). Any of them, or status REBUILD, means "an evacuation is
# in progress": wait for it, never post another.
REBUILD_TASK_STATES = ("rebuilding", "rebuild_block_device_mapping", "rebuild_spawning")


def is_rebuilding(server: Server) -> bool:
    """Nova is rebuilding ``server`` (an evacuation it accepted is under way)."""
    return server.task_state in REBUILD_TASK_STATES or server.status == "REBUILD"


def migration_age(migration: Migration) -> tuple[str, int]:
    """Sort key, oldest first: Nova's created_at, then its numeric id."""
    number = int(migration.id) if migration.id.isdigit() else -1
    return migration.created_at or "", number


def still_evacuating(migrations: Iterable[Migration], source_host: str) -> set[str]:
    """The servers whose newest evacuation from ``source_host`` Nova is still running,
    per these migration records."""
    newest: dict[str, Migration] = {}
    for m in migrations:
        if m.source_host != source_host or m.migration_type != "evacuation":
            continue
        known = newest.get(m.instance_id)
        if known is None or migration_age(m) > migration_age(known):
            newest[m.instance_id] = m
    return {sid for sid, m in newest.items() if m.in_progress}


@dataclasses.dataclass
class Aggregate:
    id: str
    name: str
    hosts: list[str]


# The Placement resource classes an instance's flavor uses, with its flavor key.
CAPACITY_CLASSES = {"VCPU": "vcpus", "MEMORY_MB": "ram", "DISK_GB": "disk"}


@dataclasses.dataclass(frozen=True)
class HostCapacity:
    """What Placement says a compute host can still take, per resource class
    (``VCPU``, ``MEMORY_MB``, ``DISK_GB``): (total - reserved) * allocation_ratio - used,
    never below 0. A class the provider has no inventory of is absent."""

    host: str
    free: dict[str, float]


def capacity_of(
    host: str, inventories: dict[str, dict[str, Any]], usages: dict[str, Any]
) -> HostCapacity:
    """A host's free capacity from its provider's inventories and usages, as Placement
    counts them when it allocates."""
    free: dict[str, float] = {}
    for rc in CAPACITY_CLASSES:
        inv = inventories.get(rc)
        if inv is None:
            continue
        total = float(inv.get("total") or 0)
        reserved = float(inv.get("reserved") or 0)
        ratio = float(inv.get("allocation_ratio") or 1.0)
        free[rc] = max(0.0, (total - reserved) * ratio - float(usages.get(rc) or 0))
    return HostCapacity(host=host, free=free)


class ComputeClient(Protocol):
    """Nova operations, all as an admin. Every call may raise ``ComputeError``."""

    def get_service(self, host: str, binary: str = "nova-compute") -> Service:
        """The service of ``host``; ``ComputeNotFound`` if Nova has none."""
        ...

    # The service updates take the ``Service`` already read, when the caller has one,
    # to spare Nova a lookup per call.
    def force_down_service(
        self, host: str, forced: bool = True, *, service: Service | None = None
    ) -> None:
        """Set forced_down (Nova ≥ 2.11)."""
        ...

    def disable_service(self, host: str, reason: str, *, service: Service | None = None) -> None:
        """Disable with a reason (≤ 255 characters)."""
        ...

    def enable_service(self, host: str, *, service: Service | None = None) -> None: ...

    def list_servers_on_host(self, host: str) -> list[Server]:
        """Every server whose compute host is ``host``, all projects, all pages."""
        ...

    def get_server(self, server_id: str) -> Server: ...

    def read_servers(self, server_ids: Iterable[str], hosts: Iterable[str]) -> dict[str, Server]:
        """One read of each of ``server_ids`` in as few calls as possible: the listings
        of ``hosts`` (in order, until every id is found), then one read per id not
        found there. Ids Nova no longer knows (404) are absent from the result."""
        ...

    def read_evacuating(
        self, server_ids: Iterable[str], source_host: str, hosts: Iterable[str]
    ) -> dict[str, Server | None]:
        """The evacuation watch's poll: None for each of ``server_ids`` whose newest
        evacuation from ``source_host`` Nova's migration records show still running
        (not read: nothing about it can be final yet), the others read as by
        :meth:`read_servers` (absent: 404)."""
        ...

    def lock_server(self, server_id: str) -> None: ...

    def unlock_server(self, server_id: str) -> None: ...

    def stop_server(self, server_id: str) -> None: ...

    def start_server(self, server_id: str) -> None: ...

    def reset_state(self, server_id: str, state: str) -> None:
        """os-resetState to ``active`` or ``error``."""
        ...

    def evacuate_server(
        self, server_id: str, host: str | None = None, *, before: Server | None = None
    ) -> None:
        """Post one evacuate; never retried blindly (re-read the server first).
        ``before``: the server as just read by the caller (spares a read); it is what a
        re-read after a transient failure is compared with."""
        ...

    def list_migrations(self, **query: Unpack[MigrationQuery]) -> list[Migration]:
        """Nova's migration records, newest first, filtered as Nova filters them
        (:class:`MigrationQuery`)."""
        ...

    def list_aggregates(self) -> list[Aggregate]: ...

    def add_host_to_aggregate(self, aggregate_id: str, host: str) -> None: ...

    def host_capacity(self, host: str) -> HostCapacity:
        """Placement's free capacity of ``host``'s resource provider (named after the
        host); ``ComputeNotFound`` if there is none, ``ComputeError`` if Placement
        cannot be asked."""
        ...

    def close(self) -> None: ...


class FenceableCompute(ComputeClient, Protocol):
    """A compute client whose calls that change something take a ``fence`` (the
    lease they run under, see :mod:`rhworker.compute.fence`); reads as in
    :class:`ComputeClient`. ``OpenStackCompute``, ``PooledCompute`` and
    ``FakeCompute`` are ones."""

    def force_down_service(
        self,
        host: str,
        forced: bool = True,
        *,
        service: Service | None = None,
        fence: Fence | None = None,
    ) -> None: ...

    def disable_service(
        self, host: str, reason: str, *, service: Service | None = None, fence: Fence | None = None
    ) -> None: ...

    def enable_service(
        self, host: str, *, service: Service | None = None, fence: Fence | None = None
    ) -> None: ...

    def lock_server(self, server_id: str, *, fence: Fence | None = None) -> None: ...

    def unlock_server(self, server_id: str, *, fence: Fence | None = None) -> None: ...

    def stop_server(self, server_id: str, *, fence: Fence | None = None) -> None: ...

    def start_server(self, server_id: str, *, fence: Fence | None = None) -> None: ...

    def reset_state(self, server_id: str, state: str, *, fence: Fence | None = None) -> None: ...

    def evacuate_server(
        self,
        server_id: str,
        host: str | None = None,
        *,
        before: Server | None = None,
        fence: Fence | None = None,
    ) -> None: ...

    def add_host_to_aggregate(
        self, aggregate_id: str, host: str, *, fence: Fence | None = None
    ) -> None: ...

    def connect(self) -> None:
        """Open the connection now (what the first call would do)."""
        ...
