"""Coordination layer without servers: the file backend in a temp dir and a driver
whose calls are held on purpose (no timing assertions)."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import pytest
import tooz.coordination
from kazoo.exceptions import ConnectionLoss as KazooConnectionLoss
from kazoo.protocol.states import KazooState
from redis.exceptions import ConnectionError as RedisConnectionError

from rhworker import conf as rconf
from rhworker.coordination import (
    DEFAULT_UNAVAILABLE_BACKOFF,
    Coordinator,
    LockAnswer,
    LockState,
    check_backend_policy,
    lock_name,
    new_member_id,
)
from rhworker.errors import ConfigError, CoordinationError, CoordinationTimeout


def test_new_member_id_shape_and_uniqueness():
    first, second = new_member_id(), new_member_id()
    assert re.fullmatch(r"[A-Za-z0-9._-]+-\d+-[0-9a-f]{6}", first)
    assert first != second


def test_lock_name_is_bytes_and_stable():
    assert lock_name("rhw", "c1") == b"rhw-reserved-host-c1" == lock_name("rhw", "c1")
    assert isinstance(lock_name("rhw", "c1"), bytes)


@pytest.mark.parametrize(
    ("coord", "store", "policy", "outcome"),
    [
        ("file:///s/locks", "redis://127.0.0.1:1/0", "warn", "warn"),
        ("file:///s/locks", "redis://127.0.0.1:1/0", "refuse", "refuse"),
        ("file:///s/locks", "redis://127.0.0.1:1/0", "allow", "quiet"),
        ("file:///s/locks", "sqlite:///s/rhworker.db", "refuse", "quiet"),
        ("redis://127.0.0.1:1", "redis://127.0.0.1:1/0", "refuse", "quiet"),
        ("zookeeper://127.0.0.1:1", "redis://127.0.0.1:1/0", "warn", "quiet"),
    ],
)
def test_check_backend_policy(coord, store, policy, outcome, caplog):
    caplog.set_level(logging.WARNING, logger="rhworker.coordination")
    if outcome == "refuse":
        with pytest.raises(ConfigError, match="file lock backend"):
            check_backend_policy(coord, store, policy)
        return
    check_backend_policy(coord, store, policy)
    warned = [r for r in caplog.records if "file lock backend" in r.getMessage()]
    assert bool(warned) == (outcome == "warn")


def test_check_backend_policy_hides_passwords(caplog):
    caplog.set_level(logging.WARNING, logger="rhworker.coordination")
    check_backend_policy("file:///s", "redis://u:secret@127.0.0.1:1/0", "warn")
    assert "secret" not in caplog.text and "***" in caplog.text


def test_unknown_policy_is_a_config_error():
    with pytest.raises(ConfigError):
        check_backend_policy("file:///s", "sqlite:///x", "maybe")


def test_from_conf_uses_the_coordination_options(tmp_path: Path):
    conf = rconf.load(
        overrides={
            "DEFAULT": {"state_dir": str(tmp_path)},
            "coordination": {"group": "g1", "lock_prefix": "p1", "call_timeout": 2.5},
        }
    )
    coordinator = Coordinator.from_conf(conf, "m-1")
    assert coordinator.url == f"file://{tmp_path}/locks"
    assert (coordinator.group, coordinator.lock_prefix) == ("g1", "p1")
    assert coordinator.call_timeout == 2.5
    assert coordinator.member_id == "m-1"


def test_start_creates_the_lock_directory(tmp_path: Path):
    path = tmp_path / "deep" / "locks"
    with Coordinator(f"file://{path}", new_member_id()) as coordinator:
        assert path.is_dir()
        assert coordinator.try_lock("c1") is not None


def test_calls_before_start_fail_cleanly(tmp_path: Path):
    coordinator = Coordinator(f"file://{tmp_path}", new_member_id())
    with pytest.raises(CoordinationError, match="not started"):
        coordinator.try_lock("c1")
    with pytest.raises(CoordinationError, match="not started"):
        coordinator.members()
    coordinator.stop()  # no-op


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="unusable coordination URL"):
        Coordinator("nosuchbackend://x", new_member_id()).start()


def test_backend_errors_become_coordination_errors(tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(CoordinationError):
        Coordinator(f"file://{blocker}/locks", new_member_id()).start()


class _HeldBackLock:
    """A tooz lock whose acquire waits until the test lets it go, then succeeds."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.released = threading.Event()

    def acquire(self, blocking: bool = True) -> bool:
        self.go.wait(30)
        return True

    def release(self) -> bool:
        self.released.set()
        return True


def test_a_late_acquire_is_released_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    coordinator = Coordinator(f"file://{tmp_path}", new_member_id(), call_timeout=0.2)
    with coordinator:
        slow = _HeldBackLock()
        monkeypatch.setattr(coordinator._require_driver(), "get_lock", lambda name: slow)
        with pytest.raises(CoordinationTimeout):
            coordinator.try_lock("c1")
        assert coordinator._held == {}  # nothing kept
        slow.go.set()
        assert slow.released.wait(30), "the late lock was never released"


# --- held by another vs. lock service unavailable ------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _BrokenBackend:
    """``get_lock`` raising what a backend raises when it is down; counts calls."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    def get_lock(self, name: bytes) -> object:
        self.calls += 1
        raise self.error


def test_ask_lock_tells_taken_from_held(tmp_path: Path):
    with (
        Coordinator(f"file://{tmp_path}", new_member_id()) as first,
        Coordinator(f"file://{tmp_path}", new_member_id()) as second,
    ):
        taken = first.ask_lock("c1")
        assert taken.state is LockState.TAKEN and taken.lock is not None
        assert second.ask_lock("c1") == LockAnswer(LockState.HELD)
        assert first.ask_lock("c1").state is LockState.HELD  # not reentrant
        first.release(taken.lock)
        assert second.ask_lock("c1").state is LockState.TAKEN


@pytest.mark.parametrize(
    "error",
    [
        tooz.coordination.ToozConnectionError("connection lost"),
        KazooConnectionLoss("zk gone"),
        RedisConnectionError("redis gone"),
        ConnectionRefusedError("refused"),
    ],
    ids=["tooz", "kazoo", "redis", "os"],
)
def test_ask_lock_answers_unavailable_on_backend_errors_and_backs_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
):
    clock = _Clock()
    coordinator = Coordinator(
        f"file://{tmp_path}", new_member_id(), unavailable_backoff=5.0, clock=clock
    )
    with coordinator:
        broken = _BrokenBackend(error)
        real_get_lock = coordinator._require_driver().get_lock
        monkeypatch.setattr(coordinator._require_driver(), "get_lock", broken.get_lock)
        answer = coordinator.ask_lock("c1")
        assert answer.state is LockState.UNAVAILABLE and answer.lock is None
        assert str(error) in answer.reason
        assert coordinator.unavailable() == answer.reason
        # Within the back-off nothing is asked: every host is unavailable at once.
        clock.now += 4.9
        assert coordinator.ask_lock("c2").state is LockState.UNAVAILABLE
        assert broken.calls == 1
        # After it, the backend is asked again; an answer clears the state.
        clock.now += 0.2
        assert coordinator.unavailable() is None
        assert coordinator.ask_lock("c2").state is LockState.UNAVAILABLE
        assert broken.calls == 2
        clock.now += 5.1
        monkeypatch.setattr(coordinator._require_driver(), "get_lock", real_get_lock)
        assert coordinator.ask_lock("c3").state is LockState.TAKEN
        assert coordinator.unavailable() is None
        assert coordinator.ask_lock("c3").state is LockState.HELD


def test_ask_lock_answers_unavailable_past_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    coordinator = Coordinator(f"file://{tmp_path}", new_member_id(), call_timeout=0.2)
    with coordinator:
        slow = _HeldBackLock()
        monkeypatch.setattr(coordinator._require_driver(), "get_lock", lambda name: slow)
        answer = coordinator.ask_lock("c1")
        assert answer.state is LockState.UNAVAILABLE and "no answer within" in answer.reason
        assert coordinator._held == {}  # nothing kept
        slow.go.set()
        assert slow.released.wait(30), "the late lock was never released"


def test_ask_lock_before_start_is_unavailable(tmp_path: Path):
    answer = Coordinator(f"file://{tmp_path}", new_member_id()).ask_lock("c1")
    assert answer.state is LockState.UNAVAILABLE and "not started" in answer.reason


class _Owner:
    """A held tooz lock whose ownership check and release are recorded."""

    def __init__(self) -> None:
        self.checks = 0
        self.released = threading.Event()

    def acquire(self, blocking: bool = True) -> bool:
        return True

    def is_still_owner(self) -> bool:
        self.checks += 1
        return True

    def release(self) -> bool:
        self.released.set()
        return True


def test_still_owner_while_unavailable_is_false_at_once_and_forgets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    clock = _Clock()
    coordinator = Coordinator(f"file://{tmp_path}", new_member_id(), clock=clock)
    with coordinator:
        owner = _Owner()
        monkeypatch.setattr(coordinator._require_driver(), "get_lock", lambda name: owner)
        held = coordinator.ask_lock("c1").lock
        assert held is not None and coordinator.still_owner(held) and owner.checks == 1
        coordinator._mark_down("zk gone")
        assert coordinator.still_owner(held) is False
        assert owner.checks == 1  # not asked
        assert coordinator._held == {}  # nothing kept
        assert owner.released.wait(10), "the release was not handed to a call thread"


def test_a_refused_call_is_unavailable_for_that_host_but_starts_no_back_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    coordinator = Coordinator(f"file://{tmp_path}", new_member_id())
    with coordinator:
        broken = _BrokenBackend(tooz.ToozError("lock name refused"))
        monkeypatch.setattr(coordinator._require_driver(), "get_lock", broken.get_lock)
        assert coordinator.ask_lock("c1").state is LockState.UNAVAILABLE
        assert coordinator.unavailable() is None
        assert coordinator.ask_lock("c2").state is LockState.UNAVAILABLE
        assert broken.calls == 2  # asked each time


def test_every_call_fails_at_once_during_the_back_off(tmp_path: Path):
    clock = _Clock()
    coordinator = Coordinator(f"file://{tmp_path}", new_member_id(), clock=clock)
    with coordinator:
        coordinator.join({"in_hand": []})
        coordinator._mark_down("zk gone")
        with pytest.raises(CoordinationError, match="not asked, lock service unavailable: zk"):
            coordinator.update_capabilities({"in_hand": ["n1"]})
        with pytest.raises(CoordinationError, match="not asked"):
            coordinator.members()
        clock.now += DEFAULT_UNAVAILABLE_BACKOFF
        assert coordinator.member_id in coordinator.members()


def test_a_suspended_zookeeper_connection_is_unavailable_until_connected(tmp_path: Path):
    """Kazoo's state listener: no deadline to wait out while it is not connected."""
    clock = _Clock()
    coordinator = Coordinator(f"file://{tmp_path}", new_member_id(), clock=clock)
    with coordinator:
        coordinator._on_session_state(KazooState.SUSPENDED)
        answer = coordinator.ask_lock("c1")
        assert answer.state is LockState.UNAVAILABLE
        assert "ZooKeeper connection suspended" in answer.reason
        clock.now += 3600  # not a back-off: lasts as long as the connection is down
        coordinator._on_session_state(KazooState.LOST)
        assert coordinator.unavailable() == "ZooKeeper connection lost"
        coordinator._on_session_state(KazooState.CONNECTED)
        assert coordinator.unavailable() is None
        assert coordinator.ask_lock("c1").state is LockState.TAKEN
