"""The host coming back (issue 12, item 5): a STARTED notification and ``rhworker host
restore`` bring a failed host's compute service back by policy, off maintenance, with
every change in the notification's history; refused while the host's nova-compute has
not restarted or a recovery of it is still open. Real openstacksdk over HTTP to the
simulator, real store and lock backends, the real CLI in subprocesses."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from rhworker.models import NotificationStatus
from tests.integration.clouds import segment_cloud

pytestmark = pytest.mark.integration

S = NotificationStatus
STARTED = {"event": "STARTED", "host_status": "NORMAL", "cluster_status": "ONLINE"}


def _service(sim: Any, host: str) -> dict[str, Any]:
    return dict(next(h for h in sim.state()["hosts"] if h["name"] == host)["service"])


def _step_names(d: Any, nid: str) -> list[str]:
    return [s.name for s in d.store.get_notification(nid).progress.steps]


def _recovered(make_deployment: Any, **options: Any) -> tuple[Any, Any]:
    """compute-1 failed and its servers are on spare-1: the starting point of each test."""
    d, sim = make_deployment(segment_cloud(spares=1), options=options or None)
    sim.kill_host("compute-1")
    nid = d.notify("compute-1")
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == S.FINISHED, n.progress.reason
    assert _service(sim, "compute-1")["forced_down"] is True
    assert d.store.get_host("compute-1").on_maintenance is True
    return d, sim


def _wait_retry_due(d: Any, nid: str) -> None:
    """Until the refused notification's back-off is over (it is due again)."""
    d.wait_for(
        lambda: (d.store.get_notification(nid).next_attempt_at or 0) <= time.time(),
        timeout=10,
        what=f"{nid} to be due again",
    )


def cli(d: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rhworker", *d.cli_args(), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_started_restores_an_ordinary_host(make_deployment):
    d, sim = _recovered(make_deployment)
    sim.revive_host("compute-1")
    nid = d.notify("compute-1", **STARTED)
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == S.FINISHED, n.progress.reason
    assert n.progress.reason == "compute-1 restored as ordinary host"
    service = _service(sim, "compute-1")
    assert service["forced_down"] is False
    assert service["status"] == "enabled" and service["state"] == "up"
    host = d.store.get_host("compute-1")
    assert host.on_maintenance is False and host.reserved is False
    assert _step_names(d, nid) == ["delivered", "gate", "force_up", "enabled", "inventory"]
    assert not sim.state()["violations"]


@pytest.mark.parametrize("backend", ["embedded"])
def test_started_restores_a_spare_that_takes_the_next_failure(make_deployment):
    d, sim = _recovered(make_deployment, host_failure={"host_restore_policy": "reserved"})
    sim.revive_host("compute-1")
    nid = d.notify("compute-1", **STARTED)
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == S.FINISHED, n.progress.reason
    assert n.progress.reason == "compute-1 restored as reserved host"
    service = _service(sim, "compute-1")
    assert service["forced_down"] is False and service["state"] == "up"
    assert service["status"] == "disabled"
    assert service["disabled_reason"] == f"rhworker: reserved host, restored by notification {nid}"
    host = d.store.get_host("compute-1")
    assert host.on_maintenance is False and host.reserved is True and host.claimed_by is None
    assert _step_names(d, nid) == ["delivered", "gate", "disabled", "force_up", "inventory"]
    # spare-1 was consumed by the first failure: the next one lands on compute-1.
    sim.kill_host("compute-2")
    second = d.notify("compute-2")
    d.run_burst()
    n2 = d.store.get_notification(second)
    assert n2.status == S.FINISHED, n2.progress.reason
    assert [c.host for c in n2.progress.claims] == ["compute-1"]
    on_restored = [s for s in sim.state()["servers"] if s["host"] == "compute-1"]
    assert sorted(s["name"] for s in on_restored) == ["vm-2-1", "vm-2-2", "vm-2-3"]
    assert all(s["status"] == "ACTIVE" for s in on_restored)
    assert _service(sim, "compute-1")["status"] == "enabled"
    assert not sim.state()["violations"]


@pytest.mark.parametrize("backend", ["embedded"])
def test_started_before_nova_compute_restarts_is_refused_then_succeeds(make_deployment):
    d, sim = _recovered(make_deployment)
    nid = d.notify("compute-1", **STARTED)
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == S.ERROR
    assert "nova-compute on compute-1 has not restarted yet" in (n.progress.reason or "")
    assert "3 evacuation(s) from it are 'done', not 'completed'" in (n.progress.reason or "")
    assert "restore_refused" in _step_names(d, nid)
    service = _service(sim, "compute-1")
    assert service["forced_down"] is True and service["status"] == "disabled"
    assert d.store.get_host("compute-1").on_maintenance is True
    statuses = {m["status"] for m in sim.state()["migrations"]}
    assert statuses == {"done"}

    sim.revive_host("compute-1")
    _wait_retry_due(d, nid)
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == S.FINISHED, n.progress.reason
    assert n.attempts == 2
    service = _service(sim, "compute-1")
    assert service["forced_down"] is False and service["status"] == "enabled"
    assert d.store.get_host("compute-1").on_maintenance is False


@pytest.mark.parametrize("backend", ["embedded"])
def test_restore_is_refused_while_a_recovery_of_the_host_is_open(make_deployment):
    d, sim = _recovered(make_deployment)
    sim.revive_host("compute-1")
    # Another worker holds a new STOPPED notification of compute-1 under a long lease
    # (one taken before the host went on maintenance: intake refuses it afterwards).
    d.store.update_host("compute-1", on_maintenance=False)
    stopped = d.notify("compute-1")
    d.store.update_host("compute-1", on_maintenance=True)
    held = d.store.consume("other-worker", lease_timeout=60)
    assert held is not None and held.notification_id == stopped
    d.store.set_status(stopped, S.RUNNING, expected=[S.NEW], token=held.token)
    nid = d.notify("compute-1", **STARTED)
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == S.ERROR
    assert f"a recovery of compute-1 is still open in rhworker: notification {stopped}" in (
        n.progress.reason or ""
    )
    assert _service(sim, "compute-1")["forced_down"] is True
    # The other worker ends its recovery: the restore goes through on its next attempt.
    d.store.set_status(stopped, S.FINISHED, expected=[S.RUNNING], token=held.token)
    d.store.ack(held)
    _wait_retry_due(d, nid)
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == S.FINISHED, n.progress.reason
    assert _service(sim, "compute-1")["status"] == "enabled"


@pytest.mark.parametrize("backend", ["embedded"])
def test_started_with_restore_on_started_off_changes_nothing(make_deployment):
    d, sim = _recovered(make_deployment, host_failure={"restore_on_started": False})
    sim.revive_host("compute-1")
    nid = d.notify("compute-1", **STARTED)
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == S.FINISHED
    assert "restore_on_started is off" in (n.progress.reason or "")
    assert _service(sim, "compute-1")["forced_down"] is True
    assert d.store.get_host("compute-1").on_maintenance is True


@pytest.mark.parametrize("backend", ["embedded", "redis-redis"])
def test_cli_host_restore_with_both_policies(make_deployment):
    # A slow retry: the refused request comes back only when the test asks for it.
    d, sim = _recovered(make_deployment, worker={"retry_interval": 60, "retry_max_interval": 60})
    d.start_worker_process()
    # Before nova-compute restarts: refused, exit 5, with the reason.
    refused = cli(d, "host", "restore", "compute-1", "--timeout", "60")
    assert refused.returncode == 5, refused.stderr
    assert "nova-compute on compute-1 has not restarted yet" in refused.stderr
    assert "rhworker retries notification" in refused.stderr
    first = refused.stderr.split("(notification ")[1].split(")")[0]
    assert d.store.get_notification(first).status == S.ERROR

    sim.revive_host("compute-1")
    done = cli(d, "host", "restore", "compute-1", "--policy", "reserved", "--timeout", "60")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("compute-1 restored as reserved host (notification ")
    nid = done.stdout.split("(notification ")[1].split(")")[0]
    steps = d.store.get_notification(nid).progress.steps
    # The CLI's own step may land before or after the worker's first one.
    controls = [s for s in steps if s.name == "control"]
    assert len(controls) == 1 and controls[0].worker.startswith("operator:")
    assert "restore of compute-1 as reserved host requested" in controls[0].message
    assert [s.name for s in steps if s.name != "control"] == [
        "delivered",
        "gate",
        "disabled",
        "force_up",
        "inventory",
    ]
    assert _service(sim, "compute-1")["status"] == "disabled"
    assert d.store.get_host("compute-1").reserved is True

    # The refused request (configured policy: ordinary), retried now, is stale.
    assert cli(d, "notification", "retry", first).returncode == 0
    (stale,) = d.wait_terminal([first])
    assert stale.status == S.FINISHED
    assert stale.progress.reason == (
        f"superseded by the later notification {nid} (STARTED): nothing done"
    )
    assert _service(sim, "compute-1")["status"] == "disabled"
    assert d.store.get_host("compute-1").reserved is True

    # Again with the configured policy (ordinary): the spare becomes an ordinary host.
    again = cli(d, "host", "restore", "compute-1", "--timeout", "60")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("compute-1 restored as ordinary host")
    service = _service(sim, "compute-1")
    assert service["status"] == "enabled" and service["forced_down"] is False
    host = d.store.get_host("compute-1")
    assert host.reserved is False and host.on_maintenance is False

    unknown = cli(d, "host", "restore", "nowhere")
    assert unknown.returncode == 4 and "nowhere" in unknown.stderr
