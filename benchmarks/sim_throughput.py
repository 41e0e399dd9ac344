"""Throughput of the Nova simulator on this machine.

Measures requests/s for ``GET /servers/{id}`` through openstacksdk and through a raw
``requests.Session`` (N client threads each), and evacuate round trips/s (evacuate +
poll until the server is ACTIVE on its new host, evacuation_time=0).

    python benchmarks/sim_throughput.py [--duration 5] [--threads 2] [--servers 1000]
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from rhworker.testing.sim_fixture import running_simulator, sdk_connection


def _cloud(servers: int) -> dict[str, Any]:
    return {
        "segments": [
            {
                "name": "bench",
                "hosts": [
                    {"name": "src", "vcpus": 100000, "memory_mb": 10**8},
                    {"name": "dst", "vcpus": 100000, "memory_mb": 10**8},
                ],
            }
        ],
        "flavors": [{"name": "tiny", "vcpus": 1, "ram": 64}],
        "servers": [{"name": "vm", "count": servers, "host": "src", "flavor": "tiny"}],
    }


def _run(threads: int, duration: float, work: Callable[[int], Callable[[], None]]) -> float:
    """Run ``work(i)()`` in a loop in ``threads`` threads; return calls per second."""
    counts = [0] * threads
    stop = time.monotonic() + duration
    errors: list[BaseException] = []

    def loop(i: int) -> None:
        call = work(i)
        try:
            while time.monotonic() < stop:
                call()
                counts[i] += 1
        except BaseException as e:  # report, do not hang the benchmark
            errors.append(e)

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    start = time.monotonic()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--servers", type=int, default=1000)
    args = parser.parse_args()
    with running_simulator(_cloud(args.servers), evacuation_time=0.0) as sim:
        ids = [s["id"] for s in sim.state()["servers"]]
        url = sim.compute_url

        def sdk_get(i: int) -> Callable[[], None]:
            conn = sdk_connection(sim)
            return lambda: conn.compute.get_server(ids[i])

        def raw_get(i: int) -> Callable[[], None]:
            session = requests.Session()
            headers = {"OpenStack-API-Version": "compute 2.94"}

            def call() -> None:
                session.get(f"{url}/servers/{ids[i]}", headers=headers).raise_for_status()

            return call

        sdk_rate = _run(args.threads, args.duration, sdk_get)
        raw_rate = _run(args.threads, args.duration, raw_get)

        sim.kill_host("src")
        conn = sdk_connection(sim)
        svc = next(iter(conn.compute.services(host="src", binary="nova-compute")))
        conn.compute.update_service_forced_down(svc, forced=True)
        queue = list(ids)
        lock = threading.Lock()

        def evacuate(i: int) -> Callable[[], None]:
            c = sdk_connection(sim)

            def call() -> None:
                with lock:
                    server_id = queue.pop()
                c.compute.evacuate_server(server_id, host="dst")
                while True:
                    s = c.compute.get_server(server_id)
                    if s.status == "ACTIVE" and s.compute_host == "dst":
                        return

            return call

        evac_duration = min(args.duration, 3.0)
        evac_rate = _run(args.threads, evac_duration, evacuate)
    print(f"GET /servers/{{id}} via openstacksdk, {args.threads} threads: {sdk_rate:8.0f} req/s")
    print(
        f"GET /servers/{{id}} via requests.Session, {args.threads} threads: {raw_rate:8.0f} req/s"
    )
    print(f"evacuate + poll until ACTIVE, {args.threads} threads: {evac_rate:8.1f} round trips/s")


if __name__ == "__main__":
    main()
