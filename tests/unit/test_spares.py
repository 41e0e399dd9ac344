"""Nova's word on a spare (rhworker.recovery.spares), on the in-package FakeCompute."""

from __future__ import annotations

from types import SimpleNamespace

from rhworker.compute.fake import FakeCompute
from rhworker.recovery.spares import serving_other_host

Evac = tuple[str, str, str, str]  # server, source, destination, migration status


def nova(evacuations: list[Evac], servers: dict[str, str]) -> FakeCompute:
    """Nova with these evacuation records and servers (id → host)."""
    made = FakeCompute()
    for sid, source, dest, status in evacuations:
        made.add_migration(sid, source, dest, status)
    for sid, host in servers.items():
        made.add_server(sid, host)
    return made


def check(nova: FakeCompute, spare: str = "spare-1", failed: str = "c1") -> str | None:
    return serving_other_host(SimpleNamespace(compute=nova), spare, failed)  # type: ignore[arg-type]


def asked(nova: FakeCompute) -> list[tuple[str, object]]:
    return [(c.name, c.kwargs.get("host") or c.args[0]) for c in nova.calls]


def test_a_fresh_spare_is_free_with_one_call() -> None:
    fake = nova([], {})
    assert check(fake) is None
    assert asked(fake) == [("list_migrations", "spare-1")]


def test_servers_of_the_same_failed_host_do_not_count() -> None:
    fake = nova([("a", "c1", "spare-1", "done")], {"a": "spare-1"})
    assert check(fake) is None
    assert asked(fake) == [("list_migrations", "spare-1")]  # no server read needed


def test_servers_of_another_failed_host_make_it_taken() -> None:
    fake = nova([("a", "c2", "spare-1", "done")], {"a": "spare-1"})
    assert check(fake) == "c2"


def test_an_evacuation_under_way_counts() -> None:
    fake = nova([("a", "c2", "spare-1", "migrating")], {"a": "c2"})
    assert check(fake) == "c2"


def test_failed_moved_away_or_deleted_servers_do_not_count() -> None:
    fake = nova(
        [
            ("a", "c2", "spare-1", "error"),
            ("b", "c2", "spare-1", "done"),  # since moved on
            ("c", "c2", "spare-1", "done"),  # since deleted
            ("d", "spare-1", "c3", "done"),  # from the spare, not to it
        ],
        {"a": "c2", "b": "c3", "d": "c3"},
    )
    assert check(fake) is None
    assert ("get_server", "c") in asked(fake)  # read, found deleted
