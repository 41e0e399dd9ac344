"""Issue 13 item 6: a worker never holds two hand-outs of one notification, and
renewals are per delivery (one slow renewal does not starve the others).

Real embedded store (SQLite in a temporary directory), the real Worker hand-out and
renewal code, a test driver that records when each hand-out runs.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rhworker.errors import StoreUnavailable
from rhworker.models import Delivery, Host, Notification, NotificationStatus, Segment
from rhworker.recovery.base import (
    Cancelled,
    HostFailureOptions,
    RecoveryContext,
    RecoveryDriver,
    RecoveryResult,
)
from rhworker.store import from_url
from rhworker.store.base import Store
from rhworker.worker import Worker, WorkerOptions

LEASE = 1.0
Key = tuple[str, int]
STOPPED = {"event": "STOPPED", "host_status": "NORMAL"}


class RecordingDriver(RecoveryDriver):
    """Holds each hand-out until released (checking its guard), records its span."""

    def __init__(self) -> None:
        # keyed by (notification id, lease token) of each hand-out
        self.release: dict[Key, threading.Event] = {}
        self.started: dict[Key, float] = {}
        self.ended: dict[Key, float] = {}
        self.outcome: dict[Key, str] = {}
        self.running = 0
        self.all_released = threading.Event()
        self.most_at_once = 0
        self._lock = threading.Lock()

    def execute_host_failure(self, ctx: RecoveryContext, n: Notification) -> RecoveryResult:
        token = (n.id, ctx.token)
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.started[token] = time.monotonic()
        release = self.release.setdefault(token, threading.Event())
        try:
            while not (release.wait(0.01) or self.all_released.is_set()):
                ctx.guard()
            ctx.step("done", f"token {ctx.token}")
            self.outcome[token] = "finished"
            return RecoveryResult(NotificationStatus.FINISHED, "done")
        except Cancelled as e:
            self.outcome[token] = f"cancelled: {e}"
            raise
        finally:
            self.ended[token] = time.monotonic()
            with self._lock:
                self.running -= 1


class SlowRenewals:
    """The store, except that renewing one notification hangs until released."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.closed = False
        self.hang: dict[str, threading.Event] = {}
        self.renewed: dict[str, int] = {}
        self.renewed_token: dict[int, int] = {}

    def renew(self, delivery: Delivery, **kwargs: Any) -> Delivery:
        gate = self.hang.get(delivery.notification_id)
        if gate is not None:
            gate.wait(30)
        if self.closed:  # a renewal released at the end of the test: store gone
            raise StoreUnavailable("closed")
        result = self._store.renew(delivery, **kwargs)
        nid = delivery.notification_id
        self.renewed[nid] = self.renewed.get(nid, 0) + 1
        self.renewed_token[delivery.token] = self.renewed_token.get(delivery.token, 0) + 1
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def key(delivery: Delivery) -> Key:
    return (delivery.notification_id, delivery.token)


def _store(tmp_path: Path, hosts: int = 1) -> Store:
    store = from_url(f"sqlite:///{tmp_path}/rhworker.db")
    store.create_segment(Segment(name="s"))
    for i in range(hosts):
        store.create_host(Host(name=f"c{i}", segment="s"))
    return store


def _worker(store: Any, driver: RecoveryDriver) -> Worker:
    return Worker(
        store=store,
        coordinator=None,  # type: ignore[arg-type]  # not used by hand-outs
        compute=None,  # type: ignore[arg-type]  # the test driver reaches no Nova
        driver=driver,
        worker_id="w1",
        options=WorkerOptions(lease_timeout=LEASE, concurrency=4),
        host_failure=HostFailureOptions(),
    )


def _take(worker: Worker, pool: ThreadPoolExecutor, delivery: Delivery) -> None:
    worker._take(pool, delivery)
    _TAKEN.append(worker._in_hand[(delivery.notification_id, delivery.token)])


_TAKEN: list[Any] = []


def _join_renewers() -> None:
    """Every renewer ends once its hand-out is done (before the store is closed)."""
    while _TAKEN:
        item = _TAKEN.pop()
        assert item.renewer is not None
        item.renewer.join(10)
        assert not item.renewer.is_alive()


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_same_notification_handed_back_to_the_same_worker(tmp_path: Path) -> None:
    real = _store(tmp_path)
    n = real.create_notification("COMPUTE_HOST", "c0", dict(STOPPED))
    store = SlowRenewals(real)  # nothing hangs here: it counts renewals per token
    driver = RecordingDriver()
    worker = _worker(store, driver)
    pool = ThreadPoolExecutor(4)
    try:
        first = store.consume("w1", lease_timeout=LEASE)
        assert first is not None
        _take(worker, pool, first)
        _wait(lambda: key(first) in driver.started, 5, "the first hand-out to run")
        # The renewals stalled past the lease: the store hands it out again to w1.
        second = store.consume("w1", lease_timeout=LEASE, now=time.time() + 10 * LEASE)
        assert second is not None and second.notification_id == n.id
        assert second.token > first.token
        _take(worker, pool, second)
        _wait(lambda: key(second) in driver.started, 5, "the second hand-out to run")
        # the older one was stopped before the newer one started: never both at once
        assert driver.outcome[key(first)].startswith("cancelled: handed out again")
        assert driver.ended[key(first)] <= driver.started[key(second)]
        assert driver.most_at_once == 1
        # the newer hand-out is still in hand and renewed after the older one ended
        assert [k for k in worker._in_hand] == [(n.id, second.token)]
        renewals = store.renewed_token.get(second.token, 0)
        _wait(
            lambda: store.renewed_token.get(second.token, 0) >= renewals + 3,
            10 * LEASE,
            "three renewals of the newer hand-out",
        )
        assert worker._in_hand and not worker._in_hand[(n.id, second.token)].guard.is_lost
        driver.release[key(second)].set()
        _wait(lambda: not worker._in_hand, 5, "the newer hand-out to finish")
        done = store.get_notification(n.id)
        assert done.status == NotificationStatus.FINISHED
        fenced = [s for s in done.progress.steps if s.name == "fenced"]
        assert len(fenced) == 1 and fenced[0].detail["token"] == first.token
    finally:
        driver.all_released.set()
        pool.shutdown(wait=True)
        _join_renewers()
        real.close()


def test_one_slow_renewal_does_not_starve_the_others(tmp_path: Path) -> None:
    real = _store(tmp_path, hosts=2)
    a = real.create_notification("COMPUTE_HOST", "c0", dict(STOPPED))
    b = real.create_notification("COMPUTE_HOST", "c1", dict(STOPPED))
    store = SlowRenewals(real)
    store.hang[a.id] = threading.Event()
    driver = RecordingDriver()
    worker = _worker(store, driver)
    pool = ThreadPoolExecutor(4)
    try:
        handed = [real.consume("w1", lease_timeout=LEASE) for _ in range(2)]
        by_id = {d.notification_id: d for d in handed if d is not None}
        assert set(by_id) == {a.id, b.id}
        for d in by_id.values():
            _take(worker, pool, d)
        _wait(lambda: len(driver.started) == 2, 5, "both hand-outs to run")
        # a's renewal hangs all along; b is renewed every third of the lease
        _wait(lambda: store.renewed.get(b.id, 0) >= 6, 20 * LEASE, "b's renewals")
        _wait(lambda: key(by_id[a.id]) in driver.outcome, 5 * LEASE, "a to stop")
        # b still owns its delivery...
        assert driver.outcome.get(key(by_id[b.id])) is None
        # ...while a, which could not renew, stopped acting before its lease ran out
        assert driver.outcome[key(by_id[a.id])].startswith("cancelled")
        driver.release[key(by_id[b.id])].set()
        _wait(lambda: (b.id, by_id[b.id].token) not in worker._in_hand, 5, "b to finish")
        assert real.get_notification(b.id).status == NotificationStatus.FINISHED
    finally:
        store.closed = True
        store.hang[a.id].set()
        driver.all_released.set()
        pool.shutdown(wait=True)
        _join_renewers()
        real.close()


@pytest.mark.parametrize("hand_outs", [3])
def test_capabilities_list_each_notification_once(tmp_path: Path, hand_outs: int) -> None:
    store = _store(tmp_path)
    store.create_notification("COMPUTE_HOST", "c0", dict(STOPPED))
    driver = RecordingDriver()
    worker = _worker(store, driver)
    pool = ThreadPoolExecutor(4)
    try:
        later = time.time()
        for _ in range(hand_outs):
            later += 10 * LEASE
            d = store.consume("w1", lease_timeout=LEASE, now=later)
            assert d is not None
            _take(worker, pool, d)
        caps = worker._capabilities()
        assert len(caps["in_hand"]) == 1
    finally:
        driver.all_released.set()
        pool.shutdown(wait=True)
        _join_renewers()
        store.close()
