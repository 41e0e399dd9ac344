"""One server's evacuation against the in-memory FakeCompute (no HTTP), on a real
SQLite store: the takeover decisions (task states, Nova's migration records), servers
deleted meanwhile, whose lock is whose, and HA-enabled instances first."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rhworker.compute import openstack
from rhworker.compute.base import REBUILD_TASK_STATES, Server
from rhworker.compute.fake import FakeCompute, failed_evacuation, nova_evacuation
from rhworker.coordination import Coordinator
from rhworker.errors import ComputeTransient, LeaseLost
from rhworker.models import (
    Delivery,
    Host,
    Move,
    MoveState,
    NotificationStatus,
    RecoveryMethod,
    Segment,
)
from rhworker.recovery import evacuation, host_failure
from rhworker.recovery.base import HostFailureOptions, LeaseGuard, RecoveryContext
from rhworker.recovery.evacuation import Evacuation, ServerWatch
from rhworker.recovery.host_failure import HostFailureDriver
from rhworker.recovery.targets import claim_reserved_host
from rhworker.store import Store, from_url
from tests.unit.driver_env import Clock

STOPPED = {"event": "STOPPED", "host_status": "NORMAL"}
FAILED_HOST = "c1"
SPARE = "spare-1"


@dataclasses.dataclass
class Env:
    store: Store
    compute: FakeCompute
    clock: Clock
    tmp: Any
    nid: str = ""
    delivery: Delivery | None = None
    guard: LeaseGuard | None = None

    def ctx(self, **options: Any) -> RecoveryContext:
        assert self.delivery is not None and self.guard is not None
        return RecoveryContext(
            store=self.store,
            coordinator=Coordinator(f"file://{self.tmp}/locks", "w1", heartbeat=False),
            compute=self.compute,
            delivery=self.delivery,
            worker_id=self.delivery.worker_id,
            options=HostFailureOptions(
                wait_period_after_evacuation=60.0, verify_interval=1.0, **options
            ),
            lease=self.guard,
            clock=self.clock.time,
            sleep=self.clock.sleep,
        )

    def take(self, worker: str = "w1", *, later: float = 0.0) -> Delivery:
        """Hand the notification to ``worker`` (``later``: past the previous lease)."""
        delivery = self.store.consume(worker, lease_timeout=30.0, now=self.clock.now + later)
        assert delivery is not None and delivery.notification_id == self.nid
        self.delivery = delivery
        self.guard = LeaseGuard(renew=lambda: None, lease_timeout=30.0)
        return delivery

    def move(self, server_id: str, **fields: Any) -> Move:
        move = Move(
            notification_id=self.nid,
            instance_id=server_id,
            instance_name=server_id,
            source=FAILED_HOST,
            **{"original_status": "ACTIVE", **fields},
        )
        assert self.delivery is not None
        self.store.upsert_move(move, token=self.delivery.token)
        return move

    def stored(self, server_id: str) -> Move:
        return next(m for m in self.store.list_moves(self.nid) if m.instance_id == server_id)

    def steps(self, name: str) -> list[Any]:
        return [s for s in self.store.get_notification(self.nid).progress.steps if s.name == name]


@pytest.fixture
def env(tmp_path: Any) -> Iterator[Env]:
    store = from_url(f"sqlite:///{tmp_path}/rhworker.db")
    store.create_segment(Segment(name="seg", recovery_method=RecoveryMethod.AUTO))
    store.create_host(Host(name=FAILED_HOST, segment="seg"))
    store.create_host(Host(name=SPARE, segment="seg"))
    compute = FakeCompute(scheduler_host=SPARE)
    compute.add_host(FAILED_HOST, state="down")
    compute.add_host(SPARE)
    e = Env(store=store, compute=compute, clock=Clock(), tmp=tmp_path)
    e.nid = store.create_notification("COMPUTE_HOST", FAILED_HOST, dict(STOPPED)).id
    e.take()
    yield e
    store.close()


def _run(env: Env, move: Move, target: str | None = SPARE) -> Move:
    return Evacuation(env.ctx(), move, FAILED_HOST, target).run()


# -- the takeover: never a second evacuate while Nova works on the first ----------------


@pytest.mark.parametrize("task_state", REBUILD_TASK_STATES)
def test_resume_in_any_rebuild_state_waits_and_never_evacuates_again(
    env: Env, task_state: str
) -> None:
    # The first worker posted the evacuate, locked the server, recorded both, died.
    env.compute.add_server("vm-1", FAILED_HOST, task_state=task_state, locked=True)
    env.compute.servers["vm-1"].status = "REBUILD"
    env.compute.add_migration("vm-1", FAILED_HOST, SPARE, "pre-migrating")
    # The first read shows ``task_state``; then Nova goes on from there.
    rest = nova_evacuation(SPARE)[REBUILD_TASK_STATES.index(task_state) :]
    env.compute.script("vm-1", [{}, *rest])
    move = env.move("vm-1", state=MoveState.ONGOING, started_at=1.0, locked_by_rhworker=True)

    done = _run(env, move)

    assert done.state == MoveState.SUCCEEDED and done.target == SPARE, done.message
    assert env.compute.calls_of("evacuate_server") == []
    assert env.compute.violations == []
    assert env.compute.calls_of("unlock_server", "vm-1")  # ours, from the record
    assert not env.compute.servers["vm-1"].locked
    assert env.stored("vm-1").locked_by_rhworker is False
    assert f"task state {task_state}" in env.steps("evacuation_in_progress")[0].message


def test_resume_with_task_state_cleared_but_migration_in_progress_waits(env: Env) -> None:
    # Real Nova clears the task state after spawning, then moves the host and marks the
    # migration done: in between the server looks ACTIVE on the failed host.
    env.compute.add_server("vm-1", FAILED_HOST)
    env.compute.add_migration("vm-1", FAILED_HOST, SPARE, "pre-migrating")
    env.compute.script("vm-1", [{}, {}, {"host": SPARE, "migration": "done"}])
    move = env.move("vm-1", state=MoveState.ONGOING, started_at=1.0)

    done = _run(env, move)

    assert done.state == MoveState.SUCCEEDED and done.target == SPARE, done.message
    assert env.compute.calls_of("evacuate_server") == []
    assert env.compute.calls_of("list_migrations")
    assert "pre-migrating" in env.steps("evacuation_in_progress")[0].message


def test_resume_after_done_migration_waits_for_the_server_there(env: Env) -> None:
    env.compute.add_server("vm-1", FAILED_HOST)
    env.compute.add_migration("vm-1", FAILED_HOST, "spare-2", "done")
    env.compute.script("vm-1", [{}, {"host": "spare-2"}])
    move = env.move("vm-1", state=MoveState.ONGOING, started_at=1.0)

    done = _run(env, move)

    assert done.state == MoveState.SUCCEEDED and done.target == "spare-2", done.message
    assert env.compute.calls_of("evacuate_server") == []


def test_resume_with_only_an_old_done_migration_evacuates(env: Env) -> None:
    # Older history: evacuated c1 -> spare-2 long ago, moved back since; now c1 failed
    # again and this move's first attempt died before posting its evacuate.
    env.compute.add_server("vm-1", FAILED_HOST)
    env.compute.add_migration("vm-1", FAILED_HOST, "spare-2", "completed")
    move = env.move("vm-1", state=MoveState.ONGOING, started_at=1.0)

    done = _run(env, move)

    assert done.state == MoveState.SUCCEEDED and done.target == SPARE, done.message
    assert [c.args for c in env.compute.calls_of("evacuate_server")] == [("vm-1", SPARE)]


def test_resume_after_errored_migration_evacuates_again(env: Env) -> None:
    # The first attempt's evacuation ended "No valid host": ERROR on the source.
    env.compute.add_server("vm-1", FAILED_HOST, status="ERROR")
    env.compute.servers["vm-1"].fault = "No valid host was found."
    env.compute.add_migration("vm-1", "c0", FAILED_HOST, "completed")  # how it came to c1
    env.compute.add_migration("vm-1", FAILED_HOST, SPARE, "error")
    move = env.move("vm-1", state=MoveState.FAILED, started_at=1.0, message="No valid host")

    done = _run(env, move)

    assert done.state == MoveState.SUCCEEDED and done.target == SPARE, done.message
    assert [c.args for c in env.compute.calls_of("evacuate_server")] == [("vm-1", SPARE)]
    assert env.compute.servers["vm-1"].status == "ACTIVE"  # as before the failure
    assert env.compute.violations == []


def test_resume_already_on_another_host_is_done_without_a_call_that_changes(env: Env) -> None:
    env.compute.add_server("vm-1", SPARE)
    move = env.move("vm-1", state=MoveState.ONGOING, started_at=1.0)
    done = _run(env, move)
    assert done.state == MoveState.SUCCEEDED and done.message == f"already on {SPARE}"
    assert {c.name for c in env.compute.calls} == {"get_server"}


def test_fresh_evacuation_follows_novas_states_to_the_target(env: Env) -> None:
    env.compute.add_server("vm-1", FAILED_HOST)
    move = env.move("vm-1")
    done = _run(env, move)
    assert done.state == MoveState.SUCCEEDED and done.target == SPARE, done.message
    assert len(env.compute.calls_of("evacuate_server")) == 1
    assert env.compute.calls_of("list_migrations") == []  # a fresh move needs no history
    assert [m.status for m in env.compute.migrations] == ["done"]


def test_error_server_whose_evacuation_fails_is_failed_at_once_not_at_the_deadline(
    env: Env,
) -> None:
    # Was ERROR, stays ERROR: only the migration record says the evacuation ended.
    env.compute.add_server("vm-1", FAILED_HOST, status="ERROR")
    env.compute.script("vm-1", [{}, *failed_evacuation()])
    move = env.move("vm-1", original_status="ERROR")
    start = env.clock.now
    done = _run(env, move)
    assert done.state == MoveState.FAILED and "evacuation failed" in done.message
    assert env.clock.now - start < 5  # not the 60 s deadline


# -- a server deleted during recovery --------------------------------------------------------


def test_server_deleted_before_its_move_is_gone(env: Env) -> None:
    move = env.move("vm-gone")  # listed, then deleted by its owner
    done = _run(env, move)
    assert done.state == MoveState.GONE and "deleted" in done.message
    assert done.state.done
    assert env.stored("vm-gone").state == MoveState.GONE
    assert {c.name for c in env.compute.calls} == {"get_server"}


def test_server_deleted_while_rebuilding_is_gone_and_not_unlocked(env: Env) -> None:
    env.compute.add_server("vm-1", FAILED_HOST)
    env.compute.script("vm-1", [{}, {"task_state": "rebuild_spawning"}, {"deleted": True}])
    move = env.move("vm-1")
    done = _run(env, move)
    assert done.state == MoveState.GONE, done.message
    assert done.locked_by_rhworker is False
    assert env.compute.calls_of("lock_server") and not env.compute.calls_of("unlock_server")
    assert [m.status for m in env.compute.migrations] == ["failed"]


def test_a_gone_server_lets_the_notification_finish(env: Env) -> None:
    for i in (1, 2, 3):
        env.compute.add_server(f"vm-{i}", FAILED_HOST)
    env.compute.script("vm-2", [{}, {"deleted": True}])  # deleted once evacuating
    result = HostFailureDriver().execute_host_failure(
        env.ctx(), env.store.get_notification(env.nid)
    )
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert result.reason == "2 evacuated, 0 skipped, 1 gone"
    states = {m.instance_id: m.state for m in env.store.list_moves(env.nid)}
    assert states == {
        "vm-1": MoveState.SUCCEEDED,
        "vm-2": MoveState.GONE,
        "vm-3": MoveState.SUCCEEDED,
    }


# -- whose lock is it ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", [MoveState.PENDING, MoveState.ONGOING])
def test_server_locked_by_its_owner_stays_locked(env: Env, state: MoveState) -> None:
    env.compute.add_server("vm-1", FAILED_HOST, locked=True)
    started = 1.0 if state == MoveState.ONGOING else None
    move = env.move("vm-1", state=state, started_at=started)
    done = _run(env, move)
    assert done.state == MoveState.SUCCEEDED, done.message
    assert env.compute.servers["vm-1"].locked is True
    assert not env.compute.calls_of("lock_server") and not env.compute.calls_of("unlock_server")


def test_our_lock_is_recorded_while_held_and_cleared_after_the_unlock(env: Env) -> None:
    env.compute.add_server("vm-1", FAILED_HOST)
    seen: list[bool] = []
    hook = {"hook": lambda: seen.append(env.stored("vm-1").locked_by_rhworker)}
    env.compute.script("vm-1", [{}, hook, *nova_evacuation(SPARE)])
    done = _run(env, env.move("vm-1"))
    assert done.state == MoveState.SUCCEEDED, done.message
    assert seen == [True]  # stored before the evacuate: a resumed worker knows
    names = [c.name for c in env.compute.calls if c.name.endswith("lock_server")]
    assert names == ["lock_server", "unlock_server"]
    assert env.stored("vm-1").locked_by_rhworker is False
    assert not env.compute.servers["vm-1"].locked


def test_lease_lost_leaves_the_server_locked_and_the_next_owner_unlocks(env: Env) -> None:
    env.compute.add_server("vm-1", FAILED_HOST)
    ctx = env.ctx()
    lost = {"hook": lambda: ctx.lease.lost("taken over by w2")}
    env.compute.script("vm-1", [{}, {"task_state": "rebuild_spawning", **lost}])
    env.compute.script("vm-1", nova_evacuation(SPARE)[2:])
    with pytest.raises(LeaseLost):
        Evacuation(ctx, env.move("vm-1"), FAILED_HOST, SPARE).run()
    assert not env.compute.calls_of("unlock_server")
    assert env.compute.servers["vm-1"].locked is True
    stored = env.stored("vm-1")
    assert stored.locked_by_rhworker is True and "left locked" in stored.message
    assert "taken over by w2" in stored.message

    # Another worker takes the delivery over and resumes: it unlocks, once.
    env.take("w2", later=60.0)
    result = HostFailureDriver().execute_host_failure(
        env.ctx(), env.store.get_notification(env.nid)
    )
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert len(env.compute.calls_of("evacuate_server")) == 1
    assert len(env.compute.calls_of("unlock_server")) == 1
    assert env.compute.servers["vm-1"].locked is False
    assert env.stored("vm-1").locked_by_rhworker is False


def test_ended_move_left_locked_is_unlocked_by_the_next_owner(env: Env) -> None:
    env.compute.add_server("vm-1", SPARE, locked=True)
    env.move("vm-1", state=MoveState.SUCCEEDED, started_at=1.0, locked_by_rhworker=True)
    result = HostFailureDriver().execute_host_failure(
        env.ctx(), env.store.get_notification(env.nid)
    )
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert env.compute.calls_of("unlock_server", "vm-1")
    assert not env.compute.servers["vm-1"].locked
    assert env.stored("vm-1").locked_by_rhworker is False


def test_unlock_that_fails_keeps_the_record(env: Env) -> None:
    env.compute.add_server("vm-1", FAILED_HOST)
    env.compute.fail("unlock_server", ComputeTransient("503 Service Unavailable"))
    done = _run(env, env.move("vm-1"))
    assert done.state == MoveState.SUCCEEDED
    stored = env.stored("vm-1")
    assert stored.locked_by_rhworker is True and "unlock failed" in stored.message


# -- HA-enabled instances first ----------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 2])
def test_ha_enabled_instances_are_evacuated_first(env: Env, threads: int) -> None:
    ha = {"HA_Enabled": "True"}
    for i in range(1, 7):
        env.compute.add_server(f"vm-{i}", FAILED_HOST, metadata=ha if i in (4, 6) else None)
    if threads == 2:
        # Both HA-enabled moves must be posting at once, on the gate's two lanes: they
        # passed it before any other (a timeout breaks the barrier).
        both = threading.Barrier(2, timeout=10)
        real_lock = env.compute.lock_server

        def lock_server(server_id: str) -> None:
            if server_id in ("vm-4", "vm-6"):
                both.wait()
            real_lock(server_id)

        env.compute.lock_server = lock_server  # type: ignore[method-assign]
    result = HostFailureDriver().execute_host_failure(
        env.ctx(host_failure_recovery_threads=threads),
        env.store.get_notification(env.nid),
    )
    assert result.status == NotificationStatus.FINISHED, result.reason
    order = [c.args[0] for c in env.compute.calls_of("evacuate_server")]
    assert sorted(order) == [f"vm-{i}" for i in range(1, 7)]
    if threads == 1:
        assert order == ["vm-4", "vm-6", "vm-1", "vm-2", "vm-3", "vm-5"]
    moves = env.store.list_moves(env.nid)
    assert [m.instance_id for m in moves if m.ha_enabled] == ["vm-4", "vm-6"]


# -- the adapter agrees ---------------------------------------------------------------------


@pytest.mark.parametrize("task_state", REBUILD_TASK_STATES)
def test_adapter_reads_every_rebuild_state_as_accepted(task_state: str) -> None:
    before = Server("s", "s", FAILED_HOST, "ACTIVE", "active", None, 1)
    now = dataclasses.replace(before, task_state=task_state, status="REBUILD")
    assert openstack.evacuate_accepted(before, now, SPARE)
    assert set(openstack._EVACUATE_TASK_STATES) == set(REBUILD_TASK_STATES)


def test_notification_show_displays_gone_and_our_lock(capsys: Any) -> None:
    from rhworker.cli.notifications import _print_moves

    _print_moves(
        [
            Move("n1", "i-1", "vm1", FAILED_HOST, state=MoveState.GONE, message="deleted"),
            Move(
                "n1", "i-2", "vm2", FAILED_HOST, SPARE, MoveState.ONGOING, locked_by_rhworker=True
            ),
        ]
    )
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("i-")}
    assert " gone " in rows["i-1"] and "deleted" in rows["i-1"]
    assert "[server locked by rhworker]" in rows["i-2"]


# -- posting apart from watching (issue 18) ----------------------------------------------------


def test_every_evacuate_is_posted_while_the_first_is_still_watched_with_one_lane(
    env: Env,
) -> None:
    for i in range(1, 7):
        env.compute.add_server(f"vm-{i}", FAILED_HOST)
    posted_all = threading.Event()

    def all_posted() -> None:
        # vm-1's first watched read holds until every evacuate is posted: with posting
        # serialised behind watching (one lane), this would never happen
        deadline = time.monotonic() + 10
        while len(env.compute.calls_of("evacuate_server")) < 6 and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        if len(env.compute.calls_of("evacuate_server")) == 6:
            posted_all.set()

    env.compute.script("vm-1", [{}, {"hook": all_posted}, *nova_evacuation(SPARE)])
    result = HostFailureDriver().execute_host_failure(
        env.ctx(host_failure_recovery_threads=1), env.store.get_notification(env.nid)
    )
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert posted_all.is_set()
    order = [c.args[0] for c in env.compute.calls_of("evacuate_server")]
    assert order == [f"vm-{i}" for i in range(1, 7)]  # one lane: in their order
    assert env.compute.violations == []


def test_in_flight_servers_are_read_together_one_call_per_poll(env: Env) -> None:
    ids = [f"vm-{i}" for i in range(1, 6)]
    for sid in ids:
        env.compute.add_server(sid, FAILED_HOST, task_state="rebuilding")
        env.compute.script(sid, nova_evacuation(SPARE)[1:])
    readers = {"active": len(ids)}
    lock = threading.Lock()
    watch: ServerWatch

    def sleep(seconds: float) -> None:
        # a poll is due: let every move still following wait for it first (10 s at most)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with lock:
                if watch.readers == readers["active"]:
                    break
            threading.Event().wait(0.005)
        env.clock.sleep(seconds)

    ctx = dataclasses.replace(env.ctx(), sleep=sleep)
    watch = ServerWatch(ctx, FAILED_HOST, SPARE)
    seen: dict[str, list[str | None]] = {sid: [] for sid in ids}

    def follow(sid: str) -> None:
        # as a move waits for its server to settle: read after read, until on SPARE
        after = 0
        for _ in range(10):
            after, server = watch.read(sid, after)
            seen[sid].append(server.host)
            if server.host == SPARE:
                break
        with lock:
            watch.forget(sid)
            readers["active"] -= 1

    threads = [threading.Thread(target=follow, args=(sid,)) for sid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(hosts[-1] == SPARE for hosts in seen.values()), seen
    polls = env.compute.calls_of("read_evacuating")
    assert [c.args[0] for c in polls] == [tuple(ids)] * 3  # one call per poll, for all five
    assert polls[0].args[1:] == (FAILED_HOST, (FAILED_HOST, SPARE))
    assert env.compute.calls_of("get_server") == []


def test_the_watch_polls_soon_after_a_server_joins_then_backs_off_to_verify_interval(
    env: Env,
) -> None:
    env.compute.add_server("vm-1", FAILED_HOST)
    still = {"task_state": "rebuild_spawning"}
    env.compute.script("vm-1", [{}, *[dict(still) for _ in range(12)], *nova_evacuation(SPARE)])
    times: list[float] = []
    real, real_full = env.compute.read_evacuating, env.compute.read_servers

    def timed(ids: Any, source: Any, hosts: Any) -> Any:
        times.append(env.clock.now)
        return real(ids, source, hosts)

    def timed_full(ids: Any, hosts: Any) -> Any:  # the watch's full read, every 10 s
        times.append(env.clock.now)
        return real_full(ids, hosts)

    env.compute.read_evacuating = timed  # type: ignore[method-assign]
    env.compute.read_servers = timed_full  # type: ignore[method-assign]
    done = _run(env, env.move("vm-1"))
    assert done.state == MoveState.SUCCEEDED, done.message
    gaps = [round(b - a, 3) for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] == pytest.approx(0.75)  # the first 0.5 s after it joined, then backing off
    assert max(gaps) == pytest.approx(1.0)  # verify_interval caps the back-off
    assert gaps == sorted(gaps)


def test_a_settled_move_unlocks_while_others_are_still_in_flight(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    watches: list[ServerWatch] = []

    class Recorded(ServerWatch):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            watches.append(self)

    monkeypatch.setattr(host_failure, "ServerWatch", Recorded)

    def both_watched() -> None:
        # the first watched read of each waits for the other to be watched too: from
        # there on every poll reads both (10 s at most)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (watches and len(watches[0].wanted) == 2):
            threading.Event().wait(0.005)

    fast_unlocked = threading.Event()

    def fast_unlocked_first() -> None:
        # vm-slow stays in flight until vm-fast is unlocked (10 s at most): an unlock
        # that waited for the whole batch would never come
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not env.compute.calls_of("unlock_server", "vm-fast"):
            threading.Event().wait(0.005)
        if env.compute.calls_of("unlock_server", "vm-fast"):
            fast_unlocked.set()

    env.compute.add_server("vm-fast", FAILED_HOST)
    env.compute.add_server("vm-slow", FAILED_HOST)
    slow = [{"task_state": "rebuild_spawning"} for _ in range(6)]
    slow[-1]["hook"] = fast_unlocked_first
    # (their first read before posting is the listing that recorded the moves: the
    # frames start with the first watched read)
    env.compute.script("vm-fast", [{"hook": both_watched}, *nova_evacuation(SPARE)])
    env.compute.script("vm-slow", [{"hook": both_watched}, *slow, *nova_evacuation(SPARE)])
    result = HostFailureDriver().execute_host_failure(
        env.ctx(host_failure_recovery_threads=2), env.store.get_notification(env.nid)
    )
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert fast_unlocked.is_set()
    assert env.compute.servers["vm-slow"].locked is False


# -- lock tries per claim (issue 18) ----------------------------------------------------------


def test_claim_walk_skips_hosts_claimed_since_its_read_without_trying_their_lock(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("r1", "r2", "r3"):
        env.store.create_host(Host(name=name, segment="seg", reserved=True))
    ctx = env.ctx()
    ctx.coordinator.start()
    other = Coordinator(f"file://{env.tmp}/locks", "w2", heartbeat=False)
    other.start()
    held = other.try_lock("r1")  # another worker is claiming r1 right now
    assert held is not None
    reads = {"n": 0}
    real_reserved = env.store.reserved_hosts

    def reserved_hosts(segment: str) -> list[Host]:
        hosts = real_reserved(segment)
        reads["n"] += 1
        if reads["n"] == 1:  # r2 is claimed by a third worker just after our first read
            env.store.update_host("r2", reserved=False)
        return hosts

    monkeypatch.setattr(env.store, "reserved_hosts", reserved_hosts)
    tried: list[str] = []
    # whichever the walk asks: ask_lock (a held/free/unavailable answer) or try_lock
    name = "ask_lock" if hasattr(ctx.coordinator, "ask_lock") else "try_lock"
    real_ask = getattr(ctx.coordinator, name)

    def ask(host: str) -> Any:
        tried.append(host)
        return real_ask(host)

    monkeypatch.setattr(ctx.coordinator, name, ask)
    failed = env.store.get_host(FAILED_HOST)
    target = claim_reserved_host(ctx, env.store.get_notification(env.nid), failed, set())
    assert target is not None and target.host == "r3"
    assert reads["n"] == 2  # one more read after the miss on r1
    assert [s.detail["host"] for s in env.steps("lock_skipped")] == ["r1"]  # r2 never tried
    assert env.steps("claim_lost") == []  # r2's lock was not taken only to lose its claim
    assert tried == ["r1", "r3"]  # r2 never asked
    target.release(ctx)
    other.release(held)
    other.stop()
    ctx.coordinator.stop()


# -- the watch reads Nova's migration records first ---------------------------------------


def test_the_watch_reads_a_server_only_once_its_evacuation_ended(env: Env) -> None:
    """While Nova's migration record says the evacuation runs, the watch tells the
    move so (None) instead of a read; a server whose record ended is read."""
    env.compute.add_server("vm-1", FAILED_HOST)
    env.compute.script("vm-1", [{}, *nova_evacuation(SPARE)])
    watch = ServerWatch(env.ctx(), FAILED_HOST, SPARE)
    after, first = watch.read("vm-1", 0)
    assert first is not None and first.host == FAILED_HOST  # no migration yet: read
    env.compute.evacuate_server("vm-1", SPARE)
    answers: list[Server | None] = []
    while not answers or answers[-1] is None or answers[-1].host != SPARE:
        after, server = watch.read("vm-1", after)
        answers.append(server)
    # pre-migrating, task cleared with the migration still running: not final, not read
    assert answers[:-1] == [None] * (len(answers) - 1) and len(answers) >= 3
    assert answers[-1] is not None and answers[-1].status == "ACTIVE"
    assert env.compute.calls_of("read_servers") == []


def test_a_server_deleted_while_its_migration_runs_is_found_by_the_full_read(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nova's record of an evacuation that never ends (the server deleted under it):
    the watch's read of every server, every FULL_READ_EVERY seconds, finds it gone."""
    env.compute.add_server("vm-1", FAILED_HOST, task_state="rebuilding")
    env.compute.add_migration("vm-1", FAILED_HOST, SPARE, "pre-migrating")

    def stuck(ids: Any, source: str, hosts: Any) -> dict[str, Server | None]:
        with env.compute._lock:
            env.compute.servers.pop("vm-1", None)  # deleted; the record stays running
        return {sid: None for sid in ids}  # as the real adapter answers: not read

    monkeypatch.setattr(env.compute, "read_evacuating", stuck)
    start = env.clock.now
    done = _run(env, env.move("vm-1"))
    assert done.state == MoveState.GONE, done.message
    assert env.clock.now - start == pytest.approx(evacuation.FULL_READ_EVERY, abs=1.0)
    assert len(env.compute.calls_of("read_servers")) == 1
    assert env.compute.calls_of("evacuate_server") == [], env.compute.calls
    assert env.compute.violations == []
