"""VM and PROCESS notifications end to end (issue 19, items 1 and 2): real openstacksdk
over HTTP to the simulator, real store and lock backends, workers wired from a real
configuration file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from rhworker.coordination import LOCK_INSTANCE, Coordinator
from rhworker.deployment import WorkerThreads
from rhworker.errors import HostOnMaintenance
from rhworker.models import NotificationStatus
from rhworker.testing.sim_fixture import sdk_connection
from tests.integration.clouds import segment_cloud

pytestmark = pytest.mark.integration

HA_ID = "11111111-1111-4111-8111-111111111111"
PLAIN_ID = "22222222-2222-4222-8222-222222222222"
POWER_RUNNING = 1


def vm_cloud() -> dict:
    return segment_cloud(
        spares=0,
        servers_per_host=1,
        extra_servers=[
            {
                "name": "ha-vm",
                "id": HA_ID,
                "host": "compute-1",
                "flavor": "small",
                "metadata": {"HA_Enabled": "True"},
            },
            {"name": "plain-vm", "id": PLAIN_ID, "host": "compute-1", "flavor": "small"},
        ],
    )


@contextlib.contextmanager
def workers(d: Any, count: int) -> Iterator[list[Any]]:
    """``count`` workers consuming in threads (not burst: retries come back to them)."""
    with WorkerThreads([d.build_worker() for _ in range(count)]) as running:
        yield running.workers


def notify_vm(d, instance: str, event: str = "LIFECYCLE", detail: str = "STOPPED_FAILED") -> str:
    payload = {"instance_uuid": instance, "event": event, "vir_domain_event": detail}
    return d.store.create_notification("VM", "compute-1", payload, dedup_interval=0).id


def notify_process(d, event: str, process: str = "nova-compute", host: str = "compute-1") -> str:
    payload = {"process_name": process, "event": event}
    return d.store.create_notification("PROCESS", host, payload, dedup_interval=0).id


def server(sim, sid: str) -> dict:
    return next(s for s in sim.state()["servers"] if s["id"] == sid)


def service(sim, host: str) -> dict:
    return next(h for h in sim.state()["hosts"] if h["name"] == host)["service"]


def step_names(d, nid: str) -> list[str]:
    return [s.name for s in d.store.get_notification(nid).progress.steps]


def power_events(sim, sid: str) -> list[dict]:
    kinds = ("power_requested", "power_done")
    return [e for e in sim.state()["events"] if e["event"] in kinds and e.get("server") == sid]


@pytest.mark.parametrize("shown_as", ["active", "error"])
def test_crashed_ha_instance_is_restarted(make_deployment, shown_as):
    """Nova may still show a crashed guest ACTIVE (or ERROR): stop, start, confirm."""
    d, sim = make_deployment(vm_cloud())
    sim.crash_server(HA_ID, shown_as)
    assert server(sim, HA_ID)["power_state"] != POWER_RUNNING
    nid = notify_vm(d, HA_ID)
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == NotificationStatus.FINISHED, n.progress.reason
    s = server(sim, HA_ID)
    assert (s["status"], s["power_state"], s["task_state"]) == ("ACTIVE", POWER_RUNNING, None)
    names = step_names(d, nid)
    assert names[names.index("locked") :] == ["locked", "stop", "start", "confirmed"]
    assert [e["task_state"] for e in power_events(sim, HA_ID)] == [
        "powering-off", "powering-off", "powering-on", "powering-on",
    ]  # fmt: skip
    assert not sim.state()["violations"]


def test_already_stopped_instance_is_only_started(make_deployment):
    d, sim = make_deployment(vm_cloud())
    sim.crash_server(HA_ID, "stopped")
    nid = notify_vm(d, HA_ID, "IO_ERROR", "IO_ERROR_REPORT")
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == NotificationStatus.FINISHED, n.progress.reason
    assert server(sim, HA_ID)["status"] == "ACTIVE"
    stop = next(s for s in n.progress.steps if s.name == "stop")
    assert stop.message == "instance already stopped"
    assert [e["task_state"] for e in power_events(sim, HA_ID)] == ["powering-on"] * 2


def test_what_needs_no_action_is_ignored(make_deployment):
    d, sim = make_deployment(vm_cloud())
    sim.crash_server(PLAIN_ID)
    sim.crash_server(HA_ID)
    plain = notify_vm(d, PLAIN_ID)
    clean_shutdown = notify_vm(d, HA_ID, "LIFECYCLE", "STOPPED_SHUTDOWN")
    d.run_burst()
    n = d.store.get_notification(plain)
    assert n.status == NotificationStatus.IGNORED
    assert "not HA-enabled (metadata HA_Enabled)" in (n.progress.reason or "")
    n = d.store.get_notification(clean_shutdown)
    assert n.status == NotificationStatus.IGNORED
    assert "LIFECYCLE/STOPPED_SHUTDOWN" in (n.progress.reason or "")
    assert "needs no action" in (n.progress.reason or "")
    assert not power_events(sim, PLAIN_ID) and not power_events(sim, HA_ID)
    assert server(sim, PLAIN_ID)["power_state"] != POWER_RUNNING


def test_process_all_instances_and_error_state_options(make_deployment):
    d, sim = make_deployment(
        vm_cloud(),
        options={
            "instance_failure": {
                "process_all_instances": True,
                "ignore_instances_in_error_state": True,
            }
        },
    )
    sim.crash_server(PLAIN_ID)
    sim.crash_server(HA_ID, "error")
    plain = notify_vm(d, PLAIN_ID)
    in_error = notify_vm(d, HA_ID)
    d.run_burst()
    assert d.store.get_notification(plain).status == NotificationStatus.FINISHED
    assert server(sim, PLAIN_ID)["status"] == "ACTIVE"
    n = d.store.get_notification(in_error)
    assert n.status == NotificationStatus.IGNORED
    assert "error state (ignore_instances_in_error_state)" in (n.progress.reason or "")
    assert server(sim, HA_ID)["status"] == "ERROR" and not power_events(sim, HA_ID)


def test_two_reports_of_one_instance_never_act_at_once(make_deployment):
    """Two workers, two reports of one crash: the instance lock serialises them (the
    simulator's power actions take time, so an overlap would show in its event log),
    and the second report finds the instance already recovered."""
    d, sim = make_deployment(vm_cloud(), sim_options={"power_action_time": 0.3})
    sim.crash_server(HA_ID)
    first = notify_vm(d, HA_ID)
    second = notify_vm(d, HA_ID, "IO_ERROR", "IO_ERROR_REPORT")
    with workers(d, 2):
        notifications = d.wait_terminal([first, second], timeout=60)
    assert all(n.status == NotificationStatus.FINISHED for n in notifications), [
        (n.status, n.progress.reason) for n in notifications
    ]
    events = power_events(sim, HA_ID)
    kinds = [(e["event"], e["task_state"]) for e in events]
    # One stop-start cycle, never two power actions in flight at once.
    assert kinds == [
        ("power_requested", "powering-off"),
        ("power_done", "powering-off"),
        ("power_requested", "powering-on"),
        ("power_done", "powering-on"),
    ]
    busy = sum(step_names(d, n.id).count("lock_busy") for n in notifications)
    assert busy >= 1
    answered = [n for n in notifications if "already_recovered" in step_names(d, n.id)]
    assert len(answered) == 1 and "already recovered" in (answered[0].progress.reason or "")
    assert server(sim, HA_ID)["status"] == "ACTIVE"


def test_instance_locked_elsewhere_is_retried_not_failed(make_deployment):
    d, sim = make_deployment(vm_cloud(), options={"worker": {"max_attempts": 50}})
    outsider = Coordinator(d.coordination_url, "outsider")
    outsider.start()
    try:
        lock = outsider.try_lock(HA_ID, kind=LOCK_INSTANCE)
        assert lock is not None
        sim.crash_server(HA_ID)
        nid = notify_vm(d, HA_ID)
        with workers(d, 1):
            d.wait_for(lambda: "lock_busy" in step_names(d, nid), 30, "a lock_busy step")
            n = d.store.get_notification(nid)
            assert n.status in (NotificationStatus.ERROR, NotificationStatus.RUNNING)
            assert not power_events(sim, HA_ID)
            outsider.release(lock)
            (n,) = d.wait_terminal([nid], timeout=30)
        assert n.status == NotificationStatus.FINISHED, n.progress.reason
        assert server(sim, HA_ID)["status"] == "ACTIVE"
    finally:
        outsider.stop()


# -- PROCESS ------------------------------------------------------------------------------


def test_nova_compute_stopped_then_started(make_deployment):
    d, sim = make_deployment(vm_cloud())
    sim.kill_host("compute-1")  # nova-compute stopped: its service stops heartbeating
    stopped = notify_process(d, "STOPPED")
    d.run_burst()
    n = d.store.get_notification(stopped)
    assert n.status == NotificationStatus.FINISHED, n.progress.reason
    svc = service(sim, "compute-1")
    assert svc["status"] == "disabled" and svc["forced_down"] is False
    assert svc["disabled_reason"] == f"Masakari detected process failed. notification {stopped}"
    assert d.store.get_host("compute-1").on_maintenance is True
    assert "disabled" in step_names(d, stopped) and "maintenance" in step_names(d, stopped)
    # Masakari's rule: a host on maintenance takes no notification, except the matching
    # nova-compute STARTED, which undoes it.
    with pytest.raises(HostOnMaintenance):
        notify_vm(d, HA_ID)
    with pytest.raises(HostOnMaintenance):
        notify_process(d, "STARTED", process="libvirtd")

    sim.revive_host("compute-1")
    started = notify_process(d, "STARTED")
    d.run_burst()
    n = d.store.get_notification(started)
    assert n.status == NotificationStatus.FINISHED, n.progress.reason
    svc = service(sim, "compute-1")
    assert svc["status"] == "enabled" and not svc["disabled_reason"]
    assert d.store.get_host("compute-1").on_maintenance is False
    names = step_names(d, started)
    assert names.index("enabled") < names.index("maintenance")


def test_started_leaves_someone_elses_disable_alone(make_deployment):
    d, sim = make_deployment(vm_cloud())
    conn = sdk_connection(sim)
    try:
        svc = next(conn.compute.services(host="compute-1", binary="nova-compute"))
        conn.compute.disable_service(svc, disabled_reason="operator: disk replacement")
    finally:
        conn.close()
    d.store.update_host("compute-1", on_maintenance=True)
    nid = notify_process(d, "STARTED")
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == NotificationStatus.IGNORED
    assert "disabled by someone else (reason: operator: disk replacement)" in (
        n.progress.reason or ""
    )
    assert service(sim, "compute-1")["status"] == "disabled"
    assert d.store.get_host("compute-1").on_maintenance is True


def test_other_process_is_recorded_and_ignored(make_deployment):
    d, sim = make_deployment(vm_cloud())
    nid = notify_process(d, "STOPPED", process="libvirtd")
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == NotificationStatus.IGNORED
    assert "process 'libvirtd' stopped on compute-1: only nova-compute is recovered" == (
        n.progress.reason
    )
    assert service(sim, "compute-1")["status"] == "enabled"
    assert d.store.get_host("compute-1").on_maintenance is False


def test_sim_crash_control_over_http(make_deployment):
    """The control API's crash call, and power actions that take time (as Nova's casts)."""
    from rhworker.sim.control import SimControl, SimControlError

    d, sim = make_deployment(vm_cloud(), sim_options={"power_action_time": 0.2})
    control = SimControl(sim.url)
    try:
        control.crash_server(HA_ID, "error")
        s = server(sim, HA_ID)
        assert (s["status"], s["power_state"]) == ("ERROR", 4)
        with pytest.raises(SimControlError, match="400"):
            control.crash_server(HA_ID, "melted")
        with pytest.raises(SimControlError, match="404"):
            control.crash_server("33333333-3333-4333-8333-333333333333")
    finally:
        control.close()
    conn = sdk_connection(sim)
    try:
        conn.compute.stop_server(HA_ID)
        assert server(sim, HA_ID)["task_state"] == "powering-off"
        d.wait_for(lambda: server(sim, HA_ID)["status"] == "SHUTOFF", 10, "the stop to finish")
    finally:
        conn.close()
    crashed = [e for e in sim.state()["events"] if e["event"] == "server_crashed"]
    assert [(e["server"], e["vm_state"]) for e in crashed] == [(HA_ID, "error")]
