"""rhworker.recovery.host_restore against an SQLite store and an in-test Nova double:
the policy choice, each refusal and its message, the order of the Nova calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rhworker import validation
from rhworker.compute.fake import FakeCompute
from rhworker.errors import ValidationError
from rhworker.models import Delivery, Host, NotificationStatus, Segment
from rhworker.recovery.base import HostFailureOptions, LeaseGuard, RecoveryContext
from rhworker.recovery.host_restore import RestorePolicy, refusal, requested_policy, restore_host
from rhworker.store import Store, from_url
from tests.unit.cli_env import cli_runner

STARTED = {"event": "STARTED", "host_status": "NORMAL", "cluster_status": "ONLINE"}


def nova_double(
    migrations: list[str], *, compute_running: bool = True, cls: type[FakeCompute] = FakeCompute
) -> FakeCompute:
    """Nova after h1's failure: its service forced down and disabled, evacuations
    from it to h2 in these statuses; its nova-compute running again or not."""
    nova = cls()
    service = nova.add_host("h1", status="disabled", state="down")
    service.forced_down = True
    service.disabled_reason = "Masakari detected host failed. notification n0"
    if compute_running:
        nova.set_reporting("h1")
    for i, status in enumerate(migrations):
        nova.add_migration(f"vm{i}", "h1", "h2", status)
    return nova


def calls(nova: FakeCompute) -> list[str]:
    """The changes asked of Nova, in order."""
    named = {"enable_service": "enable", "disable_service": "disable"}
    return [
        named.get(c.name) or f"forced_down={c.args[1]}"
        for c in nova.calls
        if c.name in ("enable_service", "disable_service", "force_down_service")
    ]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = from_url(f"sqlite:///{tmp_path}/rh.db")
    s.create_segment(Segment(name="seg1"))
    s.create_host(Host(name="h1", segment="seg1", on_maintenance=True))
    return s


def _restore(store: Store, nova: FakeCompute, payload: dict[str, Any], **options: Any) -> Any:
    n = store.create_notification("COMPUTE_HOST", "h1", payload, dedup_interval=0)
    delivery = store.consume("w1")
    assert delivery is not None and delivery.notification_id == n.id
    ctx = _context(store, nova, delivery, **options)
    return restore_host(ctx, store.get_notification(n.id), store.get_host("h1")), n.id


def _context(store: Store, nova: FakeCompute, delivery: Delivery, **options: Any) -> Any:
    return RecoveryContext(
        store=store,
        coordinator=None,  # a restore takes no lock
        compute=nova,
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
    assert refusal(store, nova_double(["completed", "error"]), "h1") is None
    reason = refusal(store, nova_double(["accepted", "pre-migrating", "done"]), "h1")
    assert reason == (
        "Nova still has 2 unfinished evacuation(s) from h1 (accepted, pre-migrating); "
        "try again when they are done"
    )
    reason = refusal(store, nova_double(["done", "completed"]), "h1")
    assert reason is not None and reason.startswith(
        "nova-compute on h1 has not restarted yet: 1 evacuation(s) from it are 'done'"
    )
    # A STARTED notification is no recovery; a STOPPED one still open is.
    store.create_notification("COMPUTE_HOST", "h1", STARTED, dedup_interval=0)
    assert refusal(store, nova_double([]), "h1") is None
    stopped = store.create_notification(
        "COMPUTE_HOST", "h1", {"event": "STOPPED"}, dedup_interval=0
    )
    reason = refusal(store, nova_double([]), "h1")
    assert reason is not None
    assert f"a recovery of h1 is still open in rhworker: notification {stopped.id} (new)" in reason


def test_ordinary_unforces_then_enables(store: Store) -> None:
    nova = nova_double(["completed"])
    result, _ = _restore(store, nova, STARTED)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert calls(nova) == ["forced_down=False", "enable"]
    host = store.get_host("h1")
    assert not host.on_maintenance and not host.reserved


def test_reserved_disables_before_unforcing(store: Store) -> None:
    nova = nova_double([])
    result, nid = _restore(store, nova, {**STARTED, "restore_policy": "reserved"})
    assert result.status == NotificationStatus.FINISHED, result.reason
    # Disabled (with the spare's reason) while still forced down: never enabled on the way.
    assert calls(nova) == ["disable", "forced_down=False"]
    reason = nova.services["h1"].disabled_reason
    assert reason == f"rhworker: reserved host, restored by notification {nid}"
    assert store.get_host("h1").reserved is True


def test_nova_refusing_force_up_is_a_refusal(store: Store, monkeypatch: Any) -> None:
    nova = nova_double(["done"])
    # Even past our own check (a migration Nova finishes in between), Nova's word wins.
    monkeypatch.setattr("rhworker.recovery.host_restore.refusal", lambda *a: None)
    result, _ = _restore(store, nova, STARTED)
    assert result.status == NotificationStatus.ERROR
    assert result.reason.startswith(
        "restore refused: Nova refuses to force the compute service of h1 up: Unable"
    )
    assert store.get_host("h1").on_maintenance is True


def test_compute_not_reporting_is_a_refusal(store: Store) -> None:
    nova = nova_double([], compute_running=False)
    result, nid = _restore(store, nova, STARTED)
    assert result.status == NotificationStatus.ERROR
    assert "Nova does not count the compute service of h1 as up (state down)" in result.reason
    assert calls(nova) == ["forced_down=False"]  # never enabled
    steps = [s.name for s in store.get_notification(nid).progress.steps]
    assert steps == ["gate", "force_up", "restore_refused"]


def test_cli_enqueues_started_with_the_policy(tmp_path: Path, capsys: Any) -> None:
    from rhworker.cli import EXIT_NOT_FOUND, EXIT_OK

    rh = cli_runner(tmp_path, capsys)

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
    class FailsAgainOnceEnabled(FakeCompute):
        def enable_service(self, host: str, **kwargs: Any) -> None:
            super().enable_service(host, **kwargs)
            store.create_notification("COMPUTE_HOST", "h1", {"event": "STOPPED"}, dedup_interval=0)

    nova = nova_double([], cls=FailsAgainOnceEnabled)
    result, _ = _restore(store, nova, STARTED)
    assert result.status == NotificationStatus.ERROR
    assert "a recovery of h1 began meanwhile" in result.reason
    assert store.get_host("h1").on_maintenance is True


def test_a_later_notification_supersedes_a_restore(store: Store) -> None:
    older = store.create_notification("COMPUTE_HOST", "h1", STARTED, dedup_interval=0)
    held = store.consume("w1")  # e.g. a worker that stalls before acting on it
    assert held is not None and held.notification_id == older.id
    nova = nova_double([])
    # A later restore request with another policy: the older one must not undo it.
    result, newer = _restore(store, nova, {**STARTED, "restore_policy": "reserved"})
    assert result.status == NotificationStatus.FINISHED, result.reason
    before = calls(nova)
    ctx = _context(store, nova, held)
    stale = restore_host(ctx, store.get_notification(older.id), store.get_host("h1"))
    assert stale.status == NotificationStatus.FINISHED
    assert stale.reason == f"superseded by the later notification {newer} (STARTED): nothing done"
    assert calls(nova) == before and store.get_host("h1").reserved is True
