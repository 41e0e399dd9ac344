"""Worker metrics without servers: the step hook of RecoveryContext feeds them."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest

from rhworker.metrics import WorkerMetrics
from rhworker.models import Delivery, Step, StepName
from rhworker.recovery.base import HostFailureOptions, LeaseGuard, RecoveryContext


class _Steps:
    def __init__(self) -> None:
        self.steps: list[Step] = []

    def add_step(self, nid: str, step: Step, *, token: int | None = None) -> None:
        self.steps.append(step)


def _ctx(store: Any, on_step: Any) -> RecoveryContext:
    times = iter([10.0, 10.5, 12.0, 12.25])
    return RecoveryContext(
        store=store,
        coordinator=None,  # type: ignore[arg-type]
        compute=None,  # type: ignore[arg-type]
        delivery=Delivery("n1", "w1", token=1, attempts=1, lease_until=1e12),
        worker_id="w1",
        options=HostFailureOptions(),
        lease=LeaseGuard(renew=lambda: None, lease_timeout=1e9),
        clock=lambda: next(times),
        on_step=on_step,
    )


def test_steps_reach_the_metrics_through_the_hook() -> None:
    metrics = WorkerMetrics()
    last: list[float] = []

    def hook(step: Step) -> None:
        metrics.step(step, step.at - last[0] if last else None)
        last[:] = [step.at]

    store = _Steps()
    ctx = _ctx(store, hook)
    for name in ("delivered", "lock_skipped", "claim_lost", "claimed"):
        ctx.step(name, host="spare-1")
    assert [s.name for s in store.steps] == ["delivered", "lock_skipped", "claim_lost", "claimed"]
    value = metrics.registry.get_sample_value
    assert value("rhworker_lock_skips_total") == 1
    assert value("rhworker_claims_lost_total") == 1
    assert value("rhworker_step_duration_seconds_sum", {"step": "claim_lost"}) == 1.5
    assert value("rhworker_step_duration_seconds_count", {"step": "delivered"}) is None


def test_a_failing_hook_does_not_break_recovery() -> None:
    def hook(step: Step) -> None:
        raise RuntimeError("boom")

    store = _Steps()
    _ctx(store, hook).step(StepName.GATE)
    assert [s.name for s in store.steps] == ["gate"]


def test_outcomes_and_separate_registries() -> None:
    one, two = WorkerMetrics(), WorkerMetrics()
    one.concluded("finished", 2.0)
    one.concluded("error", 1.0)
    one.concluded("failed", 1.0)
    value = one.registry.get_sample_value
    assert value("rhworker_notifications_total", {"status": "finished"}) == 1
    assert value("rhworker_retries_total") == 1 and value("rhworker_dead_letters_total") == 1
    assert value("rhworker_recovery_duration_seconds_count", {"status": "finished"}) == 1
    assert two.registry.get_sample_value("rhworker_retries_total") == 0
    assert b"rhworker_takeovers_total 0.0" in generate_latest(two.registry)
