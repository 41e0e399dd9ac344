"""What says why the brake holds: ``rhworker status`` and the Prometheus gauges,
on a real SQLite store whose hand-out tripped the brake."""

from __future__ import annotations

from pathlib import Path

import pytest

from rhworker import brake, interventions
from rhworker.brake import BrakeLimits
from rhworker.metrics import WorkerMetrics
from rhworker.models import Host, Segment
from rhworker.status import collect, render
from rhworker.store import Store, from_url

STOPPED = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


@pytest.fixture
def tripped(tmp_path: Path) -> Store:
    store = from_url(f"sqlite:///{tmp_path}/rhworker.db")
    for seg in ("rack", "other"):
        store.create_segment(Segment(name=seg))
        for i in range(1, 5):
            store.create_host(Host(name=f"{seg}{i}", segment=seg))
    for i in range(1, 4):
        store.create_notification("COMPUTE_HOST", f"rack{i}", dict(STOPPED))
    assert store.consume("w", brake=BrakeLimits()) is None  # 3 of 4: held
    interventions.pause(store, "other", by="operator:ann", reason="cabling")
    return store


def test_status_says_the_brake_holds_and_how_to_release(tripped: Store) -> None:
    text = render(collect(tripped))
    assert (
        "HELD segment rack by the mass-failure brake since" in text
        and "3 of 4 hosts of segment rack have open failures (75% > "
        "segment_max_failed_fraction 50%)"
        in text
        and "'rhworker resume --segment rack'" in text
    ), text
    assert "PAUSED segment other by operator:ann" in text and "cabling" in text
    assert "3 held by a pause" in text


def test_metrics_show_brake_and_pauses(tripped: Store) -> None:
    metrics = WorkerMetrics()
    metrics.refresh(tripped)
    value = metrics.registry.get_sample_value
    assert value("rhworker_brake_engaged", {"scope": "rack", "threshold": brake.SEGMENT}) == 1
    assert value("rhworker_paused", {"scope": "rack", "by": "brake"}) == 1
    assert value("rhworker_paused", {"scope": "other", "by": "operator"}) == 1
    interventions.resume(tripped, "rack", by="operator:ann")
    metrics.refresh(tripped)
    assert value("rhworker_brake_engaged", {"scope": "rack", "threshold": brake.SEGMENT}) is None
    assert value("rhworker_paused", {"scope": "other", "by": "operator"}) == 1
