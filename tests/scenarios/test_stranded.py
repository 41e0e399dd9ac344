"""A destination that dies mid-rebuild (issue 16, "never onto a failed host"): the
servers being rebuilt onto it stay REBUILD for ever in Nova, their migrations
``pre-migrating``. rhworker resets them and evacuates them again elsewhere; judged
from Nova's view: every server ACTIVE on a live host, exactly one completed
evacuation each, onto a live host, nothing left on a failed host."""

from __future__ import annotations

import collections
import threading
import time

import pytest

from rhworker.models import NotificationStatus, StepName
from rhworker.testing.outside import live_hosts
from tests.scenarios.harness import cloud_spec, hold_task_state

pytestmark = pytest.mark.integration

# method -> (hosts in the spec, the destination that dies, where the servers end)
CASES = {
    # the first spare dies under the rebuild; the second spare takes them
    "reserved_host": ({"failing": 1, "spares": 2}, "spare-1", {"spare-2"}),
    # the scheduler's choice (the roomiest host) dies; it places them again
    "auto": ({"failing": 2, "spares": 0}, "compute-ok", {"compute-2"}),
}


@pytest.mark.parametrize("method", sorted(CASES))
def test_destination_dies_mid_rebuild_servers_end_active_on_a_live_host(make_scenario, method):
    hosts, dying, ends_on = CASES[method]
    scn = make_scenario(
        cloud_spec(method=method, servers_per_host=2, **hosts),
        options={"host_failure": {"evacuation_stall_timeout": 3.0, "correlation_window": 0.0}},
    )
    names = [s["name"] for s in scn.servers("vm-1-")]
    started = time.monotonic()
    hold_task_state(scn.cloud, "rebuild_spawning", 600.0)  # the spawn "takes" 10 min
    ids = scn.fail("compute-1")
    worker = threading.Thread(target=scn.burst)
    worker.start()
    try:
        scn.wait_for_task_state(names, "rebuild_spawning")
        hold_task_state(scn.cloud, "rebuild_spawning", 0.0)  # later spawns are quick
        scn.cloud.crash_host(dying)  # dies under the rebuilds: they never end
        ids.append(scn.deployment.notify(dying))
    finally:
        worker.join()
    scn.burst()  # the destination's own report, if the first burst left it
    try:
        notifications = scn.wait_terminal(ids)
    except TimeoutError as e:
        raise AssertionError(_histories(scn, ids)) from e
    elapsed = time.monotonic() - started
    assert [n.status for n in notifications] == [NotificationStatus.FINISHED] * 2, [
        (n.hostname, n.status, n.progress.reason) for n in notifications
    ]
    failed = {"compute-1", dying}
    assert scn.check(failed) == []
    servers = {s["id"]: s for s in scn.servers("vm-1-")}
    assert {s["status"] for s in servers.values()} == {"ACTIVE"}
    assert {s["host"] for s in servers.values()} <= ends_on
    # exactly one completed evacuation per server, onto a live host; the lost ones
    # are still in progress in Nova, toward the dead destination
    live = live_hosts(scn.cloud.services()) - failed
    completed = collections.Counter(
        m["instance_uuid"]
        for m in scn.evacuations()
        if m["status"] in ("done", "completed") and m["dest_compute"] in live
    )
    assert completed == dict.fromkeys(servers, 1), scn.evacuations()
    lost = [m for m in scn.evacuations() if m["dest_compute"] == dying]
    assert {m["instance_uuid"] for m in lost} == set(servers)
    assert {m["status"] for m in lost} <= {"accepted", "pre-migrating"}
    steps = [s.name for s in notifications[0].progress.steps]
    assert steps.count(StepName.STRANDED_RESET) == len(servers), steps
    print(f"stranded {method} on {scn.kind}: all ACTIVE on {ends_on} in {elapsed:.1f}s")


def _histories(scn, ids: list[str]) -> str:
    lines = []
    for n in scn.deployment.notifications(ids):
        lines.append(f"{n.hostname} {n.status.value}: {n.progress.reason}")
        lines += [f"    {st.name}: {st.message}" for st in n.progress.steps]
    return "\n".join(lines + [f"Nova: {scn.evacuations()}"])
