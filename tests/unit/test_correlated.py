"""Fence first (issue 16): every host with an open STOPPED report is forced down in
Nova and taken out of the spares before any evacuation, whatever the queue order;
the history says so; a stranded evacuation is named, never posted again."""

from __future__ import annotations

from typing import Any

from rhworker.models import Host, MoveState, NotificationStatus, Step, StepName
from rhworker.recovery import correlated
from rhworker.recovery.host_failure import HostFailureDriver
from tests.unit.test_evacuation import FAILED_HOST, SPARE, STOPPED, Env
from tests.unit.test_evacuation import env as env  # noqa: F401  (the fixture)

SIBLING = "c2"  # failed with FAILED_HOST, reported after it (still queued)


def _sibling(env: Env, *, reserved: bool = False, payload: dict[str, Any] | None = None) -> str:
    env.store.create_host(Host(name=SIBLING, segment="seg", reserved=reserved))
    env.compute.add_host(SIBLING, state="up")  # dead, but Nova does not know yet
    return env.store.create_notification("COMPUTE_HOST", SIBLING, payload or dict(STOPPED)).id


def test_every_reported_host_is_forced_down_before_any_evacuation(env: Env) -> None:
    sibling_id = _sibling(env, reserved=True)
    env.compute.add_server("vm-1", FAILED_HOST)
    result = HostFailureDriver().execute_host_failure(
        env.ctx(), env.store.get_notification(env.nid)
    )
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert env.compute.services[SIBLING].forced_down is True
    sibling = env.store.get_host(SIBLING)
    assert sibling.on_maintenance and not sibling.reserved  # never a target now
    # the order in Nova: the sibling forced down before the evacuate was posted
    names = [c.name for c in env.compute.calls]
    forced = [
        i
        for i, c in enumerate(env.compute.calls)
        if c.name == "force_down_service" and c.args[0] == SIBLING
    ]
    assert forced and forced[0] < names.index("evacuate_server")
    # ... and in both histories
    steps = [s.name for s in env.store.get_notification(env.nid).progress.steps]
    assert steps.index("fence_first") < steps.index("method")
    other = env.store.get_notification(sibling_id).progress.steps
    assert [s.name for s in other] == ["fence_first"]
    assert env.nid in other[0].message


def test_a_report_that_is_ignored_or_ended_is_not_fenced(env: Env) -> None:
    _sibling(env, payload={"event": "STOPPED", "host_status": "UNKNOWN"})
    assert SIBLING not in correlated.fence_reported(env.ctx(), env.store.get_notification(env.nid))
    assert env.compute.services[SIBLING].forced_down is False
    assert not env.store.get_host(SIBLING).on_maintenance


def test_correlation_window_waits_then_fences(env: Env) -> None:
    n = env.store.get_notification(env.nid)
    env.clock.now = n.created_at  # just accepted
    _sibling(env)
    correlated.settle(env.ctx(), n, 5.0)
    assert env.clock.now >= n.created_at + 5.0
    assert env.compute.services[SIBLING].forced_down is True
    assert [s.name for s in env.steps("correlation_window")] == ["correlation_window"]


def test_stranded_evacuation_is_named_and_not_posted_again(env: Env) -> None:
    _sibling(env)
    env.compute.add_server("vm-1", FAILED_HOST, task_state="rebuilding")
    env.compute.servers["vm-1"].status = "REBUILD"
    env.compute.add_migration("vm-1", FAILED_HOST, SIBLING, "pre-migrating")
    move = env.move("vm-1", state=MoveState.FAILED, message="not settled after 60s")
    assert move.state == MoveState.FAILED
    assert (
        correlated.explain_stranded(env.ctx(), env.store.get_notification(env.nid), FAILED_HOST)
        == 1
    )
    assert "stranded" in env.stored("vm-1").message
    assert [s.detail.get("target") for s in env.steps("stranded")] == [SIBLING]
    assert not env.compute.calls_of("evacuate_server")
    assert SPARE  # the spare stays free for the servers that can still move


def test_within_an_attempt_a_fenced_host_is_not_asked_again_until_reported_again(
    env: Env,
) -> None:
    """Each evacuation batch fences the hosts reported since: those this attempt
    already handled cost no Nova read; a new report of one of them does."""
    _sibling(env)
    ctx, n = env.ctx(), env.store.get_notification(env.nid)
    done: set[str] = set()
    assert correlated.fence_reported(ctx, n, done) == [FAILED_HOST, SIBLING]
    asked = len(env.compute.calls_of("get_service"))
    assert asked == 2
    assert correlated.fence_reported(ctx, n, done) == []
    assert len(env.compute.calls_of("get_service")) == asked  # nothing asked again
    # the sibling came back, Nova un-forced it, and it is reported failed again: its new
    # report has no fence in its history (the older one's does not count)
    env.compute.services[SIBLING].forced_down = False
    env.store.update_host(SIBLING, on_maintenance=False)
    env.store.create_notification("COMPUTE_HOST", SIBLING, dict(STOPPED), dedup_interval=0)
    assert correlated.fence_reported(ctx, n, done) == [SIBLING]
    assert len(env.compute.calls_of("get_service")) == asked + 1
    # without the attempt's memory: both hosts' newest reports record their fence
    # (fence_first steps), so Nova is not asked about either again
    assert correlated.fence_reported(ctx, n) == []
    assert len(env.compute.calls_of("get_service")) == asked + 1


def test_a_host_whose_report_records_its_fence_is_not_asked_about_again(env: Env) -> None:
    """In a storm every recovery fences every reported host first: a report whose own
    worker recorded a successful fence spares the others a Nova read; a failed fence
    does not."""
    sibling_id = _sibling(env)
    env.compute.services[SIBLING].forced_down = True
    fenced = Step(at=0.0, name=StepName.FENCE, detail={"result": "fenced"})
    env.store.add_step(sibling_id, fenced)
    ctx, n = env.ctx(), env.store.get_notification(env.nid)
    correlated.fence_reported(ctx, n)
    assert SIBLING not in [c.args[0] for c in env.compute.calls_of("get_service")]
    _sibling_report(env, result="failed")  # the newest report: its fence failed
    correlated.fence_reported(ctx, n)
    assert SIBLING in [c.args[0] for c in env.compute.calls_of("get_service")]


def _sibling_report(env: Env, *, result: str) -> str:
    """A newer report of the sibling whose fence ended with ``result``."""
    nid = env.store.create_notification("COMPUTE_HOST", SIBLING, dict(STOPPED), dedup_interval=0).id
    env.store.add_step(nid, Step(at=1.0, name=StepName.FENCE, detail={"result": result}))
    return nid
