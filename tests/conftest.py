"""Shared fixtures: real servers on free loopback ports.

A test that needs a server the machine lacks is skipped with the reason — except
under CI (``CI=true``), where a missing server fails the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from rhworker.testing.servers import RedisServer, ServerUnavailable, ZooKeeperServer


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(reason: str) -> None:
    """Skip on a laptop; fail under CI."""
    if in_ci():
        pytest.fail(f"required under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except ServerUnavailable as e:
        require(str(e))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def zookeeper_server() -> Iterator[ZooKeeperServer]:
    try:
        server = ZooKeeperServer()
    except ServerUnavailable as e:
        require(str(e))
    server.start(timeout=60)
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A clean Redis database for one test."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def zookeeper_url(zookeeper_server: ZooKeeperServer) -> str:
    return zookeeper_server.url


@pytest.fixture
def sim() -> Iterator[object]:
    """An in-process Nova simulator (small cloud, fast evacuations) on a free port."""
    from rhworker.testing.sim_fixture import running_simulator

    with running_simulator() as simulator:
        yield simulator
