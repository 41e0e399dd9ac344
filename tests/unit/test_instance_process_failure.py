"""rhworker.recovery.instance_failure and process_failure against an SQLite store, the
in-package FakeCompute and a coordinator double: the branches the simulator tests do
not reach (deadlines, a lost instance lock, a resumed delivery, stale reports)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rhworker.compute.fake import FakeCompute
from rhworker.models import Host, NotificationStatus, Segment, StepName
from rhworker.recovery.base import HostFailureOptions, LeaseGuard, RecoveryContext
from rhworker.recovery.instance_failure import execute_instance_failure
from rhworker.recovery.options import InstanceFailureOptions, ProcessFailureOptions
from rhworker.recovery.process_failure import execute_process_failure
from rhworker.store import Store, from_url

VM_ID = "5c8f3d5e-4a7b-4a3c-9a2e-3f1d2c4b5a6e"
CRASH = {"instance_uuid": VM_ID, "event": "LIFECYCLE", "vir_domain_event": "STOPPED_FAILED"}


class Coordinator:
    """The lock calls an instance recovery makes; ``owner`` says if the lock holds."""

    def __init__(self, *, free: bool = True, owner: bool = True) -> None:
        self.free, self.owner = free, owner
        self.taken: list[tuple[str, str]] = []
        self.released = 0

    def try_lock(self, name: str, *, kind: str) -> object | None:
        self.taken.append((name, kind))
        return object() if self.free else None

    def still_owner(self, lock: object) -> bool:
        return self.owner

    def release(self, lock: object) -> None:
        self.released += 1


class NeverStops(FakeCompute):
    def stop_server(self, server_id: str) -> None:
        self._record("stop_server", server_id)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = from_url(f"sqlite:///{tmp_path}/rh.db")
    s.create_segment(Segment(name="seg1"))
    s.create_host(Host(name="h1", segment="seg1"))
    return s


def run(
    store: Store,
    nova: FakeCompute,
    kind: str,
    payload: dict[str, Any],
    coordinator: Coordinator | None = None,
    *,
    before: Any = None,
    **options: Any,
) -> tuple[Any, str]:
    n = store.create_notification(kind, "h1", payload, dedup_interval=0)
    delivery = store.consume("w1")
    assert delivery is not None
    ctx = RecoveryContext(
        store=store,
        coordinator=coordinator or Coordinator(),  # type: ignore[arg-type]
        compute=nova,  # type: ignore[arg-type]
        delivery=delivery,
        worker_id="w1",
        options=HostFailureOptions(),
        lease=LeaseGuard(renew=lambda: None, lease_timeout=30),
        sleep=lambda s: None,
        instance_failure=InstanceFailureOptions(
            **{k: v for k, v in options.items() if hasattr(InstanceFailureOptions, k)}
        ),
        process_failure=ProcessFailureOptions(
            **{k: v for k, v in options.items() if hasattr(ProcessFailureOptions, k)}
        ),
    )
    if before is not None:
        before(ctx)
    execute = execute_instance_failure if kind == "VM" else execute_process_failure
    return execute(ctx, store.get_notification(n.id)), n.id


def nova_with_vm(cls: type[FakeCompute] = FakeCompute, **server: Any) -> FakeCompute:
    nova = cls()
    nova.add_host("h1")
    nova.add_server(VM_ID, server.pop("host", "h1"), metadata={"HA_Enabled": "yes"}, **server)
    return nova


def steps(store: Store, nid: str) -> list[str]:
    return [s.name for s in store.get_notification(nid).progress.steps]


def test_stop_deadline_is_an_error_and_the_lock_is_released(store: Store) -> None:
    nova = nova_with_vm(NeverStops)
    coordinator = Coordinator()
    result, nid = run(store, nova, "VM", CRASH, coordinator, wait_period_after_power_off=0)
    assert result.status == NotificationStatus.ERROR
    assert result.reason == f"failed to stop instance {VM_ID}: still active/- after 0 s"
    assert coordinator.taken == [(VM_ID, "instance")] and coordinator.released == 1
    assert not nova.calls_of("start_server")
    assert steps(store, nid)[-1] == "failed"


def test_lost_instance_lock_stops_before_nova_is_touched(store: Store) -> None:
    nova = nova_with_vm()
    result, _ = run(store, nova, "VM", CRASH, Coordinator(owner=False))
    assert result.status == NotificationStatus.ERROR
    assert "lost the lock of instance" in result.reason
    assert not nova.calls_of("stop_server") and not nova.calls_of("start_server")


def test_busy_lock_is_retried(store: Store) -> None:
    nova = nova_with_vm()
    result, nid = run(store, nova, "VM", CRASH, Coordinator(free=False))
    assert result.status == NotificationStatus.ERROR
    assert "being recovered by another notification; retried later" in result.reason
    assert steps(store, nid)[-1] == "lock_busy" and not nova.calls_of("get_server")


def test_resumed_after_the_start_only_confirms(store: Store) -> None:
    nova = nova_with_vm()
    result, nid = run(
        store, nova, "VM", CRASH, before=lambda ctx: ctx.step(StepName.START, "start requested")
    )
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert not nova.calls_of("stop_server") and not nova.calls_of("start_server")
    assert steps(store, nid)[-2:] == ["resumed", "confirmed"]


@pytest.mark.parametrize(
    "server, reason",
    [
        ({"host": "h2"}, "runs on h2, not on h1: the report is stale"),
        ({"status": "PAUSED"}, "is paused: left alone"),
    ],
)
def test_stale_or_paused_instance_is_ignored(store: Store, server: dict, reason: str) -> None:
    nova = nova_with_vm(**server)
    result, _ = run(store, nova, "VM", CRASH)
    assert result.status == NotificationStatus.IGNORED and reason in result.reason
    assert not nova.calls_of("stop_server")


def test_deleted_instance_is_ignored(store: Store) -> None:
    nova = FakeCompute()
    nova.add_host("h1")
    result, _ = run(store, nova, "VM", CRASH)
    assert result.status == NotificationStatus.IGNORED
    assert result.reason == f"instance {VM_ID} does not exist in Nova"


def test_disabled_segment_ignores_vm_and_process(store: Store) -> None:
    store.update_segment("seg1", enabled=False)
    nova = nova_with_vm()
    for kind, payload in (("VM", CRASH), ("PROCESS", {"process_name": "nova-compute",
                                                       "event": "STOPPED"})):  # fmt: skip
        result, _ = run(store, nova, kind, payload)
        assert result.status == NotificationStatus.IGNORED
        assert result.reason == "segment seg1 is disabled"
    assert not nova.calls_of("stop_server") and not nova.calls_of("disable_service")


@pytest.mark.parametrize(
    ("kind", "payload"),
    [("VM", CRASH), ("PROCESS", {"process_name": "nova-compute", "event": "STOPPED"})],
)
def test_host_gone_from_the_inventory_is_ignored(
    store: Store, kind: str, payload: dict[str, Any]
) -> None:
    nova = nova_with_vm()
    result, nid = run(store, nova, kind, payload, before=lambda ctx: store.delete_host("h1"))
    assert result.status == NotificationStatus.IGNORED
    assert result.reason == "host h1 is not in the inventory"
    steps = store.get_notification(nid).progress.steps
    assert [(s.name, s.message) for s in steps] == [(StepName.IGNORED, result.reason)]
    assert not nova.calls_of("stop_server") and not nova.calls_of("disable_service")


def test_process_started_leaves_a_forced_down_service_alone(store: Store) -> None:
    nova = FakeCompute()
    service = nova.add_host("h1", status="disabled")
    service.disabled_reason = "Masakari detected process failed. notification n0"
    service.forced_down = True
    store.update_host("h1", on_maintenance=True)
    result, _ = run(store, nova, "PROCESS", {"process_name": "nova-compute", "event": "STARTED"})
    assert result.status == NotificationStatus.IGNORED
    assert "forced down (a host recovery owns it)" in result.reason
    assert not nova.calls_of("enable_service")
    assert store.get_host("h1").on_maintenance is True


def test_process_disable_deadline_is_an_error(store: Store) -> None:
    class NeverDisables(FakeCompute):
        def disable_service(self, host: str, reason: str, **_: Any) -> None:
            self._record("disable_service", host, reason)

    nova = NeverDisables()
    nova.add_host("h1")
    result, _ = run(
        store,
        nova,
        "PROCESS",
        {"process_name": "nova-compute", "event": "STOPPED"},
        wait_period_after_service_update=0,
    )
    assert result.status == NotificationStatus.ERROR
    assert result.reason == "compute service of h1 still enabled after 0 s"
    assert store.get_host("h1").on_maintenance is True
