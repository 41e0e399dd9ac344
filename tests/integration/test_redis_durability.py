"""The Redis store's durability check at start-up and its WAIT on claims (issue 13).

Against real redis-server processes started here with the settings under test: AOF
``everysec`` (the fixtures' default), AOF ``always``, no AOF, ``CONFIG`` disabled,
a replica with and without ``min-replicas-to-write``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis as redis_py

from rhworker.errors import ConfigError
from rhworker.models import Host, Segment
from rhworker.store import from_url
from rhworker.store.base import DEFAULT_LEASE_TIMEOUT, check_durability
from rhworker.store.redis import RedisStore, durability_risks_of
from rhworker.testing.servers import RedisServer, ServerUnavailable
from tests.conftest import require
from tests.contract.store_cases import STOPPED

pytestmark = pytest.mark.integration

# A primary that starts a replica's full sync at once (Redis waits 5 s by default).
FAST_SYNC = ("--repl-diskless-sync-delay", "0")


class _Redis(RedisServer):
    def __init__(self, *extra: str) -> None:
        super().__init__()
        self.extra = list(extra)

    def command(self) -> Sequence[str]:
        return [*super().command(), *self.extra]


@pytest.fixture
def server_with() -> Iterator[Any]:
    started: list[_Redis] = []

    def start(*extra: str) -> _Redis:
        try:
            server = _Redis(*extra)
        except ServerUnavailable as e:
            require(str(e))
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.stop()


def _store(server: RedisServer) -> RedisStore:
    store = from_url(f"{server.url}/0?prefix=dur")
    assert isinstance(store, RedisStore)
    return store


def _messages(store: RedisStore) -> list[str]:
    return [r.message for r in store.durability_risks()]


def test_everysec_is_a_known_risk_refused_on_demand(server_with: Any, caplog: Any) -> None:
    store = _store(server_with())  # the fixtures' server: AOF everysec
    [risk] = store.durability_risks()
    assert risk.known and "appendfsync everysec" in risk.message
    with caplog.at_level(logging.WARNING):
        assert check_durability(store, "warn") == [risk]
    assert "appendfsync everysec" in caplog.text
    with pytest.raises(ConfigError, match="appendfsync everysec"):
        check_durability(store, "refuse")
    store.close()


def test_always_is_fine_and_no_aof_is_not(server_with: Any) -> None:
    durable = _store(server_with("--appendfsync", "always"))
    assert durable.durability_risks() == []
    assert check_durability(durable, "refuse") == []
    durable.close()
    volatile = _store(server_with("--appendonly", "no"))
    assert any("appendonly is off" in m for m in _messages(volatile))
    with pytest.raises(ConfigError):
        check_durability(volatile, "refuse")
    volatile.close()


def test_config_disabled_falls_back_to_info(server_with: Any) -> None:
    server = server_with("--rename-command", "CONFIG", "")
    with pytest.raises(redis_py.exceptions.ResponseError):
        redis_py.Redis(port=server.port).config_get("appendfsync")
    store = _store(server)
    [risk] = store.durability_risks()
    assert not risk.known and "appendfsync unknown" in risk.message
    assert check_durability(store, "refuse") == [risk]  # unknown: warned, not refused
    store.close()


def _replica_of(server_with: Any, primary: RedisServer) -> RedisServer:
    """A replica of ``primary``, in sync (its link up) before it is returned."""
    replica = server_with("--replicaof", "127.0.0.1", str(primary.port), "--appendfsync", "always")
    client = redis_py.Redis(port=replica.port, decode_responses=True)
    deadline = time.monotonic() + 20
    while client.info("replication").get("master_link_status") != "up":
        assert time.monotonic() < deadline, "the replica did not sync"
        time.sleep(0.05)
    client.close()
    return replica


def _claim(store: RedisStore) -> int:
    store.create_segment(Segment(name="seg"))
    store.create_host(Host(name="c1", segment="seg"))
    store.create_host(Host(name="r0", segment="seg", reserved=True))
    n = store.create_notification("COMPUTE_HOST", "c1", dict(STOPPED))
    d = store.consume("w1", lease_timeout=DEFAULT_LEASE_TIMEOUT)
    assert d is not None
    return store.claim_reserved_host(n.id, "r0", token=d.token).epoch


def test_replica_without_min_replicas_and_the_claim_waits(server_with: Any, caplog: Any) -> None:
    primary = server_with("--appendfsync", "always", *FAST_SYNC)
    replica = _replica_of(server_with, primary)
    store = _store(primary)
    [risk] = store.durability_risks()
    assert "min-replicas-to-write 0" in risk.message and store.replicas == 1
    epoch = _claim(store)
    # the replica has the claim once claim_reserved_host returns (it WAITed)
    copy = redis_py.Redis(port=replica.port, decode_responses=True)
    assert copy.hget("dur:host:r0", "claim_epoch") == str(epoch)
    copy.close()

    replica.pause()  # a replica that does not answer: the claim stands, with a warning
    try:
        with caplog.at_level(logging.WARNING):
            store.create_host(Host(name="c2", segment="seg"))
            store.create_host(Host(name="r1", segment="seg", reserved=True))
            n = store.create_notification("COMPUTE_HOST", "c2", dict(STOPPED))
            d = store.consume("w2", lease_timeout=DEFAULT_LEASE_TIMEOUT)
            assert d is not None and d.notification_id == n.id
            store.claim_reserved_host(n.id, "r1", token=d.token)
        assert "no replica acknowledged the claim on r1" in caplog.text
    finally:
        replica.resume()
    store.close()


def test_replica_with_min_replicas_is_fine(server_with: Any) -> None:
    primary = server_with("--appendfsync", "always", "--min-replicas-to-write", "1", *FAST_SYNC)
    _replica_of(server_with, primary)
    store = _store(primary)
    assert store.durability_risks() == []
    store.close()


def test_risks_from_config_and_info() -> None:
    where = "test"
    assert durability_risks_of({"appendonly": "yes", "appendfsync": "always"}, {}, where) == []
    [no] = durability_risks_of({"appendonly": "yes", "appendfsync": "no"}, {}, where)
    assert "up to 30 s" in no.message and no.known
    [evict] = durability_risks_of(
        {
            "appendonly": "yes",
            "appendfsync": "always",
            "maxmemory-policy": "allkeys-lru",
            "maxmemory": "1000000",
        },
        {},
        where,
    )
    assert "noeviction" in evict.message
    # CONFIG disabled: INFO only
    risks = durability_risks_of({}, {"aof_enabled": 1, "connected_slaves": 2}, where)
    assert [r.known for r in risks] == [False, False]
    [off] = durability_risks_of({}, {"aof_enabled": 0}, where)
    assert off.known and "appendonly is off" in off.message


def test_an_evicted_epoch_key_does_not_repeat_an_epoch(redis_url: str) -> None:
    store = from_url(f"{redis_url}/0?prefix=evict")
    assert isinstance(store, RedisStore)
    first = _claim(store)
    raw = redis_py.Redis.from_url(redis_url)
    assert raw.delete("evict:epoch") == 1  # evicted (or lost with the last writes)
    raw.close()
    store.update_host("r0", reserved=True)  # a spare again: its last epoch is cleared
    store.create_host(Host(name="c2", segment="seg"))
    n = store.create_notification("COMPUTE_HOST", "c2", dict(STOPPED))
    d = store.consume("w2", lease_timeout=DEFAULT_LEASE_TIMEOUT)
    assert d is not None and d.notification_id == n.id
    second = store.claim_reserved_host(n.id, "r0", token=d.token).epoch
    assert second > first  # an INCR from nothing would have said 1
    assert store.check_claim("r0", second, n.id) and not store.check_claim("r0", first, n.id)
    store.close()


def test_rhworker_check_reports_and_refuses(server_with: Any, tmp_path: Any) -> None:
    """``rhworker check --only store`` shows the risks; with ``refuse`` it fails (and so
    would a worker's preflight, exit 7)."""
    import subprocess
    import sys

    server = server_with()  # AOF everysec
    url = f"{server.url}/0?prefix=chk"

    def check(policy: str) -> subprocess.CompletedProcess[str]:
        conf = tmp_path / f"{policy}.conf"
        conf.write_text(f"[store]\nurl = {url}\nredis_durability = {policy}\n")
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "rhworker",
                "--config-file",
                str(conf),
                "check",
                "--only",
                "store",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    warned = check("warn")
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert "store: ok: redis" in warned.stdout and "appendfsync everysec" in warned.stdout
    refused = check("refuse")
    assert refused.returncode == 7, refused.stdout + refused.stderr
    assert "store: FAILED" in refused.stdout and "appendfsync everysec" in refused.stdout
