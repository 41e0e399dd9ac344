"""The faults the chaos runner injects, and a seeded schedule of them.

Each fault is a method of :class:`FaultInjector` named after its kind; some schedule
their own undo (SIGCONT, clearing an evacuation failure, giving capacity back). The
runner executes :class:`Action` items from a time-ordered queue.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from rhworker.testing import rollback

LOG = logging.getLogger(__name__)

# Every kind the runner can inject; each seed gets each available kind at least once.
FAULT_KINDS = (
    "worker_kill",
    "worker_pause",
    "redis_restart",
    "zookeeper_restart",
    "sim_errors",
    "sim_latency",
    "fail_evacuation",
    "lose_capacity",
    "store_rollback",
)
# Seconds of writes a store rollback loses (from its snapshot to its restore).
ROLLBACK_SECONDS = (1.0, 4.0)
# Paths hit by the injected 5xx answers (regular expressions on the request path).
ERROR_PATHS = ("/servers", "/os-services", "/servers/[^/]+/action")


@dataclasses.dataclass(order=True)
class Action:
    at: float  # seconds since the storm started
    seq: int
    label: str = dataclasses.field(compare=False)
    run: Callable[[], None] = dataclasses.field(compare=False)


class Schedule:
    """A time-ordered queue of actions."""

    def __init__(self) -> None:
        self._heap: list[Action] = []
        self._seq = 0

    def add(self, at: float, label: str, run: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, Action(at, self._seq, label, run))

    def next_at(self) -> float | None:
        return self._heap[0].at if self._heap else None

    def pop_due(self, now: float) -> list[Action]:
        due = []
        while self._heap and self._heap[0].at <= now:
            due.append(heapq.heappop(self._heap))
        return due

    def __len__(self) -> int:
        return len(self._heap)


def child_pids(parent: int) -> list[int]:
    """Live children of ``parent``, from /proc (no psutil)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: split after it
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[0] != "Z" and int(fields[1]) == parent:
            found.append(int(entry))
    return sorted(found)


class FaultInjector:
    """Injects one fault of a kind, recording what it did in ``events``."""

    def __init__(
        self,
        *,
        rng: random.Random,
        schedule: Schedule,
        sim: Any,
        pool_pid: Callable[[], int],
        redis: Any,
        zookeeper: Any | None,
        pause_seconds: float,
        servers_of_failures: list[str],
        spares: list[str],
        clock: Callable[[], float],
        store_url: str | None = None,
        on_rollback: Callable[[], str] | None = None,
    ) -> None:
        self.rng = rng
        self.schedule = schedule
        self.sim = sim
        self.pool_pid = pool_pid
        self.redis = redis
        self.zookeeper = zookeeper
        self.pause_seconds = pause_seconds
        self.servers_of_failures = servers_of_failures
        self.spares = spares
        self.clock = clock
        self.store_url = store_url
        self.on_rollback = on_rollback
        self.events: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.timeline: list[str] = []
        self.paused: set[int] = set()
        self._failing_servers: set[str] = set()

    def available_kinds(self) -> list[str]:
        return [
            k
            for k in FAULT_KINDS
            if (k != "zookeeper_restart" or self.zookeeper is not None)
            and (k != "store_rollback" or self.store_url is not None)
        ]

    def inject(self, kind: str) -> None:
        try:
            detail = getattr(self, kind)()
        except Exception:
            LOG.exception("chaos: injecting %s failed", kind)
            self.skipped[kind] += 1
            self.timeline.append(f"{self.clock():7.2f} {kind}: FAILED to inject")
            return
        if detail is None:
            self.skipped[kind] += 1
            self.timeline.append(f"{self.clock():7.2f} {kind}: skipped (nothing to act on)")
            return
        self.events[kind] += 1
        self.timeline.append(f"{self.clock():7.2f} {kind}: {detail}")
        LOG.info("chaos: %s %s", kind, detail)

    def _note(self, text: str) -> None:
        self.timeline.append(f"{self.clock():7.2f}   {text}")

    # -- workers ----------------------------------------------------------------------------
    def _pick_worker(self) -> int | None:
        candidates = [p for p in child_pids(self.pool_pid()) if p not in self.paused]
        return self.rng.choice(candidates) if candidates else None

    def worker_kill(self) -> str | None:
        pid = self._pick_worker()
        if pid is None:
            return None
        os.kill(pid, signal.SIGKILL)
        return f"SIGKILL worker pid {pid}"

    def worker_pause(self) -> str | None:
        pid = self._pick_worker()
        if pid is None:
            return None
        os.kill(pid, signal.SIGSTOP)
        self.paused.add(pid)
        self.schedule.add(
            self.clock() + self.pause_seconds, f"SIGCONT {pid}", lambda: self.cont(pid)
        )
        return f"SIGSTOP worker pid {pid} for {self.pause_seconds:.1f}s"

    def cont(self, pid: int) -> None:
        self.paused.discard(pid)
        try:
            os.kill(pid, signal.SIGCONT)
            self._note(f"SIGCONT worker pid {pid}")
        except ProcessLookupError:
            self._note(f"worker pid {pid} gone before SIGCONT")

    def resume_all(self) -> None:
        for pid in list(self.paused):
            self.cont(pid)

    # -- servers -------------------------------------------------------------------------------
    def redis_restart(self) -> str:
        started = time.monotonic()
        self.redis.restart()
        return f"Redis killed and restarted in {time.monotonic() - started:.1f}s (AOF kept)"

    def zookeeper_restart(self) -> str | None:
        if self.zookeeper is None:
            return None
        started = time.monotonic()
        self.zookeeper.restart(timeout=90)
        return f"ZooKeeper killed and restarted in {time.monotonic() - started:.1f}s"

    # -- simulator -----------------------------------------------------------------------------
    def sim_errors(self) -> str:
        path = self.rng.choice(ERROR_PATHS)
        count = self.rng.randint(10, 30)
        self.sim.inject(type="error", path=path, rate=0.1, status=500, count=count)
        return f"10% HTTP 500 on {path} (at most {count})"

    def sim_latency(self) -> str:
        seconds = round(self.rng.uniform(0.5, 2.0), 2)
        count = self.rng.randint(5, 20)
        self.sim.inject(type="latency", seconds=seconds, rate=0.3, count=count)
        return f"latency spike +{seconds}s on 30% of requests (at most {count})"

    def fail_evacuation(self) -> str | None:
        choices = [s for s in self.servers_of_failures if s not in self._failing_servers]
        if not choices:
            return None
        servers = self.rng.sample(choices, min(len(choices), self.rng.randint(1, 3)))
        for sid in servers:
            self.sim.inject(type="fail_evacuation", server=sid)
        self._failing_servers.update(servers)
        lasting = self.rng.uniform(2.0, 6.0)
        self.schedule.add(
            self.clock() + lasting, "clear fail_evacuation", lambda: self._clear_failing(servers)
        )
        return f"evacuations of {len(servers)} servers fail for {lasting:.1f}s"

    def _clear_failing(self, servers: list[str]) -> None:
        # The simulator clears state faults only all at once: clear, then put back the
        # evacuation failures still due (request faults expire by their own count).
        self._failing_servers.difference_update(servers)
        capacity_lost = [h["name"] for h in self.sim.state()["hosts"] if h["capacity_lost"]]
        self.sim.clear_faults()
        for sid in self._failing_servers:
            self.sim.inject(type="fail_evacuation", server=sid)
        for name in capacity_lost:
            self.sim.inject(type="lose_capacity", host=name)
        self._note(f"evacuation failures cleared for {len(servers)} servers")

    def lose_capacity(self) -> str | None:
        if not self.spares:
            return None
        host = self.rng.choice(self.spares)
        self.sim.inject(type="lose_capacity", host=host)
        lasting = self.rng.uniform(2.0, 6.0)
        self.schedule.add(
            self.clock() + lasting, f"capacity back {host}", lambda: self._restore(host)
        )
        return f"reserved host {host} loses its capacity for {lasting:.1f}s"

    def _restore(self, host: str) -> None:
        self.sim.inject(type="lose_capacity", host=host, lost=False)
        self._note(f"capacity of {host} restored")

    # -- the store loses writes ------------------------------------------------------------
    def store_rollback(self) -> str | None:
        """Snapshot the store now and put it back a few seconds later: the store loses
        every write in between, as after a Redis crash with ``appendfsync everysec``
        or a lagging replica promoted (docs/safety.md, "Claims and epochs")."""
        if self.store_url is None:
            return None
        url = self.store_url
        taken = _patiently(lambda: rollback.snapshot(url))
        lag = self.rng.uniform(*ROLLBACK_SECONDS)
        self.schedule.add(
            self.clock() + lag, "restore snapshot", lambda: self._roll_back(taken, lag)
        )
        return f"store snapshot taken; restored in {lag:.1f}s (those writes are lost)"

    def _roll_back(self, taken: rollback.Snapshot, lag: float) -> None:
        try:
            count = _patiently(taken.restore)
        except Exception as e:  # recorded in the timeline, the run goes on
            self._note(f"store rollback FAILED to restore: {e}")
            return
        finally:
            taken.discard()
        self._note(f"store rolled back {lag:.1f}s ({count} keys/pages restored)")
        if self.on_rollback is not None:
            self._note(self.on_rollback())


def _patiently(call: Callable[[], Any], seconds: float = 15.0) -> Any:
    """Call, retrying connection errors (Redis may be restarting) for ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except Exception:  # redis and sqlite errors alike; re-raised late
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
