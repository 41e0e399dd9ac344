"""Store throughput, per backend.

* queue: single process, cycles/s of enqueue (create_notification) + consume + ack;
* claims: N processes (default 4) racing for reserved hosts, claims/s (each child
  first takes its deliveries, then all claim at once: only the claims are timed).

    python benchmarks/store_throughput.py [--backend sqlite|redis|all] [-n 500] [-p 4]

The SQLite file lives in a temporary directory; Redis is a real server on a free
loopback port (rhworker.testing.servers.RedisServer).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rhworker.errors import ClaimLost
from rhworker.models import Host, RecoveryMethod, Segment
from rhworker.store import Store, from_url

STOPPED = {"event": "STOPPED", "host_status": "NORMAL"}


@contextmanager
def backend_url(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="rhworker-bench-") as tmp:
            yield f"sqlite:///{tmp}/rhworker.db"
        return
    from rhworker.testing.servers import RedisServer

    server = RedisServer(appendonly=True)
    server.start()
    try:
        yield f"{server.url}/0?prefix=bench-{uuid.uuid4().hex[:8]}"
    finally:
        server.stop()


def _inventory(store: Store, computes: int, spares: int) -> list[str]:
    store.create_segment(Segment(name="computes"))
    store.create_segment(Segment(name="spares", recovery_method=RecoveryMethod.RESERVED_HOST))
    for i in range(computes):
        store.create_host(Host(name=f"c{i:05d}", segment="computes"))
    names = [f"r{i:05d}" for i in range(spares)]
    for name in names:
        store.create_host(Host(name=name, segment="spares", reserved=True))
    return names


def bench_queue(url: str, count: int) -> float:
    store = from_url(url)
    _inventory(store, count, 0)
    started = time.perf_counter()
    for i in range(count):
        store.create_notification("COMPUTE_HOST", f"c{i:05d}", dict(STOPPED))
        delivery = store.consume("bench")
        assert delivery is not None
        store.ack(delivery)
    elapsed = time.perf_counter() - started
    store.close()
    return count / elapsed


def _claimer(url: str, worker: str, count: int, spares: list[str], start: Any, out: Any) -> None:
    store = from_url(url)
    deliveries = []
    for _ in range(count):
        delivery = store.consume(worker, lease_timeout=3600)
        assert delivery is not None
        deliveries.append(delivery)
    rng = random.Random(worker)
    start.wait(120)
    began, attempts, won = time.time(), 0, 0
    for delivery in deliveries:
        offset = rng.randrange(len(spares))
        for i in range(len(spares)):
            attempts += 1
            host = spares[(offset + i) % len(spares)]
            try:
                store.claim_reserved_host(delivery.notification_id, host, token=delivery.token)
            except ClaimLost:
                continue
            won += 1
            break
    out.put((began, time.time(), attempts, won))
    store.close()


def bench_claims(url: str, processes: int, per_process: int) -> tuple[float, float]:
    total = processes * per_process
    store = from_url(url)
    spares = _inventory(store, total, total)
    for i in range(total):
        store.create_notification("COMPUTE_HOST", f"c{i:05d}", dict(STOPPED))
    store.close()
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    children = [
        ctx.Process(target=_claimer, args=(url, f"w{i}", per_process, spares, start, out))
        for i in range(processes)
    ]
    for child in children:
        child.start()
    start.set()
    reports = [out.get(timeout=300) for _ in children]
    for child in children:
        child.join(timeout=60)
    wall = max(r[1] for r in reports) - min(r[0] for r in reports)
    won = sum(r[3] for r in reports)
    attempts = sum(r[2] for r in reports)
    assert won == total, f"{won} claims won of {total}"
    return won / wall, attempts / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "redis", "all"], default="all")
    parser.add_argument("-n", "--count", type=int, default=500, help="queue cycles")
    parser.add_argument("-p", "--processes", type=int, default=4)
    parser.add_argument("--claims", type=int, default=100, help="claims per process")
    args = parser.parse_args()
    backends = ["sqlite", "redis"] if args.backend == "all" else [args.backend]
    for backend in backends:
        with backend_url(backend) as url:
            cycles = bench_queue(url, args.count)
        with backend_url(backend) as url:
            claims, attempts = bench_claims(url, args.processes, args.claims)
        print(
            f"{backend:6s}  enqueue+consume+ack: {cycles:8.0f} cycles/s ({3 * cycles:.0f} ops/s)"
            f"   claims ({args.processes} processes): {claims:7.0f} claims/s"
            f" ({attempts:.0f} attempts/s)"
        )


if __name__ == "__main__":
    main()
