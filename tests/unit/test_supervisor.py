"""The pool's supervisor: exponential back-off, giving up on a crash loop, a fresh count
after a worker that ran a while. Fake children and a fake clock: no processes."""

from __future__ import annotations

import pytest

from rhworker.supervisor import GaveUp, RestartPolicy, Supervisor


class FakeChild:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.signals: list[int] = []

    def poll(self) -> int | None:
        return self.returncode

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)
        self.returncode = 0

    def wait(self, timeout: float | None = None) -> int:
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        self.returncode = -9


class World:
    """A clock the test moves, and a spawn that records start times."""

    def __init__(self) -> None:
        self.now = 100.0
        self.starts: list[tuple[int, float]] = []
        self.children: list[FakeChild] = []

    def spawn(self, index: int) -> FakeChild:
        child = FakeChild(1000 + len(self.children))
        self.children.append(child)
        self.starts.append((index, self.now))
        return child

    def run_until(self, sup: Supervisor, until: float, step: float = 0.1) -> None:
        while self.now < until:
            sup.check()
            self.now = round(self.now + step, 6)


POLICY = RestartPolicy(
    restart_delay=1.0, restart_max_delay=5.0, quick_failure_time=10.0, max_quick_failures=5
)


def test_delays_double_and_are_capped() -> None:
    assert [POLICY.delay(n) for n in range(6)] == [1.0, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_worker_that_cannot_start_is_retried_with_back_off_then_given_up() -> None:
    world = World()
    sup = Supervisor(world.spawn, 2, POLICY, clock=lambda: world.now)
    sup.check()
    assert [i for i, _ in world.starts] == [0, 1]
    with pytest.raises(GaveUp) as caught:
        while True:
            for child in world.children:  # worker 0 dies at once every time
                if child.returncode is None and world.starts[world.children.index(child)][0] == 0:
                    child.returncode = 1
            sup.check()
            world.now = round(world.now + 0.1, 6)
            assert world.now < 200, "never gave up"
    starts_of_0 = [t for i, t in world.starts if i == 0]
    gaps = [round(b - a, 1) for a, b in zip(starts_of_0, starts_of_0[1:], strict=False)]
    # Start to start: the back-off 1, 2, 4, 5 (capped) plus the 0.1 s tick that notices the
    # exit (the first death is noticed on its start's tick); the 5th quick failure gives up.
    assert gaps == [1.0, 2.1, 4.1, 5.1]
    message = str(caught.value)
    assert "worker 0 exited 5 times in a row within 10s" in message
    assert "last exit code 1" in message and "gives up" in message
    # Worker 1 was left alone; stop() ends it.
    sup.stop(timeout=1)
    assert world.children[1].signals


def test_a_worker_that_ran_a_while_starts_its_count_afresh() -> None:
    world = World()
    sup = Supervisor(world.spawn, 1, POLICY, clock=lambda: world.now)
    for _ in range(20):  # far more than max_quick_failures deaths, each after 11 s of work
        sup.check()
        world.now += 11.0
        world.children[-1].returncode = 1
        sup.check()  # noticed: restart after the base delay
        world.now += POLICY.restart_delay
    sup.check()
    assert len(world.starts) == 21
    assert sup.slots[0].quick_failures == 0


def test_stop_kills_a_worker_that_ignores_sigterm() -> None:
    world = World()
    sup = Supervisor(world.spawn, 1, POLICY, clock=lambda: world.now)
    sup.check()
    stubborn = world.children[0]
    stubborn.send_signal = lambda sig: None  # type: ignore[method-assign]

    def wait(timeout: float | None = None) -> int:
        import subprocess

        if stubborn.returncode is None:
            raise subprocess.TimeoutExpired("worker", timeout or 0)
        return stubborn.returncode

    stubborn.wait = wait  # type: ignore[method-assign]
    sup.stop(timeout=0.1)
    assert stubborn.returncode == -9
