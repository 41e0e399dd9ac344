"""VM and PROCESS notifications at intake: payload validation (as masakari-monitors'
instancemonitor and processmonitor send them), dedup keys, ``rhworker notify --type``,
instance lock names, and the driver ABC's defaults for third-party drivers."""

from __future__ import annotations

import json
import pathlib

import pytest

from rhworker import validation
from rhworker.cli import EXIT_DUPLICATE, EXIT_OK, EXIT_USAGE
from rhworker.coordination import LOCK_INSTANCE, LOCK_RESERVED_HOST, lock_name
from rhworker.errors import ValidationError
from rhworker.models import Notification, NotificationStatus, NotificationType
from rhworker.recovery.base import RecoveryDriver
from rhworker.recovery.instance_failure import needs_recovery
from tests.unit.cli_env import Run, cli_runner, loaded

UUID = "5C8F3D5E-4A7B-4A3C-9A2E-3F1D2C4B5A6E"


def vm(**payload: object) -> tuple:
    body = {"instance_uuid": UUID, "vir_domain_event": "STOPPED_FAILED", "event": "LIFECYCLE"}
    body.update(payload)
    return validation.validate_notification("VM", "compute-1", body, None, now=1.0)


def test_vm_payload_is_normalised() -> None:
    kind, host, payload, _ = vm(vir_domain_event="stopped_failed", event="lifecycle")
    assert kind is NotificationType.VM and host == "compute-1"
    assert payload == {
        "instance_uuid": UUID.lower(),
        "vir_domain_event": "STOPPED_FAILED",
        "event": "LIFECYCLE",
    }


def test_vm_uuid_spellings_dedup_alike() -> None:
    a = vm()[2]
    b = vm(instance_uuid=UUID.lower().replace("-", ""))[2]
    assert a == b
    assert validation.dedup_key("VM", "compute-1", a) == validation.dedup_key("VM", "compute-1", b)
    assert validation.dedup_key("VM", "compute-1", a) != validation.dedup_key(
        "VM", "compute-1", vm(vir_domain_event="IO_ERROR_REPORT", event="IO_ERROR")[2]
    )


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"instance_uuid": "not-a-uuid"}, "payload.instance_uuid"),
        ({"instance_uuid": 7}, "payload.instance_uuid"),
        ({"event": ""}, "payload.event"),
        ({"event": "LIFE CYCLE"}, "payload.event"),
        ({"vir_domain_event": "STOPPED/FAILED"}, "payload.vir_domain_event"),
        ({"vir_domain_event": None}, "payload.vir_domain_event"),
        ({"extra": "x"}, "payload: unexpected key"),
    ],
)
def test_vm_payload_refused(payload: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        vm(**payload)


def test_vm_payload_needs_every_key() -> None:
    for key in ("instance_uuid", "vir_domain_event", "event"):
        body = {"instance_uuid": UUID, "vir_domain_event": "STOPPED_FAILED", "event": "LIFECYCLE"}
        del body[key]
        with pytest.raises(ValidationError, match=f"payload.{key}: required"):
            validation.validate_notification("VM", "compute-1", body, None, now=1.0)


def test_process_payload() -> None:
    _, _, payload, _ = validation.validate_notification(
        "process", "compute-1", {"process_name": "nova-compute", "event": "stopped"}, None, now=1.0
    )
    assert payload == {"process_name": "nova-compute", "event": "STOPPED"}
    for bad in (
        {"process_name": "nova-compute", "event": "CRASHED"},
        {"process_name": "", "event": "STOPPED"},
        {"event": "STOPPED"},
        {"process_name": "nova-compute", "event": "STOPPED", "host_status": "NORMAL"},
    ):
        with pytest.raises(ValidationError):
            validation.validate_notification("PROCESS", "compute-1", bad, None, now=1.0)


@pytest.mark.parametrize(
    "event, detail, expected",
    [
        ("LIFECYCLE", "STOPPED_FAILED", True),
        ("lifecycle", "stopped_failed", True),
        ("IO_ERROR", "IO_ERROR_REPORT", True),
        ("LIFECYCLE", "STOPPED_SHUTDOWN", False),
        ("LIFECYCLE", "STOPPED_DESTROYED", False),
        ("LIFECYCLE", "STARTED_BOOTED", False),
        ("REBOOT", "REBOOT", False),
        ("IO_ERROR", "STOPPED_FAILED", False),
    ],
)
def test_events_masakari_recovers(event: str, detail: str, expected: bool) -> None:
    assert needs_recovery(event, detail) is expected


def test_instance_lock_names_differ_from_host_locks() -> None:
    host = lock_name("rhw", "abc")
    instance = lock_name("rhw", "abc", LOCK_INSTANCE)
    assert host == lock_name("rhw", "abc", LOCK_RESERVED_HOST) == b"rhw-reserved-host-abc"
    assert instance == b"rhw-instance-abc"
    assert lock_name("rhw", "a/b c", LOCK_INSTANCE) == b"rhw-instance-a%2Fb%20c"
    with pytest.raises(ValueError):
        lock_name("rhw", "abc", "toaster")


def test_third_party_driver_ignores_vm_and_process() -> None:
    class HostOnly(RecoveryDriver):
        def execute_host_failure(self, ctx, notification):  # type: ignore[no-untyped-def]
            raise AssertionError("not called")

    steps: list[tuple[str, str]] = []

    class Ctx:
        def step(self, name: str, message: str = "") -> None:
            steps.append((name, message))

    n = Notification(
        id="n1", type=NotificationType.VM, hostname="c1", payload={}, generated_time=0.0
    )
    result = HostOnly().execute_instance_failure(Ctx(), n)  # type: ignore[arg-type]
    assert result.status == NotificationStatus.IGNORED
    assert "VM notifications are not supported by this driver (HostOnly)" == result.reason
    n.type = NotificationType.PROCESS
    result = HostOnly().execute_process_failure(Ctx(), n)  # type: ignore[arg-type]
    assert result.status == NotificationStatus.IGNORED and "PROCESS" in result.reason
    assert [s[0] for s in steps] == ["ignored", "ignored"]


# -- rhworker notify --type VM / PROCESS ---------------------------------------------------

INVENTORY = """
segments:
  - name: seg1
    recovery_method: reserved_host
    hosts:
      - {name: compute-1}
"""


@pytest.fixture
def rh(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> Run:
    return loaded(cli_runner(tmp_path, capsys), tmp_path, INVENTORY)


def _payload(rh, nid: str) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(rh("notification", "show", nid, "--json")[1])["notification"]


def test_notify_vm(rh) -> None:  # type: ignore[no-untyped-def]
    code, out, err = rh("notify", "compute-1", "--type", "VM", "--instance-uuid", UUID)
    assert code == EXIT_OK, err
    shown = _payload(rh, out.strip())
    assert shown["type"] == "VM"
    assert shown["payload"] == {
        "event": "LIFECYCLE",
        "vir_domain_event": "STOPPED_FAILED",
        "instance_uuid": UUID.lower(),
    }
    code, _, err = rh("notify", "compute-1", "--type", "vm", "--instance-uuid", UUID.lower())
    assert code == EXIT_DUPLICATE and out.strip() in err
    code, out, _ = rh(
        "notify", "compute-1", "--type", "VM", "--instance-uuid", UUID,
        "--event", "IO_ERROR", "--vir-domain-event", "IO_ERROR_REPORT",
    )  # fmt: skip
    assert code == EXIT_OK
    assert _payload(rh, out.strip())["payload"]["event"] == "IO_ERROR"


def test_notify_process(rh) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = rh("notify", "compute-1", "--type", "PROCESS")
    assert code == EXIT_OK
    assert _payload(rh, out.strip())["payload"] == {
        "event": "STOPPED",
        "process_name": "nova-compute",
    }
    code, out, _ = rh(
        "notify", "compute-1", "--type", "PROCESS", "--process-name", "libvirtd",
        "--event", "STARTED",
    )  # fmt: skip
    assert code == EXIT_OK
    assert _payload(rh, out.strip())["payload"] == {"event": "STARTED", "process_name": "libvirtd"}


@pytest.mark.parametrize(
    "args, message",
    [
        (("--type", "VM"), "--type VM needs --instance-uuid"),
        (("--type", "VM", "--instance-uuid", "nope"), "payload.instance_uuid"),
        (("--type", "VM", "--instance-uuid", UUID, "--host-status", "NORMAL"), "--host-status"),
        (("--type", "PROCESS", "--instance-uuid", UUID), "--instance-uuid do not apply"),
        (("--process-name", "nova-compute"), "--process-name do not apply to --type COMPUTE_HOST"),
    ],
)
def test_notify_type_flag_errors(rh, args: tuple, message: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = rh("notify", "compute-1", *args)
    assert code == EXIT_USAGE and out == "" and message in err
