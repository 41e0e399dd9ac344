"""The floor: the Nova calls a recovery needs, straight-line, no store and no locks.

Per failed host: force its compute service down, disable it, list its servers,
enable the (pre-assigned) reserved host; per server: get, lock, evacuate to the
reserved host, poll until ACTIVE there, unlock — with the same parallelism and the
same poll interval as the engine. openstacksdk over HTTP against the same simulator.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openstack.compute.v2 import service as sdk_service

from rhworker.testing.sim_fixture import sdk_connection


class _Target:
    """Anything with ``compute_url`` (what ``sdk_connection`` needs)."""

    def __init__(self, compute_url: str) -> None:
        self.compute_url = compute_url


class Connections:
    """A pool of openstacksdk connections reused across threads (one at a time each)."""

    def __init__(self, compute_url: str) -> None:
        self._target = _Target(compute_url)
        self._free: queue.LifoQueue[Any] = queue.LifoQueue()

    @contextlib.contextmanager
    def get(self) -> Iterator[Any]:
        try:
            conn = self._free.get_nowait()
        except queue.Empty:
            conn = sdk_connection(self._target)
        try:
            yield conn
        finally:
            self._free.put(conn)


def _service_ref(conn: Any, host: str) -> Any:
    found = next(iter(conn.compute.services(host=host, binary="nova-compute")))
    return sdk_service.Service.existing(id=found.id, host=found.host, binary=found.binary)


def _move(conns: Connections, server_id: str, spare: str, verify_interval: float) -> None:
    with conns.get() as conn:
        _move_with(conn, server_id, spare, verify_interval)


def _move_with(conn: Any, server_id: str, spare: str, verify_interval: float) -> None:
    conn.compute.get_server(server_id)
    conn.compute.lock_server(server_id)
    try:
        conn.compute.evacuate_server(server_id, host=spare)
        while True:
            s = conn.compute.get_server(server_id)
            if s.status == "ACTIVE" and s.compute_host == spare:
                return
            if s.status == "ERROR":
                raise RuntimeError(f"floor: server {server_id} went to ERROR: {s.fault}")
            time.sleep(verify_interval)
    finally:
        conn.compute.unlock_server(server_id)


def recover(
    conns: Connections,
    failed: str,
    spare: str | None,
    *,
    parallelism: int,
    verify_interval: float,
) -> int:
    """Recover ``failed`` onto ``spare``; returns how many servers moved."""
    with conns.get() as conn:
        ref = _service_ref(conn, failed)
        conn.compute.update_service_forced_down(ref, forced=True)
        conn.compute.disable_service(ref, disabled_reason=f"floor: {failed} failed")
        servers = list(conn.compute.servers(all_projects=True, compute_host=failed, details=True))
        if spare is None or not servers:
            return 0
        conn.compute.enable_service(_service_ref(conn, spare))
        if parallelism <= 1:
            for s in servers:
                _move_with(conn, s.id, spare, verify_interval)
            return len(servers)
    with ThreadPoolExecutor(min(parallelism, len(servers))) as pool:
        futures = [pool.submit(_move, conns, s.id, spare, verify_interval) for s in servers]
        for f in futures:
            f.result()
    return len(servers)


def run_one(compute_url: str, failed: str, spare: str, parallelism: int, verify: float) -> float:
    """Seconds to recover one host (connection set-up included, as for the engine)."""
    started = time.monotonic()
    recover(
        Connections(compute_url), failed, spare, parallelism=parallelism, verify_interval=verify
    )
    return time.monotonic() - started


def _storm_child(
    compute_url: str,
    pairs: list[tuple[str, str | None]],
    concurrency: int,
    parallelism: int,
    verify: float,
    ready: Any,
    start: Any,
    out: Any,
) -> None:
    conns = Connections(compute_url)
    ready.put(True)
    start.wait(300)
    began = time.time()
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [
            pool.submit(recover, conns, f, s, parallelism=parallelism, verify_interval=verify)
            for f, s in pairs
        ]
        moved = sum(f.result() for f in futures)
    out.put((began, time.time(), moved))


def run_storm(
    compute_url: str,
    pairs: list[tuple[str, str | None]],
    *,
    processes: int,
    concurrency: int,
    parallelism: int,
    verify: float,
) -> dict[str, Any]:
    """The storm's floor: ``processes`` processes × ``concurrency`` threads, each
    recovering whole hosts (work split round-robin). Process start-up is not timed."""
    ctx = multiprocessing.get_context("spawn")
    ready, start, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    children = [
        ctx.Process(
            target=_storm_child,
            args=(
                compute_url,
                pairs[i::processes],
                concurrency,
                parallelism,
                verify,
                ready,
                start,
                out,
            ),
        )
        for i in range(processes)
    ]
    for child in children:
        child.start()
    for _ in children:
        ready.get(timeout=300)  # every child has imported before the clock starts
    start.set()
    reports = [out.get(timeout=600) for _ in children]
    for child in children:
        child.join(30)
    wall = max(r[1] for r in reports) - min(r[0] for r in reports)
    return {
        "drain_s": round(wall, 3),
        "per_s": round(len(pairs) / wall, 2),
        "moved": sum(r[2] for r in reports),
    }
