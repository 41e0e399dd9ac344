"""VM and PROCESS notifications through the built-in driver, on the in-package
FakeCompute, an SQLite store and the file:// lock backend: the branches that
tests/unit/test_instance_process_failure.py (deadlines, lost lock, resume) leaves —
the whole restart, the events that need nothing, the instances left alone, Nova's
409 on stop, a report already answered, and the process failure and its undo."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rhworker.errors import ComputeBadRequest
from rhworker.models import NotificationStatus, NotificationType, RecoveryMethod
from rhworker.recovery.options import InstanceFailureOptions
from tests.unit.driver_env import FAILED, Cloud
from tests.unit.driver_env import cloud as cloud  # noqa: F401  (the fixture)

VM_ID = "5c8f3d5e-4a7b-4a3c-9a2e-3f1d2c4b5a6e"
CRASH = {"instance_uuid": VM_ID, "event": "LIFECYCLE", "vir_domain_event": "STOPPED_FAILED"}
PROCESS_DOWN = {"process_name": "nova-compute", "event": "STOPPED"}
PROCESS_UP = {"process_name": "nova-compute", "event": "STARTED"}
HA = {"HA_Enabled": "True"}


@pytest.fixture
def vm(cloud: Cloud) -> Cloud:
    cloud.segment(RecoveryMethod.AUTO)
    cloud.compute.services[FAILED].state = "up"
    cloud.compute.add_server(VM_ID, FAILED, metadata=HA)
    return cloud


def _vm(cloud: Cloud, payload: dict[str, Any] | None = None, **options: Any) -> Any:
    cloud.report(payload=payload or CRASH, kind=NotificationType.VM.value)
    return cloud.run(**options)


def _process(cloud: Cloud, payload: dict[str, Any]) -> Any:
    cloud.report(payload=payload, kind=NotificationType.PROCESS.value)
    return cloud.run()


# -- VM ----------------------------------------------------------------------------------


def test_crashed_instance_is_stopped_started_and_confirmed(vm: Cloud) -> None:
    result = _vm(vm)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert result.reason == f"instance {VM_ID} restarted on {FAILED}: ACTIVE"
    assert vm.changes() == ["stop_server", "start_server"]
    assert vm.step_names(vm.nid) == ["delivered", "locked", "stop", "start", "confirmed"]


def test_io_error_is_recovered_too(vm: Cloud) -> None:
    payload = {"instance_uuid": VM_ID, "event": "IO_ERROR", "vir_domain_event": "IO_ERROR_REPORT"}
    assert _vm(vm, payload).status == NotificationStatus.FINISHED


def test_an_event_that_needs_no_action_is_ignored(vm: Cloud) -> None:
    payload = {"instance_uuid": VM_ID, "event": "LIFECYCLE", "vir_domain_event": "STOPPED"}
    result = _vm(vm, payload)
    assert result.status == NotificationStatus.IGNORED
    assert "LIFECYCLE/STOPPED of instance" in result.reason and "needs no action" in result.reason
    assert vm.compute.calls == []


def test_already_stopped_instance_is_only_started(vm: Cloud) -> None:
    vm.compute.stop_server(VM_ID)
    vm.compute.calls.clear()
    result = _vm(vm)
    assert result.status == NotificationStatus.FINISHED
    assert vm.changes() == ["start_server"]


def test_resized_instance_is_reset_before_the_stop(vm: Cloud) -> None:
    vm.compute.servers[VM_ID].vm_state = "resized"
    result = _vm(vm)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert vm.changes() == ["reset_state", "stop_server", "start_server"]
    assert vm.compute.calls_of("reset_state")[0].args == (VM_ID, "active")


def test_409_on_stop_of_a_stopping_instance_goes_on(vm: Cloud) -> None:
    vm.compute.fail("stop_server", ComputeBadRequest("Cannot stop while powering-off (409)"))
    vm.compute.script(VM_ID, [{}, {"vm_state": "stopped", "task_state": None}])
    result = _vm(vm)
    assert result.status == NotificationStatus.FINISHED, result.reason


def test_409_on_stop_of_a_running_instance_is_an_error(vm: Cloud) -> None:
    vm.compute.fail("stop_server", ComputeBadRequest("Conflict (409)"))
    result = _vm(vm)
    assert result.status == NotificationStatus.ERROR
    assert result.reason.startswith(f"Nova refused to stop instance {VM_ID}: Conflict")
    assert not vm.compute.calls_of("start_server")


@pytest.mark.parametrize(
    "options, server, reason",
    [
        ({}, {"metadata": {}}, "is not HA-enabled (metadata HA_Enabled)"),
        ({"ignore_instances_in_error_state": True}, {"vm_state": "error"}, "in error state"),
        ({}, {"vm_state": "rescued"}, "is rescued: left alone"),
    ],
)
def test_instances_left_alone(
    vm: Cloud, options: dict[str, Any], server: dict[str, Any], reason: str
) -> None:
    for key, value in server.items():
        setattr(vm.compute.servers[VM_ID], key, value)
    result = _vm(vm, instance_failure=InstanceFailureOptions(**options))
    assert result.status == NotificationStatus.IGNORED and reason in result.reason
    assert vm.changes() == []


def test_a_second_report_of_one_crash_restarts_it_once(vm: Cloud) -> None:
    first = _vm(vm)
    assert first.status == NotificationStatus.FINISHED
    vm.store.set_status(vm.nid, NotificationStatus.FINISHED, expected=[NotificationStatus.RUNNING])
    vm.compute.calls.clear()
    # the same crash, reported again (generated before the first was confirmed)
    vm.report(payload=CRASH, kind=NotificationType.VM.value, generated_time=vm.clock.now - 600)
    second = vm.run()
    assert second.status == NotificationStatus.FINISHED
    assert "already recovered after this report" in second.reason
    assert vm.changes() == []


# -- PROCESS ----------------------------------------------------------------------------


@pytest.fixture
def proc(cloud: Cloud) -> Cloud:
    cloud.segment(RecoveryMethod.AUTO)
    cloud.compute.services[FAILED].state = "up"
    return cloud


def test_process_stopped_puts_the_host_on_maintenance_and_disables_it(proc: Cloud) -> None:
    result = _process(proc, PROCESS_DOWN)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert proc.store.get_host(FAILED).on_maintenance
    service = proc.compute.services[FAILED]
    assert service.status == "disabled"
    assert service.disabled_reason is not None
    assert service.disabled_reason.startswith("Masakari detected process failed. notification")


def test_process_stopped_on_a_disabled_service_changes_nothing_in_nova(proc: Cloud) -> None:
    proc.compute.services[FAILED].status = "disabled"
    result = _process(proc, PROCESS_DOWN)
    assert result.reason == f"{FAILED}: service already disabled, on maintenance"
    assert proc.changes() == []


@pytest.mark.parametrize(
    "payload, reason",
    [
        ({"process_name": "libvirtd", "event": "STOPPED"}, "only nova-compute is recovered"),
        ({"process_name": "nova-compute", "event": "PAUSED"}, "event PAUSED is not handled"),
    ],
)
def test_process_reports_that_need_nothing(
    proc: Cloud, payload: dict[str, Any], reason: str
) -> None:
    proc.report(payload=PROCESS_DOWN, kind=NotificationType.PROCESS.value)
    # refused at intake today (PAUSED); the driver still decides
    result = proc.run(seen_as=lambda n: dataclasses.replace(n, payload=payload))
    assert result.status == NotificationStatus.IGNORED and reason in result.reason
    assert proc.changes() == []


def test_process_on_a_host_nova_does_not_know_is_ignored(proc: Cloud) -> None:
    del proc.compute.services[FAILED]
    result = _process(proc, PROCESS_DOWN)
    assert result.reason == f"Nova has no nova-compute service on {FAILED}"


def test_process_started_undoes_its_own_disable(proc: Cloud) -> None:
    assert _process(proc, PROCESS_DOWN).status == NotificationStatus.FINISHED
    proc.store.set_status(
        proc.nid, NotificationStatus.FINISHED, expected=[NotificationStatus.RUNNING]
    )
    result = _process(proc, PROCESS_UP)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert result.reason == f"{FAILED}: compute service enabled, off maintenance"
    assert proc.compute.services[FAILED].status == "enabled"
    assert not proc.store.get_host(FAILED).on_maintenance


@pytest.mark.parametrize(
    "status, disabled_reason, why",
    [
        ("disabled", "operator: disk swap", "was disabled by someone else"),
        ("enabled", None, "is not disabled"),
    ],
)
def test_process_started_leaves_what_is_not_its_own(
    proc: Cloud, status: str, disabled_reason: str | None, why: str
) -> None:
    service = proc.compute.services[FAILED]
    service.status, service.disabled_reason = status, disabled_reason
    result = _process(proc, PROCESS_UP)
    assert result.status == NotificationStatus.IGNORED and why in result.reason
    assert proc.changes() == []


def test_process_started_while_a_host_recovery_is_open_is_left_alone(proc: Cloud) -> None:
    proc.report()  # a COMPUTE_HOST failure of the host, still new
    service = proc.compute.services[FAILED]
    service.status = "disabled"
    service.disabled_reason = "Masakari detected process failed. notification n0"
    proc.report(payload=PROCESS_UP, kind=NotificationType.PROCESS.value)
    proc.store.consume("other", lease_timeout=30.0, now=proc.clock.now)  # takes the failure
    result = proc.run()
    assert result.status == NotificationStatus.IGNORED
    assert "a host recovery of c1 is open" in result.reason
