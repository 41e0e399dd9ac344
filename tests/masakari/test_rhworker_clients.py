"""Masakari's own clients drive ``rhworker api`` unchanged: the ``openstack`` CLI builds
the inventory, masakari-monitors' host monitor reports a host that went down, a worker
recovers it on the simulator (``finished``, instances on the spare), and the monitor's
repeated report gets the 409 it expects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from rhworker.testing.masakari import openstack_cli, run_host_monitor

pytestmark = [pytest.mark.masakari, pytest.mark.integration]


@pytest.fixture
def rhworker_api(masakari_ready: None, tmp_path: Any) -> Iterator[tuple[str, Any, Any]]:
    """``(endpoint, deployment, simulator)``: ``rhworker api`` (noauth) on the embedded
    store, Nova = the simulator's small cloud, nothing in the inventory yet."""
    from rhworker.api.process import running_api
    from rhworker.deployment import Deployment
    from rhworker.testing.sim_fixture import SMALL_CLOUD, running_simulator

    with running_simulator(SMALL_CLOUD) as sim:
        d = Deployment(
            sim.compute_url,
            state_dir=str(tmp_path / "state"),
            options={
                "api": {"auth_strategy": "noauth"},
                "notification": {"duplicate_notification_detection_interval": 180},
            },
        )
        try:
            with running_api(d.conf_path, log_path=str(tmp_path / "api.log")) as url:
                yield url, d, sim
        finally:
            d.close()


def _cli(endpoint: str, *args: str) -> Any:
    return openstack_cli(endpoint, *args, "-f", "json").json()


def test_cli_and_host_monitor_drive_a_recovery(rhworker_api: tuple[str, Any, Any]) -> None:
    ep, deployment, sim = rhworker_api
    seg = _cli(ep, "segment", "create", "seg1", "reserved_host", "COMPUTE")
    for name, reserved in (("compute-1", "False"), ("compute-2", "False"), ("spare-1", "True")):
        _cli(ep, "segment", "host", "create", name, "COMPUTE", "SSH", seg["uuid"],
             "--reserved", reserved)  # fmt: skip
    hosts = _cli(ep, "segment", "host", "list", seg["uuid"])
    assert sorted((h["name"], h["reserved"]) for h in hosts) == [
        ("compute-1", False),
        ("compute-2", False),
        ("spare-1", True),
    ]

    sim.kill_host("compute-1")
    first = run_host_monitor(ep, "compute-1")
    assert first.statuses == [202], first.stderr[-2000:]
    uuid = first.calls[0]["body"]["notification"]["notification_uuid"]

    deployment.run_burst()
    shown = _cli(ep, "notification", "show", uuid)
    assert shown["status"] == "finished", shown
    moves = _cli(ep, "notification", "vmove", "list", uuid)
    assert moves and {(m["status"], m["dest_host"]) for m in moves} == {("succeeded", "spare-1")}
    hosts = {h["name"]: h for h in _cli(ep, "segment", "host", "list", seg["uuid"])}
    assert hosts["compute-1"]["on_maintenance"] is True
    assert hosts["spare-1"]["reserved"] is False

    again = run_host_monitor(ep, "compute-1")
    assert again.statuses == [409]
    assert again.calls[0]["body"]["conflictingRequest"]["code"] == 409


def test_cli_notification_create_is_recovered(rhworker_api: tuple[str, Any, Any]) -> None:
    ep, deployment, sim = rhworker_api
    seg = _cli(ep, "segment", "create", "seg-auto", "auto", "COMPUTE")
    for name in ("compute-1", "compute-2"):
        _cli(ep, "segment", "host", "create", name, "COMPUTE", "SSH", seg["uuid"])
    sim.kill_host("compute-1")
    payload = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
    created = _cli(
        ep, "notification", "create", "COMPUTE_HOST", "compute-1", "2026-11-30T07:00:00",
        json.dumps(payload),
    )  # fmt: skip
    assert created["status"] == "new"
    repeated = openstack_cli(
        ep, "notification", "create", "COMPUTE_HOST", "compute-1", "2026-11-30T07:00:05",
        json.dumps(payload),
    )  # fmt: skip
    assert repeated.returncode != 0 and "409" in repeated.stderr
    deployment.run_burst()
    listed = _cli(ep, "notification", "list")
    assert [(n["notification_uuid"], n["status"]) for n in listed] == [
        (created["notification_uuid"], "finished")
    ]
