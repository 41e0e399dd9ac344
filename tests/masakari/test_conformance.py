"""rhworker's instance-ha API answers as masakari-api 22 does, request by request.

Every scenario of :mod:`tests.masakari.scenarios` is sent to both targets:
``[masakari]`` runs it against the reference and checks the status codes this suite
believes Masakari gives (so a change of the pin shows); ``[rhworker]`` and
``[rhworker-redis]`` run it against ``rhworker api`` on the embedded (SQLite) and the
Redis store and compare every answer with the reference's field by field
(status, ``OpenStack-API-Version``/``Vary``/``Content-Type``, JSON body; ids,
timestamps and fault wording normalised, see :mod:`rhworker.testing.masakari.compare`).
Each difference must be listed in :data:`DIFFERENCES` with its reason and its row in
docs/api.md, and each listed difference must still occur.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rhworker.testing.masakari.compare import (
    INTENTIONAL,
    HttpTarget,
    diff,
    normalise,
    report,
    unexplained,
)
from tests.masakari.differences import DIFFERENCES, EXPECTED_STATUS
from tests.masakari.scenarios import CLOUD, SCENARIOS

pytestmark = [pytest.mark.masakari, pytest.mark.integration]

TARGETS = ["masakari", "rhworker", "rhworker-redis"]  # rhworker on each store backend
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


class Conformance:
    """Both targets, and each scenario's normalised answers per target (run once)."""

    def __init__(self, bases: dict[str, str]) -> None:
        self.targets = {name: HttpTarget(name, base) for name, base in bases.items()}
        self.results: dict[tuple[str, str], dict[str, Any]] = {}

    def run(self, target: str, scenario: str) -> dict[str, Any]:
        key = (target, scenario)
        if key not in self.results:
            t = self.targets[target]
            t.transcript = []
            SCENARIOS[scenario](t)
            answers = normalise(t.transcript, t.base)
            self.results[key] = {f"{scenario}/{step}": v for step, v in answers.items()}
        return self.results[key]

    def close(self) -> None:
        for t in self.targets.values():
            t.close()


def _deployment(sim: Any, state: Path, store_url: str | None) -> Any:
    from rhworker.deployment import Deployment

    return Deployment(
        sim.compute_url,
        store_url=store_url,
        state_dir=str(state),
        options={
            "api": {"auth_strategy": "noauth"},
            "notification": {"duplicate_notification_detection_interval": 180},
        },
    )


@pytest.fixture(scope="module")
def conformance(
    masakari_ready: None, redis_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """masakari-api and ``rhworker api`` on each store backend, one Nova simulator."""
    from rhworker.api.process import running_api
    from rhworker.testing.masakari import running_masakari_api
    from rhworker.testing.sim_fixture import running_simulator

    state = tmp_path_factory.mktemp("conformance")
    stores = {
        "rhworker": None,
        "rhworker-redis": f"{redis_server.url}/0?prefix=c{uuid.uuid4().hex[:8]}",
    }
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(running_simulator(CLOUD))
        bases = {
            "masakari": stack.enter_context(
                running_masakari_api(nova_auth_url=sim.identity_url)
            ).url
        }
        for name, store_url in stores.items():
            d = _deployment(sim, state / name, store_url)
            stack.callback(d.close)
            url = stack.enter_context(running_api(d.conf_path, log_path=str(state / f"{name}.log")))
            bases[name] = url.rsplit("/v1", 1)[0]
        both = Conformance(bases)
        stack.callback(both.close)
        yield both


def _compare(conformance: Conformance, scenario: str, target: str) -> dict[str, tuple[Any, Any]]:
    """``target``'s differences from the reference in ``scenario``."""
    return diff(conformance.run("masakari", scenario), conformance.run(target, scenario))


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("target", TARGETS)
def test_conformance(target: str, scenario: str, conformance: Conformance) -> None:
    if target == "masakari":
        reference = conformance.run("masakari", scenario)
        statuses = {step: answer["status"] for step, answer in reference.items()}
        expected = {k: v for k, v in EXPECTED_STATUS.items() if k.startswith(f"{scenario}/")}
        assert statuses == expected
        return
    allowed = [d for d in DIFFERENCES if d.applies_to(scenario)]
    left, _ = unexplained(_compare(conformance, scenario, target), allowed)
    assert not left, f"rhworker differs from masakari-api 22 in {len(left)} ways:\n" + report(left)


def test_every_listed_difference_still_occurs(conformance: Conformance) -> None:
    """Runs what the parametrized tests did not (both targets in step), then checks the
    list: an entry that explains nothing any more must go."""
    found: dict[str, tuple[Any, Any]] = {}
    for target in TARGETS[1:]:
        for scenario in SCENARIOS:
            found.update(_compare(conformance, scenario, target))
    _, unused = unexplained(found, DIFFERENCES)
    assert not unused, "listed differences that no longer occur: " + ", ".join(
        f"{d.step} {d.path} ({d.kind})" for d in unused
    )


def test_every_intentional_difference_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    intentional = [d for d in DIFFERENCES if d.kind == INTENTIONAL]
    assert all(d.doc for d in intentional)
    missing = sorted({d.doc for d in intentional if d.doc not in text})
    assert not missing, f"docs/api.md lacks rows for: {missing}"
