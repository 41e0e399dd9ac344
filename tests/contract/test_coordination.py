"""Contract suite of the coordination layer, run against file://, redis:// and
zookeeper:// with real servers (skipped without them on a laptop, required under CI).

Backends get short timeouts in their URLs so that expiry tests finish quickly:
file ``timeout`` (membership), Redis ``lock_timeout`` and ``membership_timeout``,
ZooKeeper session ``timeout``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from rhworker.coordination import (
    Coordinator,
    HeldLock,
    LockAnswer,
    LockState,
    lock_name,
    new_member_id,
)
from rhworker.errors import CoordinationError
from rhworker.testing.servers import RedisServer, ServerUnavailable, ZooKeeperServer
from tests.conftest import require

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["file", "redis", "zookeeper"]
# Generous bound for "this call returned": a deadline plus a loaded 2-core machine.
DEADLINE_SLACK = 5.0
# How long expiry may take at most (short backend timeouts of 2-3 s, plus slack).
EXPIRY_DEADLINE = 30.0


def raw_owner(lock: HeldLock) -> bool:
    """tooz's own answer; during a session expiry it raises instead."""
    try:
        return bool(lock.tooz_lock.is_still_owner())
    except Exception:
        return False


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until true; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout}s: {what}")
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.fixture(params=BACKENDS)
def coord_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return f"file://{tmp_path}/locks?timeout=3"
    if request.param == "redis":
        return f"{request.getfixturevalue('redis_url')}?lock_timeout=2&membership_timeout=2"
    return f"{request.getfixturevalue('zookeeper_url')}?timeout=2"


@pytest.fixture
def coord_names() -> dict[str, str]:
    """Group and lock prefix unique to one test (the ZooKeeper server is shared)."""
    tag = uuid.uuid4().hex[:8]
    return {"group": f"g-{tag}", "lock_prefix": f"t-{tag}"}


@pytest.fixture
def coord_factory(
    coord_url: str, coord_names: dict[str, str]
) -> Iterator[Callable[..., Coordinator]]:
    made: list[Coordinator] = []

    def make(**kwargs: object) -> Coordinator:
        options: dict = {**coord_names, "call_timeout": 5.0, **kwargs}
        coordinator = Coordinator(coord_url, new_member_id(), **options)
        coordinator.start()
        made.append(coordinator)
        return coordinator

    yield make
    for coordinator in made:
        coordinator.stop()


class Child:
    """A coordination child process (tests/contract/coord_child.py)."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.contract.coord_child", *args],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def read_line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line:
            self.proc.wait(10)
            pytest.fail(f"child exited with {self.proc.returncode} without answering")
        return line

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def coord_children() -> Iterator[Callable[..., Child]]:
    children: list[Child] = []

    def spawn(*args: str) -> Child:
        child = Child(*args)
        children.append(child)
        return child

    yield spawn
    for child in children:
        child.kill()


# --- 1. non-blocking acquire, release, not reentrant ----------------------------------


def test_try_lock_returns_none_while_another_holds_it(coord_factory: Callable[..., Coordinator]):
    a, b = coord_factory(), coord_factory()
    held = a.try_lock("compute-1")
    assert isinstance(held, HeldLock)
    assert held.host == "compute-1" and held.name == lock_name(a.lock_prefix, "compute-1")
    assert a.still_owner(held)
    assert b.try_lock("compute-1") is None
    # Other hosts are independent.
    other = b.try_lock("compute-2")
    assert other is not None and b.still_owner(other)


def test_release_frees_the_lock(coord_factory: Callable[..., Coordinator]):
    a, b = coord_factory(), coord_factory()
    held = a.try_lock("compute-1")
    assert held is not None
    a.release(held)
    assert not a.still_owner(held)
    taken = b.try_lock("compute-1")
    assert taken is not None and b.still_owner(taken)
    # Releasing twice, or a lock now held by someone else, never raises.
    a.release(held)
    assert b.still_owner(taken)


def test_locks_are_not_reentrant(coord_factory: Callable[..., Coordinator]):
    a = coord_factory()
    held = a.try_lock("compute-1")
    assert held is not None
    assert a.try_lock("compute-1") is None  # returns at once: a blocked call would time out
    assert a.still_owner(held)
    # The same holds at the tooz level, below our own bookkeeping.
    driver = a._require_driver()
    assert driver.get_lock(held.name).acquire(blocking=False) is False
    assert a.still_owner(held)


# --- 2. two processes racing --------------------------------------------------------


def test_processes_racing_never_hold_the_same_host(
    coord_url: str, coord_names: dict[str, str], coord_children, tmp_path: Path
):
    markdir = tmp_path / "markers"
    markdir.mkdir()
    children = [
        coord_children("race", coord_url, coord_names["lock_prefix"], str(markdir), "300", str(s))
        for s in (1, 2, 3)
    ]
    for child in children:
        assert child.read_line() == "READY"
    for child in children:
        assert child.proc.stdin is not None
        child.proc.stdin.write("go\n")
        child.proc.stdin.flush()
    stats = [json.loads(child.read_line()) for child in children]
    for child in children:
        assert child.proc.wait(60) == 0
    print(f"{coord_url}: {stats}")
    assert [s["violations"] for s in stats] == [0, 0, 0], stats
    assert all(s["acquired"] > 0 for s in stats), stats
    assert sum(s["busy"] for s in stats) > 0, f"no contention at all, test proves nothing: {stats}"
    assert list(markdir.iterdir()) == []


# --- 3. a killed holder loses its lock ----------------------------------------------


def test_killed_holder_loses_its_lock(
    coord_url: str, coord_names: dict[str, str], coord_factory, coord_children
):
    child = coord_children(
        "hold", coord_url, coord_names["group"], coord_names["lock_prefix"], "compute-9"
    )
    assert child.read_line().startswith("READY ")
    observer = coord_factory()
    assert observer.try_lock("compute-9") is None
    child.kill()
    taken: list[HeldLock] = []

    def take() -> bool:
        lock = observer.try_lock("compute-9")
        if lock is not None:
            taken.append(lock)
        return lock is not None

    waited = wait_for(take, EXPIRY_DEADLINE, "the dead holder's lock to be released")
    print(f"{coord_url}: lock free {waited:.1f}s after SIGKILL")
    assert observer.still_owner(taken[0])


# --- 4. Redis lock expiry -----------------------------------------------------------


def test_redis_still_owner_turns_false_when_the_lock_expires(
    redis_url: str, coord_names: dict[str, str]
):
    url = f"{redis_url}?lock_timeout=2"
    with (
        Coordinator(url, new_member_id(), heartbeat=False, **coord_names) as silent,
        Coordinator(url, new_member_id(), **coord_names) as other,
    ):
        held = silent.try_lock("compute-1")
        assert held is not None and silent.still_owner(held)
        wait_for(lambda: not held.tooz_lock.is_still_owner(), EXPIRY_DEADLINE, "lock expiry")
        # tooz does not tell the holder: only is_still_owner() knows.
        assert held.tooz_lock.acquired is True
        assert not silent.still_owner(held)
        assert other.try_lock("compute-1") is not None
        assert silent.try_lock("compute-1") is None
        assert not silent.still_owner(held)
        silent.release(held)  # a lost lock: no error, and the new holder keeps it
        assert other.try_lock("compute-1") is None


def test_a_lost_lock_can_be_taken_again_when_free(redis_url: str, coord_names: dict[str, str]):
    url = f"{redis_url}?lock_timeout=3"
    with (
        Coordinator(url, new_member_id(), heartbeat=False, **coord_names) as silent,
        Coordinator(url, new_member_id(), **coord_names) as other,
    ):
        held = silent.try_lock("compute-1")
        assert held is not None
        wait_for(lambda: not silent.still_owner(held), EXPIRY_DEADLINE, "lock expiry")
        again = silent.try_lock("compute-1")
        assert again is not None and silent.still_owner(again)
        silent.release(held)  # the stale one: must not free the new one
        assert silent.still_owner(again)
        assert other.try_lock("compute-1") is None


def test_redis_heartbeats_keep_a_lock_past_its_timeout(redis_url: str, coord_names: dict[str, str]):
    lock_timeout = 3
    url = f"{redis_url}?lock_timeout={lock_timeout}"
    with (
        Coordinator(url, new_member_id(), **coord_names) as holder,
        Coordinator(url, new_member_id(), **coord_names) as other,
    ):
        held = holder.try_lock("compute-1")
        assert held is not None
        until = time.monotonic() + 2 * lock_timeout
        while time.monotonic() < until:
            assert holder.still_owner(held)
            assert other.try_lock("compute-1") is None
            time.sleep(0.5)


def test_zookeeper_still_owner_turns_false_after_session_expiry(
    zookeeper_url: str, coord_names: dict[str, str]
):
    from kazoo.client import KazooClient

    url = f"{zookeeper_url}?timeout=2"
    with (
        Coordinator(url, new_member_id(), **coord_names) as holder,
        Coordinator(url, new_member_id(), **coord_names) as other,
    ):
        held = holder.try_lock("compute-1")
        assert held is not None and holder.still_owner(held)
        # Expire the holder's session: open it from a second client, then close it.
        client = holder._require_driver()._coord
        hosts = ",".join(f"{h}:{p}" for h, p in client.hosts)
        twin = KazooClient(hosts=hosts, client_id=client.client_id)
        twin.start(timeout=10)
        twin.stop()
        twin.close()
        wait_for(lambda: not raw_owner(held), EXPIRY_DEADLINE, "session expiry")
        assert held.tooz_lock.acquired is True  # kazoo does not tell the holder either
        assert not holder.still_owner(held)
        wait_for(lambda: other.try_lock("compute-1") is not None, EXPIRY_DEADLINE, "lock to free")
        # Until kazoo has a new session, the holder answers "unavailable" at once.
        wait_for(lambda: holder.unavailable() is None, EXPIRY_DEADLINE, "a new session")
        assert holder.try_lock("compute-1") is None


# --- 5. membership ------------------------------------------------------------------


def test_membership_lists_live_members_and_drops_a_dead_one(
    coord_url: str, coord_names: dict[str, str], coord_factory, coord_children
):
    me = coord_factory()
    me.join({"role": "parent"})
    child = coord_children(
        "hold", coord_url, coord_names["group"], coord_names["lock_prefix"], "compute-1"
    )
    line = child.read_line()
    assert line.startswith("READY ")
    child_id = line.split()[1]
    members = me.members()
    assert set(members) == {me.member_id, child_id}
    assert members[me.member_id] == {"role": "parent"}
    assert members[child_id]["role"] == "child"
    child.kill()
    waited = wait_for(
        lambda: child_id not in me.members(), EXPIRY_DEADLINE, "the dead member to be dropped"
    )
    print(f"{coord_url}: dead member dropped {waited:.1f}s after SIGKILL")
    assert set(me.members()) == {me.member_id}
    me.leave()
    assert me.member_id not in me.members()
    me.leave()  # idempotent


def test_join_is_idempotent_and_updates_capabilities(coord_url: str, coord_factory):
    a, b = coord_factory(), coord_factory()
    assert b.members() == {}  # no group yet
    a.join({"working_on": None})
    a.join({"working_on": None})
    b.join()
    assert set(b.members()) == {a.member_id, b.member_id}
    a.update_capabilities({"working_on": "n-1"})
    expected = None if coord_url.startswith("file:") else "n-1"  # file: no-op
    assert b.members()[a.member_id] == {"working_on": expected}


def test_a_member_that_falls_out_of_the_group_joins_again(coord_factory):
    """A ZooKeeper session expiry or a lapsed Redis beat drops a live worker from the
    group; its heartbeat notices and joins again with the same capabilities."""
    a, b = coord_factory(heartbeat_interval=0.2), coord_factory()
    a.join({"working_on": "n-1"})
    a._require_driver().leave_group(a.group.encode()).get(timeout=5)  # behind its back
    wait_for(lambda: a.member_id in b.members(), EXPIRY_DEADLINE, "the member to rejoin")
    assert b.members()[a.member_id] == {"working_on": "n-1"}


def test_stop_leaves_the_group_and_frees_locks(coord_factory: Callable[..., Coordinator]):
    a, b = coord_factory(), coord_factory()
    a.join()
    held = a.try_lock("compute-1")
    assert held is not None
    a.stop()
    a.stop()  # idempotent
    assert a.member_id not in b.members()
    assert b.try_lock("compute-1") is not None
    with pytest.raises(CoordinationError):
        a.try_lock("compute-1")


# --- 6. deadlines -------------------------------------------------------------------


@pytest.fixture(params=["redis", "zookeeper"])
def coord_own_server(request: pytest.FixtureRequest) -> Iterator[RedisServer | ZooKeeperServer]:
    """A private server this test may pause (the session servers are shared)."""
    cls = RedisServer if request.param == "redis" else ZooKeeperServer
    try:
        server = cls()
    except ServerUnavailable as e:
        require(str(e))
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.resume()
        server.stop()


def bounded(fn: Callable[[], object], limit: float) -> object:
    start = time.monotonic()
    try:
        return fn()
    finally:
        elapsed = time.monotonic() - start
        assert elapsed < limit, f"call took {elapsed:.1f}s, limit {limit}s"


def test_every_call_honours_its_deadline_when_the_backend_hangs(
    coord_own_server: RedisServer | ZooKeeperServer, coord_names: dict[str, str]
):
    call_timeout = 1.0
    limit = call_timeout + DEADLINE_SLACK
    url = coord_own_server.url + ("?timeout=10" if "zookeeper" in coord_own_server.url else "")
    coordinator = Coordinator(url, new_member_id(), call_timeout=call_timeout, **coord_names)
    coordinator.start()
    try:
        coordinator.join()
        held = coordinator.try_lock("held")
        assert held is not None
        coord_own_server.pause()
        # Bounded, and never a lock we cannot vouch for: either the deadline fires or,
        # when the client already noticed the outage (kazoo drops the connection on a
        # missed ping under load), the backend error comes back at once.
        try:
            late = bounded(lambda: coordinator.try_lock("late"), limit)
        except CoordinationError:
            late = None
        assert late is None
        assert bounded(lambda: coordinator.still_owner(held), limit) is False
        with pytest.raises(CoordinationError):  # CoordinationTimeout, or the backend error
            bounded(coordinator.members, limit)
        bounded(lambda: coordinator.release(held), limit)  # logs, never raises
        bounded(coordinator.stop, 4 * call_timeout + DEADLINE_SLACK)
    finally:
        coord_own_server.resume()
        coordinator.stop()
    # The acquire that answered too late was released, not left held until it expires.
    with Coordinator(coord_own_server.url, new_member_id(), **coord_names) as other:
        wait_for(lambda: other.try_lock("late") is not None, 20, "the late lock to be released")


def test_a_stopped_lock_service_is_unavailable_not_held(
    coord_own_server: RedisServer | ZooKeeperServer, coord_names: dict[str, str]
):
    """Locks down: every host answers UNAVAILABLE (never HELD, which would make a
    worker skip spares nobody holds), quickly after the first deadline, and TAKEN
    again once the service is back."""
    call_timeout = 1.0
    url = coord_own_server.url + ("?timeout=3" if "zookeeper" in coord_own_server.url else "")
    coordinator = Coordinator(
        url, new_member_id(), call_timeout=call_timeout, unavailable_backoff=2.0, **coord_names
    )
    with coordinator:
        held = coordinator.ask_lock("held").lock
        assert held is not None
        coord_own_server.kill()
        first = bounded(lambda: coordinator.ask_lock("spare-1"), call_timeout + DEADLINE_SLACK)
        assert isinstance(first, LockAnswer) and first.state is LockState.UNAVAILABLE
        assert first.reason
        for host in ("spare-2", "spare-3"):
            answer = bounded(partial(coordinator.ask_lock, host), 0.5)
            assert isinstance(answer, LockAnswer) and answer.state is LockState.UNAVAILABLE
        assert bounded(lambda: coordinator.still_owner(held), 0.5) is False
        coord_own_server.start(timeout=60)
        wait_for(
            lambda: coordinator.ask_lock("spare-1").state is LockState.TAKEN,
            60,
            "locks to be taken again after the service came back",
        )


# --- 7. names -----------------------------------------------------------------------


def test_lock_name_is_stable_bytes():
    name = lock_name("rhworker", "compute-1.example.org")
    assert name == b"rhworker-reserved-host-compute-1.example.org"
    assert lock_name("rhworker", "compute-1.example.org") == name
    assert lock_name("other", "compute-1.example.org") != name
    assert lock_name("rhworker", "a/b") == b"rhworker-reserved-host-a%2Fb"
