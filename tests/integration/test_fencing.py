"""Fencing before evacuation, end to end: a Redfish BMC emulator (sushy-tools) run in
the test, the simulator over HTTP with the real openstacksdk, real workers."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rhworker.fencing import FenceRequest, FencingOptions, load_fencing_driver
from rhworker.models import Host, NotificationStatus
from rhworker.testing.redfish_bmc import RedfishEmulator
from rhworker.testing.servers import ServerUnavailable, free_port
from tests.conftest import require
from tests.integration.clouds import segment_cloud

pytestmark = pytest.mark.integration

# Fast polls; the emulator's fake hardware applies a power change 1–11 s late.
REDFISH = {"driver": "redfish", "poll_interval": 0.2, "timeout": 30}


@pytest.fixture(scope="module")
def bmc() -> Iterator[RedfishEmulator]:
    try:
        emulator = RedfishEmulator(["compute-1", "compute-2", "bmc-only"])
    except ServerUnavailable as e:
        require(str(e))
    emulator.start()
    yield emulator
    emulator.stop()


def _cloud(control_attributes: str = "") -> dict:
    spec = segment_cloud(spares=1)
    spec["segments"][0]["hosts"][0]["control_attributes"] = control_attributes
    return spec


def _servers(sim, host):
    return [s for s in sim.state()["servers"] if s["host"] == host]


def _evacuations(sim):
    return [m for m in sim.state()["migrations"] if m.get("migration_type") == "evacuation"]


def _service(sim, host):
    return next(h for h in sim.state()["hosts"] if h["name"] == host)["service"]


def _steps(d, nid):
    return d.store.get_notification(nid).progress.steps


def test_redfish_driver_powers_the_system_off(bmc):
    assert bmc.power_state("bmc-only") == "On"
    driver = load_fencing_driver("redfish", FencingOptions(**REDFISH))
    host = Host("bmc-only", "seg1", control_attributes=bmc.control_attributes("bmc-only"))
    guards: list[float] = []
    # The redfish driver never calls Nova: no compute client, no service.
    request = FenceRequest(
        host, None, None, lambda: guards.append(time.monotonic()), time.sleep, time.monotonic
    )  # type: ignore[arg-type]
    result = driver.fence(request)
    assert result.powered_off is True and "ForceOff, now Off" in result.message
    assert bmc.power_state("bmc-only") == "Off"
    assert len(guards) >= 2  # before the reset and between polls
    # Idempotent: a second fence finds it off and does not reset it again.
    assert "already off" in driver.fence(request).message


@pytest.mark.parametrize("backend", ["embedded"])
def test_recovery_with_redfish_fences_then_evacuates(make_deployment, bmc):
    assert bmc.power_state("compute-1") == "On"
    d, sim = make_deployment(
        _cloud(bmc.control_attributes("compute-1")), options={"fencing": REDFISH}
    )
    sim.kill_host("compute-1")
    nid = d.notify("compute-1")
    d.run_burst(timeout=90)
    n = d.store.get_notification(nid)
    assert n.status == NotificationStatus.FINISHED, n.progress.reason
    assert bmc.power_state("compute-1") == "Off"
    moved = _servers(sim, "spare-1")
    assert len(moved) == 3 and all(s["status"] == "ACTIVE" for s in moved)
    service = _service(sim, "compute-1")
    assert service["forced_down"] is True and service["status"] == "disabled"
    steps = _steps(d, nid)
    names = [s.name for s in steps]
    fence = steps[names.index("fence")]
    assert fence.detail == {"driver": "redfish", "result": "fenced", "powered_off": True}
    assert "ForceOff, now Off" in fence.message and "forced down and disabled" in fence.message
    assert names.index("fence") < names.index("instances")


def _failing(kind: str, bmc: RedfishEmulator, tmp_path: Path) -> tuple[str, dict, str]:
    """control_attributes, [fencing] options and the expected reason for one failure."""
    if kind == "bmc unreachable":
        attrs = bmc.control_attributes("compute-1", redfish_url=f"http://127.0.0.1:{free_port()}")
        return attrs, {**REDFISH, "timeout": 5}, "ConnectionError"
    if kind == "wrong password":
        attrs = bmc.control_attributes("compute-1", password="wrong")
        return attrs, REDFISH, "refused the credentials"
    script = tmp_path / "fence.sh"
    script.write_text("#!/bin/sh\necho 'PDU outlet did not switch' >&2\nexit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return "", {"driver": "command", "command": f"{script} {{host}}"}, "exited 1"


@pytest.mark.parametrize("backend", ["embedded"])
@pytest.mark.parametrize("kind", ["bmc unreachable", "wrong password", "command exits 1"])
def test_fencing_failure_holds_the_notification(make_deployment, bmc, tmp_path, kind):
    attrs, options, why = _failing(kind, bmc, tmp_path)
    d, sim = make_deployment(_cloud(attrs), options={"fencing": options})
    sim.kill_host("compute-1")
    nid = d.notify("compute-1")
    d.run_burst(timeout=60)
    n = d.store.get_notification(nid)
    assert n.status == NotificationStatus.ERROR, n.progress.reason
    reason = n.progress.reason or ""
    assert "fencing compute-1" in reason and "nothing evacuated" in reason and why in reason
    assert not _evacuations(sim)
    assert len(_servers(sim, "compute-1")) == 3 and not _servers(sim, "spare-1")
    # Not fenced, so not forced down in Nova either, and no reserved host was taken.
    assert _service(sim, "compute-1")["forced_down"] is False
    assert d.store.get_host("spare-1").reserved is True
    fence = [s for s in _steps(d, nid) if s.name == "fence"]
    assert fence and fence[-1].detail["result"] == "failed"
    assert fence[-1].detail["driver"] == options["driver"]
    assert bmc.power_state("compute-2") == "On"  # nobody else was touched


def _power_off_script(tmp_path: Path) -> tuple[str, Path]:
    log = tmp_path / "fenced.log"
    script = tmp_path / "fence.sh"
    script.write_text(f'#!/bin/sh\necho "$1" >> {log}\necho off\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return f"{script} {{host}}", log


@pytest.mark.parametrize("backend", ["embedded"])
@pytest.mark.parametrize(
    "driver,recover,status",
    [
        ("command", True, NotificationStatus.FINISHED),
        ("command", False, NotificationStatus.IGNORED),
        ("nova", True, NotificationStatus.IGNORED),  # nova cannot confirm power off
    ],
)
def test_unknown_host_status_recovered_only_with_the_option(
    make_deployment, tmp_path, driver, recover, status
):
    command, log = _power_off_script(tmp_path)
    options = {"driver": driver, "command": command, "recover_unknown_host_status": recover}
    d, sim = make_deployment(_cloud(), options={"fencing": options})
    sim.kill_host("compute-1")
    nid = d.notify("compute-1", host_status="UNKNOWN")
    d.run_burst()
    n = d.store.get_notification(nid)
    assert n.status == status, n.progress.reason
    if status == NotificationStatus.FINISHED:
        assert log.read_text().split() == ["compute-1"]
        assert len(_servers(sim, "spare-1")) == 3 and not _servers(sim, "compute-1")
        gate = [s.message for s in _steps(d, nid) if s.name == "gate"]
        assert any("UNKNOWN" in m for m in gate)
    else:
        assert "UNKNOWN" in (n.progress.reason or "")
        assert not log.exists()
        assert not _evacuations(sim) and len(_servers(sim, "compute-1")) == 3
