"""Shared pieces of the benchmark scenarios: clouds, deployments, workers, statistics.

Every scenario runs the simulator in this process (real HTTP on a free loopback
port) and workers as real processes (:mod:`benchmarks.worker_proc`: the same
``build_worker`` wiring and config file as ``rhworker worker``, plus a counting
store proxy), except the profile, which runs its workers in-process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

from rhworker.deployment import Deployment
from rhworker.models import Notification, StepName
from rhworker.testing.sim_fixture import running_simulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAVORS = [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}]
# The deployment harness's fast settings (seconds); reported with the results.
VERIFY_INTERVAL = 0.02


@dataclasses.dataclass(frozen=True)
class Backend:
    """Store and coordination URLs; ``None`` means the embedded default."""

    name: str = "sqlite+file"
    store_url: str | None = None
    coordination_url: str | None = None

    def urls(self) -> tuple[str | None, str | None]:
        store = self.store_url
        if store and store.startswith("redis://"):
            # A fresh key prefix per deployment: one Redis server serves many runs.
            store = f"{store}/0?prefix=b{uuid.uuid4().hex[:8]}"
        return store, self.coordination_url


EMBEDDED = Backend()


def cloud(
    *,
    failures: int,
    servers_per_host: int,
    segments: int = 1,
    spares_per_segment: int | None = None,
    spare_vcpus: int = 64,
) -> tuple[dict[str, Any], list[str]]:
    """A cloud of ``segments`` reserved-host segments; returns (spec, failing hosts).

    ``failures`` computes (spread evenly over the segments) each run
    ``servers_per_host`` servers; each segment has ``spares_per_segment`` reserved
    hosts (default: one per failing compute of that segment).
    """
    per_segment = -(-failures // segments)
    spares = per_segment if spares_per_segment is None else spares_per_segment
    segs: list[dict[str, Any]] = []
    servers: list[dict[str, Any]] = []
    failing: list[str] = []
    for s in range(1, segments + 1):
        computes = [f"s{s}-c{i:03d}" for i in range(1, per_segment + 1)]
        computes = computes[: max(0, failures - len(failing))]
        failing += computes
        hosts = [{"name": c, "vcpus": 64, "memory_mb": 65536} for c in computes]
        hosts += [
            {"name": f"s{s}-r{i:03d}", "vcpus": spare_vcpus, "memory_mb": 65536, "reserved": True}
            for i in range(1, spares + 1)
        ]
        segs.append({"name": f"seg{s}", "recovery_method": "reserved_host", "hosts": hosts})
        servers += [
            {"name": f"vm-{c}", "count": servers_per_host, "host": c, "flavor": "small"}
            for c in computes
        ]
    return {"segments": segs, "flavors": FLAVORS, "servers": servers}, failing


@contextlib.contextmanager
def deployment(
    spec: dict[str, Any],
    *,
    backend: Backend = EMBEDDED,
    sim_options: dict[str, Any] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    latency: float = 0.0,
) -> Iterator[tuple[Deployment, Any]]:
    """A simulator loaded with ``spec`` and a deployment whose inventory is ``spec``."""
    with running_simulator(spec, **(sim_options or {})) as sim:
        if latency:
            sim.inject(type="latency", seconds=latency)
        store_url, coordination_url = backend.urls()
        d = Deployment(
            sim.compute_url,
            store_url=store_url,
            coordination_url=coordination_url,
            # storms of tens of failures are past the mass-failure brake: off unless asked
            options={"brake": {"enabled": False}, **(options or {})},
        )
        try:
            d.load_inventory(spec)
            yield d, sim
        finally:
            d.close()


# A zero-latency request fault that fires this many times counts the Nova calls.
_COUNTER = 10**12


def start_request_counter(sim: Any) -> int:
    """Count every request the simulator serves from now on; returns the fault id."""
    return int(sim.inject(type="latency", seconds=0.0, count=_COUNTER)["id"])


def requests_served(sim: Any, counter: int) -> int:
    faults = sim.cloud.request_faults.list()
    remaining = next((f["count"] for f in faults if f["id"] == counter), 0)
    return int(_COUNTER - remaining)


# -- worker processes ---------------------------------------------------------------------


@dataclasses.dataclass
class WorkerProc:
    proc: subprocess.Popen
    counts_path: str


def start_workers(
    d: Deployment, count: int, concurrency: int | None = None, *extra: str
) -> list[WorkerProc]:
    """Start ``count`` counting worker processes and wait until each consumes."""
    started = []
    for _ in range(count):
        index = len(d.processes)
        counts = os.path.join(d.state_dir, f"counts-{index}.json")
        cmd = [sys.executable, "-m", "benchmarks.worker_proc", "--config-file", d.conf_path]
        cmd += ["--counts-out", counts]
        if concurrency:
            cmd += ["--concurrency", str(concurrency)]
        cmd += extra
        started.append(WorkerProc(d.start_process(cmd, cwd=ROOT), counts))
    d.wait_for(
        lambda: all(os.path.exists(w.counts_path + ".ready") for w in started) or _died(started),
        120,
        "worker processes to start",
    )
    if _died(started):
        raise RuntimeError(f"a worker process exited at start; see logs in {d.state_dir}")
    return started


def _died(workers: list[WorkerProc]) -> bool:
    return any(w.proc.poll() is not None for w in workers)


def stop_workers(d: Deployment, workers: list[WorkerProc]) -> dict[str, int]:
    """Stop every process of ``d``; the summed store call counts of ``workers``."""
    d.stop_processes()
    summed: dict[str, int] = {}
    for w in workers:
        try:
            with open(w.counts_path) as f:
                for name, n in json.load(f).items():
                    summed[name] = summed.get(name, 0) + n
        except (OSError, ValueError):
            pass  # killed before it could write
    return summed


def wait_all_terminal(d: Deployment, ids: list[str], timeout: float) -> list[Notification]:
    """Poll cheaply (one list call) until every notification is terminal."""
    wanted = set(ids)

    def done() -> bool:
        listed = d.store.list_notifications()
        return sum(1 for n in listed if n.id in wanted and n.status.terminal) == len(wanted)

    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"notifications not terminal after {timeout}s ({d.state_dir})")
        time.sleep(0.2)
    return d.notifications(ids)


# -- statistics ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# Steps counted per run (the "steps" of a result: lock and claim contention).
COUNTED_STEPS = (StepName.CLAIMED, StepName.LOCK_SKIPPED, StepName.CLAIM_LOST, StepName.RESUMED)


def notification_stats(notifications: list[Notification], t0: float) -> dict[str, Any]:
    """Drain time, per-notification times, statuses and lock/claim counts."""
    durations: list[float] = []
    queued: list[float] = []
    statuses: dict[str, int] = {}
    steps: dict[str, int] = {name.value: 0 for name in COUNTED_STEPS}
    for n in notifications:
        statuses[n.status.value] = statuses.get(n.status.value, 0) + 1
        delivered = [s.at for s in n.progress.steps if s.name == StepName.DELIVERED]
        if delivered:
            durations.append(n.updated_at - delivered[0])
            queued.append(delivered[0] - n.created_at)
        for s in n.progress.steps:
            if s.name in steps:
                steps[s.name] += 1
    end = max((n.updated_at for n in notifications), default=t0)
    drain = end - t0
    claims = steps[StepName.CLAIMED]
    attempts = claims + steps[StepName.LOCK_SKIPPED] + steps[StepName.CLAIM_LOST]
    return {
        "count": len(notifications),
        "statuses": statuses,
        "drain_s": round(drain, 3),
        "per_s": round(len(notifications) / drain, 2) if drain > 0 else None,
        "p50_s": _r(percentile(durations, 0.5)),
        "p95_s": _r(percentile(durations, 0.95)),
        "p99_s": _r(percentile(durations, 0.99)),
        "queue_wait_p50_s": _r(percentile(queued, 0.5)),
        "steps": steps,
        "lock_attempts_per_claim": round(attempts / claims, 2) if claims else None,
        "skips_per_claim": round((attempts - claims) / claims, 2) if claims else None,
    }


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def log_progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
