"""A deployment per backend combination: the embedded default (SQLite + file locks),
Redis store + Redis locks, Redis store + ZooKeeper locks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from rhworker.deployment import Deployment
from rhworker.testing.sim_fixture import running_simulator

BACKENDS = ["embedded", "redis-redis", "redis-zookeeper"]


def _urls(request: pytest.FixtureRequest, backend: str) -> tuple[str | None, str | None]:
    if backend == "embedded":
        return None, None
    redis_url = request.getfixturevalue("redis_url")
    store = f"{redis_url}/0?prefix=t{uuid.uuid4().hex[:8]}"
    if backend == "redis-redis":
        return store, redis_url
    return store, request.getfixturevalue("zookeeper_url")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_deployment(request: pytest.FixtureRequest, backend: str, tmp_path: Any):
    """``make_deployment(spec, sim_options=..., options=...) -> (deployment, sim)``."""
    made: list[tuple[Deployment, Any]] = []
    contexts: list[Any] = []

    def make(
        spec: dict[str, Any],
        *,
        sim_options: dict[str, Any] | None = None,
        options: dict[str, dict[str, Any]] | None = None,
    ) -> tuple[Deployment, Any]:
        ctx = running_simulator(spec, **(sim_options or {}))
        sim = ctx.__enter__()
        contexts.append(ctx)
        store_url, coordination_url = _urls(request, backend)
        deployment = Deployment(
            sim.compute_url,
            store_url=store_url,
            coordination_url=coordination_url,
            state_dir=str(tmp_path / f"state{len(made)}"),
            options=options,
        )
        deployment.load_inventory(spec)
        made.append((deployment, sim))
        return deployment, sim

    yield make
    for deployment, _ in made:
        deployment.close()
    for ctx in contexts:
        ctx.__exit__(None, None, None)


@pytest.fixture
def cloud() -> Iterator[Any]:
    from tests.integration import clouds

    yield clouds
