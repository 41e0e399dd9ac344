"""The worker loop without HTTP: the real Worker and the built-in driver on an SQLite
store in tmp_path, the file:// coordination backend and the in-package FakeCompute
(taking the fence as the adapter does). Burst mode, retry with back-off, giving up,
a graceful shutdown mid-notification, and a lease lost to another worker.

The recovery's clock only moves when it sleeps (evacuation polls run at once); the
loop itself, leases and back-offs are on real time, kept short.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rhworker.compute.fake import FakeCompute, nova_evacuation
from rhworker.coordination import Coordinator
from rhworker.errors import ComputeTransient, StoreUnavailable
from rhworker.models import Host, Notification, NotificationStatus, RecoveryMethod, Segment
from rhworker.recovery.base import HostFailureOptions
from rhworker.recovery.host_failure import HostFailureDriver
from rhworker.store import from_url
from rhworker.worker import Worker, WorkerOptions
from tests.unit.driver_env import FAILED, STOPPED, Clock

SPARE = "c2"
WAIT = 10.0  # seconds a condition may take before the test fails


class Rig:
    """One store, one Nova, workers made on demand (each its own coordinator)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.store = from_url(f"sqlite:///{tmp}/rhworker.db")
        self.store.create_segment(Segment(name="seg", recovery_method=RecoveryMethod.AUTO))
        self.compute = FakeCompute(scheduler_host=SPARE)
        for host in (FAILED, SPARE, "c3", "c4"):
            self.store.create_host(Host(name=host, segment="seg"))
            self.compute.add_host(host)
        self.coordinators: list[Coordinator] = []

    def worker(self, worker_id: str = "w1", **options: Any) -> Worker:
        coordinator = Coordinator(f"file://{self.tmp}/locks", worker_id, heartbeat=False)
        coordinator.start()
        self.coordinators.append(coordinator)
        clock = Clock()
        clock.now = time.time()
        defaults = {"lease_timeout": 5.0, "retry_interval": 0.05, "shutdown_timeout": 0.2}
        return Worker(
            store=self.store,
            coordinator=coordinator,
            compute=self.compute,
            driver=HostFailureDriver(),
            worker_id=worker_id,
            options=WorkerOptions(**{**defaults, **options}),
            host_failure=HostFailureOptions(wait_period_after_evacuation=60.0),
            clock=clock.time,
            sleep=clock.sleep,
        )

    def report(self, host: str = FAILED, servers: tuple[str, ...] = ("vm-1",)) -> str:
        for server_id in servers:
            self.compute.add_server(server_id, host)
        return self.store.create_notification("COMPUTE_HOST", host, dict(STOPPED)).id

    def get(self, nid: str) -> Notification:
        return self.store.get_notification(nid)

    def steps(self, nid: str, name: str) -> list[Any]:
        return [s for s in self.get(nid).progress.steps if s.name == name]

    def close(self) -> None:
        for coordinator in self.coordinators:
            coordinator.stop()
        self.store.close()


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path)
    yield made
    made.close()


def wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def in_background(worker: Worker) -> tuple[threading.Thread, list[int]]:
    processed: list[int] = []
    thread = threading.Thread(target=lambda: processed.append(worker.run()), daemon=True)
    thread.start()
    return thread, processed


def lease_lost(worker: Worker) -> bool:
    """Every hand-out this worker holds has lost its lease (its fence is shut)."""
    items = list(worker._in_hand.values())
    return bool(items) and all(item.guard.is_lost for item in items)


# -- burst --------------------------------------------------------------------------------


def test_burst_runs_until_the_queue_is_empty(cloud: Rig) -> None:
    nids = [cloud.report(h, (f"vm-{h}",)) for h in (FAILED, "c3", "c4")]
    worker = cloud.worker(concurrency=2)
    assert worker.run(burst=True) == 3
    for nid in nids:
        n = cloud.get(nid)
        assert n.status == NotificationStatus.FINISHED, n.progress.steps[-1]
        assert n.lease_owner is None  # acked
    assert {s.host for s in cloud.compute.servers.values()} == {SPARE}
    # every change in Nova went through the delivery's fence
    assert cloud.compute.violations == []
    assert cloud.worker("w2").run(burst=True) == 0  # nothing left: returns at once


# -- retry, back-off, giving up --------------------------------------------------------------


def test_an_error_is_retried_after_the_back_off_then_recovers(cloud: Rig) -> None:
    nid = cloud.report()
    cloud.compute.fail("list_servers_on_host", ComputeTransient("Nova: HTTP 503"))
    before = time.time()
    assert cloud.worker(retry_interval=1.0).run(burst=True) == 1
    assert cloud.store.consume("peek", lease_timeout=5.0) is None  # not before the back-off
    n = cloud.get(nid)
    assert n.status == NotificationStatus.ERROR and n.attempts == 1
    assert n.progress.reason == "ComputeTransient: Nova: HTTP 503"
    assert n.next_attempt_at is not None
    assert before + 1.0 <= n.next_attempt_at <= time.time() + 1.0  # backoff(1)
    wait_for(lambda: time.time() >= (n.next_attempt_at or 0), "the back-off")
    assert cloud.worker("w2").run(burst=True) == 1
    n = cloud.get(nid)
    assert n.status == NotificationStatus.FINISHED and n.attempts == 2
    assert cloud.compute.servers["vm-1"].host == SPARE


def test_a_store_outage_while_consuming_is_waited_out(
    cloud: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    nid = cloud.report()
    consume = cloud.store.consume
    outages = [StoreUnavailable("database is locked"), StoreUnavailable("still locked")]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if outages:
            raise outages.pop(0)
        return consume(*args, **kwargs)

    monkeypatch.setattr(cloud.store, "consume", flaky)
    assert cloud.worker().run(burst=True) == 1
    assert outages == [] and cloud.get(nid).status == NotificationStatus.FINISHED


def test_back_off_doubles_up_to_its_cap() -> None:
    options = WorkerOptions(retry_interval=10.0, retry_max_interval=35.0)
    assert [options.backoff(a) for a in (1, 2, 3, 4)] == [10.0, 20.0, 35.0, 35.0]


def test_gives_up_after_the_max_attempts(cloud: Rig) -> None:
    nid = cloud.report()
    cloud.compute.scheduler_host = None  # every evacuation: "No valid host"
    assert cloud.worker(max_attempts=2, retry_interval=0.05).run(burst=True) == 1
    assert cloud.get(nid).status == NotificationStatus.ERROR
    wait_for(lambda: time.time() >= (cloud.get(nid).next_attempt_at or 0), "the back-off")
    assert cloud.worker("w2", max_attempts=2).run(burst=True) == 1
    n = cloud.get(nid)
    assert n.status == NotificationStatus.FAILED and n.attempts == 2
    assert len(cloud.compute.calls_of("evacuate_server")) == 2
    assert n.progress.reason is not None and "2 attempts" in n.progress.reason
    assert cloud.worker("w3", max_attempts=2).run(burst=True) == 0  # dead-lettered


# -- shutdown -----------------------------------------------------------------------------


def test_shutdown_mid_notification_gives_the_delivery_back(cloud: Rig) -> None:
    nid = cloud.report()
    worker = cloud.worker(shutdown_timeout=0.2)
    # Nova is rebuilding vm-1 when the worker is asked to stop; the recovery outlives
    # the shutdown timeout.
    hold = {"hook": lambda: wait_for(lambda: lease_lost(worker), "the give-back")}
    cloud.compute.script("vm-1", [hold, *nova_evacuation(SPARE)])
    thread, processed = in_background(worker)
    wait_for(lambda: bool(cloud.compute.calls_of("evacuate_server")), "the evacuate")
    worker.stop()
    thread.join(WAIT)
    assert not thread.is_alive() and processed == [1]

    n = cloud.get(nid)
    assert n.status == NotificationStatus.ERROR  # not concluded: given back, ready now
    assert n.lease_owner is None and (n.next_attempt_at or 0) <= time.time()
    [fenced] = cloud.steps(nid, "fenced")
    assert fenced.worker == "w1" and "worker shutting down" in fenced.message
    assert not cloud.compute.calls_of("unlock_server")  # no change after the stop
    assert cloud.compute.servers["vm-1"].locked  # left for the next owner

    # the next worker takes it at once, waits for Nova's evacuation, unlocks
    assert cloud.worker("w2").run(burst=True) == 1
    assert cloud.get(nid).status == NotificationStatus.FINISHED
    assert len(cloud.compute.calls_of("evacuate_server")) == 1
    assert not cloud.compute.servers["vm-1"].locked
    assert cloud.compute.violations == []


def test_shutdown_lets_a_notification_in_hand_finish_within_the_timeout(
    cloud: Rig,
) -> None:
    nid = cloud.report()
    worker = cloud.worker(shutdown_timeout=WAIT)
    release = threading.Event()
    cloud.compute.script("vm-1", [{"hook": lambda: release.wait(WAIT)}, *nova_evacuation(SPARE)])
    thread, processed = in_background(worker)
    wait_for(lambda: bool(cloud.compute.calls_of("evacuate_server")), "the evacuate")
    worker.stop()
    release.set()
    thread.join(WAIT)
    assert processed == [1]
    assert cloud.get(nid).status == NotificationStatus.FINISHED
    assert cloud.steps(nid, "fenced") == []


# -- lease lost -------------------------------------------------------------------------------


def test_lease_lost_to_another_worker_stops_every_change(cloud: Rig) -> None:
    nid = cloud.report()
    worker = cloud.worker(lease_timeout=0.6)
    taken: list[Any] = []

    def stolen() -> None:
        # w1's renewals stall past its lease; w2 takes the notification over.
        taken.append(cloud.store.consume("w2", lease_timeout=30.0, now=time.time() + 1.0))
        wait_for(lambda: lease_lost(worker), "w1 to learn it")

    cloud.compute.script("vm-1", [{"hook": stolen}, *nova_evacuation(SPARE)])
    assert worker.run(burst=True) == 1

    assert taken[0] is not None and taken[0].worker_id == "w2"
    n = cloud.get(nid)
    assert n.status == NotificationStatus.RUNNING and n.lease_owner == "w2"
    [fenced] = cloud.steps(nid, "fenced")
    assert fenced.worker == "w1" and "lease lost" in fenced.message
    assert not cloud.compute.calls_of("unlock_server")  # w1 changed nothing more
