"""The invariant checker, on states built by hand (SQLite store + sim snapshots)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any

import pytest

from rhworker.models import Host, Move, MoveState, NotificationStatus, RecoveryMethod, Segment
from rhworker.store import Store, from_url
from rhworker.verify import verify
from tests.unit.test_outside import evac

S = NotificationStatus
STOPPED = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


@pytest.fixture
def db(tmp_path: Any) -> str:
    return str(tmp_path / "rhworker.db")


@pytest.fixture
def store(db: str) -> Any:
    s = from_url(f"sqlite:///{db}")
    s.create_segment(Segment(name="seg1", recovery_method="reserved_host"))  # type: ignore[arg-type]
    for name in ("c1", "c2"):
        s.create_host(Host(name=name, segment="seg1"))
    for name in ("spare1", "spare2"):
        s.create_host(Host(name=name, segment="seg1", reserved=True))
    yield s
    s.close()


def host(name: str, alive: bool = True, enabled: bool = True, up: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "alive": alive,
        "service": {
            "status": "enabled" if enabled else "disabled",
            "state": "up" if up else "down",
        },
    }


def server(sid: str, where: str, status: str = "ACTIVE") -> dict[str, Any]:
    return {"id": sid, "name": sid, "host": where, "status": status, "task_state": None}


def sim_state(servers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "hosts": [
            host("c1", alive=False, enabled=False, up=False),
            host("c2"),
            host("spare1"),
            host("spare2", enabled=False),
        ],
        "servers": servers,
        "migrations": [],
        "violations": [],
    }
    state.update(extra)
    return state


def recover(
    store: Store,
    hostname: str,
    *,
    claim: str | None = None,
    moves: list[tuple[str, MoveState, str]] = (),  # type: ignore[assignment]
    final: NotificationStatus = S.FINISHED,
) -> str:
    """Create, deliver and finish a notification as a worker would."""
    n = store.create_notification("COMPUTE_HOST", hostname, dict(STOPPED), dedup_interval=0)
    d = store.consume("w1", lease_timeout=30)
    assert d is not None and d.notification_id == n.id
    store.set_status(n.id, S.RUNNING, expected=[S.NEW], token=d.token)
    if claim:
        store.claim_reserved_host(n.id, claim, token=d.token)
    for instance, state, message in moves:
        move = Move(n.id, instance, source=hostname, target=claim, state=state, message=message)
        store.upsert_move(move, token=d.token)
    if final != S.RUNNING:
        store.set_status(n.id, final, expected=[S.RUNNING], token=d.token)
        store.ack(d)
    return n.id


def kinds(report: Any) -> list[str]:
    return sorted(v.kind for v in report.violations)


def test_clean_recovery_is_ok(store: Store) -> None:
    nid = recover(store, "c1", claim="spare1", moves=[("vm1", MoveState.SUCCEEDED, "")])
    report = verify(store, sim_state([server("vm1", "spare1")]), accepted_ids=[nid])
    assert report.ok, report.summary()
    assert report.counts["notifications.finished"] == 1
    assert report.counts["moves.succeeded"] == 1
    assert report.counts["hosts.claimed"] == 1


def _tamper(db: str, sql: str, *args: Any) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(sql, args)
    conn.close()


def test_two_notifications_with_the_same_claim(store: Store, db: str) -> None:
    first = recover(store, "c1", claim="spare1")
    second = recover(store, "c2")
    claims = store.get_notification(first).progress.claims
    data = json.dumps([{"host": c.host, "epoch": c.epoch} for c in claims])
    _tamper(db, "UPDATE notifications SET claims = ? WHERE id = ?", data, second)
    report = verify(store, sim_state([]))
    assert kinds(report) == ["double_claim"]
    assert report.violations[0].subject == "spare1"


def test_host_claimed_by_a_notification_without_that_claim(store: Store, db: str) -> None:
    recover(store, "c1", claim="spare1")
    other = recover(store, "c2")
    _tamper(db, "UPDATE hosts SET claimed_by = ? WHERE name = 'spare1'", other)
    report = verify(store, sim_state([]))
    assert kinds(report) == ["claim_mismatch"]


def test_host_claimed_by_a_missing_notification(store: Store, db: str) -> None:
    _tamper(
        db,
        "UPDATE hosts SET reserved = 0, claimed_by = ?, claim_epoch = ? WHERE name = ?",
        "ghost",
        9,
        "spare2",
    )
    report = verify(store, sim_state([]))
    assert kinds(report) == ["claim_mismatch"]
    assert "ghost" in report.violations[0].message


def test_stale_claim_after_the_host_was_reserved_again_is_fine(store: Store) -> None:
    recover(store, "c1", claim="spare1")
    store.update_host("spare1", reserved=True)
    recover(store, "c2", claim="spare1")
    assert verify(store, sim_state([])).ok


def test_server_left_on_the_dead_host(store: Store) -> None:
    recover(store, "c1", claim="spare1", moves=[("vm1", MoveState.SUCCEEDED, "")])
    report = verify(store, sim_state([server("vm1", "c1")]))
    assert kinds(report) == ["server_not_recovered"]
    assert "not live" in report.violations[0].message


def test_server_in_error_on_a_live_host(store: Store) -> None:
    recover(store, "c1", claim="spare1", moves=[("vm1", MoveState.SUCCEEDED, "")])
    report = verify(store, sim_state([server("vm1", "spare1", "ERROR")]))
    assert kinds(report) == ["server_not_recovered"]


def test_server_in_error_before_recovery_may_end_in_error(store: Store) -> None:
    n = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED), dedup_interval=0)
    d = store.consume("w1", lease_timeout=30)
    assert d is not None
    store.set_status(n.id, S.RUNNING, expected=[S.NEW], token=d.token)
    store.claim_reserved_host(n.id, "spare1", token=d.token)
    move = Move(n.id, "vm1", source="c1", target="spare1", state=MoveState.SUCCEEDED)
    move.original_status = "ERROR"  # it was broken before the host failed
    store.upsert_move(move, token=d.token)
    store.set_status(n.id, S.FINISHED, expected=[S.RUNNING], token=d.token)
    store.ack(d)
    report = verify(store, sim_state([server("vm1", "spare1", "ERROR")]))
    assert report.ok, report.summary()


def test_server_on_a_disabled_host_or_missing(store: Store) -> None:
    recover(store, "c1", moves=[("vm1", MoveState.SUCCEEDED, ""), ("vm2", MoveState.SUCCEEDED, "")])
    report = verify(store, sim_state([server("vm1", "spare2")]))
    assert kinds(report) == ["server_not_recovered", "server_not_recovered"]
    assert {v.subject for v in report.violations} == {"vm1", "vm2"}


def test_server_found_by_migration_without_a_move(store: Store) -> None:
    recover(store, "c1")
    migration = {"instance_uuid": "vm9", "source_compute": "c1", "dest_compute": "c1"}
    report = verify(store, sim_state([server("vm9", "c1")], migrations=[migration]))
    assert [v.subject for v in report.violations] == ["vm9"]


def test_a_move_that_says_why_explains_the_server(store: Store) -> None:
    moves = [
        ("vm1", MoveState.SKIPPED, "not HA-enabled"),
        ("vm2", MoveState.FAILED, "No valid host was found"),
    ]
    recover(store, "c1", moves=moves)
    report = verify(store, sim_state([server("vm1", "c1"), server("vm2", "c1", "ERROR")]))
    assert report.ok, report.summary()


def test_a_gone_move_explains_a_server_deleted_during_recovery(store: Store) -> None:
    moves = [
        ("vm1", MoveState.SUCCEEDED, ""),
        ("vm2", MoveState.GONE, "server deleted during recovery"),
    ]
    recover(store, "c1", claim="spare1", moves=moves)
    report = verify(store, sim_state([server("vm1", "spare1")]))
    assert report.ok, report.summary()
    assert report.counts["moves.gone"] == 1


def test_a_failed_notification_is_not_held_to_recovery(store: Store) -> None:
    recover(store, "c1", moves=[("vm1", MoveState.FAILED, "")], final=S.FAILED)
    assert verify(store, sim_state([server("vm1", "c1")])).ok


def test_not_terminal_without_a_live_lease(store: Store) -> None:
    n = store.create_notification("COMPUTE_HOST", "c2", dict(STOPPED), dedup_interval=0)
    report = verify(store, sim_state([]))
    assert kinds(report) == ["not_terminal"]
    assert report.violations[0].subject == n.id
    assert "no lease" in report.violations[0].message


def test_running_under_a_live_lease_is_fine_until_it_expires(store: Store) -> None:
    recover(store, "c2", final=S.RUNNING)
    assert verify(store, sim_state([])).ok
    later = time.time() + 3600
    assert kinds(verify(store, sim_state([]), now=later)) == ["not_terminal"]


def test_accepted_notification_lost(store: Store) -> None:
    nid = recover(store, "c2")
    report = verify(store, sim_state([]), accepted_ids=[nid, "0000-lost"])
    assert kinds(report) == ["lost"]
    assert report.violations[0].subject == "0000-lost"


def test_simulator_violations_are_reported(store: Store) -> None:
    record = {
        "violation": "evacuated_twice_concurrently",
        "server": "vm1",
        "message": "server vm1 evacuated twice concurrently",
    }
    report = verify(store, sim_state([], violations=[record]))
    assert kinds(report) == ["simulator"]
    assert report.violations[0].subject == "vm1"
    assert "twice" in report.summary()


def test_cli_verify(tmp_path: Any, capsys: Any) -> None:
    from rhworker.cli import main
    from rhworker.testing.sim_fixture import running_simulator

    state_dir = str(tmp_path / "state")
    with running_simulator() as sim:
        # verify only reads: no store, no verdict (and none created)
        assert main(["--state-dir", state_dir, "verify", "--sim-url", sim.url]) == 6
        assert "no store at" in capsys.readouterr().err
        assert not os.path.exists(state_dir)
        os.mkdir(state_dir)
        from_url(f"sqlite:///{state_dir}/rhworker.db").close()
        assert main(["--state-dir", state_dir, "verify", "--sim-url", sim.url]) == 0
        assert "OK" in capsys.readouterr().out
        sim.cloud.violation("evacuated_twice_concurrently", server="x", message="twice")
        assert main(["--state-dir", state_dir, "verify", "--sim-url", sim.url, "--json"]) == 1
        out = json.loads(capsys.readouterr().out)
        assert out["ok"] is False
        assert out["violations"][0]["kind"] == "simulator"


# -- a spare serves one failed host, as Nova sees it ------------------------------------


def test_spare_with_servers_of_two_failed_hosts(store: Store) -> None:
    # The store says spare1 serves c1 only (it lost c2's claim, e.g. a rollback);
    # Nova's records say otherwise.
    recover(store, "c1", claim="spare1", moves=[("vm1", MoveState.SUCCEEDED, "")])
    recover(store, "c2", moves=[("vm2", MoveState.SUCCEEDED, "")])
    state = sim_state(
        [server("vm1", "spare1"), server("vm2", "spare1")],
        migrations=[evac(1, "vm1", "c1", "spare1"), evac(2, "vm2", "c2", "spare1")],
    )
    report = verify(store, state)
    assert kinds(report) == ["spare_shared"]
    assert report.violations[0].subject == "spare1"
    assert "1 from c1, 1 from c2" in report.violations[0].message


def test_spare_counts_an_evacuation_still_under_way(store: Store) -> None:
    recover(store, "c1", claim="spare1", moves=[("vm1", MoveState.SUCCEEDED, "")])
    state = sim_state(
        [server("vm1", "spare1"), server("vm2", "c2")],
        migrations=[
            evac(1, "vm1", "c1", "spare1"),
            evac(2, "vm2", "c2", "spare1", status="migrating"),
        ],
    )
    assert kinds(verify(store, state)) == ["spare_shared"]


def test_spare_ignores_failed_evacuations_and_servers_gone_elsewhere(store: Store) -> None:
    recover(store, "c1", claim="spare1", moves=[("vm1", MoveState.SUCCEEDED, "")])
    state = sim_state(
        [server("vm1", "spare1"), server("vm2", "c2"), server("vm3", "c2")],
        migrations=[
            evac(1, "vm1", "c1", "spare1"),
            evac(2, "vm2", "c2", "spare1", status="error"),  # never moved
            evac(3, "vm3", "c2", "spare1"),  # moved there, then away again
            {**evac(4, "vm1", "c1", "c2"), "migration_type": "live-migration"},
        ],
    )
    assert verify(store, state).ok


def test_spare_latest_evacuation_of_a_server_decides(store: Store) -> None:
    # A first evacuation of vm1 to spare1 (from c2) failed; the one that counts is from c1.
    recover(store, "c1", claim="spare1", moves=[("vm1", MoveState.SUCCEEDED, "")])
    state = sim_state(
        [server("vm1", "spare1"), server("vm2", "spare1")],
        migrations=[
            evac(1, "vm1", "c2", "spare1", status="failed"),
            evac(2, "vm1", "c1", "spare1"),
            evac(3, "vm2", "c1", "spare1"),
        ],
    )
    assert verify(store, state).ok


def test_spares_given_explicitly(store: Store) -> None:
    # c2 is not a spare as far as the store knows; the caller says it is one.
    state = sim_state(
        [server("vm1", "c2"), server("vm2", "c2")],
        migrations=[evac(1, "vm1", "c1", "c2"), evac(2, "vm2", "spare2", "c2")],
    )
    assert verify(store, state).ok
    report = verify(store, state, spares=["c2"])
    assert kinds(report) == ["spare_shared"] and report.violations[0].subject == "c2"


def test_spare_filled_by_the_scheduler_for_an_auto_segment_is_not_shared(store: Store) -> None:
    # c1 claimed spare1; c9 of an ``auto`` segment was placed there by Nova's
    # scheduler (a claimed spare is an ordinary enabled host): not a spare used twice.
    store.create_segment(Segment(name="seg9", recovery_method=RecoveryMethod.AUTO))
    store.create_host(Host(name="c9", segment="seg9"))
    recover(store, "c1", claim="spare1", moves=[("vm1", MoveState.SUCCEEDED, "")])
    recover(store, "c9", moves=[("vm9", MoveState.SUCCEEDED, "")])
    state = sim_state(
        [server("vm1", "spare1"), server("vm9", "spare1")],
        migrations=[evac(1, "vm1", "c1", "spare1"), evac(2, "vm9", "c9", "spare1")],
    )
    assert verify(store, state).ok, verify(store, state).summary()


# -- the demo's VM and PROCESS checks ------------------------------------------------------


def test_check_instance_recovered():
    from rhworker.verify import check_instance_recovered

    state = {
        "servers": [
            {"id": "s1", "name": "vm1", "status": "ACTIVE", "power_state": 1},
            {"id": "s2", "name": "vm2", "status": "ACTIVE", "power_state": 4},
            {"id": "s3", "name": "vm3", "status": "SHUTOFF", "power_state": 4},
        ]
    }
    assert check_instance_recovered(state, "s1") == []
    for sid in ("s2", "s3", "gone"):
        [v] = check_instance_recovered(state, sid)
        assert v.kind == "instance_not_recovered"


def test_check_process_recovered():
    from rhworker.verify import check_process_recovered, service_of

    reason = "Masakari detected process failed."
    disabled = {"status": "disabled", "disabled_reason": f"{reason} notification n1"}
    enabled = {"status": "enabled", "disabled_reason": None}
    assert check_process_recovered("h", disabled, enabled, reason) == []
    someone_else = {"status": "disabled", "disabled_reason": "maintenance by ops"}
    cases = [
        (someone_else, enabled),  # disabled, but not with Masakari's reason
        (enabled, enabled),  # never disabled
        (disabled, disabled),  # not enabled again
        (None, enabled),  # not read after STOPPED
        (disabled, None),  # STARTED never sent
    ]
    for after_stopped, after_started in cases:
        [v] = check_process_recovered("h", after_stopped, after_started, reason)
        assert v.kind == "process_not_recovered" and v.subject == "h"
    state = {"hosts": [{"name": "h", "service": enabled}]}
    assert service_of(state, "h") == enabled and service_of(state, "x") is None
