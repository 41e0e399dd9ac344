"""The chaos runner: a storm of host failures while workers, Redis and ZooKeeper fail.

One run (``run_chaos(ChaosConfig(seed=N))``):

1. start Redis (AOF on, so a restart keeps the data), ZooKeeper when the seed uses
   it for locks, the simulator in this process, and a ``rhworker pool`` of worker
   processes with short leases and lock timeouts;
2. the storm: kill hosts of several segments and report them, spread over the storm
   window, while a seeded schedule injects faults (see :mod:`chaos_faults`): SIGKILL
   and SIGSTOP/SIGCONT of workers, Redis and ZooKeeper restarts, ZooKeeper stopped for
   a while (locks down), simulator 5xx and latency, evacuation failures, a reserved
   host losing capacity, store rollbacks (the store loses a few seconds of writes;
   lost notifications are reported again), and a partition that cuts one extra worker
   from the store while it still reaches Nova (see :mod:`chaos_partition`: its Nova
   changes past its lease are violations);
3. clear the faults, resume paused workers, wait until every notification is
   terminal (with a deadline), and run :func:`rhworker.verify.verify`.

Reserved hosts are a little scarcer than failures per segment, so some notifications
legitimately end ``failed`` ("no reserved host available").

CLI for long runs: ``python -m rhworker.testing.chaos --seed N [--long] [--failures N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import logging
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from rhworker.deployment import Deployment
from rhworker.errors import DuplicateNotification, HostOnMaintenance, StoreError
from rhworker.models import StepName
from rhworker.testing.chaos_faults import FaultInjector, Schedule
from rhworker.testing.chaos_partition import NovaPartition
from rhworker.testing.proxy import CuttableProxy
from rhworker.testing.servers import RedisServer, ZooKeeperServer
from rhworker.testing.sim_fixture import running_simulator
from rhworker.verify import VerifyReport, verify

LOG = logging.getLogger(__name__)

# Worker lease and tooz lock/session timeouts (seconds): short, so that pauses and
# kills are taken over quickly.
LEASE_TIMEOUT = 3.0
LOCK_TIMEOUT = 4
# A paused worker sleeps past both, plus a margin.
PAUSE_SECONDS = LEASE_TIMEOUT + LOCK_TIMEOUT + 1.5
# Dedup window the runner's own intake uses, so that an ambiguous intake retried
# after a Redis restart finds the first one instead of reporting twice.
INTAKE_DEDUP = 3600.0


@dataclasses.dataclass
class ChaosConfig:
    seed: int
    segments: int = 4
    failures: int = 48  # host failures in total, spread over the segments
    instances: int = 6  # servers per failing host
    spare_shortfall: int = 1  # reserved hosts per segment = failures per segment - this
    workers: int = 3
    storm_seconds: float = 40.0  # window for failures and faults
    extra_faults: int = 8  # faults beyond one of each kind
    quiescence_timeout: float = 180.0
    coordination: str | None = None  # redis | zookeeper; None: chosen by the seed
    evacuation_time: float = 0.2
    max_attempts: int = 10
    state_dir: str | None = None
    keep_state: bool = False

    @property
    def failures_per_segment(self) -> list[int]:
        base, extra = divmod(self.failures, self.segments)
        return [base + (i < extra) for i in range(self.segments)]

    @classmethod
    def long(cls, seed: int, failures: int | None = None) -> ChaosConfig:
        return cls(
            seed=seed,
            failures=failures or 120,
            instances=8,
            workers=4,
            storm_seconds=180.0,
            extra_faults=60,
            quiescence_timeout=600.0,
        )


@dataclasses.dataclass
class ChaosReport:
    seed: int
    coordination: str
    events: dict[str, int]
    skipped_events: dict[str, int]
    statuses: dict[str, int]
    reasons: dict[str, int]
    retried: int  # finished notifications that needed more than one delivery
    verify: VerifyReport
    all_terminal: bool
    wall_time: float
    timeline: list[str]
    state_dir: str
    # reserved hosts tried on their claim alone because the lock service was down
    lock_unavailable: int = 0
    # Nova changes a store-partitioned worker sent past its lease (chaos_partition).
    fence_violations: list[str] = dataclasses.field(default_factory=list)
    partition: str = ""

    @property
    def ok(self) -> bool:
        return self.all_terminal and self.verify.ok and not self.fence_violations

    def summary(self) -> str:
        lines = [
            f"chaos seed {self.seed} ({self.coordination} locks): "
            f"{'OK' if self.ok else 'FAILED'} in {self.wall_time:.1f}s",
            f"  events injected: {dict(sorted(self.events.items()))}",
        ]
        if self.skipped_events:
            lines.append(f"  events skipped: {dict(sorted(self.skipped_events.items()))}")
        lines.append(f"  final statuses: {dict(sorted(self.statuses.items()))}")
        for reason, count in sorted(self.reasons.items()):
            lines.append(f"    {count} x {reason}")
        lines.append(f"  finished after more than one delivery: {self.retried}")
        lines.append(f"  reserved hosts tried without their lock: {self.lock_unavailable}")
        lines.append(f"  all terminal: {self.all_terminal}")
        if self.partition:
            lines.append(f"  Nova-reaching partition: {self.partition}")
        lines.append(f"  fence violations: {len(self.fence_violations)}")
        lines += [f"    {v}" for v in self.fence_violations[:10]]
        lines.append("  " + self.verify.summary().replace("\n", "\n  "))
        return "\n".join(lines)


def build_cloud(config: ChaosConfig) -> tuple[dict[str, Any], list[str], list[str]]:
    """The cloud spec; the hosts that will fail, in segment order; the spares."""
    segments, servers, failing, spares = [], [], [], []
    for s, count in enumerate(config.failures_per_segment, start=1):
        hosts = [{"name": f"c{s}-{i}", "vcpus": 32, "memory_mb": 65536} for i in range(count + 1)]
        spare_names = [f"spare{s}-{j}" for j in range(max(count - config.spare_shortfall, 0))]
        hosts += [
            {"name": name, "vcpus": 32, "memory_mb": 65536, "reserved": True}
            for name in spare_names
        ]
        segments.append({"name": f"seg{s}", "recovery_method": "reserved_host", "hosts": hosts})
        failing += [f"c{s}-{i}" for i in range(1, count + 1)]  # c{s}-0 stays up
        spares += spare_names
        for i in range(count + 1):
            servers.append(
                {
                    "name": f"vm{s}-{i}",
                    "count": config.instances,
                    "host": f"c{s}-{i}",
                    "flavor": "small",
                    "metadata": {"HA_Enabled": "True"},
                }
            )
    spec = {
        "segments": segments,
        "flavors": [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}],
        "servers": servers,
    }
    return spec, failing, spares


@contextlib.contextmanager
def _servers(coordination: str) -> Iterator[tuple[RedisServer, ZooKeeperServer | None]]:
    redis = RedisServer(appendonly=True)
    zookeeper = ZooKeeperServer() if coordination == "zookeeper" else None
    try:
        redis.start()
        if zookeeper is not None:
            zookeeper.start(timeout=90)
        yield redis, zookeeper
    finally:
        if zookeeper is not None:
            zookeeper.stop()
        redis.stop()


@dataclasses.dataclass(frozen=True)
class Storm:
    """What one storm runs against: the settings, the servers it started, the
    deployment and the cloud's failing hosts and spares."""

    config: ChaosConfig
    rng: random.Random
    coordination: str  # redis | zookeeper
    deployment: Deployment
    sim: Any
    redis: RedisServer
    zookeeper: ZooKeeperServer | None
    failing: list[str]
    spares: list[str]
    started: float  # monotonic, when the run began


def run_chaos(config: ChaosConfig) -> ChaosReport:
    rng = random.Random(config.seed)
    coordination = config.coordination or ("zookeeper" if config.seed % 2 else "redis")
    state_dir = config.state_dir or tempfile.mkdtemp(prefix=f"rhworker-chaos-{config.seed}-")
    started = time.monotonic()
    spec, failing, spares = build_cloud(config)
    try:
        with (
            _servers(coordination) as (redis, zookeeper),
            running_simulator(spec, evacuation_time=config.evacuation_time) as sim,
        ):
            deployment = _deployment(config, sim, redis.url, redis, zookeeper, state_dir)
            deployment.load_inventory(spec)
            storm = Storm(
                config,
                rng,
                coordination,
                deployment,
                sim,
                redis,
                zookeeper,
                failing,
                spares,
                started,
            )
            try:
                return _storm(storm)
            finally:
                deployment.close()
    finally:
        if not config.keep_state:
            shutil.rmtree(state_dir, ignore_errors=True)


def _deployment(
    config: ChaosConfig,
    sim: Any,
    via: str,
    redis: RedisServer,
    zookeeper: ZooKeeperServer | None,
    state_dir: str,
    compute: dict[str, Any] | None = None,
) -> Deployment:
    """A deployment whose store (and Redis locks) are reached at ``via`` (Redis's
    URL, or a proxy's in front of it)."""
    if zookeeper is not None:
        coordination_url = f"{zookeeper.url}?timeout={LOCK_TIMEOUT}"
    else:
        coordination_url = (
            f"{via}?timeout={LOCK_TIMEOUT}&lock_timeout={LOCK_TIMEOUT}"
            f"&membership_timeout={LOCK_TIMEOUT}"
        )
    return Deployment(
        sim.compute_url,
        store_url=f"{via}/0?prefix=chaos{config.seed}",
        coordination_url=coordination_url,
        state_dir=state_dir,
        options={
            "worker": {"lease_timeout": LEASE_TIMEOUT, "max_attempts": config.max_attempts},
            "coordination": {"call_timeout": 3.0, "heartbeat_interval": 0.5},
            # the storm (48 failures in 40 s) is past the cloud brake's 20 per 5 minutes;
            # it tests recovery under faults, the brake is tested on its own
            "brake": {"enabled": False},
            "compute": {"api_timeout": 10.0, **(compute or {})},
        },
    )


def _partition(storm: Storm, proxy: CuttableProxy) -> NovaPartition:
    """One more worker, whose store (and Redis locks) go through ``proxy``."""
    deployment = _deployment(
        storm.config,
        storm.sim,
        f"redis://127.0.0.1:{proxy.port}",
        storm.redis,
        storm.zookeeper,
        f"{storm.deployment.state_dir}/partitioned",
        # the defaults: a retry deadline far longer than the lease
        compute={"retry_deadline": 60.0},
    )
    return NovaPartition(deployment, proxy, LEASE_TIMEOUT)


def _storm(storm: Storm) -> ChaosReport:
    pool = storm.deployment.start_worker_process(pool=storm.config.workers)
    proxy = CuttableProxy(storm.redis.port).start()
    partition = _partition(storm, proxy)
    try:
        partition.start()
        return _storm_with(storm, pool, partition)
    finally:
        partition.heal()
        partition.deployment.close()
        proxy.stop()


def _storm_with(storm: Storm, pool: Any, partition: NovaPartition) -> ChaosReport:
    config, rng, deployment, sim = storm.config, storm.rng, storm.deployment, storm.sim
    failing, spares = storm.failing, storm.spares
    servers_of: dict[str, list[str]] = {}
    for s in sim.state()["servers"]:
        servers_of.setdefault(s["host"], []).append(s["id"])
    storm_start = time.monotonic()

    def clock() -> float:
        return time.monotonic() - storm_start

    schedule = Schedule()
    injector = FaultInjector(
        rng=rng,
        schedule=schedule,
        sim=sim,
        pool_pid=lambda: pool.pid,
        redis=storm.redis,
        zookeeper=storm.zookeeper,
        pause_seconds=PAUSE_SECONDS,
        servers_of_failures=[sid for h in failing for sid in servers_of.get(h, [])],
        spares=list(spares),
        clock=clock,
        partition=partition,
        store=deployment.store,
        store_url=deployment.store_url,
        on_rollback=lambda: _report_again(deployment, sim, failing, accepted),
    )
    accepted: list[str] = []
    order = list(failing)
    rng.shuffle(order)
    window = config.storm_seconds * 0.7
    for host in order:
        schedule.add(
            rng.uniform(0.5, window),
            f"fail {host}",
            functools.partial(_fail_and_record, deployment, sim, host, accepted),
        )
    kinds = injector.available_kinds()
    kinds += [rng.choice(kinds) for _ in range(config.extra_faults)]
    for kind in kinds:
        schedule.add(
            rng.uniform(1.0, config.storm_seconds), kind, functools.partial(injector.inject, kind)
        )
    while len(schedule):
        next_at = schedule.next_at() or 0.0
        time.sleep(max(0.0, min(next_at - clock(), 0.5)))
        for action in schedule.pop_due(clock()):
            action.run()
    injector.resume_all()
    sim.clear_faults()
    all_terminal = _wait_quiet(deployment, accepted, config.quiescence_timeout)
    report = _retrying(
        lambda: verify(deployment.store, sim.state(), accepted_ids=accepted, spares=spares)
    )
    requests = sim.requests()
    notifications = _retrying(deployment.store.list_notifications)
    statuses = Counter(n.status.value for n in notifications)
    reasons = Counter(
        (n.progress.reason or "")[:80] for n in notifications if n.status.value == "failed"
    )
    return ChaosReport(
        seed=config.seed,
        coordination=storm.coordination,
        events=dict(injector.events),
        skipped_events=dict(injector.skipped),
        statuses=dict(statuses),
        reasons=dict(reasons),
        retried=sum(n.status.value == "finished" and n.attempts > 1 for n in notifications),
        verify=report,
        all_terminal=all_terminal,
        wall_time=time.monotonic() - storm.started,
        timeline=injector.timeline,
        state_dir=deployment.state_dir,
        lock_unavailable=sum(
            s.name == StepName.LOCK_UNAVAILABLE for n in notifications for s in n.progress.steps
        ),
        fence_violations=partition.violations(requests),
        partition=partition.summary(requests),
    )


def _retrying(call: Any, deadline: float = 60.0) -> Any:
    """Call, retrying store outages (a Redis restart) until ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        try:
            return call()
        except StoreError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def _fail_and_record(deployment: Deployment, sim: Any, host: str, accepted: list[str]) -> None:
    accepted.append(_fail_host(deployment, sim, host))


def _report_again(deployment: Deployment, sim: Any, failing: list[str], accepted: list[str]) -> str:
    """After a store rollback: report every host that is down again, as a host
    monitor keeps doing while a host stays down. A notification the store still has
    is found by the duplicate window; a lost one is accepted anew and replaces it."""
    down = {h["name"] for h in sim.state()["hosts"] if not h.get("alive")}
    before = set(accepted)
    accepted[:] = [_report(deployment, host) for host in failing if host in down]
    lost = before - set(accepted)
    return f"{len(lost)} notification(s) lost by the rollback reported again"


def _fail_host(deployment: Deployment, sim: Any, host: str) -> str:
    """Kill the host in the simulator and report it, as a monitor would."""
    sim.kill_host(host)
    return _report(deployment, host)


def _report(deployment: Deployment, host: str) -> str:
    """Report a failed host (retried through store outages)."""
    payload = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}

    def intake() -> str:
        try:
            n = deployment.store.create_notification(
                "COMPUTE_HOST", host, payload, dedup_interval=INTAKE_DEDUP
            )
            return n.id
        except DuplicateNotification as e:  # an ambiguous first try did get in
            return e.existing_id
        except HostOnMaintenance:
            # Refused as Masakari does: the host is on maintenance because a report of
            # it is (or was) being recovered — outside the duplicate window, e.g. a
            # re-report after a rollback. That report stands for this one.
            known = deployment.store.list_notifications(hostname=host, type="COMPUTE_HOST")
            if not known:
                raise
            return max(known, key=lambda n: n.created_at).id

    return str(_retrying(intake))


def _wait_quiet(deployment: Deployment, ids: list[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(n.status.terminal for n in deployment.notifications(ids)):
                return True
        except StoreError:
            pass
        time.sleep(0.25)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rhworker.testing.chaos")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--long", action="store_true", help="a soak run (minutes)")
    parser.add_argument("--failures", type=int, help="host failures in total")
    parser.add_argument("--workers", type=int, help="worker processes in the pool")
    parser.add_argument("--coordination", choices=["redis", "zookeeper"])
    parser.add_argument("--keep-state", action="store_true", help="keep logs and config")
    parser.add_argument("--timeline", action="store_true", help="print every injected event")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING)
    config = ChaosConfig.long(args.seed, args.failures) if args.long else ChaosConfig(args.seed)
    if args.failures and not args.long:
        config.failures = args.failures
    if args.workers:
        config.workers = args.workers
    config.coordination = args.coordination
    config.keep_state = args.keep_state
    report = run_chaos(config)
    if args.timeline:
        print("\n".join(report.timeline))
    print(report.summary())
    if args.keep_state:
        print(f"  state kept in {report.state_dir}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
