"""Capacity-aware reserved hosts (rhworker.recovery.capacity) on the in-package fake
Nova: what Placement's numbers mean, the split largest first, and the fallback when
capacity is unknown."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from rhworker.compute.base import HostCapacity, capacity_of
from rhworker.compute.fake import FakeCompute
from rhworker.errors import ComputeTransient
from rhworker.models import Move, StepName
from rhworker.recovery.base import RecoveryContext
from rhworker.recovery.capacity import CapacityPlanner, Need
from rhworker.store import Store
from tests.unit.driver_env import spare_context
from tests.unit.test_targets import _coordinator, coordinators, store

__all__ = ["coordinators", "store"]  # fixtures, imported for pytest


def test_capacity_of_counts_as_placement_does() -> None:
    inventories = {
        "VCPU": {"total": 8, "reserved": 2, "allocation_ratio": 4.0},
        "MEMORY_MB": {"total": 4096, "reserved": 512, "allocation_ratio": 1.0},
        "CUSTOM_X": {"total": 1, "reserved": 0, "allocation_ratio": 1.0},
    }
    got = capacity_of("h", inventories, {"VCPU": 5, "MEMORY_MB": 4000})
    assert got == HostCapacity("h", {"VCPU": 19.0, "MEMORY_MB": 0.0})  # never below 0


def test_need_fits_only_the_classes_placement_has() -> None:
    need = Need({"VCPU": 2, "MEMORY_MB": 1024, "DISK_GB": 10})
    assert need.fits({"VCPU": 2, "MEMORY_MB": 1024})  # no DISK_GB inventory: not checked
    assert not need.fits({"VCPU": 1.5, "MEMORY_MB": 4096, "DISK_GB": 100})
    assert (need + need).amounts == {"VCPU": 4, "MEMORY_MB": 2048, "DISK_GB": 20}


def _setup(tmp_path: Path, store: Store, made: list[Any]) -> tuple[RecoveryContext, FakeCompute]:
    compute = FakeCompute()
    ctx = dataclasses.replace(
        spare_context(store, _coordinator(tmp_path, made), "c1"), compute=compute
    )
    sizes = {"big": (4, 4096, 40), "mid": (2, 2048, 20), "s1": (1, 512, 1), "s2": (1, 512, 1)}
    for name, (vcpus, ram, disk) in sizes.items():
        server = compute.add_server(name, "c1", name=name)
        server.flavor = {"vcpus": vcpus, "ram": ram, "disk": disk}
    return ctx, compute


def _moves(ctx: RecoveryContext) -> list[Move]:
    nid = ctx.delivery.notification_id
    return [Move(nid, i, instance_name=i) for i in ("s1", "big", "s2", "mid")]  # priority order


def _steps(store: Store, ctx: RecoveryContext, name: str) -> list[Any]:
    n = store.get_notification(ctx.delivery.notification_id)
    return [s for s in n.progress.steps if s.name == name]


def test_share_is_largest_first_in_evacuation_order(tmp_path, store, coordinators) -> None:
    ctx, compute = _setup(tmp_path, store, coordinators)
    compute.capacities["r0"] = HostCapacity("r0", {"VCPU": 5, "MEMORY_MB": 8192})
    compute.capacities["r1"] = HostCapacity("r1", {"VCPU": 16, "MEMORY_MB": 8192})
    planner = CapacityPlanner(ctx, "c1")
    moves = _moves(ctx)
    assert planner.prefer_whole(moves, ["r0", "r1"])  # r1 takes all 8 vCPU
    assert not planner.accepts("r0", moves, whole=True)
    assert planner.accepts("r0", moves, whole=False)
    # big (4) first, then mid (2) does not fit in 1, s1 (1) does; s2 is left
    assert [m.instance_id for m in planner.share("r0", moves)] == ["s1", "big"]
    assert planner.share("r1", moves) == moves
    assert [s.detail["host"] for s in _steps(store, ctx, StepName.TOO_SMALL)] == ["r0"]
    assert [s.detail["instances"] for s in _steps(store, ctx, StepName.CAPACITY_SPLIT)] == [
        ["s1", "big"]
    ]
    assert len(compute.calls_of("host_capacity")) == 2  # asked once per host


def test_a_spare_that_takes_nothing_is_refused(tmp_path, store, coordinators) -> None:
    ctx, compute = _setup(tmp_path, store, coordinators)
    compute.capacities["r0"] = HostCapacity("r0", {"VCPU": 0.5, "MEMORY_MB": 8192})
    planner = CapacityPlanner(ctx, "c1")
    assert not planner.prefer_whole(_moves(ctx), ["r0"])
    assert not planner.accepts("r0", _moves(ctx), whole=False)
    assert "smallest" in _steps(store, ctx, StepName.TOO_SMALL)[0].message


@pytest.mark.parametrize("case", ["no_provider", "placement_down", "flavor_unknown"])
def test_unknown_capacity_falls_back_to_todays_behaviour(
    tmp_path, store, coordinators, case
) -> None:
    ctx, compute = _setup(tmp_path, store, coordinators)
    compute.capacities["r0"] = HostCapacity("r0", {"VCPU": 1, "MEMORY_MB": 512})
    if case == "no_provider":
        del compute.capacities["r0"]
    elif case == "placement_down":
        compute.fail("host_capacity", ComputeTransient("Placement: HTTP 503"))
    else:
        compute.servers["mid"].flavor = {}
    planner = CapacityPlanner(ctx, "c1")
    moves = _moves(ctx)
    assert planner.accepts("r0", moves, whole=True)  # taken whatever its size
    assert planner.share("r0", moves) == moves
    assert len(_steps(store, ctx, StepName.CAPACITY_UNKNOWN)) == 1
    assert not _steps(store, ctx, StepName.TOO_SMALL)
    if case == "placement_down":  # Placement itself failed: not asked for other spares
        assert planner.accepts("r1", moves, whole=True)
        assert len(compute.calls_of("host_capacity")) == 1
