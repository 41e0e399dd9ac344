"""The outside checker (rhworker.testing.outside) on Nova reports built by hand."""

from __future__ import annotations

from typing import Any

from rhworker.testing.outside import check, live_hosts

FAILED = {"c1", "c2"}
RESERVED = {"spare1", "spare2"}


def service(host: str, *, enabled: bool = True, up: bool = True, crashed: bool = False) -> dict:
    return {
        "host": host,
        "status": "enabled" if enabled else "disabled",
        "state": "up" if up else "down",
        "forced_down": not up,
        "crashed": crashed,
    }


SERVICES = [
    service("c1", enabled=False, up=False, crashed=True),
    service("c2", enabled=False, up=False, crashed=True),
    service("c3"),
    service("spare1"),
    service("spare2"),
    service("spare3", enabled=False),
]


def server(sid: str, host: str, status: str = "ACTIVE", task: str | None = None) -> dict:
    return {"id": sid, "name": f"vm-{sid}", "host": host, "status": status, "task_state": task}


def evac(
    mid: int,
    sid: str,
    source: str,
    dest: str | None,
    status: str = "done",
    created: str = "2026-11-30T04:00:00.000000",
    updated: str = "2026-11-30T04:00:05.000000",
) -> dict[str, Any]:
    return {
        "id": mid,
        "instance_uuid": sid,
        "source_compute": source,
        "dest_compute": dest,
        "status": status,
        "migration_type": "evacuation",
        "created_at": created,
        "updated_at": updated,
    }


def good_run() -> tuple[list[dict], list[dict]]:
    """c1's two servers on spare1, c2's one on spare2: all as it should be."""
    servers = [server("a", "spare1"), server("b", "spare1"), server("c", "spare2")]
    migrations = [
        evac(1, "a", "c1", "spare1"),
        evac(2, "b", "c1", "spare1"),
        evac(3, "c", "c2", "spare2"),
    ]
    return servers, migrations


def test_a_clean_recovery_has_no_violation() -> None:
    servers, migrations = good_run()
    assert check(servers, migrations, SERVICES, FAILED, RESERVED) == []


def test_live_hosts_are_enabled_up_and_not_crashed() -> None:
    assert live_hosts(SERVICES) == {"c3", "spare1", "spare2"}
    assert live_hosts([service("x", crashed=True)]) == set()


def test_server_left_on_failed_host_is_reported() -> None:
    servers, migrations = good_run()
    servers.append(server("d", "c1"))
    found = check(servers, migrations, SERVICES, FAILED, RESERVED)
    assert found == ["server vm-d (d): still on failed host c1 (ACTIVE)"]


def test_server_on_a_host_that_is_not_live() -> None:
    servers = [server("a", "spare3")]
    migrations = [evac(1, "a", "c1", "spare3")]
    found = check(servers, migrations, SERVICES, FAILED, set())
    assert found == ["server vm-a (a): on spare3, which is not a live host"]


def test_wrong_status_and_running_task_are_reported() -> None:
    servers, migrations = good_run()
    servers[0] = server("a", "spare1", "ERROR")
    servers[1] = server("b", "spare1", "REBUILD", "rebuild_spawning")
    found = check(servers, migrations, SERVICES, FAILED, RESERVED)
    assert found == [
        "server vm-a (a): ERROR on spare1, expected ACTIVE",
        "server vm-b (b): task rebuild_spawning still running on spare1",
        "server vm-b (b): REBUILD on spare1, expected ACTIVE",
    ]


def test_expected_status_by_name_or_id() -> None:
    servers, migrations = good_run()
    servers[0] = server("a", "spare1", "ERROR")
    servers[2] = server("c", "spare2", "SHUTOFF")
    expected = {"a": "ERROR", "vm-c": "SHUTOFF"}
    assert check(servers, migrations, SERVICES, FAILED, RESERVED, expected=expected) == []


def test_left_behind_must_stay_and_not_be_evacuated() -> None:
    servers, migrations = good_run()
    servers.append(server("d", "c1"))
    assert check(servers, migrations, SERVICES, FAILED, RESERVED, left_behind={"vm-d"}) == []
    # "a" was evacuated although it should have stayed
    found = check(servers, migrations, SERVICES, FAILED, RESERVED, left_behind={"a", "d"})
    assert found == [
        "server vm-a (a): should stay behind, but is on spare1",
        "server vm-a (a): should stay behind, but was evacuated",
    ]


def test_a_server_that_disappeared_after_its_evacuation() -> None:
    servers, migrations = good_run()
    del servers[0]
    found = check(servers, migrations, SERVICES, FAILED, RESERVED)
    assert found == ["server a: evacuated from a failed host, then gone"]


def test_two_overlapping_evacuations_of_one_server() -> None:
    # The takeover that re-posts mid-spawn: both collide, the server ends ERROR.
    servers = [server("a", "c1", "ERROR")]
    migrations = [
        evac(1, "a", "c1", "spare1", "failed", updated="2026-11-30T04:00:09.000000"),
        evac(2, "a", "c1", "spare1", "failed", created="2026-11-30T04:00:04.000000"),
    ]
    found = check(servers, migrations, SERVICES, FAILED, RESERVED)
    assert "server vm-a (a): still on failed host c1 (ERROR)" in found
    assert (
        "server vm-a (a): evacuation 2 (c1->spare1) posted while evacuation 1 (failed) still ran"
        in found
    )
    assert "server vm-a (a): evacuated 2 times from c1 (spare1:failed, spare1:failed)" in found


def test_an_evacuation_still_running_overlaps_any_later_one() -> None:
    servers = [server("a", "spare1")]
    migrations = [
        evac(1, "a", "c1", "spare1", "pre-migrating", updated="2026-11-30T04:00:00.000000"),
        evac(2, "a", "c1", "spare1", "done", created="2026-11-30T04:00:30.000000"),
    ]
    found = check(servers, migrations, SERVICES, FAILED, RESERVED)
    assert any("posted while evacuation 1 (pre-migrating) still ran" in v for v in found)


def test_a_rebuild_lost_with_its_failed_destination_is_not_an_evacuation() -> None:
    # c2 died under the rebuild (pre-migrating for ever): the server was reset and
    # evacuated again onto spare2; the lost one neither overlaps nor counts
    servers = [server("a", "spare2")]
    migrations = [
        evac(1, "a", "c1", "c2", "pre-migrating", updated="2026-11-30T04:00:00.000000"),
        evac(2, "a", "c1", "spare2", "done", created="2026-11-30T04:00:30.000000"),
    ]
    assert check(servers, migrations, SERVICES, FAILED, RESERVED) == []
    # the same toward a live host is still two evacuations at once
    migrations[0]["dest_compute"] = "c3"
    found = check(servers, migrations, SERVICES, FAILED, RESERVED)
    assert any("posted while evacuation 1 (pre-migrating) still ran" in v for v in found)


def test_a_retry_after_no_valid_host_is_fine() -> None:
    # spare1 was full: Nova refused (error), the next try went to spare2.
    servers = [server("a", "spare2")]
    migrations = [
        evac(1, "a", "c1", "spare1", "error", updated="2026-11-30T04:00:01.000000"),
        evac(2, "a", "c1", "spare2", "done", created="2026-11-30T04:00:02.000000"),
    ]
    assert check(servers, migrations, SERVICES, FAILED, {"spare1", "spare2"}) == []


def test_sequential_evacuations_from_one_failure_count_twice() -> None:
    # No overlap in time, but two rebuilds from the same failure (e.g. a re-post
    # after the first one ended): still more than one evacuation per failure.
    servers = [server("a", "spare1")]
    migrations = [
        evac(1, "a", "c1", "spare1", "done", updated="2026-11-30T04:00:03.000000"),
        evac(2, "a", "c1", "spare1", "done", created="2026-11-30T04:00:04.000000"),
    ]
    found = check(servers, migrations, SERVICES, FAILED, RESERVED)
    assert found == ["server vm-a (a): evacuated 2 times from c1 (spare1:done, spare1:done)"]


def test_completed_evacuation_then_a_second_failure_is_fine() -> None:
    # c1 failed, a went to spare1; later spare1 failed and a went to c3; c1 came
    # back meanwhile and moved its evacuation to "completed" (updated late).
    servers = [server("a", "c3")]
    migrations = [
        evac(1, "a", "c1", "spare1", "completed", updated="2026-11-30T04:10:00.000000"),
        evac(2, "a", "spare1", "c3", "done", created="2026-11-30T04:05:00.000000"),
    ]
    found = check(servers, migrations, SERVICES, {"c1", "spare1"}, set())
    assert found == []


def test_a_spare_with_servers_of_two_failures() -> None:
    servers = [server("a", "spare1"), server("c", "spare1")]
    migrations = [evac(1, "a", "c1", "spare1"), evac(2, "c", "c2", "spare1")]
    found = check(servers, migrations, SERVICES, FAILED, RESERVED)
    assert found == ["reserved host spare1: received servers of 2 failures (c1, c2)"]


def test_a_spare_aimed_at_even_when_nova_refused() -> None:
    # rhworker aimed c2's server at spare1 (already c1's): Nova refused it, but the
    # aim alone breaks the rule.
    servers = [server("a", "spare1"), server("c", "spare2")]
    migrations = [
        evac(1, "a", "c1", "spare1"),
        evac(2, "c", "c2", "spare1", "error", updated="2026-11-30T04:00:06.000000"),
        evac(3, "c", "c2", "spare2", created="2026-11-30T04:00:07.000000"),
    ]
    found = check(servers, migrations, SERVICES, FAILED, RESERVED)
    assert found == ["reserved host spare1: received servers of 2 failures (c1, c2)"]


def test_a_spare_receiving_servers_of_a_host_that_did_not_fail() -> None:
    servers = [server("x", "spare1")]
    migrations = [evac(1, "x", "c3", "spare1")]
    found = check(servers, migrations, SERVICES, FAILED, RESERVED)
    assert found == ["reserved host spare1: received servers of c3, which did not fail"]


def test_other_migration_types_are_ignored() -> None:
    servers, migrations = good_run()
    migrations.append({**evac(9, "a", "c1", "spare2"), "migration_type": "live-migration"})
    assert check(servers, migrations, SERVICES, FAILED, RESERVED) == []


def test_epoch_seconds_timestamps_are_read_too() -> None:
    servers = [server("a", "spare1")]
    migrations = [
        {**evac(1, "a", "c1", "spare1", "failed"), "created_at": 100.0, "updated_at": 110.0},
        {**evac(2, "a", "c1", "spare1", "done"), "created_at": 105.0, "updated_at": 120.0},
    ]
    found = check(servers, migrations, SERVICES, FAILED, RESERVED)
    assert any("posted while evacuation 1 (failed) still ran" in v for v in found)
