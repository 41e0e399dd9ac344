"""The host-failure driver's recovery methods on the in-package FakeCompute and an
SQLite store: reserved_host, auto, rh_priority and auto_priority, each one's
spill-over to the other, reserved hosts exhausted, a spare with no room, capacity,
aggregates and giving back an unused spare."""

from __future__ import annotations

import pytest

from rhworker.compute.base import Aggregate, HostCapacity
from rhworker.models import MoveState, NotificationStatus, RecoveryMethod, StepName
from tests.unit.driver_env import FAILED, Cloud
from tests.unit.driver_env import cloud as cloud  # noqa: F401  (the fixture)

SPARES = ("r0", "r1")
NO_SPARE = "no reserved host available"


def _spare(cloud: Cloud, host: str) -> tuple[bool, str | None, str]:
    """(reserved, claimed by, Nova service status) of a spare."""
    h = cloud.store.get_host(host)
    return h.reserved, h.claimed_by, cloud.compute.services[host].status


def _hosts(cloud: Cloud) -> dict[str, str | None]:
    return {sid: s.host for sid, s in cloud.compute.servers.items()}


# -- reserved_host -------------------------------------------------------------------------


def test_reserved_host_claims_the_first_spare_enables_it_and_evacuates_onto_it(
    cloud: Cloud,
) -> None:
    cloud.segment(RecoveryMethod.RESERVED_HOST, spares=SPARES)
    cloud.servers("vm-1", "vm-2")
    nid = cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert result.target_hosts == ["r0"] and result.moved == 2
    assert sorted(cloud.evacuated_to()) == [("vm-1", "r0"), ("vm-2", "r0")]
    assert _hosts(cloud) == {"vm-1": "r0", "vm-2": "r0"}
    assert _spare(cloud, "r0") == (False, nid, "enabled")
    assert _spare(cloud, "r1") == (True, None, "disabled")  # untouched
    names = cloud.step_names(nid)
    assert names.index("claimed") < names.index("enabled")
    changes = cloud.changes()
    assert changes.index("enable_service") < changes.index("evacuate_server")


def test_reserved_host_with_no_spare_is_exhausted_and_evacuates_nothing(cloud: Cloud) -> None:
    cloud.segment(RecoveryMethod.RESERVED_HOST)
    cloud.servers("vm-1")
    nid = cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.ERROR
    assert result.reason.startswith(f"{NO_SPARE}; 1 instance(s) not evacuated: vm-1")
    assert cloud.evacuated_to() == []
    assert cloud.steps(nid, "no_reserved_host")[0].message == f"{NO_SPARE} in seg"
    assert cloud.states(nid) == {"vm-1": MoveState.PENDING}  # left for a retry


def test_spare_without_room_moves_on_to_the_next_and_is_given_back(cloud: Cloud) -> None:
    cloud.segment(RecoveryMethod.RESERVED_HOST, spares=SPARES)
    cloud.compute.full_hosts.add("r0")
    cloud.servers("vm-1")
    nid = cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert result.target_hosts == ["r1"]
    assert cloud.evacuated_to() == [("vm-1", "r0"), ("vm-1", "r1")]
    assert cloud.compute.servers["vm-1"].host == "r1"
    assert "r0 could not take 1 instance(s)" in cloud.steps(nid, "full")[0].message
    assert _spare(cloud, "r0") == (True, None, "disabled")  # given back, unused
    assert [s.detail["host"] for s in cloud.steps(nid, StepName.SPARE_RETURNED)] == ["r0"]
    assert cloud.compute.violations == []


def test_every_spare_full_is_exhausted(cloud: Cloud) -> None:
    cloud.segment(RecoveryMethod.RESERVED_HOST, spares=SPARES)
    cloud.compute.full_hosts.update(SPARES)
    cloud.servers("vm-1")
    nid = cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.ERROR
    assert result.reason.startswith(f"{NO_SPARE}; 1 instance(s) not evacuated")
    assert "No valid host" in result.reason
    assert result.target_hosts == []  # both given back
    assert [s.detail["host"] for s in cloud.steps(nid, StepName.SPARE_RETURNED)] == ["r0", "r1"]
    assert cloud.states(nid) == {"vm-1": MoveState.FAILED}


def test_a_spare_on_maintenance_or_the_failed_host_itself_is_never_a_target(
    cloud: Cloud,
) -> None:
    cloud.segment(RecoveryMethod.RESERVED_HOST, spares=SPARES)
    cloud.store.update_host("r0", on_maintenance=True)
    cloud.servers("vm-1")
    cloud.report()
    result = cloud.run()
    assert result.target_hosts == ["r1"], result.reason


def test_spare_is_added_to_the_failed_hosts_aggregates_when_asked(cloud: Cloud) -> None:
    cloud.segment(RecoveryMethod.RESERVED_HOST, spares=SPARES)
    cloud.compute.aggregates["7"] = Aggregate(id="7", name="az1", hosts=[FAILED])
    cloud.compute.aggregates["8"] = Aggregate(id="8", name="other", hosts=["c9"])
    cloud.servers("vm-1")
    nid = cloud.report()
    result = cloud.run(add_reserved_host_to_aggregate=True)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert cloud.compute.aggregates["7"].hosts == [FAILED, "r0"]
    assert cloud.compute.aggregates["8"].hosts == ["c9"]
    assert cloud.steps(nid, "aggregate")[0].message == "r0 added to aggregate az1"


# -- auto ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", [RecoveryMethod.AUTO, RecoveryMethod.AUTO_PRIORITY])
def test_the_scheduler_places_and_nothing_is_claimed(cloud: Cloud, method: RecoveryMethod) -> None:
    cloud.segment(method, hosts=(FAILED, "c2"), spares=SPARES)
    cloud.compute.scheduler_host = "c2"
    cloud.servers("vm-1")
    nid = cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.FINISHED and result.target_hosts == []
    assert cloud.evacuated_to() == [("vm-1", None)]
    assert cloud.steps(nid, "claimed") == []
    assert _spare(cloud, "r0") == (True, None, "disabled")


def test_auto_with_no_valid_host_is_an_error_naming_the_instance(cloud: Cloud) -> None:
    cloud.segment(RecoveryMethod.AUTO, spares=SPARES)  # the scheduler finds no host
    cloud.servers("vm-1")
    nid = cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.ERROR
    assert result.reason.startswith("1 instance(s) not evacuated: vm-1: evacuation failed")
    assert cloud.steps(nid, "claimed") == []  # auto never falls back to the spares


# -- rh_priority ---------------------------------------------------------------------------


def test_rh_priority_uses_the_spares_first(cloud: Cloud) -> None:
    cloud.segment(RecoveryMethod.RH_PRIORITY, hosts=(FAILED, "c2"), spares=SPARES)
    cloud.compute.scheduler_host = "c2"
    cloud.servers("vm-1")
    nid = cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.FINISHED and result.target_hosts == ["r0"]
    assert cloud.evacuated_to() == [("vm-1", "r0")]
    assert cloud.steps(nid, "fallback") == []


@pytest.mark.parametrize("spares", [(), SPARES], ids=["no_spare", "spares_full"])
def test_rh_priority_spills_over_to_the_scheduler(cloud: Cloud, spares: tuple[str, ...]) -> None:
    cloud.segment(RecoveryMethod.RH_PRIORITY, hosts=(FAILED, "c2"), spares=spares)
    cloud.compute.full_hosts.update(spares)
    cloud.compute.scheduler_host = "c2"
    cloud.servers("vm-1", "vm-2")
    nid = cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert set(_hosts(cloud).values()) == {"c2"}
    assert sorted(cloud.evacuated_to()[-2:]) == [("vm-1", None), ("vm-2", None)]
    fallback = cloud.steps(nid, "fallback")[0].message
    assert fallback == "2 instance(s) left: letting Nova's scheduler place them"
    assert cloud.steps(nid, "no_reserved_host")  # the spares ran out first


# -- auto_priority -------------------------------------------------------------------------


def test_auto_priority_spills_over_to_the_spares(cloud: Cloud) -> None:
    cloud.segment(RecoveryMethod.AUTO_PRIORITY, spares=SPARES)  # the scheduler finds no host
    cloud.servers("vm-1", "vm-2")
    nid = cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert result.target_hosts == ["r0"]
    assert set(_hosts(cloud).values()) == {"r0"}
    fallback = cloud.steps(nid, "fallback")[0].message
    assert fallback == "scheduler left 2 instance(s); trying reserved hosts"
    assert cloud.compute.violations == []


@pytest.mark.parametrize("method", [RecoveryMethod.RH_PRIORITY, RecoveryMethod.AUTO_PRIORITY])
def test_priority_methods_with_nowhere_to_go_try_both_then_fail(
    cloud: Cloud, method: RecoveryMethod
) -> None:
    cloud.segment(method)  # no spare, and the scheduler finds no host
    cloud.servers("vm-1")
    nid = cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.ERROR
    assert result.reason.startswith(f"{NO_SPARE}; 1 instance(s) not evacuated")
    assert cloud.evacuated_to() == [("vm-1", None)]  # the scheduler was asked
    assert cloud.steps(nid, "no_reserved_host") and cloud.steps(nid, "fallback")


# -- capacity (Placement) ------------------------------------------------------------


def _sized(cloud: Cloud, **vcpus: int) -> None:
    for sid, n in vcpus.items():
        server = cloud.compute.add_server(sid, FAILED)
        server.flavor = {"vcpus": n, "ram": 512 * n, "disk": 1}


def _room(cloud: Cloud, host: str, vcpus: float) -> None:
    free = {"VCPU": vcpus, "MEMORY_MB": 512 * vcpus, "DISK_GB": 100}
    cloud.compute.capacities[host] = HostCapacity(host, free)


def test_a_spare_that_takes_all_is_preferred_over_a_smaller_first(cloud: Cloud) -> None:
    cloud.segment(RecoveryMethod.RESERVED_HOST, spares=SPARES)
    _sized(cloud, a=2, b=2)
    _room(cloud, "r0", 3)
    _room(cloud, "r1", 8)
    nid = cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.FINISHED and result.target_hosts == ["r1"]
    assert [s.detail["host"] for s in cloud.steps(nid, "too_small")] == ["r0"]
    assert _spare(cloud, "r0") == (True, None, "disabled")  # never claimed


def test_instances_are_split_when_no_spare_takes_all(cloud: Cloud) -> None:
    cloud.segment(RecoveryMethod.RESERVED_HOST, spares=SPARES)
    _sized(cloud, a=4, b=2, c=2)
    _room(cloud, "r0", 5)
    _room(cloud, "r1", 5)
    nid = cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert result.target_hosts == ["r0", "r1"]
    hosts = _hosts(cloud)
    assert hosts["a"] == "r0" and {hosts["b"], hosts["c"]} == {"r1"}
    assert "left for the next reserved host" in cloud.steps(nid, "next_share")[0].message
