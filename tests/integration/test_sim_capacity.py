"""Nova's costs in the simulator: a cost per API request, a shared capacity that makes
concurrent requests and evacuations slow each other down (measured from outside,
through openstacksdk over HTTP)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

from rhworker.cli import build_parser
from rhworker.sim import Simulator
from rhworker.sim.state import (
    DEFAULT_EVACUATION_TIME,
    DEFAULT_REQUEST_COST,
    DEFAULT_SHARED_CAPACITY,
    DEFAULT_WRITE_REQUEST_COST,
    Options,
)
from rhworker.testing.sim_fixture import running_simulator, sdk_connection, wait_until

CLOUD: dict[str, Any] = {
    "segments": [
        {
            "name": "seg1",
            "hosts": [
                {"name": "compute-1", "vcpus": 16, "memory_mb": 32768},
                {"name": "compute-2", "vcpus": 16, "memory_mb": 32768},
            ],
        }
    ],
    "flavors": [{"name": "small", "vcpus": 1, "ram": 512, "disk": 1}],
    "servers": [{"name": "vm", "count": 6, "host": "compute-1", "flavor": "small"}],
}


def _timed(fn: Any) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def _in_threads(n: int, fn: Any) -> float:
    threads = [threading.Thread(target=fn) for _ in range(n)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return time.monotonic() - start


def _fence(conn: Any, sim: Any, host: str) -> None:
    sim.kill_host(host)
    svc = next(iter(conn.compute.services(host=host, binary="nova-compute")))
    conn.compute.update_service_forced_down(svc, forced=True)


def _evacuate_all(conn: Any, servers: list[Any]) -> float:
    """Post the evacuates, then seconds until all of them are ACTIVE on compute-2."""
    start = time.monotonic()
    for s in servers:
        conn.compute.evacuate_server(s, host="compute-2")
    ids = {s.id for s in servers}

    def done() -> bool:
        found = conn.compute.servers(all_projects=True, compute_host="compute-2")
        return ids <= {s.id for s in found if s.status == "ACTIVE"}

    wait_until(done, timeout=30, interval=0.05)
    return time.monotonic() - start


def test_defaults_are_the_measured_ones() -> None:
    options = Options()
    assert (options.evacuation_time, options.shared_capacity) == (0.7, 2.0)
    assert (options.request_cost, options.write_request_cost) == (0.02, 0.1)
    parts = [
        options.phase_time(p)
        for p in ("schedule_time", "rebuilding_time", "block_device_mapping_time", "spawning_time")
    ]
    assert abs(sum(parts) - DEFAULT_EVACUATION_TIME) < 1e-9
    args = build_parser().parse_args(["sim", "serve"])
    assert (args.shared_capacity, args.request_cost, args.write_request_cost) == (
        DEFAULT_SHARED_CAPACITY,
        DEFAULT_REQUEST_COST,
        DEFAULT_WRITE_REQUEST_COST,
    )
    args = build_parser().parse_args(
        ["sim", "serve", "--spawning-time", "30", "--shared-capacity", "0", "--request-cost", "0"]
    )
    assert (args.spawning_time, args.schedule_time, args.shared_capacity) == (30.0, None, 0.0)
    help_text = subprocess.run(
        [sys.executable, "-m", "rhworker", "sim", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for option in ("--spawning-time", "--shared-capacity", "--write-request-cost"):
        assert option in help_text


def test_each_request_pays_its_cost() -> None:
    with running_simulator(CLOUD) as sim:
        conn = sdk_connection(sim)
        list(conn.compute.services())  # the SDK's version discovery out of the way
        free = _timed(lambda: [list(conn.compute.services()) for _ in range(3)])
        sim.set_options(request_cost=0.2, write_request_cost=0.4)
        reads = _timed(lambda: [list(conn.compute.services()) for _ in range(3)])
        svc = next(iter(conn.compute.services(host="compute-2", binary="nova-compute")))
        write = _timed(lambda: conn.compute.disable_service(svc, disabled_reason="cost"))
    assert reads >= 0.6 > free
    assert write >= 0.4


def test_concurrent_requests_share_the_capacity() -> None:
    with running_simulator(CLOUD, request_cost=0.3) as sim:
        conn = sdk_connection(sim)
        list(conn.compute.flavors())

        def read() -> None:
            list(sdk_connection(sim).compute.flavors())

        unlimited = _in_threads(4, read)  # shared_capacity 0: each at full speed
        sim.set_options(shared_capacity=1)
        shared = _in_threads(4, read)  # 4 x 0.3 s of work on one slot
    assert shared >= 1.1
    assert unlimited < shared / 1.5


def test_concurrent_evacuations_slow_each_other_down() -> None:
    with running_simulator(CLOUD, evacuation_time=0.4, shared_capacity=1) as sim:
        conn = sdk_connection(sim)
        _fence(conn, sim, "compute-1")
        servers = sorted(
            conn.compute.servers(all_projects=True, compute_host="compute-1"),
            key=lambda s: s.name,
        )
        alone = _evacuate_all(conn, servers[:1])
        four = _evacuate_all(conn, servers[1:5])
        assert not sim.state()["violations"]
    assert alone >= 0.4
    assert four >= 1.4  # ~4 x 0.4 s of work through one slot
    assert four > 2.5 * alone


def test_frequent_polling_slows_evacuations_down() -> None:
    with running_simulator(CLOUD, evacuation_time=0.5, shared_capacity=1, request_cost=0.05) as sim:
        conn = sdk_connection(sim)
        _fence(conn, sim, "compute-1")
        servers = sorted(
            conn.compute.servers(all_projects=True, compute_host="compute-1"),
            key=lambda s: s.name,
        )
        quiet = _evacuate_all(conn, servers[:1])
        stop = threading.Event()

        def poll() -> None:
            own = sdk_connection(sim)
            while not stop.is_set():
                own.compute.get_server(servers[1].id)

        pollers = [threading.Thread(target=poll) for _ in range(4)]
        for t in pollers:
            t.start()
        try:
            busy = _evacuate_all(conn, servers[1:2])
        finally:
            stop.set()
            for t in pollers:
                t.join(timeout=10)
    assert busy > 1.8 * quiet


def test_default_costs_replay_the_real_nova_measurement() -> None:
    """The calibration of the defaults (see rhworker.sim.state): one failed host with 10
    servers, a plain script forcing it down, posting 10 evacuates and polling. Real
    Nova 34 here: 2.9 s to post, 4.7 s to all ACTIVE. Bands are wide: the machine is
    shared."""
    spec = {
        **CLOUD,
        "servers": [{"name": "vm", "count": 10, "host": "compute-1", "flavor": "small"}],
    }
    sim = Simulator(spec).start()  # the simulator's own defaults, not the tests' ones
    try:
        conn = sdk_connection(sim)
        list(conn.compute.services())
        start = time.monotonic()
        _fence(conn, sim, "compute-1")
        servers = list(conn.compute.servers(all_projects=True, compute_host="compute-1"))
        for s in servers:
            conn.compute.evacuate_server(s, host="compute-2")
        posted = time.monotonic() - start
        ids = [s.id for s in servers]
        while not all(conn.compute.get_server(i).status == "ACTIVE" for i in ids):
            assert time.monotonic() - start < 30
            time.sleep(0.2)
        active = time.monotonic() - start
    finally:
        sim.stop()
    assert 1.5 <= posted <= 5.0, posted
    assert 3.0 <= active <= 8.0, active
