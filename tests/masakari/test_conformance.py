"""rhworker's instance-ha API answers as masakari-api 22 does, request by request.

Every scenario of :mod:`tests.masakari.scenarios` is sent to both targets:
``[masakari]`` runs it against the reference and checks the status codes this suite
believes Masakari gives (so a change of the pin shows); ``[rhworker]`` runs it against
``rhworker api`` and compares every answer with the reference's field by field
(status, ``OpenStack-API-Version``/``Vary``/``Content-Type``, JSON body; ids,
timestamps and fault wording normalised, see :mod:`rhworker.testing.masakari.compare`).
Each difference must be listed in :data:`DIFFERENCES` with its reason and its row in
docs/api.md, and each listed difference must still occur.
"""

from __future__ import annotations

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

TARGETS = ["masakari", "rhworker"]
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


@pytest.fixture(scope="module")
def conformance(masakari_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from rhworker.api.process import running_api
    from rhworker.deployment import Deployment
    from rhworker.testing.masakari import running_masakari_api
    from rhworker.testing.sim_fixture import running_simulator

    state = tmp_path_factory.mktemp("conformance")
    with running_simulator(CLOUD) as sim:
        deployment = Deployment(
            sim.compute_url,
            state_dir=str(state / "rhworker"),
            options={
                "api": {"auth_strategy": "noauth"},
                "notification": {"duplicate_notification_detection_interval": 180},
            },
        )
        try:
            with (
                running_masakari_api(nova_auth_url=sim.identity_url) as masakari,
                running_api(deployment.conf_path, log_path=str(state / "api.log")) as url,
            ):
                both = Conformance({"masakari": masakari.url, "rhworker": url.rsplit("/v1", 1)[0]})
                yield both
                both.close()
        finally:
            deployment.close()


def _compare(conformance: Conformance, scenario: str) -> dict[str, tuple[Any, Any]]:
    """rhworker's differences from the reference in ``scenario``."""
    return diff(conformance.run("masakari", scenario), conformance.run("rhworker", scenario))


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
    left, _ = unexplained(_compare(conformance, scenario), allowed)
    assert not left, f"rhworker differs from masakari-api 22 in {len(left)} ways:\n" + report(left)


def test_every_listed_difference_still_occurs(conformance: Conformance) -> None:
    """Runs what the parametrized tests did not (both targets in step), then checks the
    list: an entry that explains nothing any more must go."""
    found: dict[str, tuple[Any, Any]] = {}
    for scenario in SCENARIOS:
        found.update(_compare(conformance, scenario))
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
