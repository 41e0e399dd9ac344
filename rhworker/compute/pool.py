"""A pool of compute clients behind the FenceableCompute interface.

openstacksdk connections are not documented as thread-safe, and evacuations run in
short-lived threads (a pool per notification). Each call borrows an idle client (or
builds one when all are busy) and gives it back afterwards, so a long-running worker
keeps as many connections as it ever ran calls at once — not one per thread it ever
started.

Every method is spelled out (no attribute forwarding), so that type checkers see a
:class:`~rhworker.compute.fence.FenceableCompute`; mutating calls pass their ``fence``
through to the client they borrow.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from rhworker.compute.base import Aggregate, HostCapacity, Migration, Server, Service
from rhworker.compute.fence import FenceableCompute
from rhworker.compute.retry import Fence

T = TypeVar("T")

LOG = logging.getLogger(__name__)


class PooledCompute:
    def __init__(self, factory: Callable[[], FenceableCompute]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._idle: list[FenceableCompute] = []
        self._all: list[FenceableCompute] = []
        self._closed = False

    @property
    def size(self) -> int:
        """Clients built so far."""
        with self._lock:
            return len(self._all)

    def warm(self, count: int) -> threading.Thread:
        """Open clients in a background thread until the pool has ``count``, each
        connected (Nova's version document read), so that the concurrent calls of the
        first failure find them ready instead of opening them on its critical path
        (measured on real Nova: ~10 new connections per host failure otherwise).
        Stops at the first client that cannot connect: calls open theirs as before."""
        thread = threading.Thread(
            target=self._warm, args=(count,), name="compute-warm", daemon=True
        )
        thread.start()
        return thread

    def _warm(self, count: int) -> None:
        while True:
            with self._lock:
                if self._closed or len(self._all) >= count:
                    return
            client = self._factory()
            try:
                client.connect()
            except Exception as e:  # Nova not there yet: calls will connect themselves
                LOG.info("compute client not opened ahead: %s", e)
                client.close()
                return
            with self._lock:
                if not self._closed:
                    self._all.append(client)
                    self._idle.append(client)
                    continue
            client.close()
            return

    def _borrow(self) -> FenceableCompute:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        client = self._factory()
        with self._lock:
            self._all.append(client)
        return client

    def _give_back(self, client: FenceableCompute) -> None:
        with self._lock:
            if self._closed:
                close = True
            else:
                self._idle.append(client)
                close = False
        if close:
            client.close()

    def _run(self, call: Callable[[FenceableCompute], T]) -> T:
        client = self._borrow()
        try:
            return call(client)
        finally:
            self._give_back(client)

    # -- reads -------------------------------------------------------------------------
    def get_service(self, host: str, binary: str = "nova-compute") -> Service:
        return self._run(lambda c: c.get_service(host, binary))

    def list_servers_on_host(self, host: str) -> list[Server]:
        return self._run(lambda c: c.list_servers_on_host(host))

    def get_server(self, server_id: str) -> Server:
        return self._run(lambda c: c.get_server(server_id))

    def read_servers(self, server_ids: Iterable[str], hosts: Iterable[str]) -> dict[str, Server]:
        ids, on = list(server_ids), list(hosts)
        return self._run(lambda c: c.read_servers(ids, on))

    def read_evacuating(
        self, server_ids: Iterable[str], source_host: str, hosts: Iterable[str]
    ) -> dict[str, Server | None]:
        ids, on = list(server_ids), list(hosts)
        return self._run(lambda c: c.read_evacuating(ids, source_host, on))

    def list_migrations(
        self,
        *,
        instance_id: str | None = None,
        source_host: str | None = None,
        migration_type: str | None = "evacuation",
        host: str | None = None,
    ) -> list[Migration]:
        return self._run(
            lambda c: c.list_migrations(
                instance_id=instance_id,
                source_host=source_host,
                migration_type=migration_type,
                host=host,
            )
        )

    def list_aggregates(self) -> list[Aggregate]:
        return self._run(lambda c: c.list_aggregates())

    def host_capacity(self, host: str) -> HostCapacity:
        return self._run(lambda c: c.host_capacity(host))

    # -- changes (``fence``: the lease they run under, see rhworker.compute.fence) ----------
    def force_down_service(
        self,
        host: str,
        forced: bool = True,
        *,
        service: Service | None = None,
        fence: Fence | None = None,
    ) -> None:
        self._run(lambda c: c.force_down_service(host, forced, service=service, fence=fence))

    def disable_service(
        self,
        host: str,
        reason: str,
        *,
        service: Service | None = None,
        fence: Fence | None = None,
    ) -> None:
        self._run(lambda c: c.disable_service(host, reason, service=service, fence=fence))

    def enable_service(
        self, host: str, *, service: Service | None = None, fence: Fence | None = None
    ) -> None:
        self._run(lambda c: c.enable_service(host, service=service, fence=fence))

    def lock_server(self, server_id: str, *, fence: Fence | None = None) -> None:
        self._run(lambda c: c.lock_server(server_id, fence=fence))

    def unlock_server(self, server_id: str, *, fence: Fence | None = None) -> None:
        self._run(lambda c: c.unlock_server(server_id, fence=fence))

    def stop_server(self, server_id: str, *, fence: Fence | None = None) -> None:
        self._run(lambda c: c.stop_server(server_id, fence=fence))

    def start_server(self, server_id: str, *, fence: Fence | None = None) -> None:
        self._run(lambda c: c.start_server(server_id, fence=fence))

    def reset_state(self, server_id: str, state: str, *, fence: Fence | None = None) -> None:
        self._run(lambda c: c.reset_state(server_id, state, fence=fence))

    def evacuate_server(
        self,
        server_id: str,
        host: str | None = None,
        *,
        before: Server | None = None,
        fence: Fence | None = None,
    ) -> None:
        self._run(lambda c: c.evacuate_server(server_id, host, before=before, fence=fence))

    def add_host_to_aggregate(
        self, aggregate_id: str, host: str, *, fence: Fence | None = None
    ) -> None:
        self._run(lambda c: c.add_host_to_aggregate(aggregate_id, host, fence=fence))

    def connect(self) -> None:
        """Connect one client now (the others connect on first use, or :meth:`warm`)."""
        self._run(lambda c: c.connect())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients, self._all, self._idle = self._all, [], []
        for client in clients:
            client.close()
