"""Stranded evacuations (issue 16 item 2), against the in-memory FakeCompute: a
destination that fails mid-rebuild gets the server reset and evacuated elsewhere;
a slow but healthy rebuild, or one whose destination is not known to have failed,
is left alone; a reset Nova refuses leaves the server as it is."""

from __future__ import annotations

from typing import Any

from rhworker.compute.base import REBUILD_TASK_STATES
from rhworker.compute.fake import Frame, nova_evacuation
from rhworker.errors import ComputeBadRequest
from rhworker.models import Host, MoveState, NotificationStatus, RecoveryMethod, StepName
from rhworker.recovery.host_failure import HostFailureDriver
from rhworker.recovery.targets import claim_reserved_host
from tests.unit.test_evacuation import FAILED_HOST, SPARE, STOPPED, Env
from tests.unit.test_evacuation import env as env  # noqa: F401  (the fixture)

OTHER = "c3"  # a live host the scheduler (or the next spare) takes once SPARE failed


def _stuck_then(env: Env, on_spawning: Any = None) -> list[Frame]:
    """An evacuation that reaches rebuild_spawning (where ``on_spawning`` runs) and
    never goes further: the frames run out, Nova shows it so for ever."""
    spawning: Frame = {"task_state": "rebuild_spawning"}
    if on_spawning is not None:
        spawning["hook"] = on_spawning
    return [{"task_state": "rebuild_block_device_mapping", "migration": "pre-migrating"}, spawning]


def _target_dies(env: Env, host: str = SPARE) -> Any:
    """The hook: ``host`` dies and its monitor reports it (an accepted STOPPED)."""

    def hook() -> None:
        env.store.create_notification("COMPUTE_HOST", host, dict(STOPPED))
        env.compute.scheduler_host = OTHER

    return hook


def _recover(env: Env, **options: Any) -> Any:
    return HostFailureDriver().execute_host_failure(
        env.ctx(**options), env.store.get_notification(env.nid)
    )


def _evacuates(env: Env) -> list[tuple[str, str | None]]:
    return [(c.args[0], c.args[1]) for c in env.compute.calls_of("evacuate_server")]


def _setup(env: Env) -> None:
    env.compute.add_host(OTHER)
    env.store.create_host(Host(name=OTHER, segment="seg"))
    env.compute.add_server("vm-1", FAILED_HOST)


def test_auto_target_fails_mid_rebuild_reset_and_evacuated_elsewhere(env: Env) -> None:
    _setup(env)
    env.compute.script("vm-1", _stuck_then(env, _target_dies(env)))
    result = _recover(env, evacuation_stall_timeout=5.0)
    assert result.status == NotificationStatus.FINISHED, result.reason
    server = env.compute.servers["vm-1"]
    assert (server.host, server.status, server.task_state) == (OTHER, "ACTIVE", None)
    # the scheduler chose twice; the failed host is forced down, so never again
    assert _evacuates(env) == [("vm-1", None), ("vm-1", None)]
    assert env.compute.services[SPARE].forced_down is True
    # reset before the second evacuate, and Nova never ran two at once
    names = [c.name for c in env.compute.calls if c.name in ("reset_state", "evacuate_server")]
    assert names == ["evacuate_server", "reset_state", "evacuate_server"]
    assert env.compute.violations == []
    assert [s.detail.get("target") for s in env.steps(StepName.STRANDED_RESET)] == [SPARE]
    assert env.steps(StepName.RE_EVACUATE)
    assert env.stored("vm-1").state == MoveState.SUCCEEDED


def test_reserved_target_fails_mid_rebuild_next_spare_never_the_failed_one(env: Env) -> None:
    env.store.update_segment("seg", recovery_method=RecoveryMethod.RESERVED_HOST)
    env.store.update_host(SPARE, reserved=True)
    env.store.create_host(Host(name=OTHER, segment="seg", reserved=True))
    env.compute.add_host(SPARE, status="disabled")
    env.compute.add_host(OTHER, status="disabled")
    env.compute.add_server("vm-1", FAILED_HOST)
    env.compute.script("vm-1", _stuck_then(env, _target_dies(env)))
    # a long stall timeout: the chosen spare's failure alone triggers the check
    result = _recover(env, evacuation_stall_timeout=600.0)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert _evacuates(env) == [("vm-1", SPARE), ("vm-1", OTHER)]
    assert env.compute.servers["vm-1"].host == OTHER
    assert env.compute.calls_of("reset_state", "vm-1")
    assert env.compute.violations == []
    n = env.store.get_notification(env.nid)
    assert [c.host for c in n.progress.claims] == [SPARE, OTHER]
    assert env.store.get_host(OTHER).reserved is False  # claimed through the store


def test_slow_but_progressing_rebuild_is_left_alone(env: Env) -> None:
    _setup(env)
    # 40 s in rebuild_spawning (fake clock), past the stall timeout; the target is alive
    slow: list[Frame] = [{"task_state": "rebuild_spawning"}] + [{} for _ in range(40)]
    env.compute.script(
        "vm-1",
        [{"task_state": "rebuild_block_device_mapping", "migration": "pre-migrating"}, *slow]
        + nova_evacuation(SPARE)[2:],
    )
    result = _recover(env, evacuation_stall_timeout=5.0)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert env.compute.servers["vm-1"].host == SPARE
    assert env.compute.calls_of("reset_state") == []
    assert len(_evacuates(env)) == 1
    assert len(env.steps(StepName.EVACUATION_SLOW)) == 1  # said once, then waited


def test_deadline_passed_with_target_alive_waits_never_resets(env: Env) -> None:
    """Decided: a destination not known to have failed is never second-guessed: the
    move ends not settled (wait_period_after_evacuation), the server untouched."""
    _setup(env)
    env.compute.script("vm-1", _stuck_then(env))
    result = _recover(env, evacuation_stall_timeout=5.0)
    assert result.status == NotificationStatus.ERROR
    assert "not settled after 60s" in env.stored("vm-1").message
    assert env.compute.calls_of("reset_state") == []
    assert len(_evacuates(env)) == 1
    assert env.steps(StepName.EVACUATION_SLOW) and not env.steps(StepName.STRANDED)


def test_reset_refused_by_nova_leaves_it_and_does_not_evacuate_again(env: Env) -> None:
    _setup(env)
    env.compute.script("vm-1", _stuck_then(env, _target_dies(env)))
    env.compute.fail("reset_state", ComputeBadRequest("Conflict (HTTP 409)"), times=10)
    result = _recover(env, evacuation_stall_timeout=5.0)
    assert result.status == NotificationStatus.ERROR
    move = env.stored("vm-1")
    assert move.state == MoveState.FAILED and "refused to reset" in move.message
    assert len(_evacuates(env)) == 1  # never a second one while the server shows REBUILD
    assert env.compute.servers["vm-1"].task_state == "rebuild_spawning"
    assert env.compute.violations == []


def test_retry_resets_a_stranded_server_fences_its_target_and_evacuates(env: Env) -> None:
    """An earlier attempt left the move failed while Nova shows the evacuation toward
    a host reported failed but not yet forced down: this attempt fences that host,
    resets the server and evacuates it through the scheduler (never to that host)."""
    _setup(env)
    env.store.create_notification("COMPUTE_HOST", SPARE, dict(STOPPED))
    server = env.compute.servers["vm-1"]
    server.task_state, server.status = REBUILD_TASK_STATES[-1], "REBUILD"
    server.locked = True
    env.compute.add_migration("vm-1", FAILED_HOST, SPARE, "pre-migrating")
    env.compute.scheduler_host = OTHER
    env.move("vm-1", state=MoveState.FAILED, locked_by_rhworker=True, message="not settled")
    result = _recover(env)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert env.compute.services[SPARE].forced_down is True
    assert _evacuates(env) == [("vm-1", None)]
    assert env.compute.servers["vm-1"].host == OTHER
    assert env.compute.violations == []
    assert not env.compute.servers["vm-1"].locked


def test_a_failed_target_whose_rebuild_is_not_running_is_not_reset(env: Env) -> None:
    """The migration toward the failed host ended (done): the server moved there; it
    is that host's own recovery that evacuates it, not this one."""
    _setup(env)
    env.store.create_notification("COMPUTE_HOST", SPARE, dict(STOPPED))
    env.compute.servers["vm-1"].host = SPARE
    env.compute.add_migration("vm-1", FAILED_HOST, SPARE, "done")
    env.move("vm-1", state=MoveState.FAILED, message="not settled")
    result = _recover(env)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert env.compute.calls_of("reset_state") == []
    assert _evacuates(env) == []


def test_a_retry_does_not_resume_on_a_claimed_spare_that_failed_since(env: Env) -> None:
    """The first attempt claimed SPARE; SPARE failed (reported, forced down) with the
    server's evacuation lost there: the retry resets it and claims the next spare."""
    env.store.update_segment("seg", recovery_method=RecoveryMethod.RESERVED_HOST)
    env.store.update_host(SPARE, reserved=True)
    env.store.create_host(Host(name=OTHER, segment="seg", reserved=True))
    env.compute.add_host(OTHER, status="disabled")
    env.compute.add_server("vm-1", FAILED_HOST, task_state="rebuild_spawning")
    env.compute.servers["vm-1"].status = "REBUILD"
    ctx = env.ctx()
    first = claim_reserved_host(
        ctx, env.store.get_notification(env.nid), env.store.get_host(FAILED_HOST), set()
    )
    assert first is not None and first.host == SPARE
    first.release(ctx)
    env.compute.add_migration("vm-1", FAILED_HOST, SPARE, "pre-migrating")
    env.store.create_notification("COMPUTE_HOST", SPARE, dict(STOPPED))
    env.compute.services[SPARE].forced_down = True
    env.compute.services[SPARE].state = "down"
    env.move("vm-1", state=MoveState.FAILED, target=SPARE, message="not settled")
    result = _recover(env)
    assert result.status == NotificationStatus.FINISHED, result.reason
    assert _evacuates(env) == [("vm-1", OTHER)]
    assert env.compute.calls_of("reset_state", "vm-1")
    # the claim found, then dropped: nothing more is sent to the failed spare
    assert [s.detail.get("host") for s in env.steps(StepName.STRANDED)][0] == SPARE
    claims = [c.host for c in env.store.get_notification(env.nid).progress.claims]
    assert claims == [SPARE, OTHER]
