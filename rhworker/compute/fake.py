"""An in-memory :class:`~rhworker.compute.base.ComputeClient` for fast unit tests.

Not a simulator (that is ``rhworker.sim``, over HTTP, for the integration tests): a
stub in the habit of dramatiq's ``StubBroker``, driven by the test itself.

- **Servers and services** are plain :class:`Server`/:class:`Service` records the test
  builds (:meth:`FakeCompute.add_server`, :meth:`FakeCompute.add_host`).
- **Scripts**: each server may carry a queue of *frames*; every ``get_server`` of it
  first applies the next frame (field changes of the server, a new status of its newest
  migration, a deletion, a hook run outside the fake's lock), so a test states exactly
  what Nova shows read after read. :meth:`FakeCompute.evacuate_server` accepts like
  Nova 34 (task state ``rebuilding``, a migration ``accepted``) and, unless the test
  scripted the server itself, queues Nova's own sequence (:func:`nova_evacuation`):
  ``pre-migrating``, ``rebuild_block_device_mapping``, ``rebuild_spawning``, the task
  state back to none while the host is still the failed one, then the host change and
  the migration ``done``.
- **Services** as Nova keeps them: ``state`` is up while the host reports
  (:meth:`FakeCompute.set_reporting`) and is not forced down; forcing up is refused
  while evacuations from the host are ``done`` but not ``completed``.
- **Errors** to inject per method (and server): :meth:`FakeCompute.fail`; hosts
  without room (:attr:`FakeCompute.full_hosts`): an evacuate towards one ends in
  ERROR, "No valid host was found.", as one without a scheduler host does.
- **A call log** (:attr:`FakeCompute.calls`) of every call with its arguments, and
  :attr:`FakeCompute.violations`: a second evacuate posted while one is in progress
  (one toward a host that is down now does not count: its rebuild is lost).
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Unpack

from rhworker.compute.base import (
    MIGRATION_IN_PROGRESS,
    REBUILD_TASK_STATES,
    Aggregate,
    FenceableCompute,
    HostCapacity,
    Migration,
    MigrationFilter,
    MigrationQuery,
    Server,
    Service,
    still_evacuating,
)
from rhworker.errors import ComputeBadRequest, ComputeNotFound

if TYPE_CHECKING:  # retry.py imports the SDK
    from rhworker.compute.retry import Fence

# API status of a server that no task is running on, by vm_state.
_STATUS_OF_VM_STATE = {"active": "ACTIVE", "stopped": "SHUTOFF", "error": "ERROR"}

# Frame keys that are not Server fields.
_MIGRATION = "migration"  # new status of the server's newest migration
_DELETED = "deleted"  # True: the server is gone from now on (404)
_HOOK = "hook"  # a callable run when the frame is applied

Frame = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Call:
    """One call made to the fake: the method name and its arguments."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)


def nova_evacuation(dest: str, *, vm_state: str = "active") -> list[Frame]:
    """The reads after an accepted evacuate, as real Nova 34 shows them (issue 12)."""
    status = "SHUTOFF" if vm_state == "stopped" else "ACTIVE"
    return [
        {"task_state": "rebuild_block_device_mapping", _MIGRATION: "pre-migrating"},
        {"task_state": "rebuild_spawning"},
        # spawned: the task state is cleared before the resource tracker moves the host
        {"task_state": None, "vm_state": vm_state, "status": status},
        {"host": dest, _MIGRATION: "done"},
    ]


def failed_evacuation(fault: str = "No valid host was found.") -> list[Frame]:
    """The reads after an evacuate that Nova accepted and then could not place."""
    return [
        {
            "task_state": None,
            "vm_state": "error",
            "status": "ERROR",
            "fault": fault,
            _MIGRATION: "error",
        }
    ]


class FakeCompute:
    """A FenceableCompute (hence a ComputeClient) in memory. Thread-safe:
    evacuations run in a thread pool."""

    def __init__(self, *, scheduler_host: str | None = None) -> None:
        self._lock = threading.RLock()
        self.servers: dict[str, Server] = {}
        self.services: dict[str, Service] = {}
        self.aggregates: dict[str, Aggregate] = {}
        self.migrations: list[Migration] = []  # oldest first; listed newest first
        # Placement's answer per host; a host not in it has no resource provider.
        self.capacities: dict[str, HostCapacity] = {}
        self.calls: list[Call] = []
        self.violations: list[str] = []
        # Where an evacuate without a host lands (Nova's scheduler), when set.
        self.scheduler_host = scheduler_host
        # Hosts without room: an evacuate towards one is accepted, then ends in ERROR
        # with "No valid host was found." (as Nova's conductor answers).
        self.full_hosts: set[str] = set()
        # Hosts whose nova-compute sends heartbeats (Nova's "up" unless forced down).
        self.reporting: set[str] = set()
        self._scripts: dict[str, deque[Frame]] = {}
        self._errors: list[tuple[str, str | None, Exception, list[int]]] = []
        self._ids = itertools.count(1)

    # -- building the cloud --------------------------------------------------------------
    def add_host(self, host: str, *, status: str = "enabled", state: str = "up") -> Service:
        service = Service(
            id=f"svc-{host}",
            host=host,
            binary="nova-compute",
            status=status,
            state=state,
            forced_down=False,
        )
        with self._lock:
            self.services[host] = service
            if state == "up":
                self.reporting.add(host)
        return service

    def set_reporting(self, host: str, reporting: bool = True) -> None:
        """The host's nova-compute starts (or stops) sending heartbeats: Nova counts
        its service up (down) unless it is forced down."""
        with self._lock:
            svc = self._service(host)
            if reporting:
                self.reporting.add(host)
            else:
                self.reporting.discard(host)
            svc.state = "up" if reporting and not svc.forced_down else "down"

    def add_server(
        self,
        server_id: str,
        host: str,
        *,
        name: str | None = None,
        status: str = "ACTIVE",
        locked: bool = False,
        metadata: dict[str, str] | None = None,
        task_state: str | None = None,
    ) -> Server:
        by_status = {v: k for k, v in _STATUS_OF_VM_STATE.items()}
        vm_state = by_status.get(status, status.lower())
        server = Server(
            id=server_id,
            name=name or server_id,
            host=host,
            status=status,
            vm_state=vm_state,
            task_state=task_state,
            power_state=1 if status == "ACTIVE" else 4,
            locked=locked,
            metadata=dict(metadata or {}),
        )
        with self._lock:
            self.servers[server_id] = server
        return server

    def add_migration(
        self, server_id: str, source: str, dest: str | None, status: str
    ) -> Migration:
        """Record a migration as an earlier evacuation would have left it."""
        with self._lock:
            migration = Migration(
                id=str(next(self._ids)),
                instance_id=server_id,
                source_host=source,
                dest_host=dest,
                status=status,
                migration_type="evacuation",
                created_at=f"2026-01-01T00:00:{len(self.migrations):02d}Z",
            )
            self.migrations.append(migration)
            return migration

    def script(self, server_id: str, frames: Iterable[Frame]) -> None:
        """Queue frames for ``server_id``: one applied before each of its next reads."""
        with self._lock:
            self._scripts.setdefault(server_id, deque()).extend(dict(f) for f in frames)

    def delete_server(self, server_id: str) -> None:
        """The owner deletes it: every later call about it answers 404."""
        with self._lock:
            self.servers.pop(server_id, None)
            for m in self.migrations:
                if m.instance_id == server_id and m.in_progress:
                    m.status = "failed"

    def fail(
        self,
        method: str,
        error: Exception,
        *,
        server_id: str | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``method`` (about ``server_id``) raise ``error``."""
        with self._lock:
            self._errors.append((method, server_id, error, [times]))

    # -- reading the log -------------------------------------------------------------------
    def calls_of(self, name: str, server_id: str | None = None) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self.calls
                if c.name == name and (server_id is None or (c.args and c.args[0] == server_id))
            ]

    # -- internals ---------------------------------------------------------------------------
    def _record(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Log the call, then raise an injected error if one matches."""
        with self._lock:
            self.calls.append(Call(name, args, kwargs))
            for method, sid, error, left in self._errors:
                if method == name and left[0] > 0 and (sid is None or (args and args[0] == sid)):
                    left[0] -= 1
                    raise error

    def _change(self, fence: Fence | None, name: str, *args: Any) -> None:
        """A call that changes something: its fence proves ownership first, as the
        adapter's does before every attempt (``LeaseLost``: Nova never sees it)."""
        if fence is not None:
            fence.window()
        self._record(name, *args)

    def _server(self, server_id: str) -> Server:
        server = self.servers.get(server_id)
        if server is None:
            raise ComputeNotFound(f"Instance {server_id} could not be found. (HTTP 404)")
        return server

    def _service(self, host: str) -> Service:
        service = self.services.get(host)
        if service is None:
            raise ComputeNotFound(f"no nova-compute service on host {host!r}")
        return service

    def _is_down(self, host: str | None) -> bool:
        service = self.services.get(host or "")
        return service is not None and service.state == "down"

    def _newest_migration(self, server_id: str) -> Migration | None:
        mine = [m for m in self.migrations if m.instance_id == server_id]
        return mine[-1] if mine else None

    def _apply_next_frame(self, server_id: str) -> Callable[[], None] | None:
        """Apply the server's next frame; returns its hook (run outside the lock)."""
        frames = self._scripts.get(server_id)
        if not frames:
            return None
        frame = frames.popleft()
        hook = frame.pop(_HOOK, None)
        if frame.pop(_DELETED, False):
            self.delete_server(server_id)
        server = self.servers.get(server_id)
        migration_status = frame.pop(_MIGRATION, None)
        if migration_status is not None:
            migration = self._newest_migration(server_id)
            if migration is not None:
                migration.status = migration_status
        if server is not None:
            for key, value in frame.items():
                setattr(server, key, value)
            if server.task_state in REBUILD_TASK_STATES:
                server.status = "REBUILD"
            elif server.task_state is None and "status" not in frame:
                server.status = _STATUS_OF_VM_STATE.get(server.vm_state or "", server.status)
        return hook

    @staticmethod
    def _copy(server: Server) -> Server:
        return dataclasses.replace(server, metadata=dict(server.metadata))

    # -- ComputeClient ---------------------------------------------------------------------
    def get_service(self, host: str, binary: str = "nova-compute") -> Service:
        self._record("get_service", host, binary)
        with self._lock:
            return dataclasses.replace(self._service(host))

    def force_down_service(
        self,
        host: str,
        forced: bool = True,
        *,
        service: Service | None = None,
        fence: Fence | None = None,
    ) -> None:
        self._change(fence, "force_down_service", host, forced)
        with self._lock:
            svc = self._service(host)
            if not forced and any(
                m.status == "done" and m.source_host == host for m in self.migrations
            ):
                # Nova: evacuations from the host not cleaned up by its nova-compute yet
                raise ComputeBadRequest(
                    f"Unable to force up the compute service on host {host}: evacuations "
                    "from it are not completed (HTTP 400)"
                )
            svc.forced_down = forced
            svc.state = "up" if host in self.reporting and not forced else "down"

    def disable_service(
        self, host: str, reason: str, *, service: Service | None = None, fence: Fence | None = None
    ) -> None:
        self._change(fence, "disable_service", host, reason)
        with self._lock:
            svc = self._service(host)
            svc.status, svc.disabled_reason = "disabled", reason

    def enable_service(
        self, host: str, *, service: Service | None = None, fence: Fence | None = None
    ) -> None:
        self._change(fence, "enable_service", host)
        with self._lock:
            svc = self._service(host)
            svc.status, svc.disabled_reason = "enabled", None

    def list_servers_on_host(self, host: str) -> list[Server]:
        self._record("list_servers_on_host", host)
        with self._lock:
            return [self._copy(s) for s in self.servers.values() if s.host == host]

    def get_server(self, server_id: str) -> Server:
        self._record("get_server", server_id)
        with self._lock:
            hook = self._apply_next_frame(server_id)
        if hook is not None:
            hook()  # e.g. the lease is lost now, or wait for another thread
        with self._lock:
            return self._copy(self._server(server_id))

    def read_servers(self, server_ids: Iterable[str], hosts: Iterable[str]) -> dict[str, Server]:
        """One read of each id, as one call: each server's next frame is applied (as by
        a ``get_server`` of it), hooks run after, outside the lock."""
        ids = sorted(set(server_ids))
        self._record("read_servers", tuple(ids), tuple(hosts))
        with self._lock:
            hooks = [h for h in (self._apply_next_frame(sid) for sid in ids) if h is not None]
        for hook in hooks:
            hook()
        with self._lock:
            return {sid: self._copy(self.servers[sid]) for sid in ids if sid in self.servers}

    def read_evacuating(
        self, server_ids: Iterable[str], source_host: str, hosts: Iterable[str]
    ) -> dict[str, Server | None]:
        """As :meth:`read_servers` (each server's next frame applied: this fake's Nova
        moves on when looked at), then None for a server whose newest evacuation from
        ``source_host`` is still in progress."""
        ids = sorted(set(server_ids))
        self._record("read_evacuating", tuple(ids), source_host, tuple(hosts))
        with self._lock:
            hooks = [h for h in (self._apply_next_frame(sid) for sid in ids) if h is not None]
        for hook in hooks:
            hook()
        with self._lock:
            running = still_evacuating(self.migrations, source_host)
            return {
                sid: None if sid in running else self._copy(self.servers[sid])
                for sid in ids
                if sid in self.servers
            }

    def lock_server(self, server_id: str, *, fence: Fence | None = None) -> None:
        self._change(fence, "lock_server", server_id)
        with self._lock:
            self._server(server_id).locked = True

    def unlock_server(self, server_id: str, *, fence: Fence | None = None) -> None:
        self._change(fence, "unlock_server", server_id)
        with self._lock:
            self._server(server_id).locked = False

    def stop_server(self, server_id: str, *, fence: Fence | None = None) -> None:
        self._change(fence, "stop_server", server_id)
        with self._lock:
            server = self._server(server_id)
            server.status, server.vm_state, server.power_state = "SHUTOFF", "stopped", 4

    def start_server(self, server_id: str, *, fence: Fence | None = None) -> None:
        self._change(fence, "start_server", server_id)
        with self._lock:
            server = self._server(server_id)
            server.status, server.vm_state, server.power_state = "ACTIVE", "active", 1

    def reset_state(self, server_id: str, state: str, *, fence: Fence | None = None) -> None:
        self._change(fence, "reset_state", server_id, state)
        with self._lock:
            server = self._server(server_id)
            server.vm_state, server.task_state = state, None
            server.status = "ERROR" if state == "error" else "ACTIVE"

    def evacuate_server(
        self,
        server_id: str,
        host: str | None = None,
        *,
        before: Server | None = None,
        fence: Fence | None = None,
    ) -> None:
        self._change(fence, "evacuate_server", server_id, host)
        with self._lock:
            server = self._server(server_id)
            if host is not None and host == server.host:
                raise ComputeBadRequest("The target host can't be the same one. (HTTP 400)")
            # A rebuild cast to a host that is down now is lost with it (Nova keeps its
            # migration in progress for ever): only a live one can collide with this.
            busy = server.task_state is not None or any(
                m.in_progress and not self._is_down(m.dest_host)
                for m in self.migrations
                if m.instance_id == server_id
            )
            if busy:
                self.violations.append(f"server {server_id} evacuated twice concurrently")
            dest = host or self.scheduler_host
            self.add_migration(server_id, server.host or "", dest, "accepted")
            target_vm_state = "stopped" if server.vm_state == "stopped" else "active"
            server.task_state, server.status = "rebuilding", "REBUILD"
            if server_id not in self._scripts or not self._scripts[server_id]:
                frames = (
                    nova_evacuation(dest, vm_state=target_vm_state)
                    if dest is not None and dest not in self.full_hosts
                    else failed_evacuation()
                )
                self.script(server_id, frames)

    def list_migrations(self, **query: Unpack[MigrationQuery]) -> list[Migration]:
        wanted = MigrationFilter.of(query)
        self._record("list_migrations", **dataclasses.asdict(wanted))
        with self._lock:
            return [dataclasses.replace(m) for m in reversed(self.migrations) if wanted.matches(m)]

    def list_aggregates(self) -> list[Aggregate]:
        self._record("list_aggregates")
        with self._lock:
            return [dataclasses.replace(a, hosts=list(a.hosts)) for a in self.aggregates.values()]

    def add_host_to_aggregate(
        self, aggregate_id: str, host: str, *, fence: Fence | None = None
    ) -> None:
        self._change(fence, "add_host_to_aggregate", aggregate_id, host)
        with self._lock:
            aggregate = self.aggregates.get(aggregate_id)
            if aggregate is None:
                raise ComputeNotFound(f"Aggregate {aggregate_id} could not be found.")
            if host not in aggregate.hosts:
                aggregate.hosts.append(host)

    def host_capacity(self, host: str) -> HostCapacity:
        self._record("host_capacity", host)
        with self._lock:
            capacity = self.capacities.get(host)
        if capacity is None:
            raise ComputeNotFound(f"no resource provider named {host}")
        return dataclasses.replace(capacity, free=dict(capacity.free))

    def connect(self) -> None:
        self._record("connect")

    def close(self) -> None:
        self._record("close")


if TYPE_CHECKING:  # mypy proves that the fake is a whole FenceableCompute
    _: type[FenceableCompute] = FakeCompute


__all__ = [
    "MIGRATION_IN_PROGRESS",
    "REBUILD_TASK_STATES",
    "Call",
    "FakeCompute",
    "Frame",
    "failed_evacuation",
    "nova_evacuation",
]
