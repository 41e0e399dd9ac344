"""Scenarios run on two clouds: the simulator and real Nova (one test, both clouds).

``cloud_factory(spec, **options)`` builds a :class:`~rhworker.testing.cloud.CloudUnderTest`
of the kind under test; ``make_scenario(spec, ...)`` adds a rhworker deployment wired
to it (inventory loaded from the same spec). Real Nova needs
``rhworker.testing.realnova``: while that module is missing the realnova side is
skipped, everywhere; once it exists, a real Nova that cannot run here is skipped on
a laptop and fails under CI (``CI=true``), like the other required servers.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from rhworker.deployment import Deployment
from rhworker.testing.cloud import CloudUnderTest
from rhworker.testing.cloud_sim import SimCloud, running_sim_cloud
from tests.conftest import require
from tests.scenarios.harness import Scenario

REALNOVA_MODULE = "rhworker.testing.realnova"

# Simulator timings for scenarios: quick evacuations, and the 60 s blocking disable
# (a dead compute still counted up) short enough to notice but not to wait on.
SIM_OPTIONS: dict[str, Any] = {"evacuation_time": 0.1, "disable_rpc_delay": 0.5}

# Per cloud: worker settings on top of the deployment's fast ones, and the bound of
# every wait. Real Nova slows down when polled hard, so it is polled less often.
HOST_FAILURE = {
    "sim": {"verify_interval": 0.05, "wait_period_after_evacuation": 30},
    "realnova": {"verify_interval": 0.25, "wait_period_after_evacuation": 60},
}
TIMEOUT = {"sim": 30.0, "realnova": 60.0}


def pytest_configure(config: pytest.Config) -> None:
    if not any(str(line).startswith("realnova:") for line in config.getini("markers")):
        config.addinivalue_line(
            "markers",
            "realnova: runs against real Nova (rhworker.testing.realnova); skipped without "
            "it, required when CI=true once the module exists",
        )


def _realnova() -> ModuleType:
    """The realnova module; a real Nova that cannot run here skips on a laptop and
    fails under CI."""
    module = importlib.import_module(REALNOVA_MODULE)
    reason = module.realnova_available()
    if reason:
        require(f"real Nova cannot run here: {reason}")
    return module


@pytest.fixture(
    params=["sim", pytest.param("realnova", marks=pytest.mark.realnova)],
)
def cloud_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cloud_type(cloud_kind: str) -> type:
    """The class of the clouds ``cloud_factory`` builds (to ask what it can do first)."""
    if cloud_kind == "sim":
        return SimCloud
    cls = getattr(_realnova(), "RealNovaCloud", None)
    if not isinstance(cls, type):
        require(f"{REALNOVA_MODULE} has no RealNovaCloud class")
    return cls


@pytest.fixture
def cloud_factory(cloud_kind: str) -> Iterator[Callable[..., CloudUnderTest]]:
    """``cloud_factory(spec, **options) -> CloudUnderTest``, closed after the test."""
    module = _realnova() if cloud_kind == "realnova" else None
    contexts: list[Any] = []

    def make(spec: dict[str, Any], **options: Any) -> CloudUnderTest:
        if module is None:
            ctx = running_sim_cloud(spec, **{**SIM_OPTIONS, **options})
        else:
            ctx = module.running_realnova(spec, **options)
        cloud = ctx.__enter__()
        contexts.append(ctx)
        return cloud  # type: ignore[no-any-return]

    yield make
    for ctx in reversed(contexts):
        ctx.__exit__(None, None, None)


@pytest.fixture
def backend() -> str:
    """Store + locks: the embedded default unless a test parametrizes it."""
    return "embedded"


def _urls(request: pytest.FixtureRequest, backend: str) -> tuple[str | None, str | None]:
    if backend == "embedded":
        return None, None
    redis_url = request.getfixturevalue("redis_url")
    store = f"{redis_url}/0?prefix=s{uuid.uuid4().hex[:8]}"
    if backend == "redis-redis":
        return store, redis_url
    if backend == "redis-zookeeper":
        return store, request.getfixturevalue("zookeeper_url")
    raise ValueError(f"unknown backend {backend}")


@pytest.fixture
def make_scenario(
    request: pytest.FixtureRequest,
    cloud_factory: Callable[..., CloudUnderTest],
    cloud_kind: str,
    backend: str,
    tmp_path: Any,
) -> Iterator[Callable[..., Scenario]]:
    """``make_scenario(spec, options=..., cloud_options=...) -> Scenario``."""
    made: list[Deployment] = []

    def make(
        spec: dict[str, Any],
        *,
        options: dict[str, dict[str, Any]] | None = None,
        cloud_options: dict[str, Any] | None = None,
    ) -> Scenario:
        cloud = cloud_factory(spec, **(cloud_options or {}))
        store_url, coordination_url = _urls(request, backend)
        groups: dict[str, dict[str, Any]] = {
            "host_failure": dict(HOST_FAILURE[cloud_kind]),
            # Locks of its own: a worker SIGKILLed by an earlier test keeps its
            # ZooKeeper locks until its session times out.
            "coordination": {"lock_prefix": f"s{uuid.uuid4().hex[:8]}"},
        }
        for group, values in (options or {}).items():
            groups.setdefault(group, {}).update(values)
        deployment = Deployment(
            cloud.compute_url,
            store_url=store_url,
            coordination_url=coordination_url,
            state_dir=str(tmp_path / f"state{len(made)}"),
            options=groups,
        )
        made.append(deployment)
        deployment.load_inventory(spec)
        return Scenario(cloud, deployment, spec, TIMEOUT[cloud_kind])

    yield make
    for deployment in made:
        deployment.close()
