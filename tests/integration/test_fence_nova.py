"""Fencing reaches Nova, through the real openstacksdk against the simulator.

The simulator's own request log is the witness: which worker (User-Agent) sent which
request, and when it arrived. A fenced call whose lease cannot be renewed (the store
is unreachable) stops sending before the lease ends, whatever Nova answers; the
per-request timeout really is cut to the lease on the SDK's session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from rhworker.compute.fence import FencedCompute
from rhworker.errors import ComputeTransient, StoreUnavailable
from rhworker.recovery.base import Cancelled, LeaseGuard
from rhworker.sim import SimControl, Simulator
from rhworker.sim.requestlog import worker_of
from rhworker.testing.sim_fixture import running_simulator
from tests.integration.test_compute_openstack import CLOUD, adapter_for

pytestmark = pytest.mark.integration

WORKER = "testhost-4242-abcdef"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with running_simulator(CLOUD, evacuation_time=0.05) as s:
        yield s


def _server_id(sim: Simulator, name: str = "vm-1") -> str:
    return next(s["id"] for s in sim.state()["servers"] if s["name"] == name)


def _unreachable() -> None:
    raise StoreUnavailable("the store cannot be reached")


def test_worker_of_user_agent() -> None:
    assert worker_of(f"rhworker/{WORKER} openstacksdk/4.22.0 keystoneauth1/5.18.1") == WORKER
    assert worker_of("python-requests/2.32") is None


def test_request_log_names_the_worker(sim: Simulator) -> None:
    compute = adapter_for(sim, worker_id=WORKER)
    sid = _server_id(sim)
    compute.lock_server(sid)
    compute.get_server(sid)
    logged = sim.requests(worker=WORKER)
    locks = [r for r in logged if r["action"] == "lock"]
    assert len(locks) == 1 and locks[0]["changes"] and locks[0]["status"] == 202
    assert any(r["method"] == "GET" and not r["changes"] for r in logged)
    assert all(r["user_agent"].startswith(f"rhworker/{WORKER}") for r in logged)
    # the same log over the control API
    control = SimControl(sim.url)
    try:
        assert [r["path"] for r in control.requests(worker=WORKER, changes=True)] == [
            locks[0]["path"]
        ]
    finally:
        control.close()


def test_fenced_call_stops_before_the_lease_ends_under_a_503_storm(sim: Simulator) -> None:
    lease = 2.0
    compute = adapter_for(sim, worker_id=WORKER, conf={"retry_deadline": 60.0})
    sid = _server_id(sim)
    sim.inject(type="error", status=503, method="POST", path="/action$", message="down")
    guard = LeaseGuard(_unreachable, lease_timeout=lease)
    lease_end = time.time() + lease
    view = FencedCompute(compute, guard)
    with pytest.raises(Cancelled, match="cannot prove ownership"):
        view.lock_server(sid)
    stopped = time.time()
    posts = sim.requests(worker=WORKER, changes=True)
    assert len(posts) > 2 and all(p["status"] == 503 for p in posts)
    # Each attempt was sent with more than the margin left; its arrival (stamped by
    # the simulator, after transit and parsing) is still before the lease ends.
    assert max(p["at"] for p in posts) < lease_end
    assert stopped < lease_end + 2.0  # not the 60 s retry deadline


def test_per_request_timeout_is_cut_to_the_lease(sim: Simulator) -> None:
    """Nova is slow (5 s per answer, an injected latency); the lease has 1.5 s left:
    the fenced attempt gives up after what is left of the lease, not 5 s later."""
    lease = 1.5
    compute = adapter_for(sim, worker_id=WORKER, conf={"retry_deadline": 0.0, "api_timeout": 30.0})
    sid = _server_id(sim)
    guard = LeaseGuard(_unreachable, lease_timeout=lease)
    sim.inject(type="latency", seconds=5.0, method="POST", path="/action$")
    started = time.monotonic()
    with pytest.raises((ComputeTransient, Cancelled)):
        FencedCompute(compute, guard).unlock_server(sid)
    assert time.monotonic() - started < lease + 1.0  # not the 5 s Nova takes
