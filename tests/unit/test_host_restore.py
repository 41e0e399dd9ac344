"""rhworker.recovery.host_restore against an SQLite store and an in-test Nova double:
the policy choice, each refusal and its message, the order of the Nova calls."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from rhworker import validation
from rhworker.compute.base import Migration, Service
from rhworker.errors import ComputeBadRequest, ValidationError
from rhworker.models import Delivery, Host, NotificationStatus, Segment
from rhworker.recovery.base import HostFailureOptions, LeaseGuard, RecoveryContext
from rhworker.recovery.host_restore import RestorePolicy, refusal, requested_policy, restore_host
from rhworker.store import Store, from_url

STARTED = {"event": "STARTED", "host_status": "NORMAL", "cluster_status": "ONLINE"}


class NovaDouble:
    """The few Compute calls a restore makes, with Nova's force-up rule."""

    def __init__(self, migrations: list[str], *, compute_running: bool = True) -> None:
        self.service = Service(
            id="svc-1",
            host="h1",
            binary="nova-compute",
            status="disabled",
            state="down",
            forced_down=True,
            disabled_reason="Masakari detected host failed. notification n0",
        )
        self.migrations = [
            Migration(f"m{i}", f"vm{i}", "h1", "h2", status, "evacuation")
            for i, status in enumerate(migrations)
        ]
        self.compute_running = compute_running
        self.calls: list[str] = []

    def get_service(self, host: str, binary: str = "nova-compute") -> Service:
        return dataclasses.replace(self.service)

    def force_down_service(self, host: str, forced: bool = True, **_: Any) -> None:
        self.calls.append(f"forced_down={forced}")
        if not forced and any(m.status == "done" for m in self.migrations):
            raise ComputeBadRequest("Unable to force up the compute service on host h1")
        self.service.forced_down = forced
        self.service.state = "up" if self.compute_running and not forced else "down"

    def enable_service(self, host: str, **_: Any) -> None:
        self.calls.append("enable")
        self.service.status, self.service.disabled_reason = "enabled", None

    def disable_service(self, host: str, reason: str, **_: Any) -> None:
        self.calls.append("disable")
        self.service.status, self.service.disabled_reason = "disabled", reason

    def list_migrations(self, *, source_host: str | None = None, **_: Any) -> list[Migration]:
        return [m for m in self.migrations if m.source_host == source_host]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = from_url(f"sqlite:///{tmp_path}/rh.db")
    s.create_segment(Segment(name="seg1"))
    s.create_host(Host(name="h1", segment="seg1", on_maintenance=True))
    return s


def _restore(store: Store, nova: NovaDouble, payload: dict[str, Any], **options: Any) -> Any:
    n = store.create_notification("COMPUTE_HOST", "h1", payload, dedup_interval=0)
    delivery = store.consume("w1")
    assert delivery is not None and delivery.notification_id == n.id
    ctx = _context(store, nova, delivery, **options)
    return restore_host(ctx, store.get_notification(n.id), store.get_host("h1")), n.id


def _context(store: Store, nova: NovaDouble, delivery: Delivery, **options: Any) -> Any:
    return RecoveryContext(
        store=store,
        coordinator=None,  # type: ignore[arg-type]  # a restore takes no lock
        compute=nova,  # type: ignore[arg-type]
        delivery=delivery,
        worker_id="w1",
        options=HostFailureOptions(**options),
        lease=LeaseGuard(renew=lambda: None, lease_timeout=30),
    )


def test_policy_from_payload_then_options(store: Store) -> None:
    plain = store.create_notification("COMPUTE_HOST", "h1", STARTED, dedup_interval=0)
    asked = store.create_notification(
        "COMPUTE_HOST", "h1", {**STARTED, "restore_policy": "Reserved"}, dedup_interval=0
    )
    assert asked.payload["restore_policy"] == "reserved"
    assert requested_policy(plain, default="ordinary", on_started=True) == RestorePolicy.ORDINARY
    assert requested_policy(plain, default="ordinary", on_started=False) is None
    assert requested_policy(asked, default="ordinary", on_started=False) == RestorePolicy.RESERVED


@pytest.mark.parametrize(
    "payload,error",
    [
        ({"event": "STOPPED", "restore_policy": "ordinary"}, "only with event STARTED"),
        ({"event": "STARTED", "restore_policy": "spare"}, "is not one of ordinary, reserved"),
        ({"event": "STARTED", "restore_policy": 1}, "payload.restore_policy"),
    ],
)
def test_restore_policy_payload_is_validated(payload: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        validation.prepare_notification("COMPUTE_HOST", "h1", payload, None, now=1.0)


def test_refusals_name_what_blocks(store: Store) -> None:
    assert refusal(store, NovaDouble(["completed", "error"]), "h1") is None  # type: ignore[arg-type]
    reason = refusal(store, NovaDouble(["accepted", "pre-migrating", "done"]), "h1")  # type: ignore[arg-type]
    assert reason == (
        "Nova still has 2 unfinished evacuation(s) from h1 (accepted, pre-migrating); "
        "try again when they are done"
    )
    reason = refusal(store, NovaDouble(["done", "completed"]), "h1")  # type: ignore[arg-type]
    assert reason is not None and reason.startswith(
        "nova-compute on h1 has not restarted yet: 1 evacuation(s) from it are 'done'"
    )
    # A STARTED notification is no recovery; a STOPPED one still open is.
    store.create_notification("COMPUTE_HOST", "h1", STARTED, dedup_interval=0)
    assert refusal(store, NovaDouble([]), "h1") is None  # type: ignore[arg-type]
    stopped = store.create_notification(
        "COMPUTE_HOST", "h1", {"event": "STOPPED"}, dedup_interval=0
    )
    reason = refusal(store, NovaDouble([]), "h1")  # type: ignore[arg-type]
    assert reason is not None
    assert f"a recovery of h1 is still open in rhworker: notification {stopped.id} (new)" in reason


def test_ordinary_unforces_then_enables(store: Store) -> None:
    nova = NovaDouble(["completed"])
    result, _ = _restore(store, nova, STARTED)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert nova.calls == ["forced_down=False", "enable"]
    host = store.get_host("h1")
    assert not host.on_maintenance and not host.reserved


def test_reserved_disables_before_unforcing(store: Store) -> None:
    nova = NovaDouble([])
    result, nid = _restore(store, nova, {**STARTED, "restore_policy": "reserved"})
    assert result.status == NotificationStatus.FINISHED, result.reason
    # Disabled (with the spare's reason) while still forced down: never enabled on the way.
    assert nova.calls == ["disable", "forced_down=False"]
    assert (
        nova.service.disabled_reason == f"rhworker: reserved host, restored by notification {nid}"
    )
    assert store.get_host("h1").reserved is True


def test_nova_refusing_force_up_is_a_refusal(store: Store, monkeypatch: Any) -> None:
    nova = NovaDouble(["done"])
    # Even past our own check (a migration Nova finishes in between), Nova's word wins.
    monkeypatch.setattr("rhworker.recovery.host_restore.refusal", lambda *a: None)
    result, _ = _restore(store, nova, STARTED)
    assert result.status == NotificationStatus.ERROR
    assert result.reason.startswith(
        "restore refused: Nova refuses to force the compute service of h1 up: Unable"
    )
    assert store.get_host("h1").on_maintenance is True


def test_compute_not_reporting_is_a_refusal(store: Store) -> None:
    nova = NovaDouble([], compute_running=False)
    result, nid = _restore(store, nova, STARTED)
    assert result.status == NotificationStatus.ERROR
    assert "Nova does not count the compute service of h1 as up (state down)" in result.reason
    assert nova.calls == ["forced_down=False"]  # never enabled
    steps = [s.name for s in store.get_notification(nid).progress.steps]
    assert steps == ["gate", "force_up", "restore_refused"]


def test_cli_enqueues_started_with_the_policy(tmp_path: Path, capsys: Any) -> None:
    from rhworker.cli import EXIT_NOT_FOUND, EXIT_OK, main

    def rh(*args: str) -> tuple[int, str, str]:
        code = main(["--state-dir", str(tmp_path), *args])
        out, err = capsys.readouterr()
        return code, out, err

    assert rh("segment", "create", "seg1", "--recovery-method", "reserved_host")[0] == EXIT_OK
    assert rh("host", "create", "h1", "--segment", "seg1", "--on-maintenance")[0] == EXIT_OK
    code, out, _ = rh("host", "restore", "h1", "--no-wait")
    assert code == EXIT_OK
    store = from_url(f"sqlite:///{tmp_path}/rhworker.db")
    n = store.get_notification(out.strip())
    assert n.payload == {**STARTED, "restore_policy": "ordinary"}
    assert [(s.name, s.message) for s in n.progress.steps] == [
        ("control", "restore of h1 as ordinary host requested")
    ]
    # The same request again within the duplicate interval follows the first one.
    code, out, _ = rh("host", "restore", "h1", "--no-wait")
    assert code == EXIT_OK and out.splitlines() == [
        f"same request as notification {n.id} (within 180 s): following it",
        n.id,
    ]
    code, out, _ = rh("host", "restore", "h1", "--policy", "reserved", "--no-wait")
    assert code == EXIT_OK
    assert store.get_notification(out.strip()).payload["restore_policy"] == "reserved"
    code, _, err = rh("host", "restore", "nowhere", "--no-wait")
    assert code == EXIT_NOT_FOUND and "nowhere" in err
    # No worker: the wait ends at the deadline with a hint.
    code, _, err = rh("host", "restore", "h1", "--policy", "reserved", "--timeout", "0.3")
    assert code == 1 and "is still new after 0.3 s (is a worker running?)" in err
    store.close()


def test_failure_reported_during_the_restore_keeps_the_inventory(store: Store) -> None:
    nova = NovaDouble([])

    def enable_and_fail_again(host: str, **_: Any) -> None:
        nova.calls.append("enable")
        store.create_notification("COMPUTE_HOST", "h1", {"event": "STOPPED"}, dedup_interval=0)

    nova.enable_service = enable_and_fail_again  # type: ignore[method-assign]
    result, _ = _restore(store, nova, STARTED)
    assert result.status == NotificationStatus.ERROR
    assert "a recovery of h1 began meanwhile" in result.reason
    assert store.get_host("h1").on_maintenance is True


def test_a_later_notification_supersedes_a_restore(store: Store) -> None:
    older = store.create_notification("COMPUTE_HOST", "h1", STARTED, dedup_interval=0)
    held = store.consume("w1")  # e.g. a worker that stalls before acting on it
    assert held is not None and held.notification_id == older.id
    nova = NovaDouble([])
    # A later restore request with another policy: the older one must not undo it.
    result, newer = _restore(store, nova, {**STARTED, "restore_policy": "reserved"})
    assert result.status == NotificationStatus.FINISHED, result.reason
    calls = list(nova.calls)
    ctx = _context(store, nova, held)
    stale = restore_host(ctx, store.get_notification(older.id), store.get_host("h1"))
    assert stale.status == NotificationStatus.FINISHED
    assert stale.reason == f"superseded by the later notification {newer} (STARTED): nothing done"
    assert nova.calls == calls and store.get_host("h1").reserved is True
