"""Issue 19: capacity-aware reserved hosts — Placement (the simulator's) read through
openstacksdk before a spare is claimed; against every store/lock backend pair."""

from __future__ import annotations

from typing import Any

import pytest

from rhworker.models import MoveState, NotificationStatus, StepName

pytestmark = pytest.mark.integration

FLAVORS = [
    {"name": "small", "vcpus": 1, "ram": 512, "disk": 1},
    {"name": "big", "vcpus": 4, "ram": 4096, "disk": 10},
]


def _cloud(spares: list[tuple[str, int]]) -> dict[str, Any]:
    hosts: list[dict[str, Any]] = [
        {"name": "compute-1", "vcpus": 16, "memory_mb": 32768},
        {"name": "compute-2", "vcpus": 16, "memory_mb": 32768},
    ]
    hosts += [
        {"name": name, "vcpus": vcpus, "memory_mb": 32768, "reserved": True}
        for name, vcpus in spares
    ]
    servers = [
        {"name": "big", "host": "compute-1", "flavor": "big"},
        {"name": "small", "count": 3, "host": "compute-1", "flavor": "small"},
        {"name": "other", "host": "compute-2", "flavor": "small"},
    ]
    return {
        "segments": [{"name": "seg1", "recovery_method": "reserved_host", "hosts": hosts}],
        "flavors": FLAVORS,
        "servers": servers,
    }


def _on(sim: Any, host: str) -> list[str]:
    return sorted(s["name"] for s in sim.state()["servers"] if s["host"] == host)


def _steps(d: Any, nid: str, name: str) -> list[Any]:
    return [s for s in d.store.get_notification(nid).progress.steps if s.name == name]


def _recover(d: Any, sim: Any) -> Any:
    sim.kill_host("compute-1")
    nid = d.notify("compute-1")
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == NotificationStatus.FINISHED, n.progress.reason
    assert all(m.state == MoveState.SUCCEEDED for m in d.store.list_moves(nid))
    assert not sim.state()["violations"]
    return n


def test_small_spare_skipped_for_one_that_takes_all(make_deployment):
    # needs 7 vCPU: spare-1 (2) is skipped without a claim, spare-2 (8) takes all.
    d, sim = make_deployment(_cloud([("spare-1", 2), ("spare-2", 8)]))
    n = _recover(d, sim)
    assert [c.host for c in n.progress.claims] == ["spare-2"]
    assert len(_on(sim, "spare-2")) == 4 and not _on(sim, "spare-1")
    skipped = _steps(d, n.id, StepName.TOO_SMALL)
    assert [s.detail["host"] for s in skipped] == ["spare-1"]
    spare1 = d.store.get_host("spare-1")
    assert (spare1.reserved, spare1.claimed_by) == (True, None)
    assert not _steps(d, n.id, "full")  # Nova never had to refuse anything


def test_split_over_spares_largest_first(make_deployment):
    # 7 vCPU, no spare takes all: spare-0 (0 vCPU) is skipped, spare-1 (2) gets two
    # small ones, spare-2 (5) the big one and the last small one; spare-3 (1) is not
    # needed and stays a free spare.
    d, sim = make_deployment(
        _cloud([("spare-0", 0), ("spare-1", 2), ("spare-2", 5), ("spare-3", 1)])
    )
    n = _recover(d, sim)
    assert [c.host for c in n.progress.claims] == ["spare-1", "spare-2"]
    assert len(_on(sim, "spare-1")) == 2 and "big" not in _on(sim, "spare-1")
    assert "big" in _on(sim, "spare-2") and len(_on(sim, "spare-2")) == 2
    assert d.store.get_host("spare-3").reserved is True
    assert [s.detail["host"] for s in _steps(d, n.id, StepName.TOO_SMALL)][:1] == ["spare-0"]
    splits = _steps(d, n.id, StepName.CAPACITY_SPLIT)
    assert [s.detail["host"] for s in splits] == ["spare-1"]  # spare-2 then takes the rest
    assert len(splits[0].detail["instances"]) == 2
    assert not _steps(d, n.id, "full")


def test_placement_down_falls_back_to_todays_behaviour(make_deployment):
    d, sim = make_deployment(_cloud([("spare-1", 2), ("spare-2", 16)]))
    sim.inject(type="error", path="^/placement", status=503)
    n = _recover(d, sim)
    assert _steps(d, n.id, StepName.CAPACITY_UNKNOWN)
    # spare-1 claimed blind, Nova refuses what does not fit, spare-2 takes the rest
    assert [c.host for c in n.progress.claims] == ["spare-1", "spare-2"]
    assert _steps(d, n.id, "full")
    assert len(_on(sim, "spare-1")) == 2 and len(_on(sim, "spare-2")) == 2
