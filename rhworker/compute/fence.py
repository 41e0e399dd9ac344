"""Fencing reaches Nova: the compute client a recovery driver is handed.

DESIGN §4: a worker acts on Nova only while it can prove it still holds the
delivery. Every call that changes something in Nova — force-down, disable, enable,
lock/unlock, reset-state, evacuate, start/stop, aggregates — *and every retry of it*
runs only while the delivery's lease is known valid for the whole attempt:

- ownership is proved before each attempt (the lease guard renews synchronously when
  less than a third of the lease is left, ``rhworker.conf.worker.renewal_interval``,
  and raises ``LeaseLost``/``Cancelled`` when the store says another worker holds it,
  or when it cannot be reached and too little of the lease is left);
- each attempt's HTTP timeout, and so the retry deadline, is cut to what is left of
  the lease minus a margin;
- the back-off between attempts ends at once when the lease is lost.

:class:`FencedCompute` is a :class:`~rhworker.compute.base.ComputeClient` over the
worker's client, bound to one delivery's lease: it passes the lease as the ``fence`` of
every mutating call, so a driver cannot forget it. Reads (servers, services,
migrations, aggregates) are not fenced and keep the plain retry deadline: reading a
stale view is harmless, the next mutation is fenced.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from rhworker.compute.base import Aggregate, HostCapacity, Migration, Server, Service
from rhworker.compute.retry import Fence


class FenceableCompute(Protocol):
    """A compute client whose mutating calls take a ``fence`` (the lease they run
    under); ``OpenStackCompute`` and ``PooledCompute`` are ones."""

    def get_service(self, host: str, binary: str = "nova-compute") -> Service: ...

    def force_down_service(
        self,
        host: str,
        forced: bool = True,
        *,
        service: Service | None = None,
        fence: Fence | None = None,
    ) -> None: ...

    def disable_service(
        self,
        host: str,
        reason: str,
        *,
        service: Service | None = None,
        fence: Fence | None = None,
    ) -> None: ...

    def enable_service(
        self, host: str, *, service: Service | None = None, fence: Fence | None = None
    ) -> None: ...

    def list_servers_on_host(self, host: str) -> list[Server]: ...

    def get_server(self, server_id: str) -> Server: ...

    def read_servers(
        self, server_ids: Iterable[str], hosts: Iterable[str]
    ) -> dict[str, Server]: ...

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

    def list_migrations(
        self,
        *,
        instance_id: str | None = None,
        source_host: str | None = None,
        migration_type: str | None = "evacuation",
        host: str | None = None,
    ) -> list[Migration]: ...

    def list_aggregates(self) -> list[Aggregate]: ...

    def host_capacity(self, host: str) -> HostCapacity: ...

    def add_host_to_aggregate(
        self, aggregate_id: str, host: str, *, fence: Fence | None = None
    ) -> None: ...

    def close(self) -> None: ...


class FencedCompute:
    """The ``ComputeClient`` of one delivery: mutating calls fenced by its lease."""

    def __init__(self, inner: FenceableCompute, fence: Fence) -> None:
        self._inner = inner
        self.fence = fence

    # -- reads: not fenced -----------------------------------------------------------
    def get_service(self, host: str, binary: str = "nova-compute") -> Service:
        return self._inner.get_service(host, binary)

    def list_servers_on_host(self, host: str) -> list[Server]:
        return self._inner.list_servers_on_host(host)

    def get_server(self, server_id: str) -> Server:
        return self._inner.get_server(server_id)

    def read_servers(self, server_ids: Iterable[str], hosts: Iterable[str]) -> dict[str, Server]:
        return self._inner.read_servers(server_ids, hosts)  # read-only: not fenced

    def list_migrations(
        self,
        *,
        instance_id: str | None = None,
        source_host: str | None = None,
        migration_type: str | None = "evacuation",
        host: str | None = None,
    ) -> list[Migration]:
        return self._inner.list_migrations(
            instance_id=instance_id,
            source_host=source_host,
            migration_type=migration_type,
            host=host,
        )

    def list_aggregates(self) -> list[Aggregate]:
        return self._inner.list_aggregates()

    def host_capacity(self, host: str) -> HostCapacity:
        return self._inner.host_capacity(host)

    # -- changes: fenced ---------------------------------------------------------------
    def force_down_service(
        self, host: str, forced: bool = True, *, service: Service | None = None
    ) -> None:
        self._inner.force_down_service(host, forced, service=service, fence=self.fence)

    def disable_service(self, host: str, reason: str, *, service: Service | None = None) -> None:
        self._inner.disable_service(host, reason, service=service, fence=self.fence)

    def enable_service(self, host: str, *, service: Service | None = None) -> None:
        self._inner.enable_service(host, service=service, fence=self.fence)

    def lock_server(self, server_id: str) -> None:
        self._inner.lock_server(server_id, fence=self.fence)

    def unlock_server(self, server_id: str) -> None:
        self._inner.unlock_server(server_id, fence=self.fence)

    def stop_server(self, server_id: str) -> None:
        self._inner.stop_server(server_id, fence=self.fence)

    def start_server(self, server_id: str) -> None:
        self._inner.start_server(server_id, fence=self.fence)

    def reset_state(self, server_id: str, state: str) -> None:
        self._inner.reset_state(server_id, state, fence=self.fence)

    def evacuate_server(
        self, server_id: str, host: str | None = None, *, before: Server | None = None
    ) -> None:
        self._inner.evacuate_server(server_id, host, before=before, fence=self.fence)

    def add_host_to_aggregate(self, aggregate_id: str, host: str) -> None:
        self._inner.add_host_to_aggregate(aggregate_id, host, fence=self.fence)

    def close(self) -> None:
        """Nothing: the client underneath belongs to the worker, not to a delivery."""
