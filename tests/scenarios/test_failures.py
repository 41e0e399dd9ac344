"""Host failures against reserved hosts, judged from the cloud's own view: one
failure, two at once, and three on two spares for each reserved-host method."""

from __future__ import annotations

import pytest

from rhworker.models import NotificationStatus
from tests.scenarios.harness import cloud_spec

pytestmark = pytest.mark.integration

FINISHED = NotificationStatus.FINISHED


def test_one_failure_lands_on_the_first_reserved_host(make_scenario):
    scn = make_scenario(cloud_spec(failing=1, spares=2))
    [nid] = scn.fail("compute-1")
    scn.burst()
    [n] = scn.deployment.notifications([nid])
    assert n.status == FINISHED, n.progress.reason
    assert scn.check({"compute-1"}) == []
    moved = scn.servers("vm-1")
    assert len(moved) == 3 and {s["host"] for s in moved} == {"spare-1"}
    assert set(scn.evacuations_per_server().values()) == {1}
    failed = scn.service("compute-1")
    assert failed["status"] == "disabled" and failed["forced_down"] is True
    assert scn.service("spare-1")["status"] == "enabled"  # consumed: an ordinary host now
    assert scn.service("spare-2")["status"] == "disabled"  # still a spare
    assert not any(s["locked"] for s in moved)


def test_two_failures_at_once_on_two_spares(make_scenario):
    scn = make_scenario(cloud_spec(failing=2, spares=2))
    ids = scn.fail("compute-1", "compute-2")
    scn.burst(workers=2)
    assert [n.status for n in scn.deployment.notifications(ids)] == [FINISHED, FINISHED]
    assert scn.check({"compute-1", "compute-2"}) == []
    first = {s["host"] for s in scn.servers("vm-1")}
    second = {s["host"] for s in scn.servers("vm-2")}
    assert len(first) == 1 and len(second) == 1, (first, second)
    assert first | second == {"spare-1", "spare-2"}
    assert set(scn.evacuations_per_server().values()) == {1}


def test_three_failures_on_two_spares_reserved_host(make_scenario):
    # One failure finds no spare left: it ends in error ("no reserved host
    # available") and its servers stay where they were, untouched.
    scn = make_scenario(
        cloud_spec(method="reserved_host", failing=3, spares=2),
        options={"worker": {"max_attempts": 1}},
    )
    ids = scn.fail("compute-1", "compute-2", "compute-3")
    scn.burst(workers=2)
    notifications = scn.deployment.notifications(ids)
    losers = [n for n in notifications if n.status != FINISHED]
    assert len(losers) == 1, [(n.hostname, n.status, n.progress.reason) for n in notifications]
    [loser] = losers
    assert loser.status == NotificationStatus.FAILED
    assert "no reserved host available" in (loser.progress.reason or "")
    index = loser.hostname.rsplit("-", 1)[1]
    behind = {s["name"] for s in scn.servers(f"vm-{index}-")}
    assert len(behind) == 3
    assert scn.check({"compute-1", "compute-2", "compute-3"}, left_behind=behind) == []
    spares = {
        h: {s["host"] for s in scn.servers(f"vm-{h[-1]}-")}
        for h in ("compute-1", "compute-2", "compute-3")
        if h != loser.hostname
    }
    assert sorted(host for hosts in spares.values() for host in hosts) == ["spare-1", "spare-2"]


def test_three_failures_on_two_spares_rh_priority(make_scenario):
    # The failure that finds no spare left falls back to Nova's scheduler, which
    # places its servers on an ordinary host; the spares each serve one failure.
    scn = make_scenario(cloud_spec(method="rh_priority", failing=3, spares=2))
    ids = scn.fail("compute-1", "compute-2", "compute-3")
    scn.burst(workers=2)
    notifications = scn.deployment.notifications(ids)
    assert all(n.status == FINISHED for n in notifications), [
        (n.hostname, n.status, n.progress.reason) for n in notifications
    ]
    assert scn.check({"compute-1", "compute-2", "compute-3"}) == []
    placed = {i: {s["host"] for s in scn.servers(f"vm-{i}-")} for i in (1, 2, 3)}
    on_spares = [i for i, hosts in placed.items() if hosts <= scn.reserved]
    scheduled = [i for i, hosts in placed.items() if not hosts & scn.reserved]
    assert len(on_spares) == 2 and len(scheduled) == 1, placed
    assert placed[scheduled[0]] == {"compute-ok"}
    assert set(scn.evacuations_per_server().values()) == {1}
