"""The same RTO and a smaller storm on each store + coordination combination:
SQLite + file locks (the embedded default), Redis + Redis, Redis + ZooKeeper.

Starts its own Redis and ZooKeeper on free loopback ports; a combination whose
server is not installed is reported as skipped, with the reason. The lock latency
column reuses ``benchmarks/coordination_latency.py`` (rhworker's Coordinator,
non-blocking acquire + release).
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from collections.abc import Iterator
from typing import Any

from benchmarks import rto, storm
from benchmarks.common import EMBEDDED, Backend, log_progress
from benchmarks.coordination_latency import bench_coordinator
from rhworker.testing.servers import RedisServer, ServerUnavailable, ZooKeeperServer


@contextlib.contextmanager
def backends() -> Iterator[tuple[list[Backend], dict[str, str]]]:
    """The three combinations that can run here, and why the others cannot."""
    started: list[RedisServer | ZooKeeperServer] = []
    skipped: dict[str, str] = {}
    found = [EMBEDDED]
    try:
        try:
            redis = RedisServer(appendonly=True)
            started.append(redis.start(timeout=60))  # type: ignore[arg-type]
        except ServerUnavailable as e:
            skipped["redis+redis"] = skipped["redis+zookeeper"] = str(e)
        else:
            found.append(Backend("redis+redis", redis.url, redis.url))
            try:
                zk = ZooKeeperServer()
                started.append(zk.start(timeout=90))  # type: ignore[arg-type]
            except ServerUnavailable as e:
                skipped["redis+zookeeper"] = str(e)
            else:
                found.append(Backend("redis+zookeeper", redis.url, zk.url))
        yield found, skipped
    finally:
        for server in started:
            server.stop()


def lock_latency_ms(backend: Backend, iterations: int) -> float:
    url = backend.coordination_url or f"file://{tempfile.mkdtemp(prefix='rhworker-bench-')}"
    return round(statistics.median(bench_coordinator(url, iterations)) * 1000, 3)


def scenario(quick: bool) -> dict[str, Any]:
    if quick:
        rto_size, storm_case, iterations = (2, 0.1, 3), None, 50
    else:
        rto_size, storm_case, iterations = (
            (20, 2.0, 10),
            storm.StormCase(failures=50, latency=0.02, workers=4),
            300,
        )
    runs = []
    with backends() as (found, skipped):
        for backend in found:
            log_progress(f"backend {backend.name}")
            runs.append(
                {
                    "backend": backend.name,
                    "lock_ms": lock_latency_ms(backend, iterations),
                    "rto": rto.run_engine(*rto_size, backend=backend),
                    "storm": storm.run_engine(storm_case, backend=backend) if storm_case else None,
                }
            )
    return {"runs": runs, "skipped": skipped}
