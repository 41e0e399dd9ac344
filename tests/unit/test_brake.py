"""The mass-failure brake's arithmetic and decision (rhworker.brake)."""

from __future__ import annotations

import pytest

from rhworker import brake, conf
from rhworker.brake import BrakeLimits
from rhworker.models import PauseInfo

DEFAULTS = BrakeLimits()


@pytest.mark.parametrize(
    ("failed", "hosts", "passed"),
    [
        (2, 2, False),  # below the minimum of 3 failed hosts, even at 100 %
        (3, 6, False),  # exactly half: not MORE than half
        (4, 7, True),  # 57 %
        (3, 5, True),  # 60 %
        (6, 13, False),  # the rack-loss scenario with six spares: 46 %
        (6, 7, True),  # the rack loss of a segment without spares: 86 %
        (10, 40, False),
        (21, 40, True),
        (0, 0, False),
    ],
)
def test_segment_threshold(failed: int, hosts: int, passed: bool) -> None:
    assert brake.segment_passed(DEFAULTS, failed, hosts) is passed


def test_segment_threshold_fraction_one_never_passes() -> None:
    limits = BrakeLimits(segment_max_failed_fraction=1.0, segment_min_failed_hosts=1)
    assert not brake.segment_passed(limits, 5, 5)
    assert brake.segment_passed(
        BrakeLimits(segment_max_failed_fraction=0.0, segment_min_failed_hosts=1), 1, 100
    )


@pytest.mark.parametrize(
    ("recent", "limit", "passed"),
    [(20, 20, False), (21, 20, True), (1, 0, False), (500, 0, False), (2, 1, True)],
)
def test_cloud_threshold(recent: int, limit: int, passed: bool) -> None:
    limits = BrakeLimits(cloud_max_failures_per_window=limit)
    assert brake.cloud_passed(limits, recent) is passed


def test_decide_cloud_first_then_segment_with_reasons() -> None:
    limits = BrakeLimits(cloud_max_failures_per_window=5, window=60.0)
    trip = brake.decide(limits, segment="rack-a", failed=4, hosts=7, recent=6)
    assert trip is not None and trip.scope is None and trip.by == "brake:" + brake.CLOUD
    assert trip.reason == (
        "mass-failure brake: 6 hosts reported failed within 60s "
        "(more than cloud_max_failures_per_window 5)"
    )
    trip = brake.decide(limits, segment="rack-a", failed=4, hosts=7, recent=5)
    assert trip is not None and (trip.scope, trip.threshold) == ("rack-a", brake.SEGMENT)
    assert trip.reason == (
        "mass-failure brake: 4 of 7 hosts of segment rack-a have open failures "
        "(57% > segment_max_failed_fraction 50%)"
    )
    assert "segment rack-a paused" in brake.step_message(trip)
    assert brake.decide(limits, segment="rack-a", failed=3, hosts=7, recent=5) is None


def test_decide_released_scopes_and_disabled() -> None:
    limits = BrakeLimits(cloud_max_failures_per_window=5)
    counts = {"segment": "s", "failed": 6, "hosts": 6, "recent": 9}
    assert brake.decide(BrakeLimits(enabled=False), **counts) is None  # type: ignore[arg-type]
    only_segment = brake.decide(limits, check_cloud=False, **counts)  # type: ignore[arg-type]
    assert only_segment is not None and only_segment.scope == "s"
    assert brake.decide(limits, check_cloud=False, check_segment=False, **counts) is None  # type: ignore[arg-type]
    unknown_host = brake.decide(limits, segment=None, failed=0, hosts=0, recent=1)
    assert unknown_host is None


def test_failure_reports_and_pause_origin() -> None:
    assert brake.is_failure_report("COMPUTE_HOST", {"event": "stopped"})
    assert not brake.is_failure_report("COMPUTE_HOST", {"event": "STARTED"})
    assert not brake.is_failure_report("VM", {"event": "STOPPED"})
    by_brake = PauseInfo(segment="s", by="brake:" + brake.SEGMENT, reason="r", at=0.0)
    by_hand = PauseInfo(segment="s", by="operator:ann", reason="r", at=0.0)
    assert brake.threshold_of(by_brake) == brake.SEGMENT
    assert brake.threshold_of(by_hand) is None


def test_limits_from_configuration() -> None:
    loaded = conf.load([], overrides={"brake": {"window": 30.0, "segment_min_failed_hosts": 5}})
    limits = BrakeLimits.from_conf(loaded)
    assert limits == BrakeLimits(window=30.0, segment_min_failed_hosts=5)
    assert BrakeLimits.from_conf(conf.load([])) == DEFAULTS
