"""Keep N worker processes alive: restart with exponential back-off, give up on a crash loop.

The ``rhworker pool`` command wires this to real ``rhworker worker`` processes; the
spawn function, clock and sleep are injected so tests can drive it without them.

A worker that exits sooner than ``quick_failure_time`` after its start has a *quick
failure*; its next start waits ``restart_delay * 2**(quick failures - 1)`` (capped
by ``restart_max_delay``). After ``max_quick_failures`` quick failures in a row of
one worker the pool stops every worker and raises :class:`GaveUp`: a worker that
cannot start (store or lock backend unreachable, bad configuration) is reported
once, clearly, instead of being restarted forever. A worker that ran longer than
``quick_failure_time`` starts its count afresh.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from oslo_config import cfg

from rhworker.conf import pool as pool_conf
from rhworker.conf.mirror import from_group
from rhworker.errors import RhworkerError

LOG = logging.getLogger(__name__)

# Seconds between two looks at the children.
DEFAULT_TICK = 0.2


def rhworker_command() -> list[str]:
    """``python -P -m rhworker``: a child that imports the installed package, never a
    ``rhworker/`` folder that happens to be in the current directory (``-P``, Python
    3.11+, leaves the current directory off ``sys.path``; ``PYTHONPATH`` still counts)."""
    return [sys.executable, "-P", "-m", "rhworker"]


class GaveUp(RhworkerError):
    """A worker failed at start too many times in a row; the pool stopped."""


class Child(Protocol):
    """What the supervisor needs of a process (``subprocess.Popen`` has it)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...
    def send_signal(self, sig: int) -> None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def kill(self) -> None: ...


@dataclass(frozen=True)
class RestartPolicy:
    restart_delay: float = pool_conf.DEFAULT_RESTART_DELAY
    restart_max_delay: float = pool_conf.DEFAULT_RESTART_MAX_DELAY
    quick_failure_time: float = pool_conf.DEFAULT_QUICK_FAILURE_TIME
    max_quick_failures: int = pool_conf.DEFAULT_MAX_QUICK_FAILURES

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> RestartPolicy:
        return from_group(cls, conf.pool)

    def delay(self, quick_failures: int) -> float:
        """Seconds to wait before the next start of a worker with this many quick failures."""
        if quick_failures <= 0:
            return self.restart_delay
        return min(self.restart_delay * 2 ** (quick_failures - 1), self.restart_max_delay)


@dataclass
class _Slot:
    index: int
    child: Child | None = None
    started_at: float = 0.0
    quick_failures: int = 0
    next_start: float = 0.0


class Supervisor:
    def __init__(
        self,
        spawn: Callable[[int], Child],
        workers: int,
        policy: RestartPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
        tick: float = DEFAULT_TICK,
    ) -> None:
        self.spawn = spawn
        self.policy = policy
        self.clock = clock
        self.sleep = sleep
        self.tick = tick
        self.slots = [_Slot(i) for i in range(workers)]
        self.restarts = 0

    def run(self, stopping: Callable[[], bool]) -> None:
        """Supervise until ``stopping()`` is true; raises :class:`GaveUp` on a crash loop
        (the workers still running are stopped first by the caller's :meth:`stop`)."""
        while not stopping():
            self.check()
            self.sleep(self.tick)

    def check(self) -> None:
        """One look at every worker: notice exits, start the ones whose time has come."""
        now = self.clock()
        for slot in self.slots:
            child = slot.child
            if child is not None:
                code = child.poll()
                if code is None:
                    continue
                self._exited(slot, child, code, now)
            if now >= slot.next_start:
                slot.child = self.spawn(slot.index)
                slot.started_at = now
                LOG.info("worker %d started (pid %d)", slot.index, slot.child.pid)

    def _exited(self, slot: _Slot, child: Child, code: int, now: float) -> None:
        slot.child = None
        self.restarts += 1
        ran = now - slot.started_at
        if ran < self.policy.quick_failure_time:
            slot.quick_failures += 1
        else:
            slot.quick_failures = 0
        if slot.quick_failures >= self.policy.max_quick_failures:
            gave_up = GaveUp(
                f"worker {slot.index} exited {slot.quick_failures} times in a row within "
                f"{self.policy.quick_failure_time:g}s of its start (last exit code {code}); "
                "the pool gives up. `rhworker check` or `rhworker worker` shows why it cannot start"
            )
            LOG.error("%s", gave_up)  # for a log file too; the CLI prints it on stderr
            raise gave_up
        delay = self.policy.delay(slot.quick_failures)
        slot.next_start = now + delay
        LOG.warning(
            "worker %d (pid %d) exited with %s after %.1fs; restarting in %.1fs%s",
            slot.index,
            child.pid,
            code,
            ran,
            delay,
            f" (quick failure {slot.quick_failures} of {self.policy.max_quick_failures})"
            if slot.quick_failures
            else "",
        )

    def stop(self, timeout: float) -> None:
        """SIGTERM every live worker, wait up to ``timeout`` seconds, then SIGKILL."""
        live = [s.child for s in self.slots if s.child is not None and s.child.poll() is None]
        LOG.info("pool stopping %d workers", len(live))
        for child in live:
            child.send_signal(signal.SIGTERM)
        deadline = self.clock() + timeout
        for child in live:
            try:
                child.wait(max(deadline - self.clock(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
