"""Redis-only behaviour of the Redis store (the shared contract is in tests/contract).

Version refusal, URL handling, the Stream and consumer-group mechanics behind the
queue, script reloading, connection errors and a restart with AOF.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis

from rhworker.errors import ConfigError, StoreError, StoreUnavailable
from rhworker.models import Delivery, Host, NotificationStatus, RecoveryMethod, Segment
from rhworker.store import from_url
from rhworker.store.redis import RedisStore, check_version
from rhworker.testing.servers import RedisServer, ServerUnavailable, free_port
from tests.conftest import require

pytestmark = pytest.mark.integration

S = NotificationStatus
STOPPED = {"event": "STOPPED", "host_status": "NORMAL"}
T = TypeVar("T")


def eventually(call: Callable[[], T], timeout: float = 30.0) -> T:
    """``call()`` once it stops raising StoreUnavailable, within a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def open_store(url: str, prefix: str | None = None) -> RedisStore:
    prefix = prefix or f"t{uuid.uuid4().hex[:10]}"
    store = from_url(f"{url}/0?prefix={prefix}")
    assert isinstance(store, RedisStore)
    return store


def build(store: RedisStore, spares: int = 1) -> None:
    store.create_segment(Segment(name="seg", recovery_method=RecoveryMethod.RESERVED_HOST))
    for name in ("c1", "c2", "c3"):
        store.create_host(Host(name=name, segment="seg"))
    for i in range(spares):
        store.create_host(Host(name=f"r{i}", segment="seg", reserved=True))


def raw(url: str) -> redis.Redis:
    port = int(url.rsplit(":", 1)[1])
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True)


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    opened = open_store(redis_url)
    build(opened)
    yield opened
    opened.close()


# -- connection and URL -----------------------------------------------------------------


def test_old_redis_is_refused(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(redis_url)
    monkeypatch.setattr(store._redis, "info", lambda *a, **k: {"redis_version": "6.0.16"})
    with pytest.raises(StoreError, match=r"Redis 6\.0\.16 is too old.*>= 6\.2"):
        store.list_segments()
    check_version({"redis_version": "6.2.0"}, "here")
    check_version({"redis_version": "7.0.15"}, "here")
    with pytest.raises(StoreError):
        check_version({"redis_version": "5.0.7"}, "here")


def test_url_prefix_isolates_deployments(redis_url: str) -> None:
    one, two = open_store(redis_url, "dep1"), open_store(redis_url, "dep2")
    one.create_segment(Segment(name="seg"))
    assert [s.name for s in one.list_segments()] == ["seg"]
    assert two.list_segments() == []
    keys = raw(redis_url).keys("*")
    assert keys and all(k.startswith("dep1:") for k in keys)
    default = from_url(redis_url)
    assert isinstance(default, RedisStore) and default.prefix == "rhworker"
    with pytest.raises(ConfigError):
        from_url(f"{redis_url}/0?prefix=")
    for store in (one, two, default):
        store.close()


def test_rediss_url_uses_tls_and_keeps_options() -> None:
    store = from_url(f"rediss://:secret@127.0.0.1:{free_port()}/3?prefix=prod")
    assert isinstance(store, RedisStore) and store.prefix == "prod"
    pool = store._redis.connection_pool
    assert pool.connection_class is redis.SSLConnection
    assert pool.connection_kwargs["db"] == 3 and pool.connection_kwargs["password"] == "secret"
    assert pool.connection_kwargs["decode_responses"] is True
    store.close()


def test_unreachable_server_is_store_unavailable() -> None:
    store = from_url(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailable, match="unreachable"):
        store.list_segments()
    store.close()


# -- the stream behind the queue --------------------------------------------------------


def pending(store: RedisStore) -> list[dict[str, Any]]:
    return list(store._redis.xpending_range(store.key("stream"), "workers", "-", "+", 100))


def test_stream_entries_follow_deliveries(store: RedisStore) -> None:
    t0 = time.time()
    stream = store.key("stream")
    nid = store.create_notification("COMPUTE_HOST", "c1", STOPPED, now=t0).id
    assert store._redis.xlen(stream) == 1 and pending(store) == []

    first = store.consume("w1", lease_timeout=5, now=t0)
    assert first is not None and first.backend_ref
    assert [(p["message_id"], p["consumer"]) for p in pending(store)] == [(first.backend_ref, "w1")]
    # Renewal re-claims the entry (resets its idle time) for the same consumer.
    store.renew(first, lease_timeout=5, now=t0 + 4)
    assert pending(store)[0]["consumer"] == "w1"

    # Takeover after the lease: the same entry moves to the new consumer.
    second = store.consume("w2", lease_timeout=5, now=t0 + 10)
    assert second is not None and second.backend_ref == first.backend_ref
    assert [p["consumer"] for p in pending(store)] == ["w2"]

    # A retry keeps the entry pending (never lost), and the next hand-out re-claims it.
    store.retry_later(second, 30, reason="later", now=t0 + 11)
    assert len(pending(store)) == 1
    assert store._redis.zscore(store.key("delayed"), nid) == pytest.approx(t0 + 41)
    third = store.consume("w3", now=t0 + 42)
    assert third is not None and third.backend_ref == first.backend_ref
    assert [p["consumer"] for p in pending(store)] == ["w3"]

    # Ack removes the entry; the notification record is kept as history.
    store.set_status(nid, S.FINISHED, expected=[S.ERROR], token=third.token)
    store.ack(third)
    assert store._redis.xlen(stream) == 0 and pending(store) == []
    assert store.get_notification(nid).status is S.FINISHED


def test_stale_stream_entries_are_dropped(store: RedisStore) -> None:
    t0 = time.time()
    nid = store.create_notification("COMPUTE_HOST", "c1", STOPPED, now=t0).id
    # An entry that is not the notification's live one (e.g. written by hand) is skipped.
    store._redis.xadd(store.key("stream"), {"nid": nid})
    store._redis.xadd(store.key("stream"), {"garbage": "1"})
    got = store.consume("w1", now=t0)
    assert got is not None and got.notification_id == nid
    assert store.consume("w2", now=t0) is None
    assert store._redis.xlen(store.key("stream")) == 1  # only the live entry remains


def test_blocking_consume_wakes_up_on_intake(store: RedisStore) -> None:
    got: list[Delivery | None] = []
    waiter = threading.Thread(target=lambda: got.append(store.consume("w1", block=20)))
    waiter.start()
    nid = store.create_notification("COMPUTE_HOST", "c2", STOPPED).id
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert got and got[0] is not None and got[0].notification_id == nid


def test_intake_retried_after_lost_reply_is_accepted_once(store: RedisStore) -> None:
    real = store._scripts["intake"]

    def twice(**kwargs: Any) -> Any:  # the reply of the first run is "lost"; redis-py retries
        real(**kwargs)
        return real(**kwargs)

    store._scripts["intake"] = twice  # type: ignore[assignment]
    created = store.create_notification("COMPUTE_HOST", "c1", STOPPED)
    assert [n.id for n in store.list_notifications()] == [created.id]
    assert store._redis.xlen(store.key("stream")) == 1


def test_scripts_reload_after_script_flush(store: RedisStore) -> None:
    store.create_notification("COMPUTE_HOST", "c1", STOPPED)
    store._redis.script_flush()
    assert store.consume("w1") is not None


def test_group_recreated_after_flush(store: RedisStore) -> None:
    store.create_notification("COMPUTE_HOST", "c1", STOPPED)
    store._redis.delete(store.key("stream"))  # stream and group gone
    assert store.consume("w1") is None
    build_again = store.create_notification("COMPUTE_HOST", "c2", STOPPED)
    got = store.consume("w1")
    assert got is not None and got.notification_id == build_again.id


# -- restart with AOF -------------------------------------------------------------------


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    try:
        server = RedisServer(appendonly=True)
    except ServerUnavailable as e:
        require(str(e))
    server.start()
    yield server
    server.stop()


def test_restart_with_aof_keeps_everything(own_redis: RedisServer) -> None:
    store = open_store(own_redis.url)
    build(store, spares=2)
    t0 = time.time()
    ids = [
        store.create_notification("COMPUTE_HOST", f"c{i}", STOPPED, now=t0 + i).id
        for i in (1, 2, 3)
    ]
    held = store.consume("w1", lease_timeout=5, now=t0 + 5)
    assert held is not None and held.notification_id == ids[0]
    claim = store.claim_reserved_host(ids[0], "r0", token=held.token)

    own_redis.restart()  # SIGKILL, then start again from the AOF

    n = eventually(lambda: store.get_notification(ids[0]))
    assert n.lease_owner == "w1" and n.progress.claims[0].epoch == claim.epoch
    assert store.check_claim("r0", claim.epoch, ids[0])
    assert eventually(lambda: store.get_host("r1")).reserved is True
    # The queue carries on: the old lease is taken over, the others are handed out.
    got = [store.consume("w2", lease_timeout=5, now=t0 + 20) for _ in range(3)]
    assert [d.notification_id for d in got if d] == ids
    assert store.consume("w2", now=t0 + 20) is None
    store.close()


def test_server_down_then_back(own_redis: RedisServer) -> None:
    store = open_store(own_redis.url)
    build(store)
    own_redis.kill()
    with pytest.raises(StoreUnavailable):
        store.create_notification("COMPUTE_HOST", "c1", STOPPED)
    own_redis.start()
    created = eventually(lambda: store.create_notification("COMPUTE_HOST", "c1", STOPPED))
    got = store.consume("w1")
    assert got is not None and got.notification_id == created.id
    store.close()
