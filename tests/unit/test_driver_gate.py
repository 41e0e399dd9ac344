"""The host-failure driver before it evacuates: the gate (what is recovered at all),
marking and fencing the failed host, and which instances are recorded — on the
in-package FakeCompute and an SQLite store (tests/unit/driver_env.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rhworker.fencing.base import FencingOptions
from rhworker.models import MoveState, NotificationStatus, RecoveryMethod
from tests.unit.driver_env import FAILED, STARTED, Cloud
from tests.unit.driver_env import cloud as cloud  # noqa: F401  (the fixture)


@pytest.fixture
def auto(cloud: Cloud) -> Cloud:
    cloud.segment(RecoveryMethod.AUTO, hosts=(FAILED, "c2"))
    cloud.compute.scheduler_host = "c2"
    return cloud


# -- the gate -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, reason",
    [
        ({"event": "STOPPED", "host_status": "UNKNOWN"}, "host_status is UNKNOWN, not NORMAL"),
        ({"event": "STOPPED"}, "host_status is missing, not NORMAL"),
        # refused at intake today; the gate still stands behind it
        ({"event": "REBOOT", "host_status": "NORMAL"}, "event REBOOT is not handled"),
        ({"host_status": "NORMAL"}, "event (none) is not handled"),
    ],
)
def test_reports_that_do_not_prove_a_fenced_stop_are_ignored_untouched(
    auto: Cloud, payload: dict[str, Any], reason: str
) -> None:
    auto.servers("vm-1")
    nid = auto.report()
    result = auto.run(seen_as=lambda n: dataclasses.replace(n, payload=payload))
    assert result.status == NotificationStatus.IGNORED and reason in result.reason
    assert auto.changes() == []  # Nova untouched
    assert not auto.store.get_host(FAILED).on_maintenance
    assert auto.step_names(nid) == ["delivered", "ignored"]


def test_a_host_gone_from_the_inventory_is_ignored(auto: Cloud) -> None:
    auto.report()  # the intake refuses an unknown host: the inventory changed since
    result = auto.run(seen_as=lambda n: dataclasses.replace(n, hostname="nowhere"))
    assert result.status == NotificationStatus.IGNORED
    assert result.reason == "host nowhere is not in the inventory"
    assert auto.compute.calls == []


def test_disabled_segment_is_ignored(auto: Cloud) -> None:
    auto.store.update_segment("seg", enabled=False)
    auto.servers("vm-1")
    auto.report()
    result = auto.run()
    assert (result.status, result.reason) == (
        NotificationStatus.IGNORED,
        "segment seg is disabled",
    )
    assert auto.compute.calls == []


def test_unknown_host_status_is_recovered_once_a_power_fence_confirms(auto: Cloud) -> None:
    auto.servers("vm-1")
    nid = auto.report(payload={"event": "STOPPED", "host_status": "UNKNOWN"})
    fencing = FencingOptions(driver="command", command="true", recover_unknown_host_status=True)
    result = auto.run(fencing=fencing)
    assert result.status == NotificationStatus.FINISHED, result.reason
    gate = auto.steps(nid, "gate")[0]
    assert "host_status UNKNOWN, recovered once fenced by command" in gate.message
    fence = auto.steps(nid, "fence")[0]
    assert fence.detail == {"driver": "command", "result": "fenced", "powered_off": True}
    # the command fence does not force down: the driver still does, then disables
    assert auto.compute.services[FAILED].forced_down is True
    assert auto.compute.services[FAILED].status == "disabled"


def test_unknown_host_status_with_a_nova_only_fence_stays_ignored(auto: Cloud) -> None:
    auto.report(payload={"event": "STOPPED", "host_status": "UNKNOWN"})
    result = auto.run(fencing=FencingOptions(recover_unknown_host_status=True))
    assert result.status == NotificationStatus.IGNORED  # nova cannot confirm power off
    assert auto.changes() == []


def test_started_runs_the_host_restore(auto: Cloud) -> None:
    auto.store.update_host(FAILED, on_maintenance=True)
    service = auto.compute.services[FAILED]
    service.forced_down, service.status = True, "disabled"
    auto.compute.set_reporting(FAILED)  # repaired: its nova-compute is back
    nid = auto.report(payload=STARTED)
    result = auto.run()
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert result.reason == f"{FAILED} restored as ordinary host"
    assert (service.forced_down, service.status) == (False, "enabled")
    assert not auto.store.get_host(FAILED).on_maintenance
    assert auto.changes() == ["force_down_service", "enable_service"]  # un-force first
    assert auto.step_names(nid)[-1] == "inventory"


def test_started_while_the_failure_is_open_is_refused(auto: Cloud) -> None:
    auto.report()  # the failure, still new
    auto.clock.now += 1
    auto.report(payload=STARTED)
    auto.store.consume("other", lease_timeout=30.0, now=auto.clock.now)  # takes the failure
    result = auto.run()
    assert result.status == NotificationStatus.ERROR
    assert "a recovery of c1 is still open in rhworker" in result.reason
    assert auto.changes() == []


# -- mark and fence -----------------------------------------------------------------------------


def test_failed_host_is_marked_fenced_then_evacuated(auto: Cloud) -> None:
    auto.servers("vm-1", "vm-2")
    nid = auto.report()
    result = auto.run()
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert result.reason == "2 evacuated, 0 skipped"
    host = auto.store.get_host(FAILED)
    assert host.on_maintenance and not host.reserved
    service = auto.compute.services[FAILED]
    assert service.forced_down and service.status == "disabled"
    assert service.disabled_reason == f"Masakari detected host failed. notification {nid}"
    changes = auto.changes()
    assert changes[:2] == ["force_down_service", "disable_service"]  # before any evacuate
    assert sorted(auto.evacuated_to()) == [("vm-1", None), ("vm-2", None)]
    assert {s.host for s in auto.compute.servers.values()} == {"c2"}
    names = auto.step_names(nid)
    assert names[:4] == ["delivered", "gate", "maintenance", "fence"]
    assert names.index("instances") < names.index("method")


def test_a_reserved_host_that_fails_is_no_longer_reserved(cloud: Cloud) -> None:
    cloud.segment(RecoveryMethod.AUTO, hosts=("c2",), spares=(FAILED,))
    cloud.compute.services[FAILED].state = "down"
    cloud.report()
    result = cloud.run()
    assert result.status == NotificationStatus.FINISHED
    host = cloud.store.get_host(FAILED)
    assert host.on_maintenance and not host.reserved


def test_already_forced_down_and_disabled_is_not_changed_again(auto: Cloud) -> None:
    service = auto.compute.services[FAILED]
    service.forced_down, service.status = True, "disabled"
    nid = auto.report()
    auto.store.update_host(FAILED, on_maintenance=True)  # e.g. by an earlier attempt
    auto.run()
    assert auto.changes() == []
    assert auto.steps(nid, "maintenance") == []  # already on maintenance


def test_no_compute_service_in_nova_is_said_and_recovery_goes_on(auto: Cloud) -> None:
    del auto.compute.services[FAILED]
    nid = auto.report()
    result = auto.run()
    assert result.status == NotificationStatus.FINISHED
    assert auto.steps(nid, "fence")[0].message == f"Nova has no compute service on {FAILED}"


def test_a_fence_that_fails_ends_in_error_with_nothing_evacuated(auto: Cloud) -> None:
    auto.servers("vm-1")
    nid = auto.report()
    result = auto.run(fencing=FencingOptions(driver="command", command="false"))
    assert result.status == NotificationStatus.ERROR
    assert result.reason.startswith(f"fencing {FAILED} (command) failed, nothing evacuated")
    assert auto.changes() == []
    assert auto.store.list_moves(nid) == []
    assert auto.steps(nid, "fence")[0].detail["result"] == "failed"


# -- which instances ---------------------------------------------------------------------------


def test_no_instance_finishes_at_once(auto: Cloud) -> None:
    nid = auto.report()
    result = auto.run()
    assert (result.status, result.reason) == (NotificationStatus.FINISHED, "0 evacuated, 0 skipped")
    assert auto.steps(nid, "instances")[-1].message == "no instance to evacuate"
    assert auto.evacuated_to() == []


def test_only_ha_enabled_instances_when_not_evacuating_all(auto: Cloud) -> None:
    auto.servers("plain")
    auto.servers("ha", metadata={"HA_Enabled": "True"})
    auto.servers("ha-no", metadata={"HA_Enabled": "off"})
    nid = auto.report()
    result = auto.run(evacuate_all_instances=False)
    assert result.reason == "1 evacuated, 2 skipped"
    assert auto.states(nid) == {
        "ha": MoveState.SUCCEEDED,
        "plain": MoveState.SKIPPED,
        "ha-no": MoveState.SKIPPED,
    }
    assert auto.moves(nid)["plain"].message == "not HA-enabled (metadata HA_Enabled)"
    assert auto.evacuated_to() == [("ha", None)]


def test_instances_in_error_are_skipped_when_asked(auto: Cloud) -> None:
    auto.servers("ok")
    auto.servers("broken", status="ERROR")
    nid = auto.report()
    result = auto.run(ignore_instances_in_error_state=True)
    assert result.reason == "1 evacuated, 1 skipped"
    assert auto.moves(nid)["broken"].message == "in error state (ignore_instances_in_error_state)"


def test_instances_in_error_are_evacuated_by_default(auto: Cloud) -> None:
    auto.servers("broken", status="ERROR")
    nid = auto.report()
    result = auto.run()
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert auto.states(nid) == {"broken": MoveState.SUCCEEDED}
    assert auto.compute.servers["broken"].host == "c2"


def test_ha_enabled_then_priority_order(auto: Cloud) -> None:
    auto.servers("low", metadata={"evacuation_priority": "1"})
    auto.servers("high", metadata={"evacuation_priority": "9"})
    auto.servers("ha", metadata={"HA_Enabled": "yes"})
    auto.servers("nan", metadata={"evacuation_priority": "nan"})
    nid = auto.report()
    auto.run(host_failure_recovery_threads=1, max_inflight_evacuations=1)
    assert list(auto.moves(nid)) == ["ha", "high", "low", "nan"]  # the recorded order
    assert [sid for sid, _ in auto.evacuated_to()] == ["ha", "high", "low", "nan"]
