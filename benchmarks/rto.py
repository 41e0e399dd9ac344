"""RTO of one failed host, and its floor.

RTO: one worker process is idle and ready; the host dies; ``notify`` → the
notification ``finished`` (its last update) and → the last server ACTIVE on its new
host (polled from the simulator every 20 ms).
overhead = RTO − E × ceil(M / parallelism).

Floor: :mod:`benchmarks.floor` recovers the same cloud straight-line, sequentially
and with the same parallelism; efficiency = floor time / engine time.
"""

from __future__ import annotations

import math
import time
from typing import Any

from benchmarks import floor
from benchmarks.common import (
    EMBEDDED,
    VERIFY_INTERVAL,
    Backend,
    deployment,
    log_progress,
    requests_served,
    start_request_counter,
    start_workers,
    stop_workers,
)
from rhworker.models import StepName

FAILED = "c-1"
SPARE = "r-1"


def rto_cloud(servers: int) -> dict[str, Any]:
    hosts = [
        {"name": FAILED, "vcpus": 64, "memory_mb": 65536},
        {"name": "c-2", "vcpus": 64, "memory_mb": 65536},
        {"name": SPARE, "vcpus": 64, "memory_mb": 65536, "reserved": True},
        {"name": "r-2", "vcpus": 64, "memory_mb": 65536, "reserved": True},
    ]
    return {
        "segments": [{"name": "seg", "recovery_method": "reserved_host", "hosts": hosts}],
        "flavors": [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}],
        "servers": [
            {"name": "vm", "count": servers, "host": FAILED, "flavor": "small"},
            {"name": "other", "count": 2, "host": "c-2", "flavor": "small"},
        ],
    }


def _all_moved(sim: Any, names: set[str]) -> bool:
    servers = [s for s in sim.state()["servers"] if s["name"] in names]
    return all(s["host"] != FAILED and s["status"] == "ACTIVE" for s in servers)


# The shipped defaults of the two polling intervals (the harness uses 0.05 / 0.02 s).
SHIPPED_INTERVALS = {"worker": {"poll_interval": 0.5}, "host_failure": {"verify_interval": 1.0}}


def run_engine(
    servers: int,
    evacuation_time: float,
    parallelism: int,
    backend: Backend = EMBEDDED,
    shipped_intervals: bool = False,
) -> dict[str, Any]:
    spec = rto_cloud(servers)
    options: dict[str, dict[str, Any]] = {
        "host_failure": {"host_failure_recovery_threads": parallelism}
    }
    if shipped_intervals:
        options["worker"] = dict(SHIPPED_INTERVALS["worker"])
        options["host_failure"].update(SHIPPED_INTERVALS["host_failure"])
    with deployment(
        spec, backend=backend, sim_options={"evacuation_time": evacuation_time}, options=options
    ) as (d, sim):
        names = {s["name"] for s in sim.state()["servers"] if s["host"] == FAILED}
        workers = start_workers(d, 1)
        sim.kill_host(FAILED)
        counter = start_request_counter(sim)
        t0 = time.time()
        nid = d.notify(FAILED)
        deadline = time.monotonic() + 120 + servers * evacuation_time
        while not _all_moved(sim, names):
            if time.monotonic() > deadline:
                raise TimeoutError("servers not ACTIVE on a new host in time")
            time.sleep(0.02)
        active = time.time() - t0
        (n,) = d.wait_terminal([nid], timeout=60)
        calls = requests_served(sim, counter)
        stop_workers(d, workers)
    ideal = evacuation_time * math.ceil(servers / parallelism)
    finished = n.updated_at - t0
    delivered = next((s.at for s in n.progress.steps if s.name == StepName.DELIVERED), t0)
    result = {
        "backend": backend.name,
        "servers": servers,
        "evacuation_time": evacuation_time,
        "parallelism": parallelism,
        "intervals": "shipped (0.5 / 1.0 s)" if shipped_intervals else "fast (0.05 / 0.02 s)",
        "status": n.status.value,
        "ideal_s": round(ideal, 3),
        "pickup_s": round(delivered - t0, 3),
        "rto_active_s": round(active, 3),
        "rto_finished_s": round(finished, 3),
        "overhead_s": round(finished - ideal, 3),
        "nova_calls": calls,
    }
    log_progress(f"rto {backend.name} p={parallelism}: {result}")
    return result


def run_floor(servers: int, evacuation_time: float, parallelism: int) -> dict[str, Any]:
    spec = rto_cloud(servers)
    with deployment(spec, sim_options={"evacuation_time": evacuation_time}) as (d, sim):
        sim.kill_host(FAILED)
        counter = start_request_counter(sim)
        elapsed = floor.run_one(sim.compute_url, FAILED, SPARE, parallelism, VERIFY_INTERVAL)
        calls = requests_served(sim, counter)
    ideal = evacuation_time * math.ceil(servers / parallelism)
    result = {
        "servers": servers,
        "evacuation_time": evacuation_time,
        "parallelism": parallelism,
        "floor_s": round(elapsed, 3),
        "ideal_s": round(ideal, 3),
        "overhead_s": round(elapsed - ideal, 3),
        "nova_calls": calls,
    }
    log_progress(f"floor p={parallelism}: {result}")
    return result


def sizes(quick: bool) -> tuple[int, float, list[int]]:
    """(servers, evacuation time, parallelisms)."""
    return (4, 0.2, [3]) if quick else (20, 2.0, [3, 10])


def scenario(quick: bool) -> dict[str, Any]:
    servers, evac, parallelisms = sizes(quick)
    runs = [run_engine(servers, evac, p) for p in parallelisms]
    # The same with the shipped poll/verify intervals: what an operator gets by default.
    if not quick:
        runs.append(run_engine(servers, evac, parallelisms[0], shipped_intervals=True))
    return {"runs": runs}


def floor_scenario(quick: bool, engine: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    servers, evac, parallelisms = sizes(quick)
    runs = [run_floor(servers, evac, p) for p in [1, *parallelisms]]
    for r in runs:
        match = [
            e
            for e in engine or []
            if e["parallelism"] == r["parallelism"]
            and e.get("intervals", "fast").startswith("fast")
        ]
        if match:
            r["engine_s"] = match[0]["rto_finished_s"]
            r["efficiency"] = round(r["floor_s"] / match[0]["rto_finished_s"], 3)
    return {"runs": runs}
