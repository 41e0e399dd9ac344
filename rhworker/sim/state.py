"""The simulated cloud: hosts, services, servers, migrations — one lock around all.

Every method that reads or changes the cloud takes ``self.lock`` (an ``RLock``).
Work that Nova does after answering (scheduling and rebuilding an evacuated server)
runs later, through :class:`~rhworker.sim.capacity.SharedCapacity` (where it competes
with API requests for Nova's capacity); work that makes Nova's API block (an RPC to a
dead compute) sleeps *outside* the lock.

Default timings and costs, and where they come from (real Nova 34 with its fake virt
driver, API + conductor + scheduler + Placement in one process, measured on this
project's 2-core test machine; DESIGN §7):

- ``evacuation_time`` 0.7 s: one evacuation alone, from the accepted evacuate to the
  server ACTIVE on the target. It is split into the four phases Nova shows —
  ``schedule_time`` (migration ``accepted``, task ``rebuilding``), ``rebuilding_time``
  (migration ``pre-migrating``), ``block_device_mapping_time`` (task
  ``rebuild_block_device_mapping``) and ``spawning_time`` (task ``rebuild_spawning``) —
  in the shares of :data:`PHASE_SHARES` unless set one by one. The total is measured,
  the split is not (it was not observable per phase with the fake driver): it gives
  each task state a window long enough to be seen by polling.
- ``shared_capacity`` 2.0, ``write_request_cost`` 0.1 s, ``request_cost`` 0.02 s:
  calibrated together by replaying, against the simulator, what was measured on real
  Nova with a plain openstacksdk script (one failed host with 10 servers: force it down,
  post 10 evacuates, poll until all ACTIVE): the simulator takes 2.9 s to post (real
  Nova: 10 evacuates + 3 service updates took 2.9 s) and 4.5 s to all ACTIVE (real:
  4.7 s); two failed hosts of 3 servers each take 2.0x one (real Nova: two concurrent
  failures took 2.1x one). The read cost is not measured on its own; it makes
  frequent polling add load, as on real Nova (more threads and faster polling made a
  recovery slower, 6.4 s -> 12.1 s, where the cost-free simulator got 3.3x faster).

Tests (``rhworker.testing.sim_fixture.DEFAULT_TEST_OPTIONS``) turn costs and the
capacity limit off and use short phases.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from rhworker.sim import spec as sim_spec
from rhworker.sim.capacity import SharedCapacity
from rhworker.sim.faults import RequestFaults
from rhworker.sim.model import (
    POWER_RUNNING,
    POWER_SHUTDOWN,
    Aggregate,
    ApiError,
    Caller,
    Fault,
    Flavor,
    Host,
    Migration,
    Project,
    Server,
    Service,
    User,
    bad_request,
    conflict,
    forbidden,
    new_uuid,
    not_found,
)

LOG = logging.getLogger(__name__)

DEFAULT_SERVICE_DOWN_TIME = 60.0  # Nova's service_down_time
DEFAULT_EVACUATION_TIME = 0.7  # seconds from an accepted evacuate to the rebuilt server
DEFAULT_DISABLE_RPC_DELAY = 60.0  # Nova's rpc_response_timeout
DEFAULT_SHARED_CAPACITY = 2.0  # jobs Nova runs at full speed at once (0: unlimited)
DEFAULT_REQUEST_COST = 0.02  # seconds of work per read API call
DEFAULT_WRITE_REQUEST_COST = 0.1  # seconds of work per POST/PUT/DELETE API call
CONTROLLER_HOST = "controller"  # runs nova-scheduler and nova-conductor, always up
IN_FLIGHT = ("accepted", "pre-migrating")
#: the task states of a running evacuation, in Nova's order
REBUILD_TASK_STATES = ("rebuilding", "rebuild_block_device_mapping", "rebuild_spawning")
#: phase -> share of ``evacuation_time`` when the phase's own option is None
PHASE_SHARES = {
    "schedule_time": 0.2,
    "rebuilding_time": 0.2,
    "block_device_mapping_time": 0.1,
    "spawning_time": 0.5,
}
#: options that take None ("a share of evacuation_time")
OPTIONAL_FLOAT_OPTIONS = frozenset(PHASE_SHARES)


@dataclasses.dataclass
class Options:
    service_down_time: float = DEFAULT_SERVICE_DOWN_TIME
    #: total of the four phases below, for those left None
    evacuation_time: float = DEFAULT_EVACUATION_TIME
    disable_rpc_delay: float = DEFAULT_DISABLE_RPC_DELAY
    #: conductor + scheduler: migration ``accepted``, task ``rebuilding``; a
    #: scheduling failure ("No valid host was found") shows at its end
    schedule_time: float | None = None
    #: the target's claim done: migration ``pre-migrating``, task ``rebuilding``
    rebuilding_time: float | None = None
    #: task ``rebuild_block_device_mapping``
    block_device_mapping_time: float | None = None
    #: task ``rebuild_spawning``; at its end the server moves to the target
    spawning_time: float | None = None
    #: API requests and evacuation phases at full speed at once; more share it
    shared_capacity: float = DEFAULT_SHARED_CAPACITY
    #: seconds of work each read (GET) API call costs, in the request path
    request_cost: float = DEFAULT_REQUEST_COST
    #: seconds of work each POST/PUT/DELETE API call costs, in the request path
    write_request_cost: float = DEFAULT_WRITE_REQUEST_COST
    #: largest page of servers/detail without an explicit limit (Nova's max_limit)
    max_limit: int = 1000
    #: seconds a stop/start takes on a live compute (task_state powering-off/-on
    #: meanwhile, as Nova's cast); 0: done at once
    power_action_time: float = 0.0

    def phase_time(self, name: str) -> float:
        """Seconds of work of one evacuation phase (an option name of PHASE_SHARES)."""
        value = getattr(self, name)
        if value is None:
            return self.evacuation_time * PHASE_SHARES[name]
        return float(value)


class Cloud:
    """All of the simulated cloud's state, and Nova's rules over it."""

    def __init__(
        self,
        options: Options | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.options = options or Options()
        self.clock = clock
        self.wall = wall
        self.lock = threading.RLock()
        self.capacity = SharedCapacity(lambda: self.options.shared_capacity, clock)
        self.request_faults = RequestFaults()
        self.stopping = threading.Event()
        self.tokens: dict[str, Caller] = {}
        self._spec: dict[str, Any] = {}
        self.generation = 0
        self._clear()

    # --- building --------------------------------------------------------------------

    def _clear(self) -> None:
        self.projects: dict[str, Project] = {}
        self.users: dict[str, User] = {}
        self.flavors: dict[str, Flavor] = {}
        self.hosts: dict[str, Host] = {}
        self.services: list[Service] = []
        self.servers: dict[str, Server] = {}
        self.migrations: list[Migration] = []
        self.aggregates: dict[int, Aggregate] = {}
        self.events: list[dict[str, Any]] = []
        self.violations: list[dict[str, Any]] = []
        self.fail_evacuation_servers: set[str] = set()
        self.fail_evacuation_targets: set[str] = set()
        self._ids = itertools.count(1)
        self.generation += 1

    def load(self, spec: dict[str, Any]) -> None:
        """Replace the whole cloud with the one ``spec`` describes."""
        parsed = sim_spec.parse(spec)
        with self.lock:
            self._clear()
            self._spec = spec
            self.capacity.clear()
            self.request_faults.clear()
            now = self.wall()
            self.projects = {p.id: p for p in parsed.projects}
            self.users = {u.name: u for u in parsed.users}
            for f in parsed.flavors:
                self.flavors[f.id] = f
                self.flavors.setdefault(f.name, f)
            for binary in ("nova-scheduler", "nova-conductor"):
                self.services.append(Service(CONTROLLER_HOST, binary, next(self._ids)))
            for h in parsed.hosts:
                host = Host(h.name, h.vcpus, h.memory_mb, h.segment, h.reserved)
                host.hypervisor_id = next(self._ids)
                self.hosts[h.name] = host
                svc = Service(h.name, "nova-compute", next(self._ids))
                if h.reserved:  # a spare: its service disabled so the scheduler leaves it
                    svc.disabled = True
                    svc.disabled_reason = "reserved host"
                self.services.append(svc)
            for name, agg in parsed.aggregates.items():
                agg_id = next(self._ids)
                self.aggregates[agg_id] = Aggregate(
                    id=agg_id,
                    name=name,
                    metadata={str(k): str(v) for k, v in (agg.get("metadata") or {}).items()},
                    availability_zone=agg.get("availability_zone"),
                    created=now,
                    hosts=[h.name for h in parsed.hosts if name in h.aggregates],
                )
            by_name = {p.name: p for p in parsed.projects}
            for s in parsed.servers:
                self._add_server(s, by_name, now)
            self.event("cloud_loaded", hosts=len(self.hosts), servers=len(self.servers))

    def _add_server(self, s: sim_spec.ServerSpec, projects: dict[str, Project], now: float) -> None:
        project = projects.get(s.project) or self.projects.get(s.project)
        if project is None:
            raise not_found(f"project {s.project} of server {s.name}")
        owner = next((u for u in self.users.values() if u.project == project.name), None)
        index = len(self.servers) + 1
        server = Server(
            id=s.id or new_uuid(),
            name=s.name,
            tenant_id=project.id,
            user_id=owner.id if owner else "admin",
            flavor=self.flavors[s.flavor],
            host=s.host,
            created=now + index * 1e-6,
            metadata=dict(s.metadata),
            updated=now,
            index=index,
        )
        if s.status == "SHUTOFF" or not s.power_on:
            server.vm_state, server.power_state = "stopped", POWER_SHUTDOWN
        if s.status == "ERROR":
            server.vm_state = "error"
            server.fault = Fault(500, "Error state from the cloud spec", now)
        self.servers[server.id] = server

    def reset(self) -> None:
        """Back to the last loaded spec; faults, events and tokens cleared."""
        self.load(self._spec)
        with self.lock:
            self.tokens.clear()

    def close(self) -> None:
        self.stopping.set()
        self.capacity.stop()

    # --- records ---------------------------------------------------------------------

    def event(self, kind: str, **fields: Any) -> None:
        with self.lock:
            # "kind" repeats "event" so that either key can be used by readers
            self.events.append({"time": self.wall(), "event": kind, "kind": kind, **fields})

    def violation(self, kind: str, **fields: Any) -> None:
        with self.lock:
            item = {"time": self.wall(), "violation": kind, **fields}
            self.violations.append(item)
            self.events.append(
                {"time": item["time"], "event": "violation", "kind": "violation", **item}
            )
            LOG.warning("simulator violation: %s %s", kind, fields)

    def next_id(self) -> int:
        return next(self._ids)

    # --- hosts and services ----------------------------------------------------------

    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            raise not_found(f"Compute host {name} could not be found.") from None

    def compute_service(self, host: str) -> Service:
        for svc in self.services:
            if svc.host == host and svc.binary == "nova-compute":
                return svc
        raise not_found(f"Compute host {host} could not be found.")

    def service_is_up(self, svc: Service) -> bool:
        if svc.forced_down:
            return False
        host = self.hosts.get(svc.host)
        if host is None or host.alive:
            return True
        return self.clock() - host.last_heartbeat <= self.options.service_down_time

    def service_updated_at(self, svc: Service) -> float:
        host = self.hosts.get(svc.host)
        if host is None or host.alive:
            return self.wall()
        return host.last_heartbeat_wall

    def kill_host(self, name: str) -> None:
        """The host stops: its service stops heartbeating and casts to it are lost.

        Nova is not told: the servers on it keep their states until evacuated."""
        with self.lock:
            host = self.host(name)
            if not host.alive:
                return
            host.alive = False
            host.last_heartbeat = self.clock()
            host.last_heartbeat_wall = self.wall()
            self.event("host_killed", host=name)

    def revive_host(self, name: str) -> None:
        """The host boots again; nova-compute cleans up what was evacuated away."""
        with self.lock:
            host = self.host(name)
            host.alive = True
            for mig in self.migrations:
                if mig.source_compute == name and mig.status == "done":
                    mig.status = "completed"
                    mig.updated = self.wall()
            self.event("host_revived", host=name)

    # --- capacity --------------------------------------------------------------------

    def usage(self, host: str) -> tuple[int, int]:
        """(vcpus, memory_mb) used on ``host``, counting capacity held by evacuations."""
        vcpus = ram = 0
        for server in self.servers.values():
            if server.host == host:
                vcpus += server.flavor.vcpus
                ram += server.flavor.ram
        for mig in self.migrations:
            if mig.holds_capacity and mig.placed == host:
                flavor = self.flavors[mig.flavor_id]
                vcpus += flavor.vcpus
                ram += flavor.ram
        return vcpus, ram

    def has_room(self, host: str, flavor: Flavor) -> bool:
        h = self.hosts[host]
        if h.capacity_lost:
            return False
        vcpus, ram = self.usage(host)
        return vcpus + flavor.vcpus <= h.vcpus and ram + flavor.ram <= h.memory_mb

    # --- servers ---------------------------------------------------------------------

    def server(self, caller: Caller, server_id: str) -> Server:
        server = self.servers.get(server_id)
        if server is None or not (caller.is_admin or server.tenant_id == caller.project_id):
            raise not_found(f"Instance {server_id} could not be found.")
        return server

    def check_lock(self, caller: Caller, server: Server) -> None:
        if server.locked and not caller.is_admin:
            raise conflict(f"Instance {server.id} is locked")

    def check_state(self, server: Server, action: str, vm_states: tuple[str, ...]) -> None:
        if server.vm_state not in vm_states or server.task_state is not None:
            attr, state = (
                ("vm_state", server.vm_state)
                if server.vm_state not in vm_states
                else ("task_state", server.task_state)
            )
            raise conflict(f"Cannot '{action}' instance {server.id} while it is in {attr} {state}")

    def lock_server(self, caller: Caller, server_id: str, reason: str | None) -> None:
        with self.lock:
            server = self.server(caller, server_id)
            server.locked = True
            server.locked_by = "admin" if caller.is_admin else "owner"
            server.locked_reason = reason
            server.updated = self.wall()
            self.event("server_locked", server=server.id, by=server.locked_by)

    def unlock_server(self, caller: Caller, server_id: str) -> None:
        with self.lock:
            server = self.server(caller, server_id)
            if server.locked_by == "admin" and not caller.is_admin:
                raise forbidden(
                    "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override "
                    "to be performed."
                )
            server.locked = False
            server.locked_by = server.locked_reason = None
            server.updated = self.wall()
            self.event("server_unlocked", server=server.id, admin=caller.is_admin)

    def delete_server(self, caller: Caller, server_id: str) -> None:
        """``DELETE /servers/{id}``. A server on a down compute is deleted at once (Nova's
        local delete); an evacuation of it still in flight then ends ``failed``."""
        with self.lock:
            server = self.server(caller, server_id)
            self.check_lock(caller, server)
            del self.servers[server.id]
            self.event("server_deleted", server=server.id, host=server.host)

    def stop_server(self, caller: Caller, server_id: str) -> None:
        with self.lock:
            server = self.server(caller, server_id)
            self.check_lock(caller, server)
            self.check_state(server, "stop", ("active", "error"))
            self._power(server, "powering-off", "stopped", POWER_SHUTDOWN)

    def start_server(self, caller: Caller, server_id: str) -> None:
        with self.lock:
            server = self.server(caller, server_id)
            self.check_lock(caller, server)
            self.check_state(server, "start", ("stopped",))
            self._power(server, "powering-on", "active", POWER_RUNNING)

    def _power(self, server: Server, task: str, vm_state: str, power: int) -> None:
        """A cast to the server's compute: done after ``power_action_time`` (at once
        when 0) if it runs, lost if it is dead. Events: ``power_requested`` then
        ``power_done`` (with the action), for checks that two never overlap."""
        server.updated = self.wall()
        host = self.hosts.get(server.host)
        if host is None or not host.alive:
            server.task_state = task  # the RPC cast is lost: stuck, as in Nova
            self.event("action_lost", server=server.id, host=server.host, task_state=task)
            return
        self.event("power_requested", server=server.id, task_state=task)
        delay = self.options.power_action_time
        if delay <= 0:
            self._power_done(server, task, vm_state, power)
            return
        server.task_state = task
        generation = self.generation

        def done() -> None:
            with self.lock:
                if self.generation == generation and server.task_state == task:
                    self._power_done(server, task, vm_state, power)

        self.capacity.submit(delay, done)

    def _power_done(self, server: Server, task: str, vm_state: str, power: int) -> None:
        server.vm_state, server.power_state, server.task_state = vm_state, power, None
        server.updated = self.wall()
        self.event("power_done", server=server.id, task_state=task, vm_state=vm_state)

    def crash_server(self, server_id: str, vm_state: str = "active") -> None:
        """The guest dies (libvirt's STOPPED_FAILED). ``vm_state``: what Nova shows —
        ``active`` (not noticed yet: ACTIVE, power state shutdown), ``stopped`` (its
        power-state sync stopped it: SHUTOFF) or ``error``."""
        if vm_state not in ("active", "stopped", "error"):
            raise bad_request(f"vm_state {vm_state!r}: one of active, stopped, error")
        with self.lock:
            server = self.servers.get(server_id)
            if server is None:
                raise not_found(f"Instance {server_id} could not be found.")
            server.vm_state, server.power_state, server.task_state = vm_state, POWER_SHUTDOWN, None
            server.updated = self.wall()
            self.event("server_crashed", server=server.id, host=server.host, vm_state=vm_state)

    def reset_state(self, caller: Caller, server_id: str, state: str) -> None:
        if not caller.is_admin:
            raise forbidden()
        with self.lock:
            server = self.server(caller, server_id)
            server.vm_state = "error" if state == "error" else "active"
            server.task_state = None
            server.updated = self.wall()
            self.event("reset_state", server=server.id, state=state)

    def migrations_for(self, server_id: str, statuses: tuple[str, ...]) -> list[Migration]:
        return [m for m in self.migrations if m.instance_uuid == server_id and m.status in statuses]

    def raise_if_stopping(self) -> None:
        if self.stopping.is_set():
            raise ApiError(503, "The simulator is shutting down.")
