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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rhworker.store.base import Store
    from rhworker.testing.chaos_partition import NovaPartition

from rhworker.testing import rollback

LOG = logging.getLogger(__name__)

# Every kind the runner can inject; each seed gets each available kind at least once.
FAULT_KINDS = (
    "worker_kill",
    "worker_pause",
    "redis_restart",
    "zookeeper_restart",
    "locks_down",
    "sim_errors",
    "sim_latency",
    "fail_evacuation",
    "lose_capacity",
    "nova_partition",
    "store_rollback",
)
# Kinds that act on the ZooKeeper lock service: only for seeds that lock with it (with
# Redis locks the lock service is the store's server too).
ZOOKEEPER_KINDS = frozenset({"zookeeper_restart", "locks_down"})
# Seconds the lock service stays stopped in a locks_down fault.
LOCKS_DOWN_SECONDS = (6.0, 12.0)
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
        partition: NovaPartition | None = None,
        store: Store | None = None,
        store_url: str | None = None,
        on_rollback: Callable[[], str] | None = None,
    ) -> None:
        self.partition = partition
        self.store = store  # reached directly (not through the partition's proxy)
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
        self.locks_are_down = False
        self._locks_back_at = 0.0

    def available_kinds(self) -> list[str]:
        return [
            k
            for k in FAULT_KINDS
            if (k not in ZOOKEEPER_KINDS or self.zookeeper is not None)
            and (k != "nova_partition" or self.partition is not None)
            and (k != "store_rollback" or self.store_url is not None)
        ]

    def inject(self, kind: str) -> None:
        if kind in ZOOKEEPER_KINDS and self.locks_are_down:
            # ZooKeeper is stopped by a locks_down fault: act once it is back.
            at = self._locks_back_at + 0.5
            self.schedule.add(at, f"{kind} (postponed)", lambda: self.inject(kind))
            self.timeline.append(f"{self.clock():7.2f} {kind}: postponed to {at:.2f}s")
            return
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
        self.locks_up()
        self.heal_partition()

    # -- the Nova-reaching partition (see chaos_partition) ------------------------------------
    def nova_partition(self) -> str | None:
        """Armed now; the cut comes when the worker holds a delivery and is changing
        something in Nova (within 20 s), so that it loses the store mid-work."""
        if self.partition is None or self.partition.busy:
            return None
        self._try_partition(self.clock() + 20.0)
        pid = self.partition.worker.pid if self.partition.worker else "?"
        return f"armed: cut worker pid {pid} from the store when it next acts on Nova"

    def _try_partition(self, deadline: float) -> None:
        partition = self.partition
        if partition is None or partition.busy:
            return
        acting = partition.acting(self.sim, self.store) if self.store is not None else False
        if not acting and self.clock() < deadline:
            self.schedule.add(
                self.clock() + 0.2, "arm the partition", lambda: self._try_partition(deadline)
            )
            return
        # Nova answers 503 first, so that the worker is in its retry loops when, a
        # moment later, it loses the store.
        partition.storm(self.sim)
        self.schedule.add(self.clock() + 0.5, "cut the partition", partition.cut)
        self.schedule.add(
            self.clock() + 0.5 + self.pause_seconds, "heal the partition", self.heal_partition
        )
        self._note(
            f"partition: Nova answering 503 to changes, store cut in 0.5s for "
            f"{self.pause_seconds:.1f}s ({'while' if acting else 'although not'} acting)"
        )

    def heal_partition(self) -> None:
        if self.partition is not None and self.partition.is_cut:
            self.partition.heal()
            self._note("partition healed")

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

    def locks_down(self) -> str | None:
        """Stop ZooKeeper for a while: workers must go on with the store's claims
        alone (and say so in the histories); it comes back on its own schedule."""
        if self.zookeeper is None:
            return None
        lasting = self.rng.uniform(*LOCKS_DOWN_SECONDS)
        self.zookeeper.kill()
        self.locks_are_down = True
        self._locks_back_at = self.clock() + lasting
        self.schedule.add(self._locks_back_at, "ZooKeeper back", self.locks_up)
        return f"ZooKeeper stopped for {lasting:.1f}s (lock service down)"

    def locks_up(self) -> None:
        if self.zookeeper is None or not self.locks_are_down:
            return
        started = time.monotonic()
        self.zookeeper.start(timeout=90)
        self.locks_are_down = False
        self._note(f"ZooKeeper started again in {time.monotonic() - started:.1f}s")

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
