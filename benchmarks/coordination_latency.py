"""Median non-blocking acquire + release time per coordination backend.

    python benchmarks/coordination_latency.py [-n ITERATIONS]

Starts its own Redis and ZooKeeper on free loopback ports (rhworker.testing.servers)
and a file backend in a temporary directory. Measures both the raw tooz calls and
rhworker's Coordinator (which runs each call under a deadline in a worker thread).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import tooz.coordination

from rhworker.coordination import Coordinator, lock_name, new_member_id
from rhworker.testing.servers import RedisServer, ServerUnavailable, ZooKeeperServer


def measure(op: Callable[[], None], iterations: int) -> list[float]:
    for _ in range(min(50, iterations)):  # warm up
        op()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        op()
        samples.append(time.perf_counter() - start)
    return samples


def bench_raw(url: str, iterations: int) -> list[float]:
    driver = tooz.coordination.get_coordinator(url, new_member_id().encode())
    driver.start(start_heart=True)
    name = lock_name("bench-raw", "compute-1")

    def op() -> None:
        lock = driver.get_lock(name)
        if not lock.acquire(blocking=False):
            raise RuntimeError("lock unexpectedly busy")
        lock.release()

    try:
        return measure(op, iterations)
    finally:
        driver.stop()


def bench_coordinator(url: str, iterations: int) -> list[float]:
    with Coordinator(url, new_member_id(), lock_prefix="bench") as coordinator:

        def op() -> None:
            held = coordinator.try_lock("compute-1")
            if held is None:
                raise RuntimeError("lock unexpectedly busy")
            coordinator.release(held)

        return measure(op, iterations)


def ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--iterations", type=int, default=500)
    args = parser.parse_args()
    servers: list[RedisServer | ZooKeeperServer] = []
    urls = {"file": f"file://{tempfile.mkdtemp(prefix='rhworker-bench-')}"}
    try:
        for name, cls in (("redis", RedisServer), ("zookeeper", ZooKeeperServer)):
            try:
                server = cls()
            except ServerUnavailable as e:
                print(f"{name}: skipped ({e})", file=sys.stderr)
                continue
            servers.append(server.start(timeout=60))
            urls[name] = server.url
        print(f"non-blocking acquire + release, {args.iterations} iterations, loopback")
        print(f"{'backend':<10} {'layer':<12} {'median ms':>10} {'p90 ms':>8} {'p99 ms':>8}")
        for backend, url in urls.items():
            for layer, bench in (("tooz", bench_raw), ("Coordinator", bench_coordinator)):
                samples = bench(url, args.iterations)
                print(
                    f"{backend:<10} {layer:<12} {statistics.median(samples) * 1000:>10.3f} "
                    f"{ms(samples, 0.9):>8.3f} {ms(samples, 0.99):>8.3f}"
                )
    finally:
        for server in servers:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
