"""The Masakari tier: masakari-api 22, its OSC plugin and masakari-monitors (one cached
virtualenv), Keystone 30 (another). Skipped on a laptop without them, required under
CI=true — the realnova tier's pattern."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import require


@pytest.fixture(scope="session")
def masakari_ready() -> None:
    """Builds (once, cached) or finds the Masakari virtualenv; skips/fails when it cannot."""
    from rhworker.testing.masakari import masakari_available

    reason = masakari_available()
    if reason is not None:
        require(f"Masakari unavailable: {reason}")


@pytest.fixture(scope="session")
def keystone_ready() -> None:
    from rhworker.testing.keystone import keystone_available

    reason = keystone_available()
    if reason is not None:
        require(f"Keystone unavailable: {reason}")


@pytest.fixture(scope="module")
def masakari_sim() -> Iterator[Any]:
    """A Nova simulator for masakari-api to check host names against (module-wide)."""
    from rhworker.testing.sim_fixture import running_simulator

    with running_simulator() as sim:
        yield sim


@pytest.fixture(scope="module")
def masakari_api(masakari_ready: None, masakari_sim: Any) -> Iterator[Any]:
    """One masakari-api (noauth2, Nova = the simulator) for a module's tests."""
    from rhworker.testing.masakari import running_masakari_api

    with running_masakari_api(nova_auth_url=masakari_sim.identity_url) as api:
        yield api
