"""Nova's word on a spare (rhworker.recovery.spares), on an in-package fake Nova."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from rhworker.compute.base import Migration, Server
from rhworker.errors import ComputeNotFound
from rhworker.recovery.spares import serving_other_host


class FakeNova:
    def __init__(self, migrations: list[Migration], servers: dict[str, str]) -> None:
        self.migrations = migrations
        self.servers = servers  # id → host
        self.calls: list[tuple[str, Any]] = []

    def list_migrations(self, *, host: str | None = None, **_: Any) -> list[Migration]:
        self.calls.append(("list_migrations", host))
        return [m for m in self.migrations if host in (m.source_host, m.dest_host)]

    def get_server(self, server_id: str) -> Server:
        self.calls.append(("get_server", server_id))
        if server_id not in self.servers:
            raise ComputeNotFound(f"server {server_id} not found")
        return Server(
            id=server_id,
            name=server_id,
            host=self.servers[server_id],
            status="ACTIVE",
            vm_state="active",
            task_state=None,
            power_state=1,
        )


def evac(sid: str, source: str, dest: str, status: str = "done") -> Migration:
    return Migration(
        id=sid,
        instance_id=sid,
        source_host=source,
        dest_host=dest,
        status=status,
        migration_type="evacuation",
    )


def check(nova: FakeNova, spare: str = "spare-1", failed: str = "c1") -> str | None:
    return serving_other_host(SimpleNamespace(compute=nova), spare, failed)  # type: ignore[arg-type]


def test_a_fresh_spare_is_free_with_one_call() -> None:
    nova = FakeNova([], {})
    assert check(nova) is None
    assert nova.calls == [("list_migrations", "spare-1")]


def test_servers_of_the_same_failed_host_do_not_count() -> None:
    nova = FakeNova([evac("a", "c1", "spare-1")], {"a": "spare-1"})
    assert check(nova) is None
    assert nova.calls == [("list_migrations", "spare-1")]  # no server read needed


def test_servers_of_another_failed_host_make_it_taken() -> None:
    nova = FakeNova([evac("a", "c2", "spare-1")], {"a": "spare-1"})
    assert check(nova) == "c2"


def test_an_evacuation_under_way_counts() -> None:
    nova = FakeNova([evac("a", "c2", "spare-1", status="migrating")], {"a": "c2"})
    assert check(nova) == "c2"


def test_failed_moved_away_or_deleted_servers_do_not_count() -> None:
    nova = FakeNova(
        [
            evac("a", "c2", "spare-1", status="error"),
            evac("b", "c2", "spare-1"),  # since moved on
            evac("c", "c2", "spare-1"),  # since deleted
            evac("d", "spare-1", "c3"),  # from the spare, not to it
        ],
        {"a": "c2", "b": "c3", "d": "c3"},
    )
    assert check(nova) is None
