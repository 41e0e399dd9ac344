"""A compute client that hands every call to another one: the wrappers' one base.

:class:`DelegatingCompute` spells out each method of
:class:`~rhworker.compute.base.FenceableCompute` once, as a call on the client that
:meth:`~DelegatingCompute._call` lends, with the ``fence`` that
:meth:`~DelegatingCompute._fence` chooses. A wrapper overrides only those two hooks
(and ``close``): :class:`~rhworker.compute.pool.PooledCompute` lends a pooled client
per call; :class:`~rhworker.compute.fence.FencedCompute` fences every change with
its delivery's lease. No attribute forwarding: type checkers see every method.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from typing import TypeVar, Unpack

from rhworker.compute.base import (
    Aggregate,
    FenceableCompute,
    HostCapacity,
    Migration,
    MigrationQuery,
    Server,
    Service,
)
from rhworker.compute.retry import Fence

T = TypeVar("T")


class DelegatingCompute(abc.ABC):
    """Every :class:`FenceableCompute` method, forwarded (see the module doc)."""

    @abc.abstractmethod
    def _call(self, call: Callable[[FenceableCompute], T]) -> T:
        """Run ``call`` on the client that serves it."""

    def _fence(self, fence: Fence | None) -> Fence | None:
        """The fence a change runs under (default: the caller's)."""
        return fence

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- reads -------------------------------------------------------------------------
    def get_service(self, host: str, binary: str = "nova-compute") -> Service:
        return self._call(lambda c: c.get_service(host, binary))

    def list_servers_on_host(self, host: str) -> list[Server]:
        return self._call(lambda c: c.list_servers_on_host(host))

    def get_server(self, server_id: str) -> Server:
        return self._call(lambda c: c.get_server(server_id))

    def read_servers(self, server_ids: Iterable[str], hosts: Iterable[str]) -> dict[str, Server]:
        ids, on = list(server_ids), list(hosts)
        return self._call(lambda c: c.read_servers(ids, on))

    def read_evacuating(
        self, server_ids: Iterable[str], source_host: str, hosts: Iterable[str]
    ) -> dict[str, Server | None]:
        ids, on = list(server_ids), list(hosts)
        return self._call(lambda c: c.read_evacuating(ids, source_host, on))

    def list_migrations(self, **query: Unpack[MigrationQuery]) -> list[Migration]:
        return self._call(lambda c: c.list_migrations(**query))

    def list_aggregates(self) -> list[Aggregate]:
        return self._call(lambda c: c.list_aggregates())

    def host_capacity(self, host: str) -> HostCapacity:
        return self._call(lambda c: c.host_capacity(host))

    # -- changes -----------------------------------------------------------------------
    def force_down_service(
        self,
        host: str,
        forced: bool = True,
        *,
        service: Service | None = None,
        fence: Fence | None = None,
    ) -> None:
        f = self._fence(fence)
        self._call(lambda c: c.force_down_service(host, forced, service=service, fence=f))

    def disable_service(
        self, host: str, reason: str, *, service: Service | None = None, fence: Fence | None = None
    ) -> None:
        f = self._fence(fence)
        self._call(lambda c: c.disable_service(host, reason, service=service, fence=f))

    def enable_service(
        self, host: str, *, service: Service | None = None, fence: Fence | None = None
    ) -> None:
        f = self._fence(fence)
        self._call(lambda c: c.enable_service(host, service=service, fence=f))

    def lock_server(self, server_id: str, *, fence: Fence | None = None) -> None:
        f = self._fence(fence)
        self._call(lambda c: c.lock_server(server_id, fence=f))

    def unlock_server(self, server_id: str, *, fence: Fence | None = None) -> None:
        f = self._fence(fence)
        self._call(lambda c: c.unlock_server(server_id, fence=f))

    def stop_server(self, server_id: str, *, fence: Fence | None = None) -> None:
        f = self._fence(fence)
        self._call(lambda c: c.stop_server(server_id, fence=f))

    def start_server(self, server_id: str, *, fence: Fence | None = None) -> None:
        f = self._fence(fence)
        self._call(lambda c: c.start_server(server_id, fence=f))

    def reset_state(self, server_id: str, state: str, *, fence: Fence | None = None) -> None:
        f = self._fence(fence)
        self._call(lambda c: c.reset_state(server_id, state, fence=f))

    def evacuate_server(
        self,
        server_id: str,
        host: str | None = None,
        *,
        before: Server | None = None,
        fence: Fence | None = None,
    ) -> None:
        f = self._fence(fence)
        self._call(lambda c: c.evacuate_server(server_id, host, before=before, fence=f))

    def add_host_to_aggregate(
        self, aggregate_id: str, host: str, *, fence: Fence | None = None
    ) -> None:
        f = self._fence(fence)
        self._call(lambda c: c.add_host_to_aggregate(aggregate_id, host, fence=f))
